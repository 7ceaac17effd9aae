package workflow

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Service applies the rules. Each use case is one transaction: load and
// lock, decide with the pure functions of this package, write with
// compare-and-set, append the audit records, run the hooks, commit. The
// API, the web UI, Slack and the sweeper all go through it.
type Service struct {
	store         Store
	policy        atomic.Pointer[Policy]
	now           func() time.Time
	newID         func() string
	reviewTimeout time.Duration
	auditChecks   CheckAuditMode
	sweepBatch    int
	mfaMaxAge     time.Duration
	webURL        atomic.Pointer[string]
	hooks         []Hook
	commitHooks   []CommitHook
	// directoryHooks run after a directory change commits (reconcile.go).
	directoryHooks []func(emails []string)
}

// CommitHook runs after the transaction of changes has ended: committed
// says whether it committed or rolled back. It runs outside any
// transaction and must be quick; it is for in-memory state (caches) that
// must not see a change before it is visible to every reader.
type CommitHook func(changes []Change, committed bool)

// CheckAuditMode says which check calls are written to the audit log.
type CheckAuditMode string

const (
	AuditAllChecks     CheckAuditMode = "all"     // every check
	AuditAllowedChecks CheckAuditMode = "allowed" // checks that found a live grant
	AuditNoChecks      CheckAuditMode = "none"
)

// Options configure a Service. Zero values take the defaults.
type Options struct {
	Now           func() time.Time // default: the wall clock, UTC, microseconds
	NewID         func() string    // default: UUIDv7 (time-ordered)
	ReviewTimeout time.Duration    // default 24h: pending requests time out after it
	AuditChecks   CheckAuditMode   // default all
	SweepBatch    int              // default 2000 requests per sweeper transaction
	// MFAMaxAge is how recent a second factor must be for an action that
	// require_mfa names (default 5m, --mfa-max-age).
	MFAMaxAge time.Duration
	// WebURL is where the web UI is (--public-url), for messages that
	// send a person there.
	WebURL string
}

// DefaultReviewTimeout is how long a request may wait for a decision.
const DefaultReviewTimeout = 24 * time.Hour

// Now is the default clock. Times are UTC and truncated to microseconds,
// the precision both databases store, so that what is written reads back
// equal.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// NewService returns a service over store, enforcing pol.
func NewService(store Store, pol *Policy, opts Options) *Service {
	s := &Service{
		store:         store,
		now:           opts.Now,
		newID:         opts.NewID,
		reviewTimeout: opts.ReviewTimeout,
		auditChecks:   opts.AuditChecks,
		sweepBatch:    opts.SweepBatch,
		mfaMaxAge:     opts.MFAMaxAge,
	}
	s.SetWebURL(opts.WebURL)
	if s.mfaMaxAge <= 0 {
		s.mfaMaxAge = DefaultMFAMaxAge
	}
	if s.now == nil {
		s.now = Now
	}
	if s.newID == nil {
		s.newID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	if s.reviewTimeout <= 0 {
		s.reviewTimeout = DefaultReviewTimeout
	}
	if s.auditChecks == "" {
		s.auditChecks = AuditAllChecks
	}
	if s.sweepBatch <= 0 {
		s.sweepBatch = 2000
	}
	s.policy.Store(pol)
	return s
}

// Policy returns the policy in force.
func (s *Service) Policy() *Policy { return s.policy.Load() }

// SetPolicy replaces the policy (on reload). Requests in flight keep the
// approval count they were submitted with; who may decide is always judged
// by the policy in force at the time of the decision.
func (s *Service) SetPolicy(p *Policy) { s.policy.Store(p) }

// OnChange registers a hook that runs in the transaction of every change.
// Register hooks before the service is used.
func (s *Service) OnChange(h Hook) { s.hooks = append(s.hooks, h) }

// OnCommit registers a hook that runs after each change's transaction
// ends. Register hooks before the service is used.
func (s *Service) OnCommit(h CommitHook) { s.commitHooks = append(s.commitHooks, h) }

// recordingTx is a use case's transaction. It remembers the changes
// recorded in it, for the commit hooks, and holds back their audit records
// until the use case is done: appending to the audit log takes the chain's
// lock (one writer at a time, in a strict order), which is then held only
// for the append and the commit, not for the rest of the transaction.
type recordingTx struct {
	Tx
	recorded []Change
	audit    []*AuditRecord
}

// inTx runs fn in one transaction, appends the audit records of the
// changes fn recorded (through s.record) as its last statement, and after
// the transaction ends runs the commit hooks, committed or not.
func (s *Service) inTx(ctx context.Context, fn func(tx Tx) error) error {
	var rtx *recordingTx
	err := s.store.InTx(ctx, func(tx Tx) error {
		rtx = &recordingTx{Tx: tx}
		if err := fn(rtx); err != nil {
			return err
		}
		if len(rtx.audit) == 0 {
			return nil
		}
		return tx.AppendAudit(ctx, rtx.audit...)
	})
	if rtx != nil && len(rtx.recorded) > 0 {
		for _, h := range s.commitHooks {
			h(rtx.recorded, err == nil)
		}
	}
	return err
}

// Hooks returns the registered hooks, in order (for tools that build a
// second service with the same follow-up work).
func (s *Service) Hooks() []Hook { return append([]Hook(nil), s.hooks...) }

// Clock returns the service's clock.
func (s *Service) Clock() func() time.Time { return s.now }

// Store returns the service's store, for read-only collaborators.
func (s *Service) Store() Store { return s.store }

// record audits changes and runs the hooks, inside tx. The audit records
// are appended when the use case's transaction is done (see inTx); a
// change that cannot be audited does not happen.
func (s *Service) record(ctx context.Context, tx Tx, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	recs := make([]*AuditRecord, len(changes))
	for i, c := range changes {
		recs[i] = auditFor(c)
	}
	rtx, ok := tx.(*recordingTx)
	if !ok {
		return Internal(fmt.Errorf("record called outside Service.inTx"), "cannot record a change")
	}
	rtx.recorded = append(rtx.recorded, changes...)
	rtx.audit = append(rtx.audit, recs...)
	for _, h := range s.hooks {
		if err := h(ctx, rtx.Tx, changes); err != nil {
			return err
		}
	}
	return nil
}

// Submit files a request for who. An auto-approved resource is approved in
// the same transaction.
//
// An emergency request (in.Emergency) is granted at once, with no
// approver, and opens a post-hoc review (breakglass.go); the resource's
// conditions still apply unless break_glass.skip_conditions.
//
// Errors: CodeForbidden (not in the policy, may not request this
// resource, not in its break_glass groups, or one of its conditions does
// not hold), CodePolicy (unknown resource, no break_glass, bad duration,
// no reason),
// CodeInvalid (bad text), CodeInvalidState (already has an open request
// or live access for this resource).
func (s *Service) Submit(ctx context.Context, who Principal, in SubmitInput) (*Request, error) {
	pol := s.Policy()
	if _, err := Next(StateNew, EventSubmit, RoleRequester); err != nil {
		return nil, err
	}
	var req *Request
	var notices []string
	err := s.inTx(ctx, func(tx Tx) error {
		who, err := resolve(ctx, tx, who.afresh())
		if err != nil {
			return err
		}
		res, in, n, err := CheckSubmission(pol, who, in)
		notices = n
		if err != nil {
			return err
		}
		now := s.now()
		if err := s.checkMFA(who, nil, res, MFARequest, now); err != nil {
			return err
		}
		if in.Emergency {
			if in.StartAt != nil && !in.StartAt.IsZero() {
				return Errorf(CodePolicy, "emergency access starts now: leave start_at empty")
			}
			if err := s.checkMFA(who, nil, res, MFABreakGlass, now); err != nil {
				return err
			}
		}
		startAt, err := CheckStartAt(res, in.StartAt, now)
		if err != nil {
			return err
		}
		start := now
		if startAt != nil {
			start = *startAt
		}
		filed := &Request{Resource: res.ID, Reason: in.Reason, Ticket: in.Ticket, Purpose: in.Purpose, Duration: in.Duration, StartAt: startAt}
		skipConditions := in.Emergency && res.BreakGlass.SkipConditions
		if !skipConditions {
			if err := conditionsError(res.Conditions, conditionInput{pol: pol, requester: who, req: filed, res: res, start: start, now: now}); err != nil {
				return err
			}
		}
		if err := s.closeLapsedOpen(ctx, tx, who.Email, res.ID, now); err != nil {
			return err
		}
		req = &Request{
			ID:                s.newID(),
			Requester:         who.Email,
			Resource:          res.ID,
			Tier:              res.Tier,
			Reason:            in.Reason,
			Ticket:            in.Ticket,
			Purpose:           in.Purpose,
			Duration:          in.Duration,
			State:             StatePending,
			RequiredApprovals: res.ApprovalsRequired,
			Version:           1,
			CreatedAt:         now,
			UpdatedAt:         now,
			ReviewDeadline:    now.Add(s.ReviewTimeoutFor(res)),
			ViaSession:        pol.OnlyBySession(who, requesterGroups(res, in.Emergency)),
			StartAt:           startAt,
		}
		changes := []Change{{Event: EventSubmit, Actor: who.Name(), From: StateNew, To: StatePending, Comment: in.Reason, At: now, Request: req}}
		if in.Emergency {
			c, err := s.breakGlass(who, req, res, now)
			if err != nil {
				return err
			}
			changes = append(changes, c)
		} else if res.AutoApprove {
			t, err := NextTo(StatePending, EventAutoApprove, GrantTarget(req, now), RoleSystem)
			if err != nil {
				return err
			}
			grant(req, now)
			changes = append(changes, Change{Event: EventAutoApprove, Actor: System.Name(), From: t.From, To: t.To, Comment: "auto-approved by policy", At: now, Request: req})
		}
		s.stampAuth(who, changes, now)
		if err := tx.InsertRequest(ctx, req); err != nil {
			return err
		}
		if req.Emergency {
			if err := s.raiseBreakGlass(ctx, tx, req, res, now); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, changes)
	})
	if err != nil {
		if ErrorCode(err) == CodeMFARequired {
			s.auditMFARefused(ctx, who, &Request{Resource: in.Resource, Requester: who.Email}, mfaActionOf(err, MFARequest), err)
		}
		s.auditRefusal(ctx, who, &Request{Resource: in.Resource, Requester: who.Email}, err)
		return nil, err
	}
	req.Notices = notices
	return req, nil
}

// ReviewTimeoutFor is how long a request for res may wait for a
// decision: the resource's or its tier's review_timeout, else the
// service's --review-timeout.
func (s *Service) ReviewTimeoutFor(res *Resource) time.Duration {
	if res != nil && res.ReviewTimeout > 0 {
		return res.ReviewTimeout
	}
	return s.reviewTimeout
}

// closeLapsedOpen refuses a second open request for the same person and
// resource, but first ends one that has lapsed and that the sweeper has not
// reached yet, so that lapsed access never blocks a new request.
func (s *Service) closeLapsedOpen(ctx context.Context, tx Tx, requester, resource string, now time.Time) error {
	open, err := tx.OpenRequest(ctx, requester, resource)
	if err != nil || open == nil {
		return err
	}
	open, err = tx.LockRequest(ctx, open.ID)
	if err != nil {
		return err
	}
	switch eff := open.EffectiveState(now); eff {
	case StatePending:
		e := Errorf(CodeInvalidState, "you already have a pending request for %s (%s)", resource, open.ID)
		e.RequestID = open.ID
		return e
	case StateScheduled:
		e := Errorf(CodeInvalidState, "you already have access to %s scheduled from %s (%s)", resource, open.StartAt.Format(time.RFC3339), open.ID)
		e.RequestID = open.ID
		return e
	case StateApproved:
		e := Errorf(CodeAlreadyLive, "you already have access to %s until %s (%s); extend that grant instead of asking again",
			resource, open.ExpiresAt.Format(time.RFC3339), open.ID)
		e.RequestID = open.ID
		return e
	case StateExpired, StateTimedOut:
		ev := EventExpire
		if eff == StateTimedOut {
			ev = EventTimeout
		}
		changes, err := s.end(ctx, tx, snapshot{who: System}, open, ev, "", now)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, changes)
	}
	return nil
}

// requesterGroups are the groups that let someone file a request for res:
// its requesters, or for an emergency request its break_glass groups.
func requesterGroups(res *Resource, emergency bool) []string {
	if emergency && res.BreakGlass != nil {
		return res.BreakGlass.Groups
	}
	return res.Requesters
}

// grant approves req at now: it is live from now, or scheduled when its
// start_at is still ahead, and expires its duration after it starts. An
// approval that arrives after start_at makes it live at once, for its
// whole duration.
func grant(req *Request, now time.Time) {
	req.State = GrantTarget(req, now)
	start := now
	if req.State == StateScheduled {
		start = *req.StartAt
	}
	at, exp := now, start.Add(req.Duration)
	req.ApprovedAt, req.ExpiresAt = &at, &exp
}

// snapshot is what one use case judges by: the policy in force when it
// began and the actor as the directory had them then. Every rule of the
// use case reads these, never the service's policy again, so that a reload
// in the middle cannot judge roles under one policy and eligibility under
// another.
type snapshot struct {
	pol *Policy
	who Principal
}

// decision is the part of a use case that differs: given the locked
// request and the actor's roles, it applies one event and returns the
// changes to record. It may write approvals through tx.
type decision func(tx Tx, sn snapshot, req *Request, res *Resource, roles Role, now time.Time) ([]Change, error)

// decide runs one decision on request id in one transaction. Requests the
// actor may not see are CodeNotFound, so that ids reveal nothing.
func (s *Service) decide(ctx context.Context, who Principal, id string, d decision) (*Request, error) {
	pol := s.Policy()
	var out, seen *Request
	err := s.inTx(ctx, func(tx Tx) error {
		who, err := resolve(ctx, tx, who.afresh())
		if err != nil {
			return err
		}
		if !who.Active() {
			return disabledError(who)
		}
		if err := lockOriginalFirst(ctx, tx, id); err != nil {
			return err
		}
		req, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		seen = req
		res, _ := pol.Resource(req.Resource)
		roles, err := actingRoles(pol, who, req, res)
		if err != nil {
			return err
		}
		now := s.now()
		changes, err := d(tx, snapshot{pol, who}, req, res, roles, now)
		if err != nil {
			return err
		}
		s.stampAuth(who, changes, now)
		if err := s.record(ctx, tx, changes); err != nil {
			return err
		}
		out = req
		return nil
	})
	if err != nil {
		var m mfaNeeded
		if errors.As(err, &m) {
			s.auditMFARefused(ctx, who, seen, m.action, err)
		}
		s.auditRefusal(ctx, who, seen, err)
		return nil, err
	}
	return out, nil
}

// actingRoles returns the roles in which who acts on req. Someone with
// none is refused: a reviewer, who may read it, is told so; anyone else
// is told it does not exist, so that ids reveal nothing.
func actingRoles(pol *Policy, who Principal, req *Request, res *Resource) (Role, error) {
	roles := RolesOf(pol, who, req, res)
	if roles == 0 {
		if CanView(pol, who, req) {
			return 0, Errorf(CodeForbidden, "reviewers may read requests, not act on them")
		}
		return 0, Errorf(CodeNotFound, "request %s not found", req.ID)
	}
	return roles, nil
}

// end applies a state-ending event (deny, cancel, relinquish, revoke, and
// the sweeper's expire and timeout) to a locked request.
func (s *Service) end(ctx context.Context, tx Tx, sn snapshot, req *Request, ev Event, reason string, now time.Time) ([]Change, error) {
	who := sn.who
	from := req.EffectiveState(now)
	roles := RoleSystem
	if !who.IsSystem() {
		res, _ := sn.pol.Resource(req.Resource)
		roles = RolesOf(sn.pol, who, req, res)
	}
	if (ev == EventExpire || ev == EventTimeout) && who.IsSystem() {
		from = req.State // the sweeper acts on the stored state it is making good
	}
	t, err := Next(from, ev, roles)
	if err != nil {
		return nil, err
	}
	prev := req.Version
	endedAt := now
	switch ev {
	case EventExpire:
		endedAt = *req.ExpiresAt
	case EventTimeout:
		endedAt = req.ReviewDeadline
	}
	req.State = t.To
	req.EndedAt = &endedAt
	req.EndedBy = who.Name()
	req.EndReason = reason
	req.UpdatedAt = now
	if err := tx.UpdateRequest(ctx, req, prev); err != nil {
		return nil, err
	}
	changes := []Change{{Event: ev, Actor: who.Name(), From: t.From, To: t.To, Comment: reason, At: now, Request: req}}
	if t.From == StateApproved {
		more, err := s.cancelExtensions(ctx, tx, []*Request{req}, now)
		if err != nil {
			return nil, err
		}
		changes = append(changes, more...)
	}
	return changes, nil
}

// Approve records who's approval. The approval that completes the quorum
// makes the request approved: access is live from now until now +
// duration.
//
// Errors: CodeNotFound, CodeInvalidState (not pending), CodeForbidden
// (own request, not an approver), CodeDuplicate (approved before),
// CodeInvalid (bad comment).
func (s *Service) Approve(ctx context.Context, who Principal, id, comment string) (*Request, error) {
	comment, notices, err := CheckComment(s.Policy(), "comment", comment, false, "approve")
	if err != nil {
		return nil, err
	}
	return withNotices(notices)(s.decide(ctx, who, id, func(tx Tx, sn snapshot, req *Request, res *Resource, roles Role, now time.Time) ([]Change, error) {
		from := req.EffectiveState(now)
		if err := lapsedGrant(ctx, tx, req, from, now); err != nil {
			return nil, err
		}
		_, requester, err := checkApprove(ctx, tx, sn, req, res, roles, now)
		if err != nil {
			return nil, err
		}
		if err := s.checkMFA(sn.who, req, res, MFAApprove, now); err != nil {
			return nil, err
		}
		if comment == "" && res != nil && res.ApproverCommentRequired {
			return nil, Errorf(CodePolicy, "a comment is required to approve a request for %s", res.ID)
		}
		// Earlier votes are judged again under this snapshot: one from
		// someone who no longer may approve stops counting here, so that
		// no request becomes approved on it, whether or not the
		// re-evaluation has reached it yet.
		changes, err := s.withdrawStale(ctx, tx, sn.pol, req, res, cause{}, now)
		if err != nil {
			return nil, err
		}
		var extend []Change // the grant's extend, when this approval applies an extension
		a := Approval{Approver: sn.who.Email, Comment: comment, At: now, ViaSession: sn.pol.OnlyBySession(sn.who, res.Approvers)}
		if err := tx.InsertApproval(ctx, req.ID, a); err != nil {
			return nil, err
		}
		req.Approvals = append(req.Approvals, a)
		to := StatePending
		if QuorumMet(req) {
			// Eligibility at activation time: the requester's conditions
			// are judged again as access would begin.
			start := now
			if req.StartAt != nil && req.StartAt.After(now) {
				start = *req.StartAt // judged for when access would begin
			}
			if err := conditionsError(res.Conditions, conditionInput{pol: sn.pol, requester: requester, req: req, res: res, start: start, now: now}); err != nil {
				return nil, err
			}
			target := GrantTarget(req, now)
			tt, err := NextTo(from, EventApprove, target, roles)
			if err != nil {
				return nil, err
			}
			if target == StateExtended {
				// The grant was locked first (decide): the extension is
				// applied in one compare-and-set on it, or not at all.
				orig, err := tx.LockRequest(ctx, req.Extends)
				if err != nil {
					return nil, err
				}
				applied, err := applyExtension(ctx, tx, res, orig, req, sn.who, now)
				if err != nil {
					return nil, err
				}
				extend = applied
			} else {
				grant(req, now)
			}
			to = tt.To
		}
		prev := req.Version
		req.UpdatedAt = now
		if err := tx.UpdateRequest(ctx, req, prev); err != nil {
			return nil, err
		}
		changes = append(changes, Change{Event: EventApprove, Actor: sn.who.Name(), From: from, To: to, Comment: comment, At: now, Request: req})
		return append(changes, extend...), nil
	}))
}

// checkApprove applies the rules on whether sn.who may approve req now,
// and returns the transition the approval takes and the requester as the
// directory has them.
func checkApprove(ctx context.Context, dir DirectoryReader, sn snapshot, req *Request, res *Resource, roles Role, now time.Time) (Transition, Principal, error) {
	from := req.EffectiveState(now)
	var requester Principal
	if from == StatePending {
		if err := CheckApprover(sn.pol, sn.who, req, res, EventApprove); err != nil {
			return Transition{}, requester, err
		}
		// Eligibility at activation time: the requester must still be
		// allowed to ask (re-evaluation cancels the request).
		var err error
		requester, err = resolve(ctx, dir, User(req.Requester))
		if err != nil {
			return Transition{}, requester, err
		}
		if why := (cause{}).requesterReason(sn.pol, requester, req, res); why != "" {
			return Transition{}, requester, Errorf(CodeInvalidState, "this request can no longer be approved: %s", why)
		}
		if err := approverConditionsError(sn, requester, req, res, now); err != nil {
			return Transition{}, requester, err
		}
	}
	t, err := Next(from, EventApprove, roles)
	return t, requester, err
}

// approverConditionsError judges res's approver_conditions for sn.who on
// req: CodeForbidden with the condition's message when one fails.
func approverConditionsError(sn snapshot, requester Principal, req *Request, res *Resource, now time.Time) error {
	if len(res.ApproverConditions) == 0 {
		return nil
	}
	return conditionsError(res.ApproverConditions, conditionInput{pol: sn.pol, requester: requester, approver: &sn.who,
		req: req, res: res, start: now, now: now})
}

// checkDeny applies the rules on whether sn.who may deny req now. An
// approver who fails the resource's approver_conditions may not decide it
// either way.
func checkDeny(ctx context.Context, dir DirectoryReader, sn snapshot, req *Request, res *Resource, roles Role, now time.Time) error {
	from := req.EffectiveState(now)
	if from == StatePending {
		if err := CheckApprover(sn.pol, sn.who, req, res, EventDeny); err != nil {
			return err
		}
		if len(res.ApproverConditions) > 0 {
			requester, err := resolve(ctx, dir, User(req.Requester))
			if err != nil {
				return err
			}
			if err := approverConditionsError(sn, requester, req, res, now); err != nil {
				return err
			}
		}
	}
	_, err := Next(from, EventDeny, roles)
	return err
}

// revokeEvent is what a revocation by someone with roles is: the
// requester relinquishes their own access; anyone else revokes it.
func revokeEvent(roles Role) Event {
	if roles&RoleRequester != 0 {
		return EventRelinquish
	}
	return EventRevoke
}

// Deny ends a pending request. One deny is enough; a reason is required.
//
// Errors: as Approve, and CodePolicy when the reason is missing.
func (s *Service) Deny(ctx context.Context, who Principal, id, reason string) (*Request, error) {
	reason, notices, err := CheckComment(s.Policy(), "reason", reason, true, "deny")
	if err != nil {
		return nil, err
	}
	return withNotices(notices)(s.decide(ctx, who, id, func(tx Tx, sn snapshot, req *Request, res *Resource, roles Role, now time.Time) ([]Change, error) {
		if err := checkDeny(ctx, tx, sn, req, res, roles, now); err != nil {
			return nil, err
		}
		if err := s.checkMFA(sn.who, req, res, MFADeny, now); err != nil {
			return nil, err
		}
		return s.end(ctx, tx, sn, req, EventDeny, reason, now)
	}))
}

// Cancel withdraws the requester's own pending request.
//
// Errors: CodeNotFound, CodeInvalidState (not pending; live access is
// ended with Revoke), CodeForbidden (not the requester).
func (s *Service) Cancel(ctx context.Context, who Principal, id, comment string) (*Request, error) {
	comment, notices, err := CheckComment(s.Policy(), "comment", comment, false, "cancel")
	if err != nil {
		return nil, err
	}
	return withNotices(notices)(s.decide(ctx, who, id, func(tx Tx, sn snapshot, req *Request, res *Resource, roles Role, now time.Time) ([]Change, error) {
		return s.end(ctx, tx, sn, req, EventCancel, comment, now)
	}))
}

// Revoke ends live access before it expires. The requester relinquishes
// their own access (a reason is optional); an approver of the resource or
// an admin revokes anyone's, with a reason.
//
// Errors: CodeNotFound, CodeInvalidState (not approved, or already
// expired), CodeForbidden, CodePolicy (reason missing).
func (s *Service) Revoke(ctx context.Context, who Principal, id, reason string) (*Request, error) {
	var notices []string
	req, err := s.decide(ctx, who, id, func(tx Tx, sn snapshot, req *Request, res *Resource, roles Role, now time.Time) ([]Change, error) {
		ev := revokeEvent(roles)
		if ev == EventRevoke && req.EffectiveState(now) == StateApproved {
			if err := s.checkMFA(sn.who, req, res, MFARevoke, now); err != nil {
				return nil, err
			}
		}
		reason, n, err := CheckComment(sn.pol, "reason", reason, ev == EventRevoke, "revoke access")
		if err != nil {
			return nil, err
		}
		notices = n
		return s.end(ctx, tx, sn, req, ev, reason, now)
	})
	return withNotices(notices)(req, err)
}

// withNotices sets the notices of what was masked on the request a
// decision returns.
func withNotices(notices []string) func(*Request, error) (*Request, error) {
	return func(req *Request, err error) (*Request, error) {
		if req != nil && err == nil {
			req.Notices = notices
		}
		return req, err
	}
}

// SweepResult counts what one sweep ended and started.
type SweepResult struct {
	Expired  int
	TimedOut int
	// Activated counts the scheduled grants that became live.
	Activated int
	// ExtensionsCancelled counts the pending extensions of grants that
	// expired.
	ExtensionsCancelled int
}

// Sweep expires approved requests past expires_at and times out pending
// requests past their review deadline, in batches of one transaction each.
// Several sweepers may run at once (on several replicas): each request is
// ended by exactly one of them, and audited once.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	now := s.now()
	// Scheduled grants due are activated first, in the same sweep as the
	// expiries, so that activation lags start_at no more than expiry lags
	// expires_at (and one whose whole window passed expires right after).
	if err := s.activateDue(ctx, now, &res); err != nil {
		return res, err
	}
	for _, step := range []struct {
		ev    Event
		count *int
	}{{EventExpire, &res.Expired}, {EventTimeout, &res.TimedOut}} {
		from := StateApproved
		if step.ev == EventTimeout {
			from = StatePending
		}
		t, err := Next(from, step.ev, RoleSystem)
		if err != nil {
			return res, err
		}
		for {
			var n int
			err := s.inTx(ctx, func(tx Tx) error {
				reqs, err := tx.EndDue(ctx, t.From, t.To, now, s.sweepBatch)
				if err != nil {
					return err
				}
				n = len(reqs)
				changes := make([]Change, len(reqs))
				for i, r := range reqs {
					changes[i] = Change{Event: t.Event, Actor: System.Name(), From: t.From, To: t.To, At: now, Request: r}
				}
				if t.From == StateApproved && len(reqs) > 0 {
					more, err := s.cancelExtensions(ctx, tx, reqs, now)
					if err != nil {
						return err
					}
					res.ExtensionsCancelled += len(more)
					changes = append(changes, more...)
				}
				return s.record(ctx, tx, changes)
			})
			if err != nil {
				return res, err
			}
			*step.count += n
			if n < s.sweepBatch || ctx.Err() != nil {
				break
			}
		}
	}
	return res, ctx.Err()
}

// SetSweepBatch sets how many requests each sweeper transaction ends (for
// the benchmark; n <= 0 keeps the current size). Call it before sweeping.
func (s *Service) SetSweepBatch(n int) {
	if n > 0 {
		s.sweepBatch = n
	}
}
