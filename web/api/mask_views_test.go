package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/workflow"
)

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

// newViewsEnv is the mask API with views, caching on, on a real database.
func newViewsEnv(t *testing.T, db *store.DB) *apiEnv {
	t.Helper()
	pol, err := workflow.ParsePolicy("views.yaml", []byte(viewsMaskPolicy))
	if err != nil {
		t.Fatal(err)
	}
	e := &apiEnv{db: db, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), tokens: map[string]string{}}
	e.svc = workflow.NewService(db, pol, workflow.Options{Now: e.clock})
	chk := access.New(e.svc, access.Options{TokenKey: []byte("0123456789abcdef0123456789abcdef"), CacheTTL: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	e.svc.OnChange(chk.Hook)
	e.svc.OnCommit(chk.Committed)
	srv := web.New(web.Config{Service: e.svc, Tokens: db, Logger: slog.New(slog.DiscardHandler), BodyLimit: "8K"})
	srv.UseAccess(chk, nil)
	e.web = srv
	e.srv = httptest.NewServer(srv)
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	for _, who := range []string{"alice", "carol", "root"} {
		secret, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, e.now)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[who] = secret
	}
	secret, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check"}, Actor: "test"}, e.now)
	if err != nil {
		t.Fatal(err)
	}
	e.tokens["helpdesk"] = secret
	return e
}

// TestMaskViewsByRole: the same record, masked for readers in different
// groups, shows each the most revealing view their groups give; the
// directory's groups count; a live grant shows clear, or the granted view.
func TestMaskViewsByRole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newViewsEnv(t, db)
		// zoe is in no group of the file: the directory puts her in
		// escalation and compliance.
		storetest.SeedPerson(t, db, "zoe@example.com", true, "escalation", "compliance")
		storetest.SeedPerson(t, db, "yan@example.com", false, "escalation")
		mask := func(user string) response {
			t.Helper()
			r := e.call(t, "POST", "/api/v1/mask", "helpdesk", `{"user":"`+user+`","resource":"crm-payments","record":`+
				`{"id":"cus_881","payment_card":"4111 1111 1111 1234","iban":"DE89370400440532013000"}}`)
			if r.status != http.StatusOK {
				t.Fatalf("mask for %s: %d %s", user, r.status, r.raw)
			}
			return r
		}
		views := func(r response) []string {
			var out []string
			for _, v := range r.body["views"].([]any) {
				out = append(out, v.(string))
			}
			return out
		}
		isToken := func(v any) bool { s, _ := v.(string); return strings.HasPrefix(s, "tok_") }
		cases := []struct {
			user  string
			card  func(any) bool
			iban  func(any) bool
			views []string
		}{
			{"alice@example.com", eq("[REDACTED]"), eq("[REDACTED]"), nil},
			{"erin@example.com", eq("****1234"), eq("[REDACTED]"), []string{"escalation"}},
			{"heidi@example.com", isToken, isToken, []string{"compliance"}},
			{"zoe@example.com", eq("****1234"), isToken, []string{"compliance", "escalation"}},
			{"yan@example.com", eq("[REDACTED]"), eq("[REDACTED]"), nil}, // deactivated in the directory
			{"nobody@example.com", eq("[REDACTED]"), eq("[REDACTED]"), nil},
		}
		for _, tc := range cases {
			r := mask(tc.user)
			rec := r.body["record"].(map[string]any)
			if r.body["allowed"] != false || !tc.card(rec["payment_card"]) || !tc.iban(rec["iban"]) || rec["id"] != "cus_881" ||
				!slices.Equal(views(r), tc.views) || !slices.Equal(masked(r), []string{"iban", "payment_card"}) {
				t.Errorf("%s sees %s", tc.user, r.raw)
			}
			if strings.Contains(r.raw, "4111 1111") || strings.Contains(r.raw, "DE89") {
				t.Errorf("%s: clear value in %s", tc.user, r.raw)
			}
		}
		// The audit record says which views applied.
		r := e.call(t, "GET", "/api/v1/audit?action=mask&subject=erin@example.com", "root", nil)
		recs := r.body["records"].([]any)
		if len(recs) != 1 || recs[0].(map[string]any)["reason"] != "no live grant; masked 2 (views: escalation): iban, payment_card" {
			t.Fatalf("erin's mask audit: %s", r.raw)
		}
		r = e.call(t, "GET", "/api/v1/audit?action=mask&subject=alice@example.com", "root", nil)
		if recs := r.body["records"].([]any); len(recs) != 1 || recs[0].(map[string]any)["reason"] != "no live grant; masked 2: iban, payment_card" {
			t.Fatalf("alice's mask audit: %s", r.raw)
		}

		// A live grant: the card in clear, the IBAN at its granted view.
		r = e.call(t, "POST", "/api/v1/requests", "alice", map[string]string{"resource": "crm-payments", "duration": "30m",
			"reason": "refund for cus_881", "ticket": "SUP-1"})
		if r.status != http.StatusCreated {
			t.Fatalf("submit: %d %s", r.status, r.raw)
		}
		id := r.str("id")
		if r := e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "carol", map[string]string{"comment": "ok"}); r.str("state") != "approved" {
			t.Fatalf("approve: %s", r.raw)
		}
		r = mask("alice@example.com")
		rec := r.body["record"].(map[string]any)
		if r.body["allowed"] != true || rec["payment_card"] != "4111 1111 1111 1234" || rec["iban"] != "****3000" ||
			!slices.Equal(masked(r), []string{"iban"}) || len(views(r)) != 0 {
			t.Fatalf("with the grant: %s", r.raw)
		}
		// Others still get their own views.
		if r := mask("erin@example.com"); r.body["record"].(map[string]any)["payment_card"] != "****1234" {
			t.Fatalf("erin during alice's grant: %s", r.raw)
		}
		r = e.call(t, "GET", "/api/v1/audit?action=mask&subject=alice@example.com", "root", nil)
		if recs := r.body["records"].([]any); len(recs) != 2 || !strings.HasSuffix(recs[0].(map[string]any)["reason"].(string), "granted views; masked 1: iban") &&
			!strings.HasSuffix(recs[1].(map[string]any)["reason"].(string), "granted views; masked 1: iban") {
			t.Fatalf("alice's mask audit with the grant: %s", r.raw)
		}
		// Revoked: back to the default mask.
		if r := e.call(t, "POST", "/api/v1/requests/"+id+"/revoke", "carol", map[string]string{"reason": "done"}); r.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		if r := mask("alice@example.com"); r.body["allowed"] != false || r.body["record"].(map[string]any)["payment_card"] != "[REDACTED]" {
			t.Fatalf("after the revoke: %s", r.raw)
		}
	})
}

func eq(want string) func(any) bool { return func(v any) bool { return v == want } }
