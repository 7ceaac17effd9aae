// Package review is oversight's domain: access review reports for a period
// (per resource and per person), sign-offs and follow-ups, standing
// exceptions, anomaly flags, and the numbers behind the dashboard. The
// rules (who may read or sign what, what counts as an anomaly) are pure
// functions over requests and the policy, tested by tables; Service runs
// them against a Store, one transaction per change, each change audited.
package review

import (
	"slices"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// CanOversee reports whether the principal reads everything oversight
// shows and signs reviews off: policy admins and members of a reviewers
// group.
func CanOversee(pol *workflow.Policy, who workflow.Principal) bool {
	return pol.IsAdmin(who) || pol.IsReviewer(who)
}

// CheckRead says whether who may read reports, reviews and flags of scope:
// admins and reviewers any; the approvers of a resource that resource's.
//
// Errors: CodeForbidden.
func CheckRead(pol *workflow.Policy, who workflow.Principal, scope Scope) error {
	if !who.IsUser() {
		return workflow.Errorf(workflow.CodeForbidden, "only people may read access reviews, not %s", who.Name())
	}
	if CanOversee(pol, who) {
		return nil
	}
	if scope.Kind == ScopeResource {
		if res, ok := pol.Resource(scope.Value); ok && pol.CanApprove(who, res) {
			return nil
		}
		return workflow.Errorf(workflow.CodeForbidden, "only admins, reviewers and the approvers of %s may read its access review", scope.Value)
	}
	return workflow.Errorf(workflow.CodeForbidden, "only admins and reviewers may read access reviews of %s", scopeWords(scope))
}

// CheckReadReview says whether who may read rev: as CheckRead for its
// scope, and, for a review a campaign opened, the campaign's reviewers.
//
// Errors: CodeForbidden.
func CheckReadReview(pol *workflow.Policy, who workflow.Principal, rev *Review) error {
	err := CheckRead(pol, who, rev.Scope)
	if err == nil || rev.Campaign == "" {
		return err
	}
	if c, ok := pol.Campaign(rev.Campaign); ok && pol.IsCampaignReviewer(who, c) {
		return nil
	}
	return err
}

// CheckReviews says whether who may read any access review at all: admins
// and reviewers, and the approvers of at least one resource (theirs).
//
// Errors: CodeForbidden.
func CheckReviews(pol *workflow.Policy, who workflow.Principal) error {
	if !who.IsUser() {
		return workflow.Errorf(workflow.CodeForbidden, "only people may read access reviews, not %s", who.Name())
	}
	if CanOversee(pol, who) {
		return nil
	}
	for _, r := range pol.Resources {
		if pol.CanApprove(who, r) {
			return nil
		}
	}
	for _, c := range pol.ReviewCampaigns {
		if pol.IsCampaignReviewer(who, c) {
			return nil
		}
	}
	return workflow.Errorf(workflow.CodeForbidden, "only admins, reviewers, approvers and campaign reviewers may read access reviews")
}

// CheckDashboard says whether who may see the dashboard: admins and
// reviewers.
//
// Errors: CodeForbidden.
func CheckDashboard(pol *workflow.Policy, who workflow.Principal) error {
	if !who.IsUser() || !CanOversee(pol, who) {
		return workflow.Errorf(workflow.CodeForbidden, "only admins and reviewers may see the dashboard")
	}
	return nil
}

// CheckExport says whether who may export or verify the audit log: admins
// and reviewers.
//
// Errors: CodeForbidden.
func CheckExport(pol *workflow.Policy, who workflow.Principal) error {
	if !who.IsUser() || !CanOversee(pol, who) {
		return workflow.Errorf(workflow.CodeForbidden, "only admins and reviewers may export or verify the audit log")
	}
	return nil
}

// CheckSignOff says whether who may sign rev off, given its report: who
// may read it, it is still open, and who had none of the access it lists
// (nobody signs off their own access).
//
// Errors: CodeForbidden, CodeInvalidState.
func CheckSignOff(pol *workflow.Policy, who workflow.Principal, rev *Review, rep *Report) error {
	if err := CheckReadReview(pol, who, rev); err != nil {
		return err
	}
	if rev.State != StateOpen {
		return workflow.Errorf(workflow.CodeInvalidState, "review %s was already signed off by %s", rev.ID, rev.SignedOffBy)
	}
	// Separation of duties: whoever requested, approved or held a grant
	// in the review's scope does not sign off on it.
	for _, g := range rep.Grants {
		if g.Person == who.Email {
			return workflow.Errorf(workflow.CodeForbidden, "you had access in this review (request %s for %s); another reviewer must sign it off", g.RequestID, g.Resource)
		}
		if slices.Contains(g.Approvers, who.Email) {
			return workflow.Errorf(workflow.CodeForbidden, "you approved access in this review (request %s of %s for %s); separation of duties: another reviewer must sign it off", g.RequestID, g.Person, g.Resource)
		}
	}
	return nil
}

// MaxPeriod bounds a report's period.
const MaxPeriod = 400 * 24 * time.Hour

// CheckPeriod validates a period.
//
// Errors: CodeInvalid.
func CheckPeriod(p Period) error {
	switch {
	case p.Start.IsZero() || p.End.IsZero():
		return workflow.Errorf(workflow.CodeInvalid, "a period needs a start and an end (since and until)")
	case !p.End.After(p.Start):
		return workflow.Errorf(workflow.CodeInvalid, "the period must end after it starts")
	case p.End.Sub(p.Start) > MaxPeriod:
		return workflow.Errorf(workflow.CodeInvalid, "a period may be at most 400 days long")
	}
	return nil
}

// CheckScope validates a scope against the policy: a resource scope names
// a resource (current or one that appears in the data is not checked
// here, so reports of retired resources still work), a person scope an
// email.
//
// Errors: CodeInvalid.
func CheckScope(s Scope) (Scope, error) {
	switch s.Kind {
	case "", ScopeAll:
		return Scope{Kind: ScopeAll}, nil
	case ScopeResource:
		if s.Value == "" {
			return s, workflow.Errorf(workflow.CodeInvalid, "a resource scope needs a resource id")
		}
		return s, nil
	case ScopePerson:
		s.Value = workflow.NormalizeEmail(s.Value)
		if s.Value == "" {
			return s, workflow.Errorf(workflow.CodeInvalid, "a person scope needs an email")
		}
		return s, nil
	}
	return s, workflow.Errorf(workflow.CodeInvalid, "scope must be all, resource or person, not %q", s.Kind)
}

func scopeWords(s Scope) string {
	switch s.Kind {
	case ScopeResource:
		return "resource " + s.Value
	case ScopePerson:
		return s.Value
	}
	return "everything"
}

// ParseItem checks a follow-up item: a kind and a reference.
//
// Errors: CodeInvalid.
func ParseItem(kind, ref string) (string, string, error) {
	switch kind {
	case ItemRequest, ItemPerson, ItemResource, ItemFlag:
	default:
		return "", "", workflow.Errorf(workflow.CodeInvalid, "item kind must be request, person, resource or flag, not %q", kind)
	}
	if ref == "" || len(ref) > 200 {
		return "", "", workflow.Errorf(workflow.CodeInvalid, "item needs a reference of at most 200 characters (a request id, an email, a resource id or a flag key)")
	}
	if kind == ItemPerson {
		ref = workflow.NormalizeEmail(ref)
	}
	return kind, ref, nil
}
