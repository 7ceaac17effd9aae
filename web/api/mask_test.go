package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/workflow"
)

const maskPolicy = `
admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
resources:
  - id: crm-payments
    name: Payment details
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: webhook
      url: %URL%/grants
      secret_env: CRM_SECRET
    fields:
      - {name: payment_card, mask: last4}
      - {name: iban, mask: token}
      - {name: identity_document, mask: redact}
      - {name: internal_notes, mask: redact}
  - id: kb-drafts
    tier: low
    max_duration: 24h
    requesters: [agents]
    auto_approve: true
`

const maskSecret = "crm-webhook-secret-0123456789"

type maskEnv struct {
	*apiEnv
	runner   *queue.Runner
	webhooks atomic.Int64
}

// newMaskEnv is the API with the check/mask layer and the provisioning
// pipeline wired as app.New wires them, on a real database, with a CRM
// that receives the webhooks.
func newMaskEnv(t *testing.T, db *store.DB) *maskEnv {
	t.Helper()
	me := &maskEnv{}
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if provision.Sign([]byte(maskSecret), r.Header.Get(provision.HeaderTimestamp), body) != r.Header.Get(provision.HeaderSignature) {
			t.Errorf("CRM got a badly signed webhook")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		me.webhooks.Add(1)
	}))
	t.Cleanup(crm.Close)
	pol, err := workflow.ParsePolicy("mask.yaml", []byte(strings.ReplaceAll(maskPolicy, "%URL%", crm.URL)))
	if err != nil {
		t.Fatal(err)
	}
	e := &apiEnv{db: db, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), tokens: map[string]string{}}
	e.svc = workflow.NewService(db, pol, workflow.Options{Now: e.clock})
	env := func(string) (string, bool) { return maskSecret, true }
	pipe := &provision.Pipeline{Store: db, Policy: e.svc.Policy, Provisioners: provision.Builtin(env), Now: e.clock,
		Logger: slog.New(slog.DiscardHandler)}
	chk := access.New(e.svc, access.Options{TokenKey: []byte("0123456789abcdef0123456789abcdef"), CacheTTL: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	e.svc.OnChange(pipe.Hook)
	e.svc.OnChange(chk.Hook)
	me.runner = pipe.Runner(db, time.Minute, time.Second)
	srv := web.New(web.Config{Service: e.svc, Tokens: db, Logger: slog.New(slog.DiscardHandler), BodyLimit: "8K"})
	srv.UseAccess(chk, pipe)
	e.web = srv
	e.srv = httptest.NewServer(srv)
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	for _, who := range []string{"alice", "bob", "carol", "dave", "root"} {
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
	me.apiEnv = e
	return me
}

// customer is a help-desk record, as the CRM sends it.
const customer = `{"user": "alice@example.com", "resource": "crm-payments", "record": {
	"id": "cus_881", "name": "Ada Lovelace", "email": "ada@example.com",
	"payment_card": "4111 1111 1111 1234", "iban": "DE89370400440532013000",
	"identity_document": {"kind": "passport", "number": "X1234567"},
	"tickets": [{"id": "SUP-1", "internal_notes": "suspected fraud"}],
	"balance": 12345678901234567890
}}`

func (me *maskEnv) mask(t *testing.T, who string) response {
	t.Helper()
	r := me.call(t, "POST", "/api/v1/mask", who, customer)
	if r.status != http.StatusOK {
		t.Fatalf("mask: %d %s", r.status, r.raw)
	}
	return r
}

func masked(r response) []string {
	var out []string
	for _, m := range r.body["masked"].([]any) {
		out = append(out, m.(string))
	}
	return out
}

// TestEscalationFlow: a help desk shows an agent a customer with the card,
// IBAN, ID document and internal notes masked; the agent asks for access
// without ever seeing them; two managers approve; the next read shows them
// (and is audited: who saw the card, when and why); a revoke hides them
// again at once.
func TestEscalationFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		me := newMaskEnv(t, db)
		ctx := context.Background()
		r := me.mask(t, "helpdesk")
		rec := r.body["record"].(map[string]any)
		want := []string{"iban", "identity_document", "payment_card", "tickets[0].internal_notes"}
		if r.body["allowed"] != false || !slices.Equal(masked(r), want) || rec["payment_card"] != "****1234" ||
			rec["identity_document"] != "[REDACTED]" || !strings.HasPrefix(rec["iban"].(string), "tok_") || rec["email"] != "ada@example.com" {
			t.Fatalf("before the grant: %s", r.raw)
		}
		if !strings.Contains(r.raw, `"balance": 12345678901234567890`) || !strings.Contains(r.raw, `"email": "ada@example.com"`) {
			t.Fatalf("an undeclared big number was not passed through exactly: %s", r.raw)
		}
		for _, secret := range []string{"4111 1111", "DE89", "X1234567", "suspected fraud"} {
			if strings.Contains(r.raw, secret) {
				t.Fatalf("masked answer contains %q: %s", secret, r.raw)
			}
		}
		// The agent herself cannot call the mask or check API to peek.
		if r := me.call(t, "POST", "/api/v1/mask", "alice", customer); r.status != http.StatusForbidden || r.errCode() != "forbidden" {
			t.Fatalf("agent calling mask: %d %s", r.status, r.raw)
		}
		if r := me.call(t, "GET", "/api/v1/grants/check?user=alice@example.com&resource=crm-payments", "alice", nil); r.status != http.StatusForbidden {
			t.Fatalf("agent calling check: %d %s", r.status, r.raw)
		}

		// Escalation: the request carries the ticket, not the data.
		r = me.call(t, "POST", "/api/v1/requests", "alice", map[string]string{"resource": "crm-payments", "duration": "30m",
			"reason": "refund for cus_881, card ending 1234", "ticket": "SUP-1"})
		if r.status != http.StatusCreated || r.body["provisioning"] != nil {
			t.Fatalf("submit: %d %s", r.status, r.raw)
		}
		id := r.str("id")
		me.call(t, "POST", "/api/v1/requests/"+id+"/approve", "carol", map[string]string{"comment": "ok"})
		r = me.call(t, "POST", "/api/v1/requests/"+id+"/approve", "dave", map[string]string{"comment": "ok"})
		prov, _ := r.body["provisioning"].(map[string]any)
		if r.str("state") != "approved" || prov["status"] != "pending" || prov["operation"] != "apply" || prov["provisioner"] != "webhook" {
			t.Fatalf("second approval: %s", r.raw)
		}
		if n, err := me.runner.RunOnce(ctx); err != nil || n != 1 || me.webhooks.Load() != 1 {
			t.Fatalf("provisioning ran %d jobs, %d webhooks (%v)", n, me.webhooks.Load(), err)
		}
		r = me.call(t, "GET", "/api/v1/requests/"+id, "alice", nil)
		if prov := r.body["provisioning"].(map[string]any); prov["status"] != "applied" || prov["applied_at"] == nil {
			t.Fatalf("request after provisioning: %s", r.raw)
		}

		// The very next read is unmasked: the cache was invalidated.
		r = me.mask(t, "helpdesk")
		rec = r.body["record"].(map[string]any)
		if r.body["allowed"] != true || r.str("request_id") != id || len(masked(r)) != 0 || rec["payment_card"] != "4111 1111 1111 1234" {
			t.Fatalf("with the grant: %s", r.raw)
		}
		r = me.call(t, "POST", "/api/v1/requests/"+id+"/revoke", "carol", map[string]string{"reason": "refund done"})
		if r.status != 200 || r.body["provisioning"].(map[string]any)["operation"] != "remove" {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		if r := me.mask(t, "helpdesk"); r.body["allowed"] != false || len(masked(r)) != 4 {
			t.Fatalf("after the revoke: %s", r.raw)
		}

		// Who saw the card, when and why.
		r = me.call(t, "GET", "/api/v1/audit?action=mask&subject=alice@example.com", "root", nil)
		recs := r.body["records"].([]any)
		var unmasked []map[string]any
		for _, x := range recs {
			if rec := x.(map[string]any); strings.HasPrefix(rec["reason"].(string), "unmasked") {
				unmasked = append(unmasked, rec)
			}
		}
		if len(recs) != 3 || len(unmasked) != 1 || unmasked[0]["actor"] != "service:helpdesk" || unmasked[0]["request_id"] != id {
			t.Fatalf("mask audit: %s", r.raw)
		}
		r = me.call(t, "GET", "/api/v1/requests/"+id, "root", nil)
		if hist := r.raw; !strings.Contains(hist, `"action":"mask"`) || !strings.Contains(hist, "refund for cus_881") {
			t.Fatalf("the request's history does not tie the read to the reason: %s", hist)
		}
	})
}

// TestMaskTokensMatch: two records with the same IBAN give the same token,
// so a help desk can link them without seeing the IBAN.
func TestMaskTokensMatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		me := newMaskEnv(t, db)
		body := func(iban string) string {
			return `{"user":"bob@example.com","resource":"crm-payments","record":{"payments":[{"iban":"` + iban + `"}]}}`
		}
		a := me.call(t, "POST", "/api/v1/mask", "root", body("FR1420041010050500013M02606"))
		b := me.call(t, "POST", "/api/v1/mask", "root", body("FR1420041010050500013M02606"))
		c := me.call(t, "POST", "/api/v1/mask", "root", body("FR7630006000011234567890189"))
		tok := func(r response) string {
			return r.body["record"].(map[string]any)["payments"].([]any)[0].(map[string]any)["iban"].(string)
		}
		if tok(a) != tok(b) || tok(a) == tok(c) || !strings.HasPrefix(tok(a), "tok_") {
			t.Fatalf("tokens %s %s %s", tok(a), tok(b), tok(c))
		}
	})
}

func TestMaskErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		me := newMaskEnv(t, db)
		big := `{"user":"alice@example.com","resource":"crm-payments","record":{"x":"` + strings.Repeat("a", 9000) + `"}}`
		for _, tc := range []struct {
			name, who string
			body      string
			status    int
			code, msg string
		}{
			{"no token", "", customer, 401, "unauthenticated", "missing Authorization"},
			{"user token", "carol", customer, 403, "forbidden", `"check" scope`},
			{"malformed", "helpdesk", `{"user":`, 400, "invalid_argument", "truncated"},
			{"unknown field", "helpdesk", `{"user":"a@example.com","resource":"crm-payments","record":{},"fields":["iban"]}`, 400, "invalid_argument", `unknown field "fields"`},
			{"no record", "helpdesk", `{"user":"a@example.com","resource":"crm-payments"}`, 400, "invalid_argument", "record is required"},
			{"null record", "helpdesk", `{"user":"a@example.com","resource":"crm-payments","record":null}`, 400, "invalid_argument", "record is required"},
			{"list record", "helpdesk", `{"user":"a@example.com","resource":"crm-payments","record":[{"iban":"x"}]}`, 400, "invalid_argument", "must be a JSON object"},
			{"string record", "helpdesk", `{"user":"a@example.com","resource":"crm-payments","record":"iban"}`, 400, "invalid_argument", "must be a JSON object"},
			{"no user", "helpdesk", `{"resource":"crm-payments","record":{}}`, 400, "invalid_argument", "user is required"},
			{"no resource", "helpdesk", `{"user":"a@example.com","record":{}}`, 400, "invalid_argument", "resource is required"},
			{"unknown resource", "helpdesk", `{"user":"a@example.com","resource":"hr","record":{}}`, 404, "not_found", `unknown resource "hr"`},
			{"too large", "helpdesk", big, 413, "payload_too_large", "too large"},
			{"wrong method", "helpdesk", "", 405, "method_not_allowed", "method"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				method := "POST"
				if tc.name == "wrong method" {
					method = "GET"
				}
				var body any
				if tc.body != "" {
					body = tc.body
				}
				r := me.call(t, method, "/api/v1/mask", tc.who, body)
				if r.status != tc.status || r.errCode() != tc.code || !strings.Contains(r.errMessage(), tc.msg) {
					t.Fatalf("%d %s, want %d %s %q", r.status, r.raw, tc.status, tc.code, tc.msg)
				}
			})
		}
	})
}

func TestProvisioningListing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		me := newMaskEnv(t, db)
		id := me.create(t, "bob", "kb-drafts", "1h") // auto-approved, no provisioner: applied at once
		r := me.call(t, "GET", "/api/v1/provisioning", "root", nil)
		list := r.body["provisioning"].([]any)
		if r.status != 200 || len(list) != 1 {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		p := list[0].(map[string]any)
		if p["request_id"] != id || p["status"] != "applied" || p["provisioner"] != "none" || p["requester"] != "bob@example.com" {
			t.Fatalf("entry: %s", r.raw)
		}
		if r := me.call(t, "GET", "/api/v1/provisioning?status=failed", "root", nil); len(r.body["provisioning"].([]any)) != 0 {
			t.Fatalf("failed: %s", r.raw)
		}
		for _, tc := range []struct {
			who, query string
			status     int
		}{
			{"bob", "", 403},
			{"helpdesk", "", 403},
			{"root", "?status=broken", 400},
			{"root", "?operation=delete", 400},
			{"root", "?state=failed", 400},
			{"root", "?limit=-1", 400},
		} {
			if r := me.call(t, "GET", "/api/v1/provisioning"+tc.query, tc.who, nil); r.status != tc.status {
				t.Errorf("%s %s: %d %s", tc.who, tc.query, r.status, r.raw)
			}
		}
	})
}

// Free text in a record's undeclared fields is masked by the same
// detectors that mask what people type: a card number read out on a call
// and pasted into the notes stays hidden without a grant.
func TestMaskFreeTextInRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		me := newMaskEnv(t, db)
		body := `{"user": "alice@example.com", "resource": "crm-payments", "record": {"id": "cus_9",
			"notes": "customer read out 4111 1111 1111 1111 on the call; IBAN DE89 3704 0044 0532 0130 00",
			"order": "order 4111111111111112", "phone": 4111111111111111}}`
		r := me.call(t, "POST", "/api/v1/mask", "helpdesk", body)
		if r.status != http.StatusOK {
			t.Fatalf("mask: %d %s", r.status, r.raw)
		}
		for _, secret := range []string{"4111 1111 1111 1111", "DE89 3704", "4111111111111111"} {
			if strings.Contains(r.raw, secret) {
				t.Fatalf("free text left %q in clear: %s", secret, r.raw)
			}
		}
		rec := r.body["record"].(map[string]any)
		if !strings.Contains(rec["notes"].(string), "[card ending 1111]") || rec["order"] != "order 4111111111111112" ||
			!slices.Contains(masked(r), "notes") || !slices.Contains(masked(r), "phone") {
			t.Fatalf("masked record: %s", r.raw)
		}
	})
}
