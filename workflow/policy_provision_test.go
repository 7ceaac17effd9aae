package workflow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/masking"
	"github.com/jitaccess/jitaccess/workflow"
)

const provisionedPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: crm-payments
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: webhook
      url: https://crm.example.com/hooks/jitaccess
      secret_env: CRM_WEBHOOK_SECRET
    fields:
      - name: payment_card
        mask: last4
      - {name: iban, mask: token}
      - name: customer.internal_notes
        mask: redact
  - id: prod-db
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: postgres
      dsn_env: PROD_DB_DSN
      role: support_readonly
      terminate_sessions: false
  - id: kb-drafts
    tier: low
    max_duration: 1h
    requesters: [agents]
    auto_approve: true
    provisioner: {type: none}
`

func TestParseProvisionersAndFields(t *testing.T) {
	p, err := workflow.ParsePolicy("p.yaml", []byte(provisionedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	pay, _ := p.Resource("crm-payments")
	want := workflow.ProvisionerSpec{Type: "webhook", URL: "https://crm.example.com/hooks/jitaccess", SecretEnv: "CRM_WEBHOOK_SECRET",
		Timeout: 10 * time.Second, TerminateSessions: true, Line: 12}
	if *pay.Provisioner != want {
		t.Fatalf("webhook spec = %+v, want %+v", *pay.Provisioner, want)
	}
	if len(pay.Fields) != 3 || pay.Fields[0].Name != "payment_card" || pay.Fields[0].Style != masking.Last4 || pay.Fields[0].Line != 16 ||
		pay.Fields[1].Style != masking.Token || pay.Fields[2].Name != "customer.internal_notes" {
		t.Fatalf("fields = %+v", pay.Fields)
	}
	db, _ := p.Resource("prod-db")
	if got := db.ProvisionerOf(); got.Type != "postgres" || got.DSNEnv != "PROD_DB_DSN" || got.Role != "support_readonly" ||
		got.Username != workflow.UsernameLocalPart || got.TerminateSessions {
		t.Fatalf("postgres spec = %+v", got)
	}
	kb, _ := p.Resource("kb-drafts")
	if kb.ProvisionerOf().Type != "none" {
		t.Fatalf("kb-drafts provisioner = %+v", kb.ProvisionerOf())
	}
	// No provisioner key is none.
	plain, _ := workflow.ParsePolicy("x.yaml", []byte(issueExample))
	r, _ := plain.Resource("crm-payments")
	if r.ProvisionerOf().Type != workflow.ProvisionerNone || len(r.Fields) != 0 {
		t.Fatalf("default provisioner = %+v", r.ProvisionerOf())
	}
	if res, f := p.NeedsMaskKey(); res == nil || f.Name != "iban" {
		t.Fatalf("NeedsMaskKey = %v %v", res, f)
	}
	if res, _ := plain.NeedsMaskKey(); res != nil {
		t.Fatal("a policy without token fields needs a key")
	}
	if !p.CanCheck(workflow.ServiceAccount("helpdesk", "check")) || p.CanCheck(workflow.ServiceAccount("crm")) ||
		!p.CanCheck(workflow.User("root@example.com")) || p.CanCheck(workflow.User("alice@example.com")) {
		t.Fatal("CanCheck is wrong")
	}
}

func TestParseProvisionerErrors(t *testing.T) {
	res := func(extra string) string {
		return "groups:\n  agents: [alice@example.com]\n  managers: [carol@example.com]\nresources:\n" +
			"  - id: a\n    tier: medium\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [managers]\n" + extra
	}
	// The resource's extra keys start at line 10.
	cases := []struct {
		name string
		yaml string
		line int
		msg  string
	}{
		{"no type", res("    provisioner:\n      url: https://x.example.com\n"), 11, "provisioner has no type"},
		{"unknown type", res("    provisioner:\n      type: ldap\n"), 11, `unknown provisioner type "ldap"; use webhook, postgres, none`},
		{"not a mapping", res("    provisioner: webhook\n"), 10, "a provisioner must be a mapping"},
		{"unknown key", res("    provisioner:\n      type: none\n      urll: x\n"), 12, `unknown key "urll" in a provisioner`},
		{"key of another type", res("    provisioner:\n      type: webhook\n      url: https://x.example.com/h\n      secret_env: S\n      role: r\n"), 14, "role does not apply to a webhook provisioner"},
		{"none with settings", res("    provisioner:\n      type: none\n      url: https://x.example.com/h\n"), 12, "url does not apply to a none provisioner"},
		{"webhook without url", res("    provisioner:\n      type: webhook\n      secret_env: S\n"), 11, "webhook provisioner has no url"},
		{"webhook bad url", res("    provisioner:\n      type: webhook\n      url: ftp://x.example.com\n      secret_env: S\n"), 12, `webhook url "ftp://x.example.com" must be`},
		{"webhook url with credentials", res("    provisioner:\n      type: webhook\n      url: https://u:p@x.example.com\n      secret_env: S\n"), 12, "no credentials"},
		{"webhook without secret", res("    provisioner:\n      type: webhook\n      url: https://x.example.com/h\n"), 11, "has no secret_env"},
		{"secret value instead of name", res("    provisioner:\n      type: webhook\n      url: https://x.example.com/h\n      secret_env: s3cr3t-value!\n"), 13, "must be the name of an environment variable"},
		{"webhook timeout too long", res("    provisioner:\n      type: webhook\n      url: https://x.example.com/h\n      secret_env: S\n      timeout: 1h\n"), 14, "longer than 5m"},
		{"webhook bad timeout", res("    provisioner:\n      type: webhook\n      url: https://x.example.com/h\n      secret_env: S\n      timeout: soon\n"), 14, "is not a duration"},
		{"postgres without dsn_env", res("    provisioner:\n      type: postgres\n      role: r\n"), 11, "has no dsn_env"},
		{"postgres DSN in the file", res("    provisioner:\n      type: postgres\n      dsn_env: postgres://u:p@db/x\n      role: r\n"), 12, "must be the name of an environment variable"},
		{"postgres without role", res("    provisioner:\n      type: postgres\n      dsn_env: DSN\n"), 11, "has no role"},
		{"postgres bad role", res("    provisioner:\n      type: postgres\n      dsn_env: DSN\n      role: \"x; DROP TABLE t\"\n"), 13, `role "x; DROP TABLE t" must be`},
		{"postgres upper-case role", res("    provisioner:\n      type: postgres\n      dsn_env: DSN\n      role: Support\n"), 13, "lower-case"},
		{"postgres bad username", res("    provisioner:\n      type: postgres\n      dsn_env: DSN\n      role: r\n      username: upn\n"), 14, `username "upn": use local_part`},
		{"postgres bad terminate", res("    provisioner:\n      type: postgres\n      dsn_env: DSN\n      role: r\n      terminate_sessions: maybe\n"), 14, "terminate_sessions must be true or false"},
		{"fields not a list", res("    fields: {iban: token}\n"), 10, "fields must be a list"},
		{"field without name", res("    fields:\n      - mask: redact\n"), 11, "field has no name"},
		{"field without mask", res("    fields:\n      - name: iban\n"), 11, `field "iban" has no mask`},
		{"field bad mask", res("    fields:\n      - name: iban\n        mask: hash\n"), 12, `unknown mask style "hash"`},
		{"field bad name", res("    fields:\n      - name: \"iban number\"\n        mask: redact\n"), 11, `field name "iban number" must be a JSON key`},
		{"field twice", res("    fields:\n      - {name: iban, mask: redact}\n      - {name: iban, mask: token}\n"), 12, `field "iban" listed twice (first at line 11)`},
		{"field unknown key", res("    fields:\n      - {name: iban, mask: redact, style: x}\n"), 11, `unknown key "style" in a field`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflow.ParsePolicy("team.yaml", []byte(tc.yaml))
			var perrs workflow.PolicyErrors
			if !errors.As(err, &perrs) {
				t.Fatalf("err = %v, want PolicyErrors", err)
			}
			for _, e := range perrs {
				if e.Line == tc.line && strings.Contains(e.Msg, tc.msg) && strings.HasPrefix(e.Error(), "team.yaml:") {
					return
				}
			}
			t.Fatalf("want team.yaml:%d: ...%s...; got\n%v", tc.line, tc.msg, err)
		})
	}
}

func TestSameRoleTwice(t *testing.T) {
	y := `groups:
  agents: [alice@example.com]
  managers: [carol@example.com]
resources:
  - id: a
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    provisioner: {type: postgres, dsn_env: DSN, role: reader}
  - id: b
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    provisioner: {type: postgres, dsn_env: DSN, role: reader}
`
	_, err := workflow.ParsePolicy("p.yaml", []byte(y))
	if err == nil || !strings.Contains(err.Error(), `p.yaml:16: resource "b" grants role "reader" on DSN like resource "a" (line 5)`) {
		t.Fatalf("err = %v", err)
	}
}
