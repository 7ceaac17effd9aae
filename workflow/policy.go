package workflow

import (
	"regexp"
	"slices"
	"time"

	"github.com/jitaccess/jitaccess/masking"
)

// Tier is how sensitive a resource is; it sets the minimum number of
// approvals.
type Tier string

const (
	TierLow      Tier = "low"
	TierMedium   Tier = "medium"
	TierHigh     Tier = "high"
	TierCritical Tier = "critical"
)

// Tiers lists every tier, least sensitive first.
var Tiers = []Tier{TierLow, TierMedium, TierHigh, TierCritical}

// Valid reports whether t is a known tier.
func (t Tier) Valid() bool { return slices.Contains(Tiers, t) }

// MinApprovals is the fewest approvals a resource of this tier may require.
// high and critical need two distinct people: the two-person rule.
func (t Tier) MinApprovals() int {
	switch t {
	case TierHigh, TierCritical:
		return 2
	default:
		return 1
	}
}

// Policy says who may request and approve what. It is immutable once
// built; reloading the file builds a new one.
type Policy struct {
	// Source names where the policy came from (a file path, or "demo").
	Source string
	// Version is the policy's number in the policy history (policy.load
	// audit records), set when it is loaded; 0 before it is recorded.
	Version int
	// SHA256 is the hex SHA-256 of the policy file's bytes, when known.
	SHA256    string
	Admins    []string
	Groups    map[string][]string
	Resources []*Resource
	// Reviewers are the groups whose members read access reviews, flags
	// and the audit log, and sign reviews off (besides the admins).
	Reviewers []string
	// WorkingHours are the teams' usual hours, for the out-of-hours flag.
	WorkingHours []WorkingHours
	// SlackChannels are the policy's default Slack approval channels
	// (policy key slack_channels); a resource's own slack_channel wins.
	SlackChannels SlackChannels
	// SensitivePatterns are the policy's own free-text detectors (policy
	// key sensitive_patterns), applied besides card numbers and IBANs to
	// every text a person writes, before it is stored.
	SensitivePatterns []masking.Pattern
	// ClassificationLevels are the defaults each data classification level
	// sets (policy key classification_levels); a resource of that level may
	// tighten them, never loosen them. See policy_classification.go.
	ClassificationLevels map[string]LevelDefaults
	// TierSettings are the per-tier review settings (policy key tiers).
	TierSettings map[Tier]TierSettings
	// Tests are the policy's own tests (policy key tests), which passed
	// when it was loaded; see policy_tests.go.
	Tests []PolicyTest
	// ReviewCampaigns open access reviews on a schedule (policy key
	// review_campaigns; policy_campaigns.go).
	ReviewCampaigns []ReviewCampaign
	// RemindApproversBefore, when set, reminds a pending request's
	// approvers once this long before it times out (policy key
	// remind_approvers_before).
	RemindApproversBefore time.Duration

	byID    map[string]*Resource
	members map[string]map[string]bool // group → set of emails
	admins  map[string]bool
	known   map[string]bool // everyone the policy names
}

// Resource is one thing that can be requested.
type Resource struct {
	ID          string
	Name        string
	Description string
	Tier        Tier
	MaxDuration time.Duration
	// MaxTotalDuration caps a grant with all its extensions (policy key
	// max_total_duration; 0: twice MaxDuration, see MaxTotal).
	MaxTotalDuration time.Duration
	// MaxStartDelay is how far ahead a request's start_at may be (policy
	// key max_start_delay; 0: DefaultMaxStartDelay, see StartDelay).
	MaxStartDelay time.Duration
	Requesters    []string // group names
	Approvers     []string // group names
	AutoApprove   bool
	// SlackChannel is where requests for this resource are posted for
	// approval (policy key slack_channel): a channel ID or #name. Empty
	// means the tier's or the policy's default.
	SlackChannel string
	// ApprovalsRequired is the number of distinct approvals a request
	// needs: at least Tier.MinApprovals(), possibly more. Zero when
	// AutoApprove is set.
	ApprovalsRequired int
	// Provisioner applies and removes access where the data lives; nil
	// is none (jitaccess's own record only). See policy_provision.go.
	Provisioner *ProvisionerSpec
	// Fields are masked by the mask API unless the user holds a live grant.
	Fields []FieldRule
	// Tags are the resource's own labels (policy key tags), which
	// conditions read as resource.tags.
	Tags map[string]string
	// Conditions must all hold for the requester to have the resource:
	// when they ask, when the final approval lands, and on every
	// re-evaluation. ApproverConditions must hold for each approver. See
	// conditions.go.
	Conditions         []Condition
	ApproverConditions []Condition
	// Classification is the data's level (public, internal, confidential,
	// restricted; "" when unclassified) and Categories its kinds of data
	// (payment, identity, ...): policy key classification.
	Classification string
	Categories     []string
	// Purposes, when set, are the only purposes a request may name; a
	// request must name one.
	Purposes []string
	// TicketRequired refuses a request without a ticket; TicketPattern,
	// when set, is what the ticket must match.
	TicketRequired bool
	TicketPattern  *regexp.Regexp
	// ReviewTimeout is how long a request may wait for a decision: the
	// resource's own review_timeout, else its tier's, else 0 (the
	// service's --review-timeout).
	ReviewTimeout time.Duration
	// ApproverCommentRequired refuses an approval without a comment: the
	// resource's own setting, else its tier's, else true for critical.
	ApproverCommentRequired bool
	// BreakGlass is the resource's emergency path (policy key
	// break_glass); nil when it has none. See breakglass.go.
	BreakGlass *BreakGlass
	// RequireMFA names the actions on the resource that need a second
	// factor proved recently (MFAActions; policy key require_mfa): the
	// resource's own list, else its tier's, else [approve] for critical
	// and none for the other tiers. See mfa.go.
	RequireMFA []string
	// Line is where the resource is defined in its policy file.
	Line int
}

// DefaultMaxStartDelay is how far ahead a start_at may be when the
// resource sets no max_start_delay.
const DefaultMaxStartDelay = 7 * 24 * time.Hour

// MaxTotal is the longest a grant of r may last with its extensions:
// max_total_duration, else twice max_duration.
func (r *Resource) MaxTotal() time.Duration {
	if r.MaxTotalDuration > 0 {
		return r.MaxTotalDuration
	}
	return 2 * r.MaxDuration
}

// StartDelay is how far ahead of now a request's start_at may be:
// max_start_delay, else DefaultMaxStartDelay.
func (r *Resource) StartDelay() time.Duration {
	if r.MaxStartDelay > 0 {
		return r.MaxStartDelay
	}
	return DefaultMaxStartDelay
}

// NewPolicy indexes a policy. The inputs must already be valid (see
// ParsePolicy); NewPolicy only normalizes emails and builds lookups.
func NewPolicy(source string, admins []string, groups map[string][]string, resources []*Resource) *Policy {
	p := &Policy{
		Source:    source,
		Groups:    map[string][]string{},
		Resources: resources,
		byID:      map[string]*Resource{},
		members:   map[string]map[string]bool{},
		admins:    map[string]bool{},
		known:     map[string]bool{},
	}
	for _, a := range admins {
		a = NormalizeEmail(a)
		p.Admins = append(p.Admins, a)
		p.admins[a] = true
		p.known[a] = true
	}
	for g, emails := range groups {
		set := map[string]bool{}
		for _, e := range emails {
			e = NormalizeEmail(e)
			set[e] = true
			p.known[e] = true
			p.Groups[g] = append(p.Groups[g], e)
		}
		p.members[g] = set
	}
	for _, r := range resources {
		p.byID[r.ID] = r
	}
	return p
}

// Resource returns the resource with id.
func (p *Policy) Resource(id string) (*Resource, bool) {
	r, ok := p.byID[id]
	return r, ok
}

// IsAdmin reports whether the principal is a policy admin.
func (p *Policy) IsAdmin(who Principal) bool {
	return who.IsUser() && who.Active() && p.admins[who.Email]
}

// Knows reports whether the principal is a person the policy names, as an
// admin or a group member (directly or through an identity provider group
// the policy defines).
func (p *Policy) Knows(who Principal) bool {
	if !who.IsUser() || !who.Active() {
		return false
	}
	if p.known[who.Email] {
		return true
	}
	for _, g := range slices.Concat(who.Groups, who.DirectoryGroups) {
		if _, ok := p.members[g]; ok {
			return true
		}
	}
	return false
}

// InAnyGroup reports whether the principal belongs to one of groups, by the
// policy file or by its identity provider's groups.
func (p *Policy) InAnyGroup(who Principal, groups []string) bool {
	if !who.IsUser() || !who.Active() {
		return false
	}
	for _, g := range groups {
		if p.members[g][who.Email] || slices.Contains(who.Groups, g) || slices.Contains(who.DirectoryGroups, g) {
			return true
		}
	}
	return false
}

// withoutSessionGroups returns who without the groups asserted at sign-in,
// which count for that session alone: what jitaccess can judge again later
// from the policy file and the directory.
func withoutSessionGroups(who Principal) Principal {
	who.Groups = nil
	return who
}

// OnlyBySession reports whether who is in one of groups only through the
// groups their session asserted: re-evaluation cannot judge that standing
// again (see reconcile.go).
func (p *Policy) OnlyBySession(who Principal, groups []string) bool {
	return p.InAnyGroup(who, groups) && !p.InAnyGroup(withoutSessionGroups(who), groups)
}

// CanRequest reports whether the principal may request r.
func (p *Policy) CanRequest(who Principal, r *Resource) bool { return p.InAnyGroup(who, r.Requesters) }

// CanApprove reports whether the principal is in one of r's approver
// groups. It says nothing about self-approval; see CheckApprover.
func (p *Policy) CanApprove(who Principal, r *Resource) bool { return p.InAnyGroup(who, r.Approvers) }

// ApproverEmails lists the people the policy file puts in r's approver
// groups (identity-provider-only members are not known here).
func (p *Policy) ApproverEmails(r *Resource) []string { return p.GroupMembers(r.Approvers) }

// GroupMembers lists the people the policy file puts in any of groups,
// each once, sorted (identity-provider and directory members are not
// known here).
func (p *Policy) GroupMembers(groups []string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, p.Groups[g]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SlackChannels are default Slack approval channels: one per tier, and one
// for everything else.
type SlackChannels struct {
	Default string
	Tiers   map[Tier]string
}

// ApprovalChannel returns the Slack channel where requests for r are
// posted: r's own slack_channel, else its tier's channel, else the
// policy's default; "" when the policy names none (the server's
// configuration may then supply one).
func (p *Policy) ApprovalChannel(r *Resource) string {
	if r.SlackChannel != "" {
		return r.SlackChannel
	}
	if c := p.SlackChannels.Tiers[r.Tier]; c != "" {
		return c
	}
	return p.SlackChannels.Default
}
