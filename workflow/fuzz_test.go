package workflow_test

import (
	"errors"
	"testing"

	"github.com/jitaccess/jitaccess/workflow"
)

// FuzzParsePolicy: the policy parser never panics, and every refusal is
// the parser's own error type, PolicyErrors: at least one problem, each
// naming the file and saying what is wrong (never a bare YAML or Go error).
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"", "admins: [root@example.com]\n", "{", "resources: 1\n",
		"admins: [root@example.com]\ngroups:\n  agents: [alice@example.com]\n  managers: [carol@example.com]\nresources:\n  - id: crm\n    tier: high\n    max_duration: 2h\n    requesters: [agents]\n    approvers: [managers]\n",
		"resources:\n  - id: x\n    max_duration: -1h\n", "groups:\n  a: [b]\n  b: [a]\n", "admins: &a [*a]\n", "\x00", "resources:\n  - id: \"\\u0000\"\n",
		"groups:\n  a: [x@example.com]\nresources:\n  - id: crm\n    tier: low\n    max_duration: 1h\n    requesters: [a]\n    auto_approve: true\n    conditions:\n      - expr: requester.attributes.region == 'eu' && now.getHours('Europe/Berlin') < 18\n",
		"groups:\n  a: [x@example.com]\nresources:\n  - id: crm\n    tier: low\n    max_duration: 1h\n    requesters: [a]\n    approvers: [a]\n    approver_conditions:\n      - {expr: \"within_working_hours(approver) && [1,2].exists(x, x > 1\", message: m}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pol, err := workflow.ParsePolicy("fuzz.yaml", data)
		if err != nil {
			var pe workflow.PolicyErrors
			if !errors.As(err, &pe) || len(pe) == 0 {
				t.Fatalf("ParsePolicy(%q): %v (%T) is not PolicyErrors", data, err, err)
			}
			for _, e := range pe {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("ParsePolicy(%q): problem %+v without file or message", data, e)
				}
			}
			return
		}
		if pol == nil {
			t.Fatalf("ParsePolicy(%q): nil policy and no error", data)
		}
	})
}
