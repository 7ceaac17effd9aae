package workflow_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// issueExample is the policy from the project's first issue, verbatim.
const issueExample = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
resources:
  - id: crm-payments
    name: Payment details
    tier: high
    max_duration: 2h        # Go durations: 30s, 90m, 2h
    requesters: [agents]    # groups that may ask
    approvers: [managers]   # groups that may approve
  - id: kb-drafts
    name: Knowledge base drafts
    tier: low
    max_duration: 24h
    requesters: [agents]
    auto_approve: true
`

func TestParsePolicyExample(t *testing.T) {
	p, err := workflow.ParsePolicy("policy.yaml", []byte(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	pay, ok := p.Resource("crm-payments")
	if !ok || pay.Name != "Payment details" || pay.Tier != workflow.TierHigh || pay.MaxDuration != 2*time.Hour ||
		pay.ApprovalsRequired != 2 || pay.AutoApprove || pay.Line != 6 {
		t.Fatalf("crm-payments = %+v", pay)
	}
	kb, _ := p.Resource("kb-drafts")
	if !kb.AutoApprove || kb.ApprovalsRequired != 0 || kb.MaxDuration != 24*time.Hour {
		t.Fatalf("kb-drafts = %+v", kb)
	}
	carol := workflow.User("Carol@Example.com ")
	if !p.CanApprove(carol, pay) || p.CanRequest(carol, pay) || p.IsAdmin(carol) || !p.Knows(carol) {
		t.Fatal("carol's roles are wrong")
	}
	if !p.IsAdmin(workflow.User("root@example.com")) {
		t.Fatal("root is not admin")
	}
	// Identity-provider groups count when the policy defines them.
	idp := workflow.Principal{Email: "zed@example.com", Groups: []string{"managers"}}
	if !p.CanApprove(idp, pay) || !p.Knows(idp) {
		t.Fatal("IdP group membership ignored")
	}
}

func TestParsePolicyErrors(t *testing.T) {
	base := func(resource string) string {
		return "groups:\n  agents: [alice@example.com]\n  managers: [carol@example.com, dave@example.com]\nresources:\n" + resource
	}
	cases := []struct {
		name string
		yaml string
		line int
		msg  string
	}{
		{"unknown tier", base("  - id: a\n    tier: extreme\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [managers]\n"), 6, `unknown tier "extreme"`},
		{"bad duration", base("  - id: a\n    tier: low\n    max_duration: forever\n    requesters: [agents]\n    approvers: [managers]\n"), 7, `max_duration "forever" is not a duration`},
		{"zero duration", base("  - id: a\n    tier: low\n    max_duration: 0s\n    requesters: [agents]\n    approvers: [managers]\n"), 7, "max_duration must be positive"},
		{"negative duration", base("  - id: a\n    tier: low\n    max_duration: -1h\n    requesters: [agents]\n    approvers: [managers]\n"), 7, "max_duration must be positive"},
		{"numeric duration", base("  - id: a\n    tier: low\n    max_duration: 3600\n    requesters: [agents]\n    approvers: [managers]\n"), 7, "is not a duration"},
		{"undefined group", base("  - id: a\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [admins]\n"), 9, `group "admins" is not defined`},
		{"duplicate id", base("  - id: a\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n  - id: a\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"), 10, `duplicate resource id "a" (first defined at line 5)`},
		{"below minimum", base("  - id: a\n    tier: high\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [managers]\n    approvals_required: 1\n"), 10, "approvals_required 1 is below the minimum of 2 for tier high"},
		{"nobody approves", base("  - id: a\n    tier: medium\n    max_duration: 1h\n    requesters: [agents]\n"), 5, "has no approvers, so nobody could approve it"},
		{"unknown key", base("  - id: a\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    aprovers: [managers]\n"), 9, `unknown key "aprovers" in a resource`},
		{"unknown top key", "admin: [root@example.com]\n" + base("  - id: a\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"), 1, `unknown key "admin" in the policy`},
		{"auto approve high", base("  - id: a\n    tier: high\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"), 9, "only low-tier resources may be auto-approved"},
		{"too few approvers", base("  - id: a\n    tier: critical\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [managers]\n    approvals_required: 3\n"), 5, "needs 3 distinct approvals but its approver groups list only 2 people"},
		{"one approver for two", base("  - id: a\n    tier: high\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [agents]\n"), 5, "needs 2 distinct approvals but its approver groups list only 1 person"},
		{"missing tier", base("  - id: a\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"), 5, "has no tier"},
		{"missing id", base("  - tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"), 5, "resource has no id"},
		{"bad id", base("  - id: Payments DB\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"), 5, `resource id "Payments DB" must be`},
		{"missing max_duration", base("  - id: a\n    tier: low\n    requesters: [agents]\n    auto_approve: true\n"), 5, "has no max_duration"},
		{"empty requesters", base("  - id: a\n    tier: low\n    max_duration: 1h\n    requesters: []\n    auto_approve: true\n"), 8, "requesters is empty"},
		{"bad email", "admins: [root]\n" + base("  - id: a\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"), 1, `admin "root" is not an email address`},
		{"bool as string", base("  - id: a\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: yes-please\n"), 9, "auto_approve must be true or false"},
		{"list as string", base("  - id: a\n    tier: low\n    max_duration: 1h\n    requesters: agents\n    auto_approve: true\n"), 8, "requesters must be a list"},
		{"repeated key", base("  - id: a\n    tier: low\n    tier: medium\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"), 7, `key "tier" repeated`},
		{"no resources", "groups:\n  agents: [alice@example.com]\n", 1, "the policy has no resources"},
		{"yaml syntax", "groups:\n  agents: [alice@example.com]\nresources: x\n  nested: y\n", 4, "invalid YAML: mapping values are not allowed"},
		{"tabs", "groups:\n\tagents: []\n", 2, "invalid YAML"},
		{"empty", "", 1, "policy is empty"},
		{"not a mapping", "- a\n- b\n", 1, "the policy must be a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflow.ParsePolicy("team.yaml", []byte(tc.yaml))
			var perrs workflow.PolicyErrors
			if !errors.As(err, &perrs) {
				t.Fatalf("err = %v, want PolicyErrors", err)
			}
			for _, e := range perrs {
				if e.File == "team.yaml" && e.Line == tc.line && strings.Contains(e.Msg, tc.msg) {
					if !strings.HasPrefix(e.Error(), "team.yaml:") {
						t.Fatalf("message does not start with the file: %q", e.Error())
					}
					return
				}
			}
			t.Fatalf("want team.yaml:%d: ...%s...; got\n%v", tc.line, tc.msg, err)
		})
	}
}

func TestParsePolicyReportsEveryError(t *testing.T) {
	y := "groups:\n  agents: [alice@example.com]\nresources:\n  - id: a\n    tier: nope\n    max_duration: 1h\n    requesters: [agents]\n  - id: b\n    tier: low\n    max_duration: never\n    requesters: [ghosts]\n    auto_approve: true\n"
	_, err := workflow.ParsePolicy("p.yaml", []byte(y))
	var perrs workflow.PolicyErrors
	if !errors.As(err, &perrs) || len(perrs) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	for i := 1; i < len(perrs); i++ {
		if perrs[i].Line < perrs[i-1].Line {
			t.Fatalf("errors not in line order: %v", err)
		}
	}
}

func TestLoadPolicyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(issueExample), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.LoadPolicyFile(path); err != nil {
		t.Fatal(err)
	}
	_, err := workflow.LoadPolicyFile(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: cannot read policy") {
		t.Fatalf("missing file: %v", err)
	}
}
