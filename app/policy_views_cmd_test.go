package app_test

import (
	"encoding/json"
	"strings"
	"testing"
)

const viewsPolicyFile = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  escalation: [erin@example.com]
  managers: [carol@example.com]
resources:
  - id: crm-payments
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    fields:
      - {name: payment_card, mask: redact, views: {escalation: last4}}
      - {name: iban, mask: token, granted: last4}
  - id: kb
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

func TestPolicyViews(t *testing.T) {
	file := writeFile(t, "views.yaml", viewsPolicyFile)
	code, out, errOut := run(t, "policy", "views", file)
	want := "crm-payments\n" +
		"FIELD         DEFAULT  agents  escalation  managers  WITH A LIVE GRANT\n" +
		"payment_card  redact   redact  last4       redact    clear\n" +
		"iban          token    token   token       token     last4\n"
	if code != 0 || !strings.HasPrefix(out, want) || strings.Contains(out, "kb") {
		t.Fatalf("policy views: %d\n%s\nwant\n%s%s", code, out, want, errOut)
	}
	code, out, _ = run(t, "policy", "views", "--json", "--resource", "kb", file)
	var ms []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 || ms[0]["resource"] != "kb" || len(ms[0]["fields"].([]any)) != 0 {
		t.Fatalf("--json --resource kb: %d %s", code, out)
	}
	code, out, _ = run(t, "policy", "views", "--json", file)
	if code != 0 || json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 ||
		ms[0]["fields"].([]any)[0].(map[string]any)["views"].(map[string]any)["escalation"] != "last4" {
		t.Fatalf("--json: %d %s", code, out)
	}
	// The demo policy: erin (escalation) sees the last four digits.
	code, out, _ = run(t, "policy", "views", "--demo", "--resource", "crm-payments")
	if code != 0 || !strings.Contains(out, "payment_card") || !strings.Contains(out, "escalation") {
		t.Fatalf("--demo: %d %s", code, out)
	}
	bad := writeFile(t, "bad.yaml", strings.Replace(viewsPolicyFile, "escalation: last4", "support: last4", 1))
	if code, _, errOut := run(t, "policy", "views", bad); code != 1 || !strings.Contains(errOut, bad+`:13: group "support" is not defined under groups`) {
		t.Fatalf("bad policy: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, "policy", "views", "--resource", "nope", file); code != 1 || !strings.Contains(errOut, `unknown resource "nope"`) {
		t.Fatalf("unknown resource: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "policy", "views"); code != 2 {
		t.Fatalf("no file: exit %d", code)
	}
}
