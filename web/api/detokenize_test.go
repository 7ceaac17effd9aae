package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/masking"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/workflow"
)

const detokPolicy = `
admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
resources:
  - id: crm-payments
    tier: low
    max_duration: 2h
    requesters: [agents]
    auto_approve: true
    fields:
      - {name: payment_card, mask: encrypt}
      - {name: iban, mask: encrypt}
      - {name: notes, mask: redact}
  - id: crm-other
    tier: low
    max_duration: 2h
    requesters: [agents]
    auto_approve: true
    fields:
      - {name: payment_card, mask: encrypt}
`

const detokRecord = `{"user": "alice@example.com", "resource": "crm-payments", "record": {
	"id": "cus_881", "payment_card": "4111 1111 1111 1234", "iban": "DE89370400440532013000",
	"accounts": [{"iban": "FR1420041010050500013M02606"}], "notes": "vip", "balance": 12.5}}`

var (
	detokK1 = masking.EncryptKey{ID: "k1", Key: bytes.Repeat([]byte{1}, masking.EncryptKeyLen)}
	detokK2 = masking.EncryptKey{ID: "k2", Key: bytes.Repeat([]byte{2}, masking.EncryptKeyLen)}
)

// newDetokEnv is the API with a checker holding keys (none when keys is
// empty), on a real database, with tokens for agents, root, a help desk
// with the check scope and a CRM with the detokenize scope.
func newDetokEnv(t *testing.T, db *store.DB, keys ...masking.EncryptKey) *apiEnv {
	t.Helper()
	pol, err := workflow.ParsePolicy("detok.yaml", []byte(detokPolicy))
	if err != nil {
		t.Fatal(err)
	}
	e := &apiEnv{db: db, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), tokens: map[string]string{}}
	e.svc = workflow.NewService(db, pol, workflow.Options{Now: e.clock})
	e.useKeys(t, keys...)
	ctx := context.Background()
	for _, who := range []string{"alice", "bob", "root"} {
		secret, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, e.now)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[who] = secret
	}
	for name, scopes := range map[string][]string{"helpdesk": {"check"}, "crm": {"detokenize"}, "both": {"check", "detokenize"}} {
		secret, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: name, Scopes: scopes, Actor: "test"}, e.now)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = secret
	}
	return e
}

// useKeys serves the API again with a checker holding keys: a restart
// with other keys configured.
func (e *apiEnv) useKeys(t *testing.T, keys ...masking.EncryptKey) {
	t.Helper()
	var ring *masking.Keyring
	if len(keys) > 0 {
		var err error
		if ring, err = masking.NewKeyring(keys); err != nil {
			t.Fatal(err)
		}
	}
	chk := access.New(e.svc, access.Options{EncryptKeys: ring, CacheTTL: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	e.svc.OnChange(chk.Hook)
	srv := web.New(web.Config{Service: e.svc, Tokens: e.db, Logger: slog.New(slog.DiscardHandler)})
	srv.UseAccess(chk, nil)
	if e.srv != nil {
		e.srv.Close()
	}
	e.web = srv
	e.srv = httptest.NewServer(srv)
	t.Cleanup(e.srv.Close)
}

// maskedTokens masks detokRecord for bob (who never holds a grant:
// tokens depend on the resource and field, not on the reader) and returns
// its card, IBAN and account IBAN tokens.
func maskedTokens(t *testing.T, e *apiEnv) (card, iban, acct string) {
	t.Helper()
	r := e.call(t, "POST", "/api/v1/mask", "helpdesk", strings.Replace(detokRecord, "alice@", "bob@", 1))
	if r.status != 200 || r.body["allowed"] != false {
		t.Fatalf("mask: %d %s", r.status, r.raw)
	}
	rec := r.body["record"].(map[string]any)
	card, _ = rec["payment_card"].(string)
	iban, _ = rec["iban"].(string)
	acct, _ = rec["accounts"].([]any)[0].(map[string]any)["iban"].(string)
	if rec["notes"] != "[REDACTED]" || rec["id"] != "cus_881" {
		t.Fatalf("mask: %s", r.raw)
	}
	for _, secret := range []string{"4111", "DE89", "FR14"} {
		if strings.Contains(r.raw, secret) {
			t.Fatalf("masked answer holds %q: %s", secret, r.raw)
		}
	}
	return card, iban, acct
}

func detokBody(user, resource string, tokens ...string) map[string]any {
	return map[string]any{"user": user, "resource": resource, "tokens": tokens}
}

type tokResult struct {
	Token, Field string
	KeyID        string `json:"key_id"`
	Value        json.RawMessage
	Error        *struct {
		Code    string
		Status  int
		Message string
	}
}

func results(t *testing.T, r response) []tokResult {
	t.Helper()
	var out struct{ Results []tokResult }
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
		t.Fatal(err)
	}
	return out.Results
}

// TestDetokenize: tokens are versioned and deterministic; they open only
// for a user with a live grant, for a caller with the detokenize scope;
// each token is answered on its own; every release is audited without
// the values.
func TestDetokenize(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newDetokEnv(t, db, detokK1)
		card, iban, acct := maskedTokens(t, e)
		card2, _, _ := maskedTokens(t, e)
		if !strings.HasPrefix(card, "tok2_k1_") || card != card2 || card == iban || iban == acct {
			t.Fatalf("tokens: %s %s %s %s", card, card2, iban, acct)
		}
		body := detokBody("alice@example.com", "crm-payments", card, iban, acct)

		// Without a grant, and for the wrong callers: refused.
		for _, tc := range []struct {
			who    string
			status int
			msg    string
		}{
			{"crm", 403, "alice@example.com holds no live grant of crm-payments"},
			{"helpdesk", 403, `"detokenize" scope`},
			{"alice", 403, `"detokenize" scope`},
			{"root", 403, `"detokenize" scope`},
			{"", 401, "Authorization"},
		} {
			if r := e.call(t, "POST", "/api/v1/detokenize", tc.who, body); r.status != tc.status || !strings.Contains(r.errMessage(), tc.msg) {
				t.Fatalf("%s without a grant: %d %s", tc.who, r.status, r.raw)
			}
		}

		// Alice holds a live grant: the values come back, per token.
		id := e.create(t, "alice", "crm-payments", "1h")
		other, _ := e.svc.Policy().Resource("crm-other")
		otherTok, err := masking.NewKeyring([]masking.EncryptKey{detokK1})
		if err != nil {
			t.Fatal(err)
		}
		foreign, _ := otherTok.EncryptToken(other.ID, "payment_card", "4111 1111 1111 1234")
		r := e.call(t, "POST", "/api/v1/detokenize", "both", detokBody("Alice@Example.com", "crm-payments",
			card, "tok_abc", iban, foreign, "tok2_k9_"+card[len("tok2_k1_"):], acct, card))
		if r.status != 200 || r.str("request_id") != id || r.body["expires_at"] == nil {
			t.Fatalf("with a grant: %d %s", r.status, r.raw)
		}
		res := results(t, r)
		want := []struct{ value, field, code string }{
			{`"4111 1111 1111 1234"`, "payment_card", ""},
			{"", "", "invalid_argument"},
			{`"DE89370400440532013000"`, "iban", ""},
			{"", "", "invalid_argument"},
			{"", "", "not_found"},
			{`"FR1420041010050500013M02606"`, "iban", ""},
			{`"4111 1111 1111 1234"`, "payment_card", ""},
		}
		if len(res) != len(want) {
			t.Fatalf("results: %s", r.raw)
		}
		for i, w := range want {
			got := res[i]
			code := ""
			if got.Error != nil {
				code = got.Error.Code
				if got.Error.Message == "" || got.Error.Status < 400 || got.Value != nil {
					t.Errorf("result %d: %s", i, r.raw)
				}
			}
			if string(got.Value) != w.value || got.Field != w.field || code != w.code {
				t.Errorf("result %d: %+v, want %+v", i, got, w)
			}
		}

		// The audit: one record per call, fields and key ids, no values.
		r = e.call(t, "GET", "/api/v1/audit?action=detokenize", "root", nil)
		recs := r.body["records"].([]any)
		if len(recs) != 2 {
			t.Fatalf("detokenize audit: %s", r.raw)
		}
		var release map[string]any
		for _, x := range recs {
			if rec := x.(map[string]any); rec["request_id"] == id {
				release = rec
			}
		}
		reason, _ := release["reason"].(string)
		if release == nil || release["actor"] != "service:both" || release["subject"] != "alice@example.com" || release["resource"] != "crm-payments" ||
			!strings.Contains(reason, "released 4 of 7 tokens (3 refused per token)") ||
			!strings.Contains(reason, "payment_card (key k1) x2") || !strings.Contains(reason, "iban (key k1) x2") {
			t.Fatalf("release audit: %s", r.raw)
		}
		for _, secret := range []string{"4111", "DE89", "FR14", card, iban} {
			if strings.Contains(r.raw, secret) {
				t.Fatalf("the audit holds %q: %s", secret, r.raw)
			}
		}

		// Bob holds no grant; the grant expires: refused again.
		if r := e.call(t, "POST", "/api/v1/detokenize", "crm", detokBody("bob@example.com", "crm-payments", card)); r.status != 403 ||
			!strings.Contains(r.errMessage(), "bob@example.com holds no live grant of crm-payments") {
			t.Fatalf("bob: %d %s", r.status, r.raw)
		}
		e.advance(61 * time.Minute)
		if r := e.call(t, "POST", "/api/v1/detokenize", "crm", body); r.status != 403 || !strings.Contains(r.errMessage(), "no live grant") {
			t.Fatalf("after expiry: %d %s", r.status, r.raw)
		}
	})
}

// TestDetokenizeRotation: with a new key added, new tokens use it and old
// ones still open; with the old key removed, its tokens fail one by one.
func TestDetokenizeRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newDetokEnv(t, db, detokK1)
		oldCard, _, _ := maskedTokens(t, e)
		e.create(t, "alice", "crm-payments", "2h")

		e.useKeys(t, detokK1, detokK2)
		newCard, _, _ := maskedTokens(t, e)
		if !strings.HasPrefix(oldCard, "tok2_k1_") || !strings.HasPrefix(newCard, "tok2_k2_") {
			t.Fatalf("tokens %s %s", oldCard, newCard)
		}
		r := e.call(t, "POST", "/api/v1/detokenize", "crm", detokBody("alice@example.com", "crm-payments", oldCard, newCard))
		res := results(t, r)
		if r.status != 200 || len(res) != 2 || res[0].Error != nil || res[1].Error != nil ||
			string(res[0].Value) != `"4111 1111 1111 1234"` || string(res[1].Value) != string(res[0].Value) || res[0].KeyID != "k1" || res[1].KeyID != "k2" {
			t.Fatalf("both keys: %d %s", r.status, r.raw)
		}

		e.useKeys(t, detokK2)
		r = e.call(t, "POST", "/api/v1/detokenize", "crm", detokBody("alice@example.com", "crm-payments", oldCard, newCard))
		res = results(t, r)
		if r.status != 200 || len(res) != 2 || res[0].Error == nil || res[0].Error.Code != "not_found" ||
			!strings.Contains(res[0].Error.Message, `unknown token key "k1"`) || res[1].Error != nil || string(res[1].Value) != `"4111 1111 1111 1234"` {
			t.Fatalf("k1 removed: %d %s", r.status, r.raw)
		}

		// No keys at all: encrypt fields are redacted, nothing opens.
		e.useKeys(t)
		r = e.call(t, "POST", "/api/v1/mask", "helpdesk", strings.Replace(detokRecord, "alice@", "bob@", 1))
		if rec := r.body["record"].(map[string]any); rec["payment_card"] != "[REDACTED]" || rec["iban"] != "[REDACTED]" {
			t.Fatalf("mask without keys: %s", r.raw)
		}
		r = e.call(t, "POST", "/api/v1/detokenize", "crm", detokBody("alice@example.com", "crm-payments", newCard))
		if res := results(t, r); r.status != 200 || len(res) != 1 || res[0].Error == nil || res[0].Error.Code != "not_found" {
			t.Fatalf("detokenize without keys: %d %s", r.status, r.raw)
		}
	})
}

func TestDetokenizeErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newDetokEnv(t, db, detokK1)
		many := make([]string, access.MaxDetokenize+1)
		for i := range many {
			many[i] = fmt.Sprintf("tok2_k1_%d", i)
		}
		manyBody, _ := json.Marshal(detokBody("alice@example.com", "crm-payments", many...))
		for _, tc := range []struct {
			name, body string
			status     int
			code, msg  string
		}{
			{"malformed", `{"user":`, 400, "invalid_argument", ""},
			{"tokens not a list", `{"user":"alice@example.com","resource":"crm-payments","tokens":"tok2_k1_x"}`, 400, "invalid_argument", ""},
			{"unknown field", `{"user":"alice@example.com","resource":"crm-payments","tokens":[],"record":{}}`, 400, "invalid_argument", `unknown field "record"`},
			{"no tokens", `{"user":"alice@example.com","resource":"crm-payments","tokens":[]}`, 400, "invalid_argument", "tokens is required"},
			{"no user", `{"resource":"crm-payments","tokens":["x"]}`, 400, "invalid_argument", "user is required"},
			{"no resource", `{"user":"alice@example.com","tokens":["x"]}`, 400, "invalid_argument", "resource is required"},
			{"unknown resource", `{"user":"alice@example.com","resource":"hr","tokens":["x"]}`, 404, "not_found", `unknown resource "hr"`},
			{"too many", string(manyBody), 400, "invalid_argument", "at most 500"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.call(t, "POST", "/api/v1/detokenize", "crm", tc.body)
				if r.status != tc.status || r.errCode() != tc.code || !strings.Contains(r.errMessage(), tc.msg) {
					t.Fatalf("%d %s, want %d %s %q", r.status, r.raw, tc.status, tc.code, tc.msg)
				}
			})
		}
		if r := e.call(t, "GET", "/api/v1/detokenize", "crm", nil); r.status != 405 {
			t.Fatalf("GET: %d %s", r.status, r.raw)
		}
	})
}
