package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Re-evaluation: what is live is always justified by the rules as they are
// now. After every directory change, every policy load, and periodically,
// each live grant and pending request is judged again under the policy and
// the directory in force:
//
//   - a grant whose requester may no longer request its resource (left the
//     requester groups, deactivated or deleted in the directory, or the
//     resource left the policy) is revoked by the system; a pending request
//     in the same case is cancelled. The reason names the change. So is
//     one whose resource's conditions (conditions.go) no longer hold, with
//     the condition's message as the reason.
//   - an approval by someone who no longer may approve the resource stops
//     counting: it is marked withdrawn (kept in the history, with the
//     reason) and the request goes back to waiting for it. Approve applies
//     the same judgement to earlier votes before it counts the quorum, so a
//     request never becomes approved on such a vote, whether or not the
//     re-evaluation has reached it.
//
// Grants already approved are not undone because one of their approvers
// has since left: they were approved under the rules of the time, and what
// keeps them live is the requester's own eligibility, judged here.
//
// Standing that came only from the groups a web session asserted (the
// OIDC groups claim; Request.ViaSession, Approval.ViaSession) cannot be
// judged again: jitaccess learns those groups only at sign-in. It is ended
// only when the directory deactivates or deletes the person; feed group
// changes through the directory (SCIM) for them to take effect at once.

// ReconcileResult counts what one re-evaluation ended or withdrew.
type ReconcileResult struct {
	Revoked   int // live grants ended
	Cancelled int // pending requests cancelled
	Withdrawn int // approvals that stopped counting
}

func (r *ReconcileResult) add(o ReconcileResult) {
	r.Revoked += o.Revoked
	r.Cancelled += o.Cancelled
	r.Withdrawn += o.Withdrawn
}

// Resolve returns who as the rules judge them now: with their directory
// groups, or disabled when the directory has deactivated or deleted them.
func (s *Service) Resolve(ctx context.Context, who Principal) (Principal, error) {
	return resolve(ctx, s.store, who)
}

// OnDirectoryChange registers a function that runs after a directory
// change has committed, with the emails of the people it changed (for
// caches). Register before the service is used.
func (s *Service) OnDirectoryChange(h func(emails []string)) {
	s.directoryHooks = append(s.directoryHooks, h)
}

// directoryChanged runs the directory hooks; directory use cases call it
// after their transaction has committed.
func (s *Service) directoryChanged(emails []string) {
	for _, h := range s.directoryHooks {
		h(emails)
	}
}

func disabledError(who Principal) error {
	return Errorf(CodeForbidden, "%s is deactivated in the directory", who.Email)
}

// cause is why a re-evaluation runs, to name it in the reasons it writes.
type cause struct {
	// trigger is "policy version 7", "periodic reconcile", or empty when
	// a decision judges earlier votes.
	trigger string
	// people are the directory changes that caused it, by email.
	people map[string]PersonChange
}

func (c cause) suffix() string {
	if c.trigger == "" {
		return ""
	}
	return " (" + c.trigger + ")"
}

// directoryReason names a directory change to p that cost them standing in
// groups, or "" when there is none on record.
func (c cause) directoryReason(p Principal, groups []string) string {
	pc, ok := c.people[p.Email]
	if !ok {
		return ""
	}
	switch {
	case pc.Deleted:
		return fmt.Sprintf("%s was deleted by %s", p.Email, pc.Source)
	case pc.Deactivated:
		return fmt.Sprintf("%s was deactivated by %s", p.Email, pc.Source)
	}
	var lost []string
	for _, g := range pc.RemovedGroups {
		if slices.Contains(groups, g) {
			lost = append(lost, g)
		}
	}
	if len(lost) > 0 {
		return fmt.Sprintf("removed from group %s by %s", strings.Join(lost, ", "), pc.Source)
	}
	return ""
}

// requesterReason says why req's requester p no longer justifies it, or
// "" when they still do.
func (c cause) requesterReason(pol *Policy, p Principal, req *Request, res *Resource) string {
	switch {
	case res == nil:
		if strings.HasPrefix(c.trigger, "policy version") {
			return fmt.Sprintf("%s no longer has resource %s", c.trigger, req.Resource)
		}
		return fmt.Sprintf("resource %s is no longer in the policy%s", req.Resource, c.suffix())
	case !p.Active():
		if r := c.directoryReason(p, nil); r != "" {
			return r
		}
		return fmt.Sprintf("%s is deactivated in the directory%s", p.Email, c.suffix())
	case req.ViaSession || pol.CanRequest(p, res):
		return ""
	case req.Emergency && pol.IsBreakGlassMember(p, res):
		return "" // an emergency grant stands on the break_glass groups
	}
	if r := c.directoryReason(p, res.Requesters); r != "" {
		return r
	}
	if strings.HasPrefix(c.trigger, "policy version") {
		return fmt.Sprintf("%s no longer lets %s request %s", c.trigger, p.Email, res.ID)
	}
	return fmt.Sprintf("%s may no longer request %s%s", p.Email, res.ID, c.suffix())
}

// approverReason says why approval a of req no longer counts, or "" when
// it still does.
func (c cause) approverReason(pol *Policy, p Principal, a Approval, req *Request, res *Resource) string {
	switch {
	case res == nil:
		return fmt.Sprintf("resource %s is no longer in the policy%s", req.Resource, c.suffix())
	case !p.Active():
		if r := c.directoryReason(p, nil); r != "" {
			return r
		}
		return fmt.Sprintf("%s is deactivated in the directory%s", p.Email, c.suffix())
	case a.Approver == req.Requester:
		return fmt.Sprintf("%s cannot approve their own request", a.Approver)
	case a.ViaSession || pol.CanApprove(p, res):
		return ""
	}
	if r := c.directoryReason(p, res.Approvers); r != "" {
		return r
	}
	if strings.HasPrefix(c.trigger, "policy version") {
		return fmt.Sprintf("%s no longer lets %s approve %s", c.trigger, p.Email, res.ID)
	}
	return fmt.Sprintf("%s is no longer an approver of %s%s", p.Email, res.ID, c.suffix())
}

// people resolves directory records once per re-evaluation run.
type people struct {
	r    Reader
	seen map[string]Principal
}

func (ps *people) get(ctx context.Context, email string) (Principal, error) {
	if p, ok := ps.seen[email]; ok {
		return p, nil
	}
	p, err := resolve(ctx, ps.r, User(email))
	if err != nil {
		return p, err
	}
	ps.seen[email] = p
	return p, nil
}

// judgement is what the rules in force say of one open request.
type judgement struct {
	endReason string         // non-empty: end the request with it
	withdraw  map[int]string // approvals (by index) that stop counting, with why
}

func (j judgement) fine() bool { return j.endReason == "" && len(j.withdraw) == 0 }

// judge applies the rules in force to req at now.
func judge(ctx context.Context, ps *people, pol *Policy, c cause, req *Request, now time.Time) (judgement, error) {
	var j judgement
	st := req.EffectiveState(now)
	if st != StatePending && st != StateApproved && st != StateScheduled {
		return j, nil // the sweeper ends lapsed requests
	}
	res, _ := pol.Resource(req.Resource)
	requester, err := ps.get(ctx, req.Requester)
	if err != nil {
		return j, err
	}
	if j.endReason = c.requesterReason(pol, requester, req, res); j.endReason != "" {
		return j, nil
	}
	if res != nil && len(res.Conditions) > 0 && !(req.Emergency && res.BreakGlass != nil && res.BreakGlass.SkipConditions) {
		start := now
		switch {
		case req.StartAt != nil:
			start = *req.StartAt // a scheduled start: access begins (or began) then
		case req.ApprovedAt != nil:
			start = *req.ApprovedAt
		}
		if j.endReason = conditionsRefusal(res.Conditions, conditionInput{pol: pol, requester: requester, req: req, res: res, start: start, now: now}); j.endReason != "" {
			return j, nil
		}
	}
	if st != StatePending {
		return j, nil
	}
	for i, a := range req.Approvals {
		if !a.Counts() {
			continue
		}
		p, err := ps.get(ctx, a.Approver)
		if err != nil {
			return j, err
		}
		if why := c.approverReason(pol, p, a, req, res); why != "" {
			if j.withdraw == nil {
				j.withdraw = map[int]string{}
			}
			j.withdraw[i] = why
		}
	}
	return j, nil
}

// withdrawStale marks withdrawn, in tx, the approvals of the locked
// pending request req that the rules in force no longer count, and returns
// the changes to record.
func (s *Service) withdrawStale(ctx context.Context, tx Tx, pol *Policy, req *Request, res *Resource, c cause, now time.Time) ([]Change, error) {
	ps := &people{r: tx, seen: map[string]Principal{}}
	var changes []Change
	for i, a := range req.Approvals {
		if !a.Counts() {
			continue
		}
		p, err := ps.get(ctx, a.Approver)
		if err != nil {
			return nil, err
		}
		why := c.approverReason(pol, p, a, req, res)
		if why == "" {
			continue
		}
		ch, err := s.withdraw(ctx, tx, req, i, why, now)
		if err != nil {
			return nil, err
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

// withdraw marks approval i of the locked pending request withdrawn.
func (s *Service) withdraw(ctx context.Context, tx Tx, req *Request, i int, why string, now time.Time) (Change, error) {
	t, err := Next(StatePending, EventWithdrawApproval, RoleSystem)
	if err != nil {
		return Change{}, err
	}
	a := &req.Approvals[i]
	if err := tx.WithdrawApproval(ctx, req.ID, a.Approver, now, why); err != nil {
		return Change{}, err
	}
	at := now
	a.WithdrawnAt, a.WithdrawnReason = &at, why
	prev := req.Version
	req.UpdatedAt = now
	if err := tx.UpdateRequest(ctx, req, prev); err != nil {
		return Change{}, err
	}
	comment := fmt.Sprintf("approval by %s withdrawn: %s", a.Approver, why)
	return Change{Event: t.Event, Actor: System.Name(), From: t.From, To: t.To, Comment: comment, At: now, Request: req}, nil
}

// apply re-judges one request in its own transaction, holding it, and
// ends it or withdraws approvals as the rules in force say.
func (s *Service) apply(ctx context.Context, pol *Policy, c cause, id string) (ReconcileResult, error) {
	var out ReconcileResult
	err := s.inTx(ctx, func(tx Tx) error {
		out = ReconcileResult{}
		req, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		now := s.now()
		ps := &people{r: tx, seen: map[string]Principal{}}
		j, err := judge(ctx, ps, pol, c, req, now)
		if err != nil || j.fine() {
			return err
		}
		var changes []Change
		if j.endReason != "" {
			ev := EventRevoke
			if req.EffectiveState(now) == StatePending {
				ev = EventCancel
			}
			changes, err = s.end(ctx, tx, snapshot{pol: pol, who: System}, req, ev, j.endReason, now)
			if err != nil {
				return err
			}
			if ev == EventRevoke {
				out.Revoked++
			} else {
				out.Cancelled++
			}
		} else {
			idx := make([]int, 0, len(j.withdraw))
			for i := range j.withdraw {
				idx = append(idx, i)
			}
			slices.Sort(idx)
			for _, i := range idx {
				ch, err := s.withdraw(ctx, tx, req, i, j.withdraw[i], now)
				if err != nil {
					return err
				}
				changes = append(changes, ch)
				out.Withdrawn++
			}
		}
		return s.record(ctx, tx, changes)
	})
	if ErrorCode(err) == CodeNotFound {
		return ReconcileResult{}, nil
	}
	return out, err
}

// sweepOpen judges every open request q selects (paging through them) and
// applies what fails, one transaction per request, skipping the rest
// without a write.
func (s *Service) sweepOpen(ctx context.Context, pol *Policy, c cause, q RequestQuery) (ReconcileResult, error) {
	var total ReconcileResult
	ps := &people{r: s.store, seen: map[string]Principal{}}
	q.All, q.Limit = true, MaxPageSize
	for {
		now := s.now()
		q.OpenAt = now
		reqs, next, err := s.store.ListRequests(ctx, q)
		if err != nil {
			return total, err
		}
		for _, req := range reqs {
			j, err := judge(ctx, ps, pol, c, req, now)
			if err != nil {
				return total, err
			}
			if j.fine() {
				continue
			}
			r, err := s.apply(ctx, pol, c, req.ID)
			if err != nil {
				return total, err
			}
			total.add(r)
		}
		if next == "" || ctx.Err() != nil {
			return total, ctx.Err()
		}
		q.Cursor = next
	}
}

// Reconcile judges every live grant and pending request again under the
// policy and directory in force (after a policy load, and periodically).
// trigger names the cause in the reasons it writes, e.g. "policy version
// 7". Several replicas may run it at once: each request is changed in its
// own compare-and-set transaction, so no ending happens twice.
func (s *Service) Reconcile(ctx context.Context, trigger string) (ReconcileResult, error) {
	pol := s.Policy()
	c := cause{trigger: trigger}
	var total ReconcileResult
	for _, st := range []State{StateApproved, StateScheduled, StatePending} {
		r, err := s.sweepOpen(ctx, pol, c, RequestQuery{State: st})
		total.add(r)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ReconcilePeople judges again the live grants and pending requests of the
// people a directory change touched, and the pending requests they
// approved, naming the change in the reasons.
func (s *Service) ReconcilePeople(ctx context.Context, changes []PersonChange) (ReconcileResult, error) {
	if len(changes) == 0 {
		return ReconcileResult{}, nil
	}
	pol := s.Policy()
	c := cause{people: map[string]PersonChange{}}
	for _, pc := range changes {
		pc.Email = NormalizeEmail(pc.Email)
		c.people[pc.Email] = pc
	}
	var total ReconcileResult
	for email := range c.people {
		for _, q := range []RequestQuery{
			{State: StateApproved, Requester: email},
			{State: StateScheduled, Requester: email},
			{State: StatePending, Requester: email},
			{State: StatePending, ApprovedBy: email}, // their votes on others' requests
		} {
			r, err := s.sweepOpen(ctx, pol, c, q)
			total.add(r)
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}
