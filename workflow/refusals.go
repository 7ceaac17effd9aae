package workflow

import (
	"context"
	"errors"
)

// Refusals by reason: when the rules refuse someone (asking for what they
// may not, approving their own request...), the attempt is recorded in the
// audit log, in a transaction of its own since the refused one changed
// nothing, so that the dashboard can count refusals by reason over a
// period. A refusal for want of a second factor is recorded as
// ActionMFARefused (mfa.go).

// ActionRefused records one refused attempt; its reason starts with the
// refusal's kind: "self_approval: you cannot approve your own request".
const ActionRefused = "refused"

// Refusal kinds.
const (
	RefusedSelfApproval = "self_approval"     // approving or denying one's own request
	RefusedNotRequester = "not_requester"     // asking for a resource one may not request
	RefusedNotApprover  = "not_approver"      // deciding a request one does not approve
	RefusedMaxDuration  = "over_max_duration" // asking for longer than the resource allows
	RefusedConditions   = "conditions"        // a condition or approver condition that does not hold
	RefusedMFA          = "mfa_required"      // a decision without a fresh second factor (ActionMFARefused)
)

// RefusalKinds lists the kinds, in the order the dashboard shows them.
var RefusalKinds = []string{RefusedSelfApproval, RefusedNotRequester, RefusedNotApprover, RefusedMaxDuration, RefusedConditions, RefusedMFA}

// refusalKind marks an *Error as a refusal of that kind (its cause).
type refusalKind string

func (k refusalKind) Error() string { return string(k) }

// refusal marks err as a refusal of kind.
func refusal(kind string, err *Error) *Error {
	err.Err = refusalKind(kind)
	return err
}

// RefusalOf says which kind of refusal err is, if it is one.
func RefusalOf(err error) (string, bool) {
	var k refusalKind
	if errors.As(err, &k) {
		return string(k), true
	}
	return "", false
}

// auditRefusal records a refused attempt of who's on req (or on resource,
// for a request never filed), best effort: the refusal is answered
// whether or not its record could be written.
func (s *Service) auditRefusal(ctx context.Context, who Principal, req *Request, err error) {
	kind, ok := RefusalOf(err)
	if !ok || who.IsSystem() {
		return
	}
	s.auditAttempt(ctx, who, req, ActionRefused, Clip(kind+": "+ErrorMessage(err), 500))
}

// auditAttempt records an attempt of who's that was refused, on req (or
// on its resource, for a request never filed), with how who was verified,
// in a transaction of its own: the refused one was rolled back. Best
// effort: the refusal is answered whether or not the record is written.
func (s *Service) auditAttempt(ctx context.Context, who Principal, req *Request, action, reason string) {
	now := s.now()
	rec := &AuditRecord{At: now, Actor: who.Name(), Action: action, Reason: reason, Auth: who.Auth, MFA: s.mfaOf(who, now)}
	if req != nil {
		rec.RequestID, rec.Resource, rec.Subject = req.ID, req.Resource, req.Requester
	}
	_ = s.store.InTx(ctx, func(tx Tx) error { return tx.AppendAudit(ctx, rec) })
}
