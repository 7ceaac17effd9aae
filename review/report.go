package review

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Line is one person's access to one resource in a period: how often, for
// how long in total, approved by whom, for which reasons.
type Line struct {
	Person     string
	Resource   string
	Tier       workflow.Tier
	Grants     int
	Total      time.Duration
	Approvers  []string // distinct, in order of first appearance; "auto-approved" for policy approvals
	Reasons    []string // distinct, first 20
	RequestIDs []string
}

// ResourceSummary is one resource's access in a period, person by person.
type ResourceSummary struct {
	Resource string
	Tier     workflow.Tier
	Grants   int
	People   int
	Total    time.Duration
	Lines    []Line
}

// PersonSummary is one person's access in a period, resource by resource.
type PersonSummary struct {
	Person    string
	Grants    int
	Resources int
	Total     time.Duration
	Lines     []Line
}

// Standing is a standing exception: one person granted the same high or
// critical resource again and again in the period. It asks for a policy
// change (a standing role, a different tier) rather than more approvals.
type Standing struct {
	Line
	Message string
}

// Counts are the requests filed in the period, by outcome.
type Counts struct {
	Requested int
	ByState   map[workflow.State]int
}

// Report is an access review report.
type Report struct {
	Scope       Scope
	Period      Period
	GeneratedAt time.Time
	Grants      []Grant
	ByResource  []ResourceSummary
	ByPerson    []PersonSummary
	Standing    []Standing
	Flags       []Flag
	Counts      Counts
	// Digest identifies the report's content (grants, exceptions and
	// flags, not the time it was made), so that a sign-off can say what
	// it signed and a later reader whether that is still what the data
	// shows.
	Digest string
}

// AutoApproved stands for the policy in a line's approvers.
const AutoApproved = "auto-approved"

// GrantOf returns the access a request gave within period p, as of now,
// and whether it gave any.
//
// An extension gives no access of its own (the grant it extends shows the
// longer window), and a scheduled grant's access starts at its start_at:
// one that ended before it started gave none.
func GrantOf(r *workflow.Request, p Period, now time.Time) (Grant, bool) {
	if r.ApprovedAt == nil || r.ExpiresAt == nil || r.IsExtension() {
		return Grant{}, false
	}
	start := *r.ApprovedAt
	if r.StartAt != nil && r.StartAt.After(start) {
		start = *r.StartAt
	}
	end := *r.ExpiresAt
	if r.EndedAt != nil {
		end = *r.EndedAt
	}
	if !end.After(start) || !start.Before(p.End) || !end.After(p.Start) {
		return Grant{}, false
	}
	g := Grant{RequestID: r.ID, Person: r.Requester, Resource: r.Resource, Tier: r.Tier, Reason: r.Reason, Ticket: r.Ticket,
		RequestedAt: r.CreatedAt, ApprovedAt: *r.ApprovedAt, EndsAt: end, Live: r.Live(now), State: r.EffectiveState(now),
		EndedBy: r.EndedBy, EndReason: r.EndReason}
	for _, a := range r.Approvals {
		g.Approvers = append(g.Approvers, a.Approver)
	}
	if len(g.Approvers) == 0 {
		g.Approvers = []string{AutoApproved}
	}
	from := later(start, p.Start)
	to := earlier(end, earlier(p.End, now))
	if to.After(from) {
		g.InPeriod = to.Sub(from)
	}
	return g, true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// InScope reports whether a request belongs to scope.
func (s Scope) InScope(person, resource string) bool {
	switch s.Kind {
	case ScopeResource:
		return resource == s.Value
	case ScopePerson:
		return person == s.Value
	}
	return true
}

// FlagInScope reports whether a flag belongs to scope.
func (s Scope) FlagInScope(f Flag) bool {
	switch s.Kind {
	case ScopeResource:
		return f.Resource == s.Value
	case ScopePerson:
		return f.Person == s.Value || slices.Contains(f.People, s.Value)
	}
	return true
}

// ReportInput is everything a report is built from.
type ReportInput struct {
	Scope         Scope
	Period        Period
	Now           time.Time
	Requests      []*workflow.Request // at least those PeriodRequests returns
	Flags         []Flag              // flags in the period (any scope)
	StandingCount int                 // grants of one high or critical resource to one person that make a standing exception
}

// BuildReport builds a report. It is a pure function of its input.
func BuildReport(in ReportInput) *Report {
	rep := &Report{Scope: in.Scope, Period: in.Period, GeneratedAt: in.Now, Counts: Counts{ByState: map[workflow.State]int{}}}
	type key struct{ person, resource string }
	lines := map[key]*Line{}
	for _, r := range in.Requests {
		if !in.Scope.InScope(r.Requester, r.Resource) {
			continue
		}
		if !r.CreatedAt.Before(in.Period.End) {
			continue
		}
		if !r.CreatedAt.Before(in.Period.Start) {
			rep.Counts.Requested++
			rep.Counts.ByState[r.EffectiveState(in.Now)]++
		}
		g, ok := GrantOf(r, in.Period, in.Now)
		if !ok {
			continue
		}
		rep.Grants = append(rep.Grants, g)
		k := key{g.Person, g.Resource}
		l := lines[k]
		if l == nil {
			l = &Line{Person: g.Person, Resource: g.Resource, Tier: g.Tier}
			lines[k] = l
		}
		l.Grants++
		l.Total += g.InPeriod
		l.RequestIDs = append(l.RequestIDs, g.RequestID)
		for _, a := range g.Approvers {
			if !slices.Contains(l.Approvers, a) {
				l.Approvers = append(l.Approvers, a)
			}
		}
		if !slices.Contains(l.Reasons, g.Reason) && len(l.Reasons) < 20 {
			l.Reasons = append(l.Reasons, g.Reason)
		}
		if tierRank(g.Tier) > tierRank(l.Tier) {
			l.Tier = g.Tier
		}
	}
	slices.SortFunc(rep.Grants, func(a, b Grant) int {
		return cmp.Or(a.ApprovedAt.Compare(b.ApprovedAt), cmp.Compare(a.RequestID, b.RequestID))
	})
	all := make([]Line, 0, len(lines))
	for _, l := range lines {
		all = append(all, *l)
	}
	byResource := map[string]*ResourceSummary{}
	byPerson := map[string]*PersonSummary{}
	slices.SortFunc(all, func(a, b Line) int {
		return cmp.Or(cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Person, b.Person))
	})
	for _, l := range all {
		rs := byResource[l.Resource]
		if rs == nil {
			rs = &ResourceSummary{Resource: l.Resource, Tier: l.Tier}
			byResource[l.Resource] = rs
		}
		rs.Grants += l.Grants
		rs.People++
		rs.Total += l.Total
		rs.Lines = append(rs.Lines, l)
		if in.StandingCount > 0 && l.Grants >= in.StandingCount && tierRank(l.Tier) >= tierRank(workflow.TierHigh) {
			rep.Standing = append(rep.Standing, Standing{Line: l, Message: standingMessage(l)})
		}
	}
	slices.SortFunc(all, func(a, b Line) int {
		return cmp.Or(cmp.Compare(a.Person, b.Person), cmp.Compare(a.Resource, b.Resource))
	})
	for _, l := range all {
		ps := byPerson[l.Person]
		if ps == nil {
			ps = &PersonSummary{Person: l.Person}
			byPerson[l.Person] = ps
		}
		ps.Grants += l.Grants
		ps.Resources++
		ps.Total += l.Total
		ps.Lines = append(ps.Lines, l)
	}
	for _, id := range sortedKeys(byResource) {
		rep.ByResource = append(rep.ByResource, *byResource[id])
	}
	for _, p := range sortedKeys(byPerson) {
		rep.ByPerson = append(rep.ByPerson, *byPerson[p])
	}
	for _, f := range in.Flags {
		if in.Scope.FlagInScope(f) {
			rep.Flags = append(rep.Flags, f)
		}
	}
	rep.Digest = digest(rep)
	return rep
}

func standingMessage(l Line) string {
	return l.Person + " was granted " + l.Resource + " (" + string(l.Tier) + ") " + itoa(l.Grants) +
		" times in this period: consider a standing role or a policy change instead of approving it again and again"
}

func tierRank(t workflow.Tier) int { return slices.Index(workflow.Tiers, t) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func digest(rep *Report) string {
	type grant struct {
		ID, Person, Resource, State string
		Approved, Ends              time.Time
		Approvers                   []string
	}
	var d struct {
		Scope      string
		Start, End time.Time
		Grants     []grant
		Standing   []string
		Flags      []string
	}
	d.Scope, d.Start, d.End = rep.Scope.String(), rep.Period.Start.UTC(), rep.Period.End.UTC()
	for _, g := range rep.Grants {
		d.Grants = append(d.Grants, grant{g.RequestID, g.Person, g.Resource, string(g.State), g.ApprovedAt.UTC(), g.EndsAt.UTC(), g.Approvers})
	}
	for _, s := range rep.Standing {
		d.Standing = append(d.Standing, s.Person+"|"+s.Resource+"|"+itoa(s.Grants))
	}
	for _, f := range rep.Flags {
		d.Flags = append(d.Flags, f.Key)
	}
	slices.Sort(d.Flags)
	b, _ := json.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
