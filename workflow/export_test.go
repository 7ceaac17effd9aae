package workflow

import "time"

// SetFreeTextScan turns the free-text scan on or off, for the benchmark
// that measures its cost against a same-run baseline.
func SetFreeTextScan(on bool) { scanFreeText = on }

// ConditionRefusal judges the conditions (or, with approver set, the
// approver_conditions) of resource id for the unit tests of the CEL
// environment: "" when all hold, else the refusal.
func ConditionRefusal(pol *Policy, id string, requester Principal, approver *Principal, req *Request, now time.Time) string {
	res, _ := pol.Resource(id)
	conds := res.Conditions
	if approver != nil {
		conds = res.ApproverConditions
	}
	return conditionsRefusal(conds, conditionInput{pol: pol, requester: requester, approver: approver, req: req, res: res, start: now, now: now})
}
