package workflow

import (
	"context"
	"slices"
	"time"
)

// ReconcilePlan is what a re-evaluation under a policy would do, without
// doing it: the grants it would revoke, the pending requests it would
// cancel, and the approvals it would withdraw. PlanReconcile computes it
// with the same judgement (judge) as Reconcile, so that `jitaccess policy
// diff --database` shows what loading the policy would end.
type ReconcilePlan struct {
	Ends        []PlannedEnd        `json:"ends"`
	Withdrawals []PlannedWithdrawal `json:"withdrawals"`
}

// PlannedEnd is one request a re-evaluation would end.
type PlannedEnd struct {
	RequestID string `json:"request_id"`
	Requester string `json:"requester"`
	Resource  string `json:"resource"`
	State     State  `json:"state"`  // approved (a live grant: revoked) or pending (cancelled)
	Event     Event  `json:"event"`  // revoke or cancel
	Reason    string `json:"reason"` // what the re-evaluation would write
}

// PlannedWithdrawal is one approval a re-evaluation would stop counting.
type PlannedWithdrawal struct {
	RequestID string `json:"request_id"`
	Requester string `json:"requester"`
	Resource  string `json:"resource"`
	Approver  string `json:"approver"`
	Reason    string `json:"reason"`
}

// PlanReconcile judges every live grant and pending request r holds under
// pol at now, reading the directory from r, and returns what Reconcile
// would change; it writes nothing. trigger names the cause in the reasons,
// as Reconcile's does (e.g. "policy version 8").
func PlanReconcile(ctx context.Context, r Reader, pol *Policy, trigger string, now time.Time) (ReconcilePlan, error) {
	plan := ReconcilePlan{Ends: []PlannedEnd{}, Withdrawals: []PlannedWithdrawal{}}
	ps := &people{r: r, seen: map[string]Principal{}}
	c := cause{trigger: trigger}
	for _, st := range []State{StateApproved, StateScheduled, StatePending} {
		q := RequestQuery{State: st, All: true, Limit: MaxPageSize, OpenAt: now}
		for {
			reqs, next, err := r.ListRequests(ctx, q)
			if err != nil {
				return plan, err
			}
			for _, req := range reqs {
				j, err := judge(ctx, ps, pol, c, req, now)
				if err != nil {
					return plan, err
				}
				if j.fine() {
					continue
				}
				if j.endReason != "" {
					eff := req.EffectiveState(now)
					ev := EventRevoke
					if eff == StatePending {
						ev = EventCancel
					}
					plan.Ends = append(plan.Ends, PlannedEnd{RequestID: req.ID, Requester: req.Requester, Resource: req.Resource,
						State: eff, Event: ev, Reason: j.endReason})
					continue
				}
				idx := make([]int, 0, len(j.withdraw))
				for i := range j.withdraw {
					idx = append(idx, i)
				}
				slices.Sort(idx)
				for _, i := range idx {
					plan.Withdrawals = append(plan.Withdrawals, PlannedWithdrawal{RequestID: req.ID, Requester: req.Requester,
						Resource: req.Resource, Approver: req.Approvals[i].Approver, Reason: j.withdraw[i]})
				}
			}
			if next == "" || ctx.Err() != nil {
				break
			}
			q.Cursor = next
		}
		if err := ctx.Err(); err != nil {
			return plan, err
		}
	}
	return plan, nil
}
