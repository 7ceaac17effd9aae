package workflow

import (
	"context"
	"time"
)

// ProvisioningState says where the apply of a live grant stands at the
// resource's target, as the check and mask APIs report it.
type ProvisioningState string

const (
	ProvisioningApplied ProvisioningState = "applied" // the target confirmed the apply
	ProvisioningPending ProvisioningState = "pending" // not applied yet (or never recorded)
	ProvisioningFailed  ProvisioningState = "failed"  // the apply keeps failing; still retried
	ProvisioningNone    ProvisioningState = "none"    // no provisioner, or no live grant
)

// ProvisioningReader reads the provisioning of grants; store.DB implements
// it. Without one, every grant of a resource with a provisioner is pending.
type ProvisioningReader interface {
	// GrantProvisioning returns where the apply of the grant stands:
	// applied, pending or failed, none when its provisioner is none, or ""
	// when the grant has no provisioning record.
	GrantProvisioning(ctx context.Context, requestID string) (ProvisioningState, error)
}

// Check outcomes, as the audit log words them.
const (
	OutcomeNoGrant    = "denied: no live grant"
	OutcomeIneligible = "denied: no longer eligible"
)

// JudgeCheck is the check rule: user may use res now only while they hold
// a live grant (live, nil when none), may still request res under the
// rules in force (who, as Resolve returns them), and the grant's apply has
// succeeded at the target when res has a provisioner (prov: the grant's
// provisioning, "" when it has no record). It is pure: the caller reads.
//
//	allowed = live && eligible && (no provisioner || applied)
func JudgeCheck(pol *Policy, who Principal, res *Resource, live *Request, prov ProvisioningState) CheckResult {
	if live == nil {
		return CheckResult{Provisioning: ProvisioningNone, Outcome: OutcomeNoGrant}
	}
	if prov == "" {
		// Never recorded: nothing outside jitaccess confirmed it.
		prov = ProvisioningPending
		if res.ProvisionerOf().Type == ProvisionerNone {
			prov = ProvisioningNone
		}
	}
	out := CheckResult{RequestID: live.ID, ExpiresAt: live.ExpiresAt, Provisioning: prov}
	switch {
	case (cause{}).requesterReason(pol, who, live, res) != "":
		// The same judgement as re-evaluation's, so that check never
		// answers differently from what the reconcile will do.
		out.Outcome = OutcomeIneligible
	case prov == ProvisioningPending:
		out.Outcome = "denied: live grant not yet applied at the target (provisioning pending)"
	case prov == ProvisioningFailed:
		out.Outcome = "denied: live grant failed to apply at the target (provisioning failed)"
	default:
		out.Allowed = true
		out.Outcome = "allowed until " + live.ExpiresAt.Format(time.RFC3339) + " (provisioning " + string(prov) + ")"
	}
	return out
}

// CheckDecision reads what JudgeCheck needs about user and res at now (the
// live grant, the person as the directory has them now, the grant's
// provisioning) and judges it under pol. The check and mask APIs, cached
// or not, decide through it.
func (s *Service) CheckDecision(ctx context.Context, pol *Policy, res *Resource, user string, now time.Time) (CheckResult, error) {
	live, err := s.store.LiveGrant(ctx, user, res.ID, now)
	if err != nil || live == nil {
		return JudgeCheck(pol, Principal{}, res, nil, ""), err
	}
	who, err := s.Resolve(ctx, User(user))
	if err != nil {
		return CheckResult{}, err
	}
	var prov ProvisioningState
	if pr, ok := s.store.(ProvisioningReader); ok {
		if prov, err = pr.GrantProvisioning(ctx, live.ID); err != nil {
			return CheckResult{}, err
		}
	}
	return JudgeCheck(pol, who, res, live, prov), nil
}
