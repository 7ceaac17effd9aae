package workflow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// TestJudgeCheck is the check rule: allowed = live && eligible && (no
// provisioner || applied).
func TestJudgeCheck(t *testing.T) {
	pol, err := workflow.ParsePolicy("p.yaml", []byte(`groups:
  agents: [alice@example.com]
  managers: [carol@example.com]
resources:
  - id: kb
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
  - id: crm
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    provisioner: {type: webhook, url: "https://crm.example.com/hook", secret_env: CRM_SECRET}
`))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pol.Resource("kb")
	crm, _ := pol.Resource("crm")
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	live := &workflow.Request{ID: "r1", ExpiresAt: &exp}
	alice, bob := workflow.User("alice@example.com"), workflow.User("bob@example.com")
	disabled := alice
	disabled.Disabled = true
	for _, tc := range []struct {
		name    string
		who     workflow.Principal
		res     *workflow.Resource
		live    *workflow.Request
		prov    workflow.ProvisioningState
		allowed bool
		want    workflow.ProvisioningState
		outcome string
	}{
		{"no grant", alice, crm, nil, "", false, workflow.ProvisioningNone, workflow.OutcomeNoGrant},
		{"no provisioner, no record", alice, kb, live, "", true, workflow.ProvisioningNone, "allowed until 2026-01-02T03:04:05Z (provisioning none)"},
		{"provisioner none recorded", alice, crm, live, workflow.ProvisioningNone, true, workflow.ProvisioningNone, "allowed until"},
		{"applied", alice, crm, live, workflow.ProvisioningApplied, true, workflow.ProvisioningApplied, "allowed until 2026-01-02T03:04:05Z (provisioning applied)"},
		{"pending", alice, crm, live, workflow.ProvisioningPending, false, workflow.ProvisioningPending, "denied: live grant not yet applied"},
		{"failed", alice, crm, live, workflow.ProvisioningFailed, false, workflow.ProvisioningFailed, "denied: live grant failed to apply at the target (provisioning failed)"},
		{"provisioner, no record", alice, crm, live, "", false, workflow.ProvisioningPending, "denied: live grant not yet applied"},
		{"no longer in the group", bob, crm, live, workflow.ProvisioningApplied, false, workflow.ProvisioningApplied, workflow.OutcomeIneligible},
		{"disabled by the directory", disabled, kb, live, "", false, workflow.ProvisioningNone, workflow.OutcomeIneligible},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := workflow.JudgeCheck(pol, tc.who, tc.res, tc.live, tc.prov)
			if got.Allowed != tc.allowed || got.Provisioning != tc.want || !strings.HasPrefix(got.Outcome, tc.outcome) {
				t.Fatalf("%+v, want allowed %v provisioning %s outcome %q", got, tc.allowed, tc.want, tc.outcome)
			}
			if tc.live != nil && (got.RequestID != "r1" || got.ExpiresAt != &exp) {
				t.Fatalf("the live grant is not reported: %+v", got)
			}
		})
	}
}
