package workflow

import (
	"context"
	"errors"
	"slices"
	"time"
)

// This file holds the queries and the pure answers that a reviewer's
// screens need (the web UI's "Needs my decision" and "Live grants", and
// the buttons it offers). Like every other rule they live here, so that the
// UI, the API and Slack cannot disagree about who may do what.

// approvableResources lists the ids of the resources who may approve.
func approvableResources(pol *Policy, who Principal) []string {
	var ids []string
	for _, r := range pol.Resources {
		if pol.CanApprove(who, r) {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// decisionsQuery selects the requests waiting for who's decision at now.
func decisionsQuery(pol *Policy, who Principal, now time.Time) (RequestQuery, bool) {
	ids := approvableResources(pol, who)
	if len(ids) == 0 {
		return RequestQuery{}, false
	}
	return RequestQuery{
		State:            StatePending,
		ViewerResources:  ids,
		ExcludeRequester: who.Email,
		NotApprovedBy:    who.Email,
		OpenAt:           now,
		Oldest:           true,
	}, true
}

// Decisions returns the pending requests who may decide, oldest first:
// requests for resources they approve, not their own, not yet approved by
// them, and not past their review deadline. Admins see only the resources
// they approve, as everyone else: being an admin is not being an approver.
//
// Errors: CodeForbidden (not a person in the policy), CodeInvalid (bad
// cursor).
func (s *Service) Decisions(ctx context.Context, who Principal, limit int, cursor string) ([]*Request, string, error) {
	pol := s.Policy()
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return nil, "", err
	}
	if err := requireKnown(pol, who); err != nil {
		return nil, "", err
	}
	q, ok := decisionsQuery(pol, who, s.now())
	if !ok {
		return nil, "", nil
	}
	q.Limit, q.Cursor = pageSize(limit), cursor
	reqs, next, err := s.store.ListRequests(ctx, q)
	if err != nil || !anyApproverConditions(pol, q.ViewerResources) {
		return reqs, next, err
	}
	// approver_conditions depend on both people, which the query cannot
	// judge: the page is filtered here, so it may come out shorter.
	reqs, err = s.offered(ctx, pol, who, reqs, s.now())
	return reqs, next, err
}

// anyApproverConditions reports whether one of the resources ids has
// approver_conditions.
func anyApproverConditions(pol *Policy, ids []string) bool {
	for _, id := range ids {
		if r, ok := pol.Resource(id); ok && len(r.ApproverConditions) > 0 {
			return true
		}
	}
	return false
}

// offered keeps the requests of reqs whose resource's approver_conditions
// who meets: the others are not offered to them.
func (s *Service) offered(ctx context.Context, pol *Policy, who Principal, reqs []*Request, now time.Time) ([]*Request, error) {
	ps := &people{r: s.store, seen: map[string]Principal{}}
	out := reqs[:0:0]
	for _, req := range reqs {
		res, ok := pol.Resource(req.Resource)
		if !ok {
			continue
		}
		if len(res.ApproverConditions) > 0 {
			requester, err := ps.get(ctx, req.Requester)
			if err != nil {
				return nil, err
			}
			if approverConditionsError(snapshot{pol, who}, requester, req, res, now) != nil {
				continue
			}
		}
		out = append(out, req)
	}
	return out, nil
}

// CountDecisions counts what Decisions would list over all its pages.
//
// Errors: CodeForbidden (not a person in the policy).
func (s *Service) CountDecisions(ctx context.Context, who Principal) (int, error) {
	pol := s.Policy()
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return 0, err
	}
	if err := requireKnown(pol, who); err != nil {
		return 0, err
	}
	now := s.now()
	q, ok := decisionsQuery(pol, who, now)
	if !ok {
		return 0, nil
	}
	if !anyApproverConditions(pol, q.ViewerResources) {
		return s.store.CountRequests(ctx, q)
	}
	// Judged one request at a time, as Decisions filters its pages.
	n := 0
	q.Limit = MaxPageSize
	for {
		reqs, next, err := s.store.ListRequests(ctx, q)
		if err != nil {
			return 0, err
		}
		if reqs, err = s.offered(ctx, pol, who, reqs, now); err != nil {
			return 0, err
		}
		n += len(reqs)
		if next == "" || ctx.Err() != nil {
			return n, ctx.Err()
		}
		q.Cursor = next
	}
}

// LiveGrants returns the access that is live now and that who may see
// (as List decides: admins and reviewers all, approvers their resources,
// everyone their own), newest first.
//
// Errors: CodeForbidden (service principals), CodeInvalid (bad cursor).
func (s *Service) LiveGrants(ctx context.Context, who Principal, limit int, cursor string) ([]*Request, string, error) {
	return s.List(ctx, who, RequestQuery{State: StateApproved, OpenAt: s.now(), Limit: limit, Cursor: cursor})
}

// ScheduledGrants returns the approved access that starts later and that
// who may see (as LiveGrants), soonest first: the first limit.
//
// Errors: CodeForbidden (service principals).
func (s *Service) ScheduledGrants(ctx context.Context, who Principal, limit int) ([]*Request, error) {
	reqs, _, err := s.List(ctx, who, RequestQuery{State: StateScheduled, Limit: limit, Oldest: true})
	slices.SortStableFunc(reqs, func(a, b *Request) int { return a.StartAt.Compare(*b.StartAt) })
	return reqs, err
}

// Actions says which decisions a principal may take on one request now.
type Actions struct {
	Approve    bool
	Deny       bool
	Cancel     bool // the requester withdraws a pending request
	Revoke     bool // an approver or admin ends live access
	Relinquish bool // the requester gives up their own live access
	Extend     bool // the requester asks for more time on their live grant
}

// Any reports whether any action is open.
func (a Actions) Any() bool {
	return a.Approve || a.Deny || a.Cancel || a.Revoke || a.Relinquish || a.Extend
}

// AllowedActions answers "which buttons may this person press?" with the
// same functions the service applies (RolesOf, Next, CheckApprover), so
// that what is offered is exactly what would be accepted. The service
// checks again when the action is taken.
//
// It reads no directory, so it cannot judge approver_conditions, which
// need both people's attributes: on a resource that has them it offers no
// approve or deny (fail closed). Service.AllowedActions judges them.
func AllowedActions(pol *Policy, who Principal, req *Request, now time.Time) Actions {
	return allowedActions(pol, who, nil, req, now)
}

// AllowedActions is AllowedActions with the resource's
// approver_conditions judged, reading who and the requester from the
// directory. A directory that cannot be read offers no approve or deny.
func (s *Service) AllowedActions(ctx context.Context, who Principal, req *Request, now time.Time) Actions {
	pol := s.Policy()
	res, ok := pol.Resource(req.Resource)
	if !ok || len(res.ApproverConditions) == 0 || req.EffectiveState(now) != StatePending {
		return allowedActions(pol, who, nil, req, now)
	}
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return allowedActions(pol, who, nil, req, now)
	}
	requester, err := s.Resolve(ctx, User(req.Requester))
	if err != nil {
		return allowedActions(pol, who, nil, req, now)
	}
	return allowedActions(pol, who, &requester, req, now)
}

// allowedActions answers for AllowedActions; requester, when known, lets
// it judge approver_conditions.
func allowedActions(pol *Policy, who Principal, requester *Principal, req *Request, now time.Time) Actions {
	res, _ := pol.Resource(req.Resource)
	roles := RolesOf(pol, who, req, res)
	if roles == 0 || !who.IsUser() {
		return Actions{}
	}
	from := req.EffectiveState(now)
	may := func(ev Event) bool {
		_, err := Next(from, ev, roles)
		return err == nil
	}
	var a Actions
	if from == StatePending {
		meets := true
		if res != nil && len(res.ApproverConditions) > 0 {
			meets = requester != nil && approverConditionsError(snapshot{pol, who}, *requester, req, res, now) == nil
		}
		a.Approve = meets && may(EventApprove) && CheckApprover(pol, who, req, res, EventApprove) == nil
		a.Deny = meets && may(EventDeny) && CheckApprover(pol, who, req, res, EventDeny) == nil
	}
	a.Cancel = may(EventCancel) // pending, or scheduled and not yet started
	if roles&RoleRequester != 0 {
		a.Relinquish = may(EventRelinquish)
		a.Extend = from == StateApproved && !req.IsExtension()
	} else {
		a.Revoke = may(EventRevoke)
	}
	return a
}

// MayDecide answers "may who take decision ev (EventApprove, EventDeny or
// EventRevoke, which for the requester is relinquishing) on request id
// now?" with the very checks the decision applies before it looks at a
// comment or reason: nil, or the refusal the decision would return
// (CodeNotFound, CodeForbidden, CodeDuplicate, CodeInvalidState,
// CodeMFARequired). It
// changes and locks nothing, so the decision itself checks again; it lets
// a surface that asks for a reason first (Slack's deny and revoke forms)
// refuse at once instead of after the reason was typed.
func (s *Service) MayDecide(ctx context.Context, who Principal, id string, ev Event) error {
	pol := s.Policy()
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return err
	}
	if !who.Active() {
		return disabledError(who)
	}
	req, err := s.store.GetRequest(ctx, id)
	if err != nil {
		return err
	}
	res, _ := pol.Resource(req.Resource)
	roles, err := actingRoles(pol, who, req, res)
	if err != nil {
		return err
	}
	sn, now := snapshot{pol, who}, s.now()
	switch ev {
	case EventApprove:
		if _, _, err = checkApprove(ctx, s.store, sn, req, res, roles, now); err == nil {
			err = s.checkMFA(who, req, res, MFAApprove, now)
		}
	case EventDeny:
		if err = checkDeny(ctx, s.store, sn, req, res, roles, now); err == nil {
			err = s.checkMFA(who, req, res, MFADeny, now)
		}
	case EventRevoke, EventRelinquish:
		ev := revokeEvent(roles)
		if _, err = Next(req.EffectiveState(now), ev, roles); err == nil && ev == EventRevoke {
			err = s.checkMFA(who, req, res, MFARevoke, now)
		}
	default:
		err = Errorf(CodeInvalid, "MayDecide answers for approve, deny and revoke, not %s", ev)
	}
	var m mfaNeeded
	if errors.As(err, &m) {
		s.auditMFARefused(ctx, who, req, m.action, err) // an attempt, though nothing was decided
	}
	return err
}

// Progress describes a request's approvals for people deciding on it: how
// many it has, how many it needs, and who can no longer supply the missing
// ones (its requester and those who already approved).
type Progress struct {
	Have, Need int
	// Approvers are those whose approvals count, in order.
	Approvers []string
	// Withdrawn are approvals that stopped counting, with their reasons.
	Withdrawn []Approval
	// Missing is how many more approvals are needed (0 when met).
	Missing int
}

// ApprovalStatus returns req's progress towards its quorum.
func ApprovalStatus(req *Request) Progress {
	p := Progress{Need: req.RequiredApprovals}
	for _, a := range req.Approvals {
		if !a.Counts() {
			p.Withdrawn = append(p.Withdrawn, a)
			continue
		}
		p.Have++
		p.Approvers = append(p.Approvers, a.Approver)
	}
	if p.Need > p.Have {
		p.Missing = p.Need - p.Have
	}
	return p
}

// EligibleApprovers lists the people the policy file names as approvers of
// req's resource who could still approve it: not its requester, not those
// who already approved. Members known only to the identity provider are
// not listed (the policy does not know them).
func EligibleApprovers(pol *Policy, req *Request) []string {
	res, ok := pol.Resource(req.Resource)
	if !ok {
		return nil
	}
	var out []string
	for _, e := range pol.ApproverEmails(res) {
		if e != req.Requester && !req.ApprovedBy(e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}
