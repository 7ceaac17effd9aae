package workflow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// PolicySummary is what the policy history keeps of a policy to diff the
// next one against: who may request and approve what, how many approvals
// it takes, and who is in which group. It is normalized (sorted,
// lower-case emails), so equal policies have equal summaries.
type PolicySummary struct {
	Admins    []string                   `json:"admins"`
	Reviewers []string                   `json:"reviewers,omitempty"`
	Groups    map[string][]string        `json:"groups"`
	Resources map[string]ResourceSummary `json:"resources"`
}

// ResourceSummary is one resource in a PolicySummary.
type ResourceSummary struct {
	Tier              Tier     `json:"tier"`
	ApprovalsRequired int      `json:"approvals_required"`
	AutoApprove       bool     `json:"auto_approve,omitempty"`
	Requesters        []string `json:"requesters"`
	Approvers         []string `json:"approvers"`
	// The rules on who, when and why (conditions.go,
	// policy_classification.go). They are omitted when unset, so that the
	// summaries (and hashes) of policies that use none are as they were.
	ReviewTimeout      string   `json:"review_timeout,omitempty"`
	Conditions         []string `json:"conditions,omitempty"`
	ApproverConditions []string `json:"approver_conditions,omitempty"`
	Purposes           []string `json:"purposes,omitempty"`
	Classification     string   `json:"classification,omitempty"`
	TicketRule         string   `json:"ticket_rule,omitempty"`
	// BreakGlass is the break_glass block in one line ("" for none).
	BreakGlass string `json:"break_glass,omitempty"`
	// RequireMFA are the actions that need a second factor (mfa.go).
	RequireMFA []string `json:"require_mfa,omitempty"`
	// Extension and scheduled-start limits, when the resource sets them.
	MaxTotalDuration string `json:"max_total_duration,omitempty"`
	MaxStartDelay    string `json:"max_start_delay,omitempty"`
}

// SummarizePolicy returns p's summary.
func SummarizePolicy(p *Policy) PolicySummary {
	s := PolicySummary{
		Admins:    sortedSet(p.Admins),
		Reviewers: sortedSet(p.Reviewers),
		Groups:    map[string][]string{},
		Resources: map[string]ResourceSummary{},
	}
	for g, members := range p.Groups {
		s.Groups[g] = sortedSet(members)
	}
	for _, r := range p.Resources {
		rs := ResourceSummary{Tier: r.Tier, ApprovalsRequired: r.ApprovalsRequired, AutoApprove: r.AutoApprove,
			Requesters: sortedSet(r.Requesters), Approvers: sortedSet(r.Approvers),
			Conditions: conditionExprs(r.Conditions), ApproverConditions: conditionExprs(r.ApproverConditions),
			Purposes: sortedSet(r.Purposes), Classification: r.Classification, RequireMFA: sortedSet(r.RequireMFA)}
		if len(rs.Purposes) == 0 {
			rs.Purposes = nil
		}
		if len(rs.RequireMFA) == 0 {
			rs.RequireMFA = nil
		}
		if r.ReviewTimeout > 0 {
			rs.ReviewTimeout = FormatDuration(r.ReviewTimeout)
		}
		if r.MaxTotalDuration > 0 {
			rs.MaxTotalDuration = FormatDuration(r.MaxTotalDuration)
		}
		if r.MaxStartDelay > 0 {
			rs.MaxStartDelay = FormatDuration(r.MaxStartDelay)
		}
		switch {
		case r.TicketPattern != nil:
			rs.TicketRule = "matching " + r.TicketPattern.String()
		case r.TicketRequired:
			rs.TicketRule = "required"
		}
		rs.BreakGlass = breakGlassSummary(r.BreakGlass)
		s.Resources[r.ID] = rs
	}
	return s
}

// breakGlassSummary is a break_glass block in one line: "groups oncall,
// max 1h, 2 reviewers within 24h, skips conditions"; "" for none.
func breakGlassSummary(bg *BreakGlass) string {
	if bg == nil {
		return ""
	}
	s := fmt.Sprintf("groups %s, max %s, %s within %s", strings.Join(sortedSet(bg.Groups), " "), FormatDuration(bg.MaxDuration),
		Plural(bg.ReviewersRequired, "reviewer", "reviewers"), FormatDuration(bg.ReviewWithin))
	if bg.SkipConditions {
		s += ", skips conditions"
	}
	return s
}

// conditionExprs lists the expressions of cs, sorted (nil for none).
func conditionExprs(cs []Condition) []string {
	if len(cs) == 0 {
		return nil
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Expr
	}
	slices.Sort(out)
	return out
}

// Hash is the hex SHA-256 of the summary's JSON: the content hash of a
// policy that was not read from a file (one built by a program).
func (s PolicySummary) Hash() string {
	raw, _ := json.Marshal(s) // maps marshal with sorted keys
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func sortedSet(in []string) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// PolicyDiff is what changed from one policy version to the next.
type PolicyDiff struct {
	// First is set on the first version recorded: there is nothing to
	// compare with, and the lists below name everything it holds.
	First            bool             `json:"first,omitempty"`
	ResourcesAdded   []string         `json:"resources_added,omitempty"`
	ResourcesRemoved []string         `json:"resources_removed,omitempty"`
	Resources        []ResourceChange `json:"resources_changed,omitempty"`
	GroupsAdded      []string         `json:"groups_added,omitempty"`
	GroupsRemoved    []string         `json:"groups_removed,omitempty"`
	Groups           []GroupChange    `json:"groups_changed,omitempty"`
	Admins           *ListChange      `json:"admins,omitempty"`
	Reviewers        *ListChange      `json:"reviewers,omitempty"`
	// Access is who gains or loses the right to request and to approve
	// each resource, people rather than groups: the sum of the resource
	// and group changes above.
	Access []AccessChange `json:"access,omitempty"`
}

// AccessChange is who gained (Added) and lost (Removed) the right to
// request and to approve one resource.
type AccessChange struct {
	Resource   string      `json:"resource"`
	Requesters *ListChange `json:"requesters,omitempty"`
	Approvers  *ListChange `json:"approvers,omitempty"`
}

// ResourceChange is how one resource present in both versions changed.
type ResourceChange struct {
	ID         string      `json:"id"`
	Tier       *TierChange `json:"tier,omitempty"`
	Approvals  *IntChange  `json:"approvals_required,omitempty"`
	Requesters *ListChange `json:"requesters,omitempty"`
	Approvers  *ListChange `json:"approvers,omitempty"`
	// The rules on who, when and why: a list's added and removed entries,
	// a setting's value before and after ("" for none).
	Conditions         *ListChange    `json:"conditions,omitempty"`
	ApproverConditions *ListChange    `json:"approver_conditions,omitempty"`
	Purposes           *ListChange    `json:"purposes,omitempty"`
	Settings           []StringChange `json:"settings,omitempty"`
	// Lowered: the tier went down, fewer approvals are required
	// (auto-approval included), or a condition was removed.
	Lowered bool `json:"lowered,omitempty"`
	// TwoPersonRuleRemoved: it needed two or more approvals and now needs
	// fewer.
	TwoPersonRuleRemoved bool `json:"two_person_rule_removed,omitempty"`
}

// TierChange is a tier before and after.
type TierChange struct {
	From Tier `json:"from"`
	To   Tier `json:"to"`
}

// StringChange is a setting of a resource (review_timeout,
// classification, ticket) before and after; "" is unset.
type StringChange struct {
	Key  string `json:"key"`
	From string `json:"from"`
	To   string `json:"to"`
}

// IntChange is a number before and after.
type IntChange struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// ListChange is what was added to and removed from a list.
type ListChange struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// GroupChange is who joined and left one group present in both versions.
type GroupChange struct {
	Name           string   `json:"name"`
	MembersAdded   []string `json:"members_added,omitempty"`
	MembersRemoved []string `json:"members_removed,omitempty"`
}

// DiffPolicies compares two summaries. It is pure: same inputs, same
// diff, every list sorted.
func DiffPolicies(old, new PolicySummary) PolicyDiff {
	var d PolicyDiff
	for _, id := range sortedKeysOf(new.Resources) {
		o, ok := old.Resources[id]
		if !ok {
			d.ResourcesAdded = append(d.ResourcesAdded, id)
			continue
		}
		if c, changed := diffResource(id, o, new.Resources[id]); changed {
			d.Resources = append(d.Resources, c)
		}
	}
	for _, id := range sortedKeysOf(old.Resources) {
		if _, ok := new.Resources[id]; !ok {
			d.ResourcesRemoved = append(d.ResourcesRemoved, id)
		}
	}
	for _, g := range sortedKeysOf(new.Groups) {
		o, ok := old.Groups[g]
		if !ok {
			d.GroupsAdded = append(d.GroupsAdded, g)
			continue
		}
		if lc := diffList(o, new.Groups[g]); lc != nil {
			d.Groups = append(d.Groups, GroupChange{Name: g, MembersAdded: lc.Added, MembersRemoved: lc.Removed})
		}
	}
	for _, g := range sortedKeysOf(old.Groups) {
		if _, ok := new.Groups[g]; !ok {
			d.GroupsRemoved = append(d.GroupsRemoved, g)
		}
	}
	d.Admins = diffList(old.Admins, new.Admins)
	d.Reviewers = diffList(old.Reviewers, new.Reviewers)
	d.Access = diffAccess(old, new)
	return d
}

// diffAccess expands each resource's requester and approver groups into
// people in both versions and compares them.
func diffAccess(old, new PolicySummary) []AccessChange {
	ids := sortedSet(slices.Concat(sortedKeysOf(old.Resources), sortedKeysOf(new.Resources)))
	var out []AccessChange
	for _, id := range ids {
		o, n := old.Resources[id], new.Resources[id]
		c := AccessChange{Resource: id,
			Requesters: diffList(old.people(o.Requesters), new.people(n.Requesters)),
			Approvers:  diffList(old.people(o.Approvers), new.people(n.Approvers))}
		if c.Requesters != nil || c.Approvers != nil {
			out = append(out, c)
		}
	}
	return out
}

// people lists the members of groups, sorted.
func (s PolicySummary) people(groups []string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, s.Groups[g]...)
	}
	return sortedSet(out)
}

// WithMembers returns s with more members in its groups (the directory's
// members of groups of the same names), so that a diff of two summaries
// so extended names everyone who gains or loses access.
func (s PolicySummary) WithMembers(extra map[string][]string) PolicySummary {
	out := s
	out.Groups = map[string][]string{}
	for g, members := range s.Groups {
		out.Groups[g] = sortedSet(slices.Concat(members, extra[g]))
	}
	return out
}

// FirstPolicyDiff is the diff recorded with the first version: everything
// in it is new.
func FirstPolicyDiff(s PolicySummary) PolicyDiff {
	d := DiffPolicies(PolicySummary{}, s)
	d.First = true
	return d
}

func diffResource(id string, o, n ResourceSummary) (ResourceChange, bool) {
	c := ResourceChange{ID: id}
	if o.Tier != n.Tier {
		c.Tier = &TierChange{From: o.Tier, To: n.Tier}
		if slices.Index(Tiers, n.Tier) < slices.Index(Tiers, o.Tier) {
			c.Lowered = true
		}
	}
	if o.ApprovalsRequired != n.ApprovalsRequired {
		c.Approvals = &IntChange{From: o.ApprovalsRequired, To: n.ApprovalsRequired}
		if n.ApprovalsRequired < o.ApprovalsRequired {
			c.Lowered = true
		}
		c.TwoPersonRuleRemoved = o.ApprovalsRequired >= 2 && n.ApprovalsRequired < 2
	}
	c.Requesters = diffList(o.Requesters, n.Requesters)
	c.Approvers = diffList(o.Approvers, n.Approvers)
	c.Conditions = diffList(o.Conditions, n.Conditions)
	c.ApproverConditions = diffList(o.ApproverConditions, n.ApproverConditions)
	c.Purposes = diffList(o.Purposes, n.Purposes)
	if c.Conditions != nil && len(c.Conditions.Removed) > 0 || c.ApproverConditions != nil && len(c.ApproverConditions.Removed) > 0 {
		c.Lowered = true
	}
	// An action that no longer needs a second factor asks less.
	if slices.ContainsFunc(o.RequireMFA, func(a string) bool { return !slices.Contains(n.RequireMFA, a) }) {
		c.Lowered = true
	}
	for _, kv := range []struct{ key, from, to string }{
		{"require_mfa", strings.Join(o.RequireMFA, ","), strings.Join(n.RequireMFA, ",")},
		{"review_timeout", o.ReviewTimeout, n.ReviewTimeout},
		{"classification", o.Classification, n.Classification},
		{"ticket", o.TicketRule, n.TicketRule},
		{"break_glass", o.BreakGlass, n.BreakGlass},
		{"max_total_duration", o.MaxTotalDuration, n.MaxTotalDuration},
		{"max_start_delay", o.MaxStartDelay, n.MaxStartDelay},
	} {
		if kv.from != kv.to {
			c.Settings = append(c.Settings, StringChange{Key: kv.key, From: kv.from, To: kv.to})
		}
	}
	// A new emergency path, or one that now skips the conditions, lowers
	// the bar.
	if n.BreakGlass != "" && (o.BreakGlass == "" || strings.HasSuffix(n.BreakGlass, ", skips conditions") && !strings.HasSuffix(o.BreakGlass, ", skips conditions")) {
		c.Lowered = true
	}
	changed := c.Tier != nil || c.Approvals != nil || c.Requesters != nil || c.Approvers != nil ||
		c.Conditions != nil || c.ApproverConditions != nil || c.Purposes != nil || len(c.Settings) > 0
	return c, changed
}

// diffList returns what was added and removed, or nil when nothing was.
func diffList(old, new []string) *ListChange {
	var lc ListChange
	for _, v := range sortedSet(new) {
		if !slices.Contains(old, v) {
			lc.Added = append(lc.Added, v)
		}
	}
	for _, v := range sortedSet(old) {
		if !slices.Contains(new, v) {
			lc.Removed = append(lc.Removed, v)
		}
	}
	if lc.Added == nil && lc.Removed == nil {
		return nil
	}
	return &lc
}

func sortedKeysOf[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// Lowered reports whether the new version asks less of some resource: a
// lower tier or fewer approvals. Such a load is allowed but raises a
// security alert.
func (d PolicyDiff) Lowered() bool {
	return slices.ContainsFunc(d.Resources, func(c ResourceChange) bool { return c.Lowered })
}

// Empty reports whether nothing the summary holds changed (a new version
// may differ only in comments, names or durations).
func (d PolicyDiff) Empty() bool {
	return len(d.ResourcesAdded)+len(d.ResourcesRemoved)+len(d.Resources)+len(d.GroupsAdded)+len(d.GroupsRemoved)+len(d.Groups) == 0 &&
		d.Admins == nil && d.Reviewers == nil
}

// Lines says each change in a few words, for the audit record and the
// alert: "crm-payments tier high → medium (LOWERED)", "group managers:
// -carol@example.com".
func (d PolicyDiff) Lines() []string {
	if d.First {
		return []string{fmt.Sprintf("first recorded version (%d resources, %d groups, %d admins)",
			len(d.ResourcesAdded), len(d.GroupsAdded), len(addedOf(d.Admins)))}
	}
	var out []string
	for _, id := range d.ResourcesAdded {
		out = append(out, "+resource "+id)
	}
	for _, id := range d.ResourcesRemoved {
		out = append(out, "-resource "+id)
	}
	for _, c := range d.Resources {
		if c.Tier != nil {
			s := fmt.Sprintf("%s tier %s → %s", c.ID, c.Tier.From, c.Tier.To)
			if slices.Index(Tiers, c.Tier.To) < slices.Index(Tiers, c.Tier.From) {
				s += " (LOWERED)"
			}
			out = append(out, s)
		}
		if c.Approvals != nil {
			s := fmt.Sprintf("%s approvals_required %d → %d", c.ID, c.Approvals.From, c.Approvals.To)
			switch {
			case c.TwoPersonRuleRemoved:
				s += " (LOWERED: two-person rule removed)"
			case c.Approvals.To < c.Approvals.From:
				s += " (LOWERED)"
			}
			out = append(out, s)
		}
		if c.Requesters != nil {
			out = append(out, c.ID+" requesters: "+c.Requesters.String())
		}
		if c.Approvers != nil {
			out = append(out, c.ID+" approvers: "+c.Approvers.String())
		}
		for _, lc := range []struct {
			name string
			lc   *ListChange
		}{{"conditions", c.Conditions}, {"approver_conditions", c.ApproverConditions}, {"purposes", c.Purposes}} {
			if lc.lc == nil {
				continue
			}
			s := c.ID + " " + lc.name + ": " + lc.lc.String()
			if lc.name != "purposes" && len(lc.lc.Removed) > 0 {
				s += " (LOWERED)"
			}
			out = append(out, s)
		}
		for _, st := range c.Settings {
			out = append(out, fmt.Sprintf("%s %s %s → %s", c.ID, st.Key, orNone(st.From), orNone(st.To)))
		}
	}
	for _, g := range d.GroupsAdded {
		out = append(out, "+group "+g)
	}
	for _, g := range d.GroupsRemoved {
		out = append(out, "-group "+g)
	}
	for _, g := range d.Groups {
		out = append(out, "group "+g.Name+": "+(&ListChange{Added: g.MembersAdded, Removed: g.MembersRemoved}).String())
	}
	if d.Admins != nil {
		out = append(out, "admins: "+d.Admins.String())
	}
	if d.Reviewers != nil {
		out = append(out, "reviewers: "+d.Reviewers.String())
	}
	for _, a := range d.Access {
		if a.Requesters != nil {
			out = append(out, a.Resource+" may request: "+a.Requesters.String())
		}
		if a.Approvers != nil {
			out = append(out, a.Resource+" may approve: "+a.Approvers.String())
		}
	}
	return out
}

func addedOf(lc *ListChange) []string {
	if lc == nil {
		return nil
	}
	return lc.Added
}

// String is "+a -b".
func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (lc *ListChange) String() string {
	var parts []string
	for _, v := range lc.Added {
		parts = append(parts, "+"+v)
	}
	for _, v := range lc.Removed {
		parts = append(parts, "-"+v)
	}
	return strings.Join(parts, " ")
}

// maxDiffText bounds the diff in an audit record's reason; the whole diff
// is in the policy history.
const maxDiffText = 600

// String is the diff in one short line; past a few hundred characters it
// ends with how many more changes the policy history holds.
func (d PolicyDiff) String() string {
	lines := d.Lines()
	if len(lines) == 0 {
		return "no change to resources, groups or admins"
	}
	var b strings.Builder
	for i, l := range lines {
		if i > 0 && b.Len()+len(l) > maxDiffText {
			fmt.Fprintf(&b, "; … and %d more changes (jitaccess policy versions)", len(lines)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(l)
	}
	return b.String()
}
