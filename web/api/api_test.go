package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

const apiPolicy = `
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
  - id: crm-notes
    tier: medium
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
  - id: kb-drafts
    tier: low
    max_duration: 24h
    requesters: [agents]
    auto_approve: true
`

type apiEnv struct {
	srv    *httptest.Server
	web    *web.Server
	db     *store.DB
	svc    *workflow.Service
	mu     sync.Mutex
	now    time.Time
	tokens map[string]string // name → secret
}

func (e *apiEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *apiEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newAPIEnv(t *testing.T, db *store.DB) *apiEnv {
	t.Helper()
	pol, err := workflow.ParsePolicy("api.yaml", []byte(apiPolicy))
	if err != nil {
		t.Fatal(err)
	}
	e := &apiEnv{db: db, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), tokens: map[string]string{}}
	e.svc = workflow.NewService(db, pol, workflow.Options{Now: e.clock})
	srv := web.New(web.Config{Service: e.svc, Tokens: db, Idempotency: db, Logger: slog.New(slog.DiscardHandler), BodyLimit: "8K",
		Ready: func(ctx context.Context) error { return db.CheckMigrated(ctx) }})
	e.web = srv
	e.srv = httptest.NewServer(srv)
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	for _, who := range []string{"alice", "bob", "carol", "dave", "erin", "root", "stranger"} {
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

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r response) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r response) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (r response) str(key string) string { s, _ := r.body[key].(string); return s }

func (e *apiEnv) call(t *testing.T, method, path, who string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	authorization := ""
	if who != "" {
		secret, ok := e.tokens[who]
		if !ok {
			secret = who // a raw token value
		}
		authorization = "Bearer " + secret
	}
	r := e.send(t, method, path, authorization, rd)
	if len(r.raw) > 0 && r.body == nil {
		t.Fatalf("%s %s: response is not JSON: %q", method, path, r.raw)
	}
	if r.status >= 400 && (r.errCode() == "" || r.errMessage() == "") {
		t.Fatalf("%s %s: error response without code and message: %s", method, path, r.raw)
	}
	if r.status >= 500 {
		t.Fatalf("%s %s: server error %d: %s", method, path, r.status, r.raw)
	}
	return r
}

func (e *apiEnv) create(t *testing.T, who, resource, duration string) string {
	t.Helper()
	r := e.call(t, "POST", "/api/v1/requests", who, map[string]string{"resource": resource, "duration": duration, "reason": "case 1"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return r.str("id")
}

func TestAPILifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		r := e.call(t, "POST", "/api/v1/requests", "alice", map[string]string{
			"resource": "crm-payments", "duration": "90m", "reason": "  case 4411: refund  ", "ticket": "SUP-4411"})
		if r.status != http.StatusCreated || r.str("state") != "pending" || r.str("reason") != "case 4411: refund" {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		id := r.str("id")
		if r.header.Get("Location") != "/api/v1/requests/"+id {
			t.Fatalf("Location = %q", r.header.Get("Location"))
		}
		for _, key := range []string{"id", "requester", "resource", "tier", "reason", "ticket", "duration_seconds", "state",
			"required_approvals", "approvals", "created_at", "approved_at", "expires_at", "ended_at"} {
			if _, ok := r.body[key]; !ok {
				t.Errorf("request JSON has no %q", key)
			}
		}
		if r.body["duration_seconds"].(float64) != 5400 || r.body["required_approvals"].(float64) != 2 {
			t.Fatalf("numbers: %s", r.raw)
		}

		r = e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "carol", map[string]string{"comment": "verified case"})
		if r.status != 200 || r.str("state") != "pending" || len(r.body["approvals"].([]any)) != 1 {
			t.Fatalf("first approval: %d %s", r.status, r.raw)
		}
		r = e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "carol", nil)
		if r.status != http.StatusConflict || r.errCode() != "duplicate_approval" {
			t.Fatalf("duplicate approval: %d %s", r.status, r.raw)
		}
		r = e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "dave", nil)
		if r.status != 200 || r.str("state") != "approved" || r.str("expires_at") == "" {
			t.Fatalf("second approval: %d %s", r.status, r.raw)
		}
		r = e.call(t, "GET", "/api/v1/grants/check?user=alice@example.com&resource=crm-payments", "helpdesk", nil)
		if r.status != 200 || r.body["allowed"] != true || r.str("request_id") != id {
			t.Fatalf("check: %d %s", r.status, r.raw)
		}
		r = e.call(t, "GET", "/api/v1/requests/"+id, "alice", nil)
		if r.status != 200 || len(r.body["history"].([]any)) != 4 {
			t.Fatalf("detail: %d %s", r.status, r.raw)
		}
		r = e.call(t, "POST", "/api/v1/requests/"+id+"/revoke", "erin", map[string]string{"reason": "case closed"})
		if r.status != 200 || r.str("state") != "revoked" || r.str("end_reason") != "case closed" {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		r = e.call(t, "GET", "/api/v1/grants/check?user=alice@example.com&resource=crm-payments", "root", nil)
		if r.status != 200 || r.body["allowed"] != false || r.body["request_id"] != nil {
			t.Fatalf("check after revoke: %d %s", r.status, r.raw)
		}

		// Auto-approved low tier answers approved at once.
		r = e.call(t, "POST", "/api/v1/requests", "bob", map[string]string{"resource": "kb-drafts", "duration": "1h", "reason": "docs"})
		if r.status != 201 || r.str("state") != "approved" {
			t.Fatalf("auto-approve: %d %s", r.status, r.raw)
		}
		// Cancel, deny.
		n := e.create(t, "alice", "crm-notes", "1h")
		r = e.call(t, "POST", "/api/v1/requests/"+n+"/cancel", "alice", map[string]string{})
		if r.status != 200 || r.str("state") != "cancelled" {
			t.Fatalf("cancel: %d %s", r.status, r.raw)
		}
		n = e.create(t, "alice", "crm-notes", "1h")
		r = e.call(t, "POST", "/api/v1/requests/"+n+"/deny", "carol", map[string]string{"comment": "use the masked view"})
		if r.status != 200 || r.str("state") != "denied" {
			t.Fatalf("deny: %d %s", r.status, r.raw)
		}

		// Listing and filters.
		r = e.call(t, "GET", "/api/v1/requests?state=denied", "alice", nil)
		if reqs := r.body["requests"].([]any); r.status != 200 || len(reqs) != 1 {
			t.Fatalf("list denied: %d %s", r.status, r.raw)
		}
		r = e.call(t, "GET", "/api/v1/requests?limit=1", "root", nil)
		if r.status != 200 || len(r.body["requests"].([]any)) != 1 || r.str("next_cursor") == "" {
			t.Fatalf("paged list: %d %s", r.status, r.raw)
		}
		r2 := e.call(t, "GET", "/api/v1/requests?limit=1&cursor="+r.str("next_cursor"), "root", nil)
		if r2.status != 200 || r2.body["requests"].([]any)[0].(map[string]any)["id"] == r.body["requests"].([]any)[0].(map[string]any)["id"] {
			t.Fatalf("second page: %d %s", r2.status, r2.raw)
		}
		r = e.call(t, "GET", "/api/v1/resources", "carol", nil)
		if res := r.body["resources"].([]any); r.status != 200 || len(res) != 2 {
			t.Fatalf("carol's catalog: %d %s", r.status, r.raw)
		}
		r = e.call(t, "GET", "/api/v1/audit?request="+id, "root", nil)
		if recs := r.body["records"].([]any); r.status != 200 || len(recs) != 5 { // submit, 2 approvals, check, revoke
			t.Fatalf("audit for request: %d %s", r.status, r.raw)
		}
		r = e.call(t, "GET", "/api/v1/audit?action=approve&person=dave@example.com", "root", nil)
		if recs := r.body["records"].([]any); r.status != 200 || len(recs) != 1 {
			t.Fatalf("audit by person: %d %s", r.status, r.raw)
		}
		r = e.call(t, "GET", "/api/v1/me", "helpdesk", nil)
		if r.status != 200 || r.str("name") != "service:helpdesk" {
			t.Fatalf("me: %d %s", r.status, r.raw)
		}
	})
}

// TestAPIErrors covers every error status the API promises, and checks that
// a refused call stores nothing.
func TestAPIErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		pending := e.create(t, "alice", "crm-payments", "1h")
		denied := e.create(t, "bob", "crm-notes", "1h")
		e.call(t, "POST", "/api/v1/requests/"+denied+"/deny", "carol", map[string]string{"comment": "no"})
		big := `{"resource":"crm-notes","duration":"1h","reason":"` + strings.Repeat("x", 9000) + `"}`

		cases := []struct {
			name, method, path, who string
			body                    any
			status                  int
			code                    string
			msg                     string
		}{
			{"malformed JSON", "POST", "/api/v1/requests", "alice", `{"resource": "crm-notes",`, 400, "invalid_argument", "truncated"},
			{"not JSON", "POST", "/api/v1/requests", "alice", `resource=crm-notes`, 400, "invalid_argument", "not valid JSON"},
			{"array body", "POST", "/api/v1/requests", "alice", `[1,2]`, 400, "invalid_argument", "must be a JSON object"},
			{"unknown field", "POST", "/api/v1/requests", "alice", `{"resource":"crm-notes","duration":"1h","reason":"x","admin":true}`, 400, "invalid_argument", `unknown field "admin"`},
			{"wrong type", "POST", "/api/v1/requests", "alice", `{"resource":"crm-notes","duration":3600,"reason":"x"}`, 400, "invalid_argument", `field "duration" must be a string`},
			{"trailing data", "POST", "/api/v1/requests", "alice", `{"resource":"crm-notes","duration":"1h","reason":"x"} {}`, 400, "invalid_argument", "after the JSON object"},
			{"empty body", "POST", "/api/v1/requests", "alice", ``, 400, "invalid_argument", "empty"},
			{"bad duration", "POST", "/api/v1/requests", "alice", map[string]string{"resource": "crm-notes", "duration": "soon", "reason": "x"}, 400, "invalid_argument", `duration "soon" is not a duration`},
			{"missing duration", "POST", "/api/v1/requests", "alice", map[string]string{"resource": "crm-notes", "reason": "x"}, 400, "invalid_argument", "duration is required"},
			{"bad limit", "GET", "/api/v1/requests?limit=ten", "alice", nil, 400, "invalid_argument", "limit"},
			{"bad state filter", "GET", "/api/v1/requests?state=gone", "alice", nil, 400, "invalid_argument", `unknown state "gone"`},
			{"unknown filter", "GET", "/api/v1/requests?requestor=bob@example.com", "alice", nil, 400, "invalid_argument", `unknown query parameter "requestor"`},
			{"bad cursor", "GET", "/api/v1/requests?cursor=not-a-cursor", "alice", nil, 400, "invalid_argument", "cursor"},
			{"bad since", "GET", "/api/v1/audit?since=yesterday", "root", nil, 400, "invalid_argument", "RFC 3339"},
			{"check without resource", "GET", "/api/v1/grants/check?user=a@example.com", "root", nil, 400, "invalid_argument", "resource is required"},
			{"no token", "GET", "/api/v1/requests", "", nil, 401, "unauthenticated", "missing Authorization"},
			{"bad token", "GET", "/api/v1/requests", "jit_nope", nil, 401, "unauthenticated", "invalid or expired token"},
			{"basic auth", "GET", "/api/v1/requests", "", nil, 401, "unauthenticated", "must be Bearer TOKEN"},
			{"not a requester", "POST", "/api/v1/requests", "carol", map[string]string{"resource": "crm-notes", "duration": "1h", "reason": "x"}, 403, "forbidden", "may not request"},
			{"stranger submits", "POST", "/api/v1/requests", "stranger", map[string]string{"resource": "crm-notes", "duration": "1h", "reason": "x"}, 403, "forbidden", "not in the access policy"},
			{"stranger catalog", "GET", "/api/v1/resources", "stranger", nil, 403, "forbidden", "not in the access policy"},
			{"self approval", "POST", "/api/v1/requests/" + pending + "/approve", "alice", nil, 403, "forbidden", "your own request"},
			{"admin approves", "POST", "/api/v1/requests/" + pending + "/approve", "root", nil, 403, "forbidden", "not an approver"},
			{"agent checks", "GET", "/api/v1/grants/check?user=alice@example.com&resource=crm-notes", "bob", nil, 403, "forbidden", "only admins and service tokens"},
			{"service lists", "GET", "/api/v1/requests", "helpdesk", nil, 403, "forbidden", "may not list"},
			{"other's request", "GET", "/api/v1/requests/" + pending, "bob", nil, 404, "not_found", "not found"},
			{"unknown request", "GET", "/api/v1/requests/01900000-0000-7000-8000-000000000000", "root", nil, 404, "not_found", "not found"},
			{"malformed id", "POST", "/api/v1/requests/'%20OR%201=1/approve", "carol", nil, 404, "not_found", "not found"},
			{"unknown endpoint", "GET", "/api/v1/nothing", "alice", nil, 404, "not_found", "no such endpoint"},
			{"wrong method", "DELETE", "/api/v1/requests/" + pending, "alice", nil, 405, "method_not_allowed", "not allowed"},
			{"approve denied", "POST", "/api/v1/requests/" + denied + "/approve", "dave", nil, 409, "invalid_state", "request is denied"},
			{"revoke pending", "POST", "/api/v1/requests/" + pending + "/revoke", "carol", map[string]string{"reason": "x"}, 409, "invalid_state", "request is pending"},
			{"second open request", "POST", "/api/v1/requests", "alice", map[string]string{"resource": "crm-payments", "duration": "1h", "reason": "x"}, 409, "invalid_state", "already have a pending request"},
			{"too large", "POST", "/api/v1/requests", "alice", big, 413, "payload_too_large", "too large"},
			{"too long", "POST", "/api/v1/requests", "bob", map[string]string{"resource": "crm-payments", "duration": "3h", "reason": "x"}, 422, "policy_violation", "longer than the maximum of 2h"},
			{"unknown resource", "POST", "/api/v1/requests", "bob", map[string]string{"resource": "payroll", "duration": "1h", "reason": "x"}, 422, "policy_violation", `unknown resource "payroll"`},
			{"missing reason", "POST", "/api/v1/requests", "bob", map[string]string{"resource": "crm-payments", "duration": "1h", "reason": "   "}, 422, "policy_violation", "reason is required"},
			{"negative duration", "POST", "/api/v1/requests", "bob", map[string]string{"resource": "crm-payments", "duration": "-1h", "reason": "x"}, 422, "policy_violation", "positive"},
			{"deny without reason", "POST", "/api/v1/requests/" + pending + "/deny", "carol", nil, 422, "policy_violation", "reason is required"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before, _, _ := db.ListRequests(context.Background(), workflow.RequestQuery{All: true, Limit: 100})
				var r response
				if tc.name == "basic auth" {
					r = e.callRaw(t, tc.method, tc.path, "Basic YWxpY2U6cHc=")
				} else {
					r = e.call(t, tc.method, tc.path, tc.who, tc.body)
				}
				if r.status != tc.status || r.errCode() != tc.code || !strings.Contains(r.errMessage(), tc.msg) {
					t.Fatalf("got %d %s, want %d %s containing %q", r.status, r.raw, tc.status, tc.code, tc.msg)
				}
				if r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
				after, _, _ := db.ListRequests(context.Background(), workflow.RequestQuery{All: true, Limit: 100})
				if len(after) != len(before) || after[0].Version != before[0].Version || after[1].Version != before[1].Version {
					t.Fatal("a refused call changed stored requests")
				}
			})
		}
		// The pending request is untouched by all of the above.
		got, _ := db.GetRequest(context.Background(), pending)
		if got.State != workflow.StatePending || len(got.Approvals) != 0 {
			t.Fatalf("pending request changed: %+v", got)
		}
	})
}

// callRaw sends a request with the given Authorization header and no
// checks on the answer.
func (e *apiEnv) callRaw(t *testing.T, method, path, authorization string) response {
	t.Helper()
	return e.send(t, method, path, authorization, nil)
}

func (e *apiEnv) send(t *testing.T, method, path, authorization string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if e.web != nil {
		checkOpenAPI(t, e.web, req, resp.StatusCode, resp.Header, raw)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func TestRevokedAndExpiredTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		ctx := context.Background()
		secret, tok, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", TTL: time.Hour, Actor: "test"}, e.now)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens["short"] = secret
		if r := e.call(t, "GET", "/api/v1/me", "short", nil); r.status != 200 {
			t.Fatalf("fresh token: %d", r.status)
		}
		e.advance(time.Hour)
		if r := e.call(t, "GET", "/api/v1/me", "short", nil); r.status != 401 {
			t.Fatalf("expired token: %d", r.status)
		}
		if err := db.RevokeToken(ctx, tok.ID, "test", e.now); err != nil {
			t.Fatal(err)
		}
		toks, _, _ := db.ListTokens(ctx, 0, "")
		for _, tk := range toks {
			if tk.ID == tok.ID && tk.RevokedAt == nil {
				t.Fatal("revoked token not marked")
			}
		}
		if err := db.RevokeToken(ctx, tok.ID, "test", e.now); workflow.ErrorCode(err) != workflow.CodeInvalidState {
			t.Fatalf("second revoke: %v", err)
		}
		secret2, tok2, _ := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "bob@example.com", Actor: "test"}, e.now)
		e.tokens["bob2"] = secret2
		if r := e.call(t, "GET", "/api/v1/me", "bob2", nil); r.status != 200 {
			t.Fatalf("bob2: %d", r.status)
		}
		_ = db.RevokeToken(ctx, tok2.ID, "test", e.now)
		if r := e.call(t, "GET", "/api/v1/me", "bob2", nil); r.status != 401 {
			t.Fatalf("revoked token accepted: %d", r.status)
		}
		recs, _, _ := db.ListAudit(ctx, workflow.AuditQuery{Action: workflow.ActionTokenRevoke, Limit: 10})
		if len(recs) != 2 {
			t.Fatalf("%d token.revoke audit records, want 2", len(recs))
		}
	})
}

// TestAPIHostileInput throws odd bodies and paths at every endpoint:
// whatever they are, the answer is a 4xx with a JSON error, never a 500.
func TestAPIHostileInput(t *testing.T) {
	e := newAPIEnv(t, storetest.Open(t, store.SQLite))
	id := e.create(t, "alice", "crm-notes", "1h")
	bodies := []string{"", "null", "{}", "[]", `"x"`, "0", "{\"comment\":null}", "{\"comment\":[1]}", "\xff\xfe", "{\"reason\":\"\x00\"}",
		`{"resource":{"a":1}}`, `{"resource":"crm-notes","duration":"99999999999999999h","reason":"x"}`,
		`{"resource":"crm-notes","duration":"1ns","reason":"x"}`, strings.Repeat("[", 5000)}
	paths := []string{"/api/v1/requests", "/api/v1/requests/" + id + "/approve", "/api/v1/requests/" + id + "/deny",
		"/api/v1/requests/" + id + "/cancel", "/api/v1/requests/" + id + "/revoke", "/api/v1/requests/%00/approve"}
	for _, p := range paths {
		for _, b := range bodies {
			for _, who := range []string{"alice", "carol", "root"} {
				r := e.call(t, "POST", p, who, b)
				if r.status >= 500 || r.status == 0 {
					t.Fatalf("POST %s %q as %s: %d %s", p, b, who, r.status, r.raw)
				}
			}
		}
	}
	for _, q := range []string{"limit=-1", "limit=99999", "since=2026-01-01T00:00:00Z&until=2025-01-01T00:00:00Z", "request=x", "cursor=eyJpZCI6IngifQ"} {
		r := e.call(t, "GET", "/api/v1/audit?"+q, "root", nil)
		if r.status >= 500 {
			t.Fatalf("audit %s: %d", q, r.status)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newAPIEnv(t, storetest.Open(t, store.SQLite))
	if r := e.call(t, "GET", "/healthz", "", nil); r.status != 200 || r.str("status") != "ok" {
		t.Fatalf("healthz: %d %s", r.status, r.raw)
	}
	if r := e.call(t, "GET", "/readyz", "", nil); r.status != 200 || r.str("status") != "ready" {
		t.Fatalf("readyz: %d %s", r.status, r.raw)
	}
	e.db.Close()
	r := e.callRaw(t, "GET", "/readyz", "")
	if r.status != 503 {
		t.Fatalf("readyz with the database closed: %d %s", r.status, r.raw)
	}
}

// TestReadyzHidesDetail: /readyz is public, so it shows a fixed reason
// ({"status":"unavailable","reason":...} with the usual error object) and
// keeps the driver's error (hosts, users, databases) for the log.
func TestReadyzHidesDetail(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	e := newAPIEnv(t, db)
	detail := `failed to connect to host=db-primary.internal user=jit_admin database=jitaccess: dial tcp 10.0.0.5:5432: connect: connection refused`
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"driver error", "database unreachable", errors.New(detail)},
		{"reason meant to be shown", "shutting down", workflow.Errorf(workflow.CodeUnavailable, "shutting down")},
		{"wrapped detail", "database migrations not applied",
			&workflow.Error{Code: workflow.CodeUnavailable, Message: "database migrations not applied", Err: errors.New(detail)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			srv := web.New(web.Config{Service: e.svc, Tokens: db, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Ready: func(context.Context) error { return tc.err }})
			hs := httptest.NewServer(srv)
			defer hs.Close()
			resp, err := http.Get(hs.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body struct {
				Status, Reason string
				httpkit.ErrorBody
			}
			if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != 503 || body.Error.Code != workflow.CodeUnavailable ||
				body.Error.Message != "not ready: "+tc.want || body.Status != "unavailable" || body.Reason != tc.want {
				t.Fatalf("readyz: %d %s, want 503 %q", resp.StatusCode, raw, tc.want)
			}
			for _, secret := range []string{"10.0.0.5", "jit_admin", "db-primary"} {
				if strings.Contains(string(raw), secret) {
					t.Fatalf("readyz shows %q: %s", secret, raw)
				}
			}
			if strings.Contains(tc.err.Error(), "10.0.0.5") && !strings.Contains(logs.String(), "10.0.0.5") {
				t.Fatalf("the detail is not logged: %s", logs.String())
			}
		})
	}
}
