package web_test

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
