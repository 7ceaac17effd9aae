package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const conditionPolicy = goodPolicy + `    conditions:
      - expr: request.duration <= duration('30m') || request.ticket.startsWith('INC-')
        message: more than 30 minutes needs an incident ticket
`

// A condition that does not hold is a 403 with its message over the API;
// the same request with a ticket is filed.
func TestConditionsOverAPI(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", conditionPolicy)
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy})
		alice, _, _ := a.DB.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, workflow.Now())
		code, body := httpJSON(t, "POST", base+"/api/v1/requests", alice, `{"resource":"crm-notes","duration":"1h","reason":"case 9"}`)
		e, _ := body["error"].(map[string]any)
		if code != 403 || e["code"] != "forbidden" || e["message"] != "more than 30 minutes needs an incident ticket" {
			t.Fatalf("without a ticket: %d %v", code, body)
		}
		code, body = httpJSON(t, "POST", base+"/api/v1/requests", alice, `{"resource":"crm-notes","duration":"1h","reason":"case 9","ticket":"INC-4"}`)
		if code != 201 {
			t.Fatalf("with a ticket: %d %v", code, body)
		}
	})
}

// policy check reports a condition's mistakes at file:line:col.
func TestPolicyCheckConditions(t *testing.T) {
	bad := writeFile(t, "bad.yaml", goodPolicy+"    conditions:\n      - expr: requester.region == 'eu' && user.ok\n")
	code, _, errOut := run(t, "policy", "check", bad)
	if code != 1 || !strings.Contains(errOut, "bad.yaml:12:43: condition: undeclared reference to 'user'") {
		t.Fatalf("policy check: %d %q", code, errOut)
	}
}
