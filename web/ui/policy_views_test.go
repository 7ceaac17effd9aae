package ui_test

import (
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// The policy page shows who sees what: for each resource with fields, the
// field × group matrix and what a live grant shows.
func TestPolicyPageShowsViewMatrix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		pol, err := workflow.ParsePolicy("views.yaml", []byte(viewsMaskPolicy))
		if err != nil {
			t.Fatal(err)
		}
		e.svc.SetPolicy(pol)
		p := e.signIn(t, "root@example.com").get(t, "/policy")
		body := strings.Join(strings.Fields(p.body), " ")
		for _, want := range []string{
			`<table class="policy-views" id="policy-views-crm-payments">`,
			`<th>Field</th><th>Default</th><th>agents</th><th>compliance</th><th>escalation</th><th>managers</th><th>With a live grant</th>`,
			`<td class="cell-main mono">payment_card</td><td>redact</td><td>redact</td><td>token</td><td>last4</td><td>redact</td><td>clear</td>`,
			`<td class="cell-main mono">iban</td><td>redact</td><td>redact</td><td>token</td><td>redact</td><td>redact</td><td>last4</td>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("policy page lacks %q", want)
			}
		}
	})
}

// The policy page's explain form renders workflow.Explain's answer, and
// says what is wrong with the question instead of failing.
func TestPolicyPageExplain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		root := e.signIn(t, "root@example.com")
		for _, tc := range []struct {
			name, query string
			want        []string
		}{
			{"form", "", []string{`<section class="card" id="policy-explain">`, `name="user"`}},
			{"may request", "?user=alice@example.com&resource=crm-payments", []string{`<strong>alice@example.com</strong> may request <span class="mono">crm-payments</span>.`,
				`<tr><td>carol@example.com</td><td>pass</td></tr>`, `review timeout 24h`}},
			{"unknown user", "?user=zed@example.com&resource=crm-payments", []string{`may not request`, `<li>zed@example.com is not in the access policy</li>`}},
			{"unknown resource", "?user=alice@example.com&resource=nope", []string{`<p class="flash flash-error" id="explain-error">unknown resource &#34;nope&#34;</p>`}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := root.get(t, "/policy"+tc.query)
				body := strings.Join(strings.Fields(p.body), " ")
				if p.status != 200 {
					t.Fatalf("status %d", p.status)
				}
				for _, w := range tc.want {
					if !strings.Contains(body, w) {
						t.Errorf("page lacks %q", w)
					}
				}
			})
		}
	})
}

const viewsMaskPolicy = `
admins: [root@example.com]
groups:
  agents: [alice@example.com, erin@example.com]
  escalation: [erin@example.com]
  compliance: [heidi@example.com]
  managers: [carol@example.com]
resources:
  - id: crm-payments
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    fields:
      - {name: payment_card, mask: redact, views: {escalation: last4, compliance: token}}
      - {name: iban, mask: redact, views: {compliance: token}, granted: last4}
`
