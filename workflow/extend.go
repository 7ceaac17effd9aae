package workflow

import (
	"context"
	"fmt"
	"time"
)

// This file holds the two ways a grant's window moves: an extension of a
// live grant (a request of its own, with Extends set, decided like any
// request), and a scheduled start (a request with StartAt, which the
// sweeper activates).

// ExtendInput is what the requester of a live grant asks for.
type ExtendInput struct {
	Duration time.Duration // how much longer
	Reason   string
}

// Extend files an extension of the live grant id for its requester: a
// request of its own (Extends = id) that needs the approvals the grant
// needed, and is auto-approved, in this transaction, where the grant was.
// While it is pending the grant runs on; when it is approved the grant's
// expires_at moves forward by its duration (see applyExtension).
//
// Errors: CodeNotFound, CodeForbidden (not the requester, or may no
// longer request the resource), CodeInvalidState (the grant is not live,
// is itself an extension, or already has a pending extension),
// CodePolicy (bad duration, no reason, or the grant would outgrow
// max_total_duration), CodeInvalid (bad text).
func (s *Service) Extend(ctx context.Context, who Principal, id string, in ExtendInput) (*Request, error) {
	pol := s.Policy()
	if _, err := Next(StateNew, EventSubmit, RoleRequester); err != nil {
		return nil, err
	}
	var ext *Request
	var notices []string
	err := s.inTx(ctx, func(tx Tx) error {
		who, err := resolve(ctx, tx, who.afresh())
		if err != nil {
			return err
		}
		if !who.Active() {
			return disabledError(who)
		}
		orig, err := tx.LockRequest(ctx, id)
		if err != nil {
			return err
		}
		res, _ := pol.Resource(orig.Resource)
		roles, err := actingRoles(pol, who, orig, res)
		if err != nil {
			return err
		}
		if roles&RoleRequester == 0 {
			return Errorf(CodeForbidden, "only the requester may extend their grant")
		}
		if orig.IsExtension() {
			return Errorf(CodeInvalidState, "request %s is an extension; extend the grant it extends (%s)", orig.ID, orig.Extends)
		}
		now := s.now()
		if st := orig.EffectiveState(now); st != StateApproved {
			return Errorf(CodeInvalidState, "request is %s; only a live grant can be extended", st)
		}
		// Emergency access had no approver: extending it would keep it
		// live on the requester's word alone. A longer emergency is a new
		// break-glass request, alerted and reviewed like the first.
		if orig.Emergency {
			return Errorf(CodeInvalidState, "emergency access cannot be extended: file a new emergency request, or a normal one")
		}
		// The requester must still be allowed to ask, for this long, with
		// a reason: the rules of a new request.
		res, checked, n, err := CheckSubmission(pol, who, SubmitInput{Resource: orig.Resource, Duration: in.Duration,
			Reason: in.Reason, Ticket: orig.Ticket, Purpose: orig.Purpose})
		notices = n
		if err != nil {
			return err
		}
		if err := checkTotal(res, orig, in.Duration); err != nil {
			return err
		}
		if err := s.checkMFA(who, nil, res, MFARequest, now); err != nil {
			return err
		}
		ext = &Request{
			ID:                s.newID(),
			Requester:         orig.Requester,
			Resource:          orig.Resource,
			Tier:              orig.Tier,
			Reason:            checked.Reason,
			Ticket:            orig.Ticket,
			Purpose:           orig.Purpose,
			Duration:          in.Duration,
			State:             StatePending,
			RequiredApprovals: orig.RequiredApprovals,
			Version:           1,
			CreatedAt:         now,
			UpdatedAt:         now,
			ReviewDeadline:    now.Add(s.ReviewTimeoutFor(res)),
			ViaSession:        pol.OnlyBySession(who, res.Requesters),
			Extends:           orig.ID,
		}
		if err := conditionsError(res.Conditions, conditionInput{pol: pol, requester: who, req: ext, res: res, start: now, now: now}); err != nil {
			return err
		}
		changes := []Change{{Event: EventSubmit, Actor: who.Name(), From: StateNew, To: StatePending,
			Comment: checked.Reason, At: now, Request: ext}}
		if orig.RequiredApprovals == 0 {
			// Auto-approved where the original was.
			t, err := NextTo(StatePending, EventAutoApprove, StateExtended, RoleSystem)
			if err != nil {
				return err
			}
			extend, err := applyExtension(ctx, tx, res, orig, ext, System, now)
			if err != nil {
				return err
			}
			changes = append(changes, Change{Event: EventAutoApprove, Actor: System.Name(), From: t.From, To: t.To,
				Comment: "auto-approved by policy", At: now, Request: ext})
			changes = append(changes, extend...)
		}
		s.stampAuth(who, changes, now)
		if err := tx.InsertRequest(ctx, ext); err != nil {
			return err
		}
		return s.record(ctx, tx, changes)
	})
	if err != nil {
		s.auditRefusal(ctx, who, &Request{ID: id, Requester: who.Email}, err)
		return nil, err
	}
	ext.Notices = notices
	return ext, nil
}

// checkTotal refuses an extension by d that would make orig longer than
// its resource's max_total_duration.
func checkTotal(res *Resource, orig *Request, d time.Duration) error {
	if res == nil {
		return Errorf(CodePolicy, "unknown resource %q", orig.Resource)
	}
	if total := orig.Total() + d; total > res.MaxTotal() {
		left := max(res.MaxTotal()-orig.Total(), 0)
		return Errorf(CodePolicy, "extending by %s would make the grant %s long, more than the max_total_duration of %s for %s (at most %s more)",
			FormatDuration(d), FormatDuration(total), FormatDuration(res.MaxTotal()), res.ID, FormatDuration(left))
	}
	return nil
}

// applyExtension applies the approved extension ext to the grant orig
// (locked in tx): orig's expires_at moves forward by ext's duration in
// one compare-and-set that succeeds only while orig is still live, and
// ext becomes extended. A grant that lapsed or was revoked first is
// CodeInvalidState naming its state, and nothing changes (the caller's
// transaction rolls back). It returns the grant's extend change; the
// caller records ext's own approval.
func applyExtension(ctx context.Context, tx Tx, res *Resource, orig, ext *Request, by Principal, now time.Time) ([]Change, error) {
	if st := orig.EffectiveState(now); st != StateApproved {
		return nil, Errorf(CodeInvalidState, "the grant %s is %s; its extension can no longer be applied", orig.ID, st)
	}
	if err := checkTotal(res, orig, ext.Duration); err != nil {
		return nil, err
	}
	role := RoleApprover
	if by.IsSystem() {
		role = RoleSystem
	}
	t, err := Next(StateApproved, EventExtend, role)
	if err != nil {
		return nil, err
	}
	prev := orig.Version
	exp := orig.ExpiresAt.Add(ext.Duration)
	orig.ExpiresAt = &exp
	orig.Extended += ext.Duration
	orig.UpdatedAt = now
	if err := tx.ExtendGrant(ctx, orig, prev, now); err != nil {
		return nil, err
	}
	at := now
	ext.State = StateExtended
	ext.ApprovedAt, ext.ExpiresAt = &at, &exp
	ext.EndedAt, ext.EndedBy = &at, by.Name()
	ext.UpdatedAt = now
	comment := fmt.Sprintf("extended by %s to %s (extension %s): %s", FormatDuration(ext.Duration),
		exp.Format(time.RFC3339), ext.ID, ext.Reason)
	return []Change{{Event: EventExtend, Actor: by.Name(), From: t.From, To: t.To, Comment: comment, At: now, Request: orig}}, nil
}

// lapsedGrant explains an approval of an extension that came too late:
// the grant it extends has ended (its end cancelled the extension), and
// the refusal names the grant's state.
func lapsedGrant(ctx context.Context, tx Tx, ext *Request, from State, now time.Time) error {
	if !ext.IsExtension() || from == StatePending {
		return nil
	}
	orig, err := tx.GetRequest(ctx, ext.Extends)
	if err != nil {
		return nil
	}
	if st := orig.EffectiveState(now); st != StateApproved {
		return Errorf(CodeInvalidState, "the grant %s is %s; its extension (now %s) can no longer be applied", orig.ID, st, from)
	}
	return nil
}

// ExtensionReason is the end reason of an extension cancelled because
// the grant it extends ended.
const ExtensionReason = "the grant it extends has ended"

// cancelExtensions cancels, by the system, the pending extensions of the
// grants that just ended, in their transaction.
func (s *Service) cancelExtensions(ctx context.Context, tx Tx, ended []*Request, now time.Time) ([]Change, error) {
	ids := make([]string, 0, len(ended))
	for _, r := range ended {
		if !r.IsExtension() {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	t, err := Next(StatePending, EventCancel, RoleSystem)
	if err != nil {
		return nil, err
	}
	exts, err := tx.CancelExtensions(ctx, ids, now, ExtensionReason)
	if err != nil {
		return nil, err
	}
	changes := make([]Change, len(exts))
	for i, e := range exts {
		changes[i] = Change{Event: EventCancel, Actor: System.Name(), From: t.From, To: t.To, Comment: ExtensionReason, At: now, Request: e}
	}
	return changes, nil
}

// lockOriginalFirst locks the grant that request id extends, when it is
// an extension, before the extension itself is locked: every transaction
// that touches both (a decision on the extension; an end of the grant,
// which cancels its extensions) locks the grant first, so none waits for
// another in the opposite order.
func lockOriginalFirst(ctx context.Context, tx Tx, id string) error {
	orig, err := tx.ExtendsOf(ctx, id)
	if err != nil || orig == "" {
		return err
	}
	_, err = tx.LockRequest(ctx, orig)
	if ErrorCode(err) == CodeNotFound {
		return nil
	}
	return err
}

// activateDue makes the scheduled grants whose start_at has come live,
// in batches of one transaction each (the provisioning hook applies them
// in the same transaction).
func (s *Service) activateDue(ctx context.Context, now time.Time, res *SweepResult) error {
	t, err := Next(StateScheduled, EventActivate, RoleSystem)
	if err != nil {
		return err
	}
	for {
		var n int
		err := s.inTx(ctx, func(tx Tx) error {
			reqs, err := tx.ActivateDue(ctx, now, s.sweepBatch)
			if err != nil {
				return err
			}
			n = len(reqs)
			changes := make([]Change, len(reqs))
			for i, r := range reqs {
				changes[i] = Change{Event: t.Event, Actor: System.Name(), From: t.From, To: t.To,
					Comment: "scheduled start " + r.StartAt.Format(time.RFC3339), At: now, Request: r}
			}
			return s.record(ctx, tx, changes)
		})
		if err != nil {
			return err
		}
		res.Activated += n
		if n < s.sweepBatch || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
