package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestAPIErrorTable walks docs/api.md's error table, a case (or more) per
// line, through the real server on both databases. 409 conflict (a lost
// race) and 500 internal (a bug) cannot be produced by input and are
// tested where they arise (store's concurrency tests, the recover
// middleware); the Idempotency-Key lines in TestAPIErrorTableIdempotencyKey
// and, for 409 idempotency_key_in_use (a first request held in flight),
// TestIdempotencyKeyInFlight.
func TestAPIErrorTable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newOversightEnv(t, db)
		pending := e.create(t, "alice", "crm-payments", "1h")
		e.call(t, "POST", "/api/v1/requests/"+pending+"/approve", "carol", nil)
		denied := e.create(t, "bob", "crm-notes", "1h")
		e.call(t, "POST", "/api/v1/requests/"+denied+"/deny", "carol", map[string]string{"comment": "no"})
		since, until := "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z"
		rid := e.call(t, "POST", "/api/v1/reviews", "ann", map[string]string{"since": since, "until": until}).str("id")
		big := `{"resource":"crm-notes","duration":"1h","reason":"` + strings.Repeat("x", 9000) + `"}`
		live := e.create(t, "bob", "kb-drafts", "1h") // auto-approved: live

		cases := []struct {
			name, method, path, who string
			body                    any
			status                  int
			code, msg, allow        string
		}{
			// 400
			{"limit not a number", "GET", "/api/v1/requests?limit=ten", "alice", nil, 400, "invalid_argument", "limit", ""},
			{"limit zero", "GET", "/api/v1/requests?limit=0", "alice", nil, 400, "invalid_argument", "limit must be a whole number from 1 to 500", ""},
			{"limit negative", "GET", "/api/v1/requests?limit=-1", "alice", nil, 400, "invalid_argument", "limit", ""},
			{"limit too big", "GET", "/api/v1/requests?limit=1000", "alice", nil, 400, "invalid_argument", `not "1000"`, ""},
			{"audit limit too big", "GET", "/api/v1/audit?limit=501", "root", nil, 400, "invalid_argument", "limit", ""},
			{"reviews limit zero", "GET", "/api/v1/reviews?limit=0", "ann", nil, 400, "invalid_argument", "limit", ""},
			{"policy versions limit", "GET", "/api/v1/policy/versions?limit=1000", "root", nil, 400, "invalid_argument", "limit", ""},
			{"unknown parameter", "GET", "/api/v1/requests?requestor=x", "alice", nil, 400, "invalid_argument", `unknown query parameter "requestor"`, ""},
			{"bad time", "GET", "/api/v1/audit?since=yesterday", "root", nil, 400, "invalid_argument", "RFC 3339", ""},
			{"bad cursor", "GET", "/api/v1/requests?cursor=nope", "alice", nil, 400, "invalid_argument", "cursor", ""},
			{"bad duration", "POST", "/api/v1/requests", "bob", map[string]string{"resource": "crm-notes", "duration": "soon", "reason": "x"}, 400, "invalid_argument", "not a duration", ""},
			{"unknown field", "POST", "/api/v1/requests", "bob", `{"resource":"crm-notes","duration":"1h","reason":"x","admin":true}`, 400, "invalid_argument", "unknown field", ""},
			// 401
			{"no token", "GET", "/api/v1/requests", "", nil, 401, "unauthenticated", "missing Authorization", ""},
			{"unknown token", "GET", "/api/v1/requests", "jit_nope", nil, 401, "unauthenticated", "invalid or expired", ""},
			// 403
			{"not an approver", "POST", "/api/v1/requests/" + pending + "/approve", "root", nil, 403, "forbidden", "not an approver", ""},
			{"own request", "POST", "/api/v1/requests/" + pending + "/approve", "alice", nil, 403, "forbidden", "your own request", ""},
			// 404
			{"unknown request", "GET", "/api/v1/requests/01900000-0000-7000-8000-000000000000", "root", nil, 404, "not_found", "not found", ""},
			{"unknown endpoint", "GET", "/api/v1/nothing", "alice", nil, 404, "not_found", "no such endpoint", ""},
			{"unknown endpoint, any method", "DELETE", "/api/v1/nothing/else", "alice", nil, 404, "not_found", "no such endpoint", ""},
			// 405
			{"delete a request", "DELETE", "/api/v1/requests/" + pending, "alice", nil, 405, "method_not_allowed", "not allowed", "GET"},
			{"get an action", "GET", "/api/v1/requests/" + pending + "/approve", "carol", nil, 405, "method_not_allowed", "not allowed", "POST"},
			{"put reviews", "PUT", "/api/v1/reviews", "ann", nil, 405, "method_not_allowed", "not allowed", "GET, POST"},
			{"no token, wrong method", "PATCH", "/api/v1/audit/verify", "", nil, 405, "method_not_allowed", "not allowed", "GET"},
			// 409
			{"invalid state", "POST", "/api/v1/requests/" + denied + "/approve", "dave", nil, 409, "invalid_state", "request is denied", ""},
			{"duplicate approval", "POST", "/api/v1/requests/" + pending + "/approve", "carol", nil, 409, "duplicate_approval", "already approved", ""},
			{"already live", "POST", "/api/v1/requests", "bob", map[string]string{"resource": "kb-drafts", "duration": "1h", "reason": "x"}, 409, "already_live", "extend that grant instead of asking again", ""},
			{"extend what is not live", "POST", "/api/v1/requests/" + denied + "/extend", "bob", map[string]string{"duration": "1h", "reason": "x"}, 409, "invalid_state", "request is denied; only a live grant can be extended", ""},
			{"extend beyond max_duration", "POST", "/api/v1/requests/" + live + "/extend", "bob", map[string]string{"duration": "25h", "reason": "x"}, 422, "policy_violation", "longer than the maximum of 24h", ""},
			{"start_at in the past", "POST", "/api/v1/requests", "alice", map[string]string{"resource": "crm-notes", "duration": "1h", "reason": "x", "start_at": "2026-11-22T09:00:00Z"}, 422, "policy_violation", "start_at 2026-11-22T09:00:00Z is in the past", ""},
			// 413
			{"too large", "POST", "/api/v1/requests", "bob", big, 413, "payload_too_large", "too large", ""},
			// 422
			{"unknown resource", "POST", "/api/v1/requests", "bob", map[string]string{"resource": "payroll", "duration": "1h", "reason": "x"}, 422, "policy_violation", `unknown resource "payroll"`, ""},
			{"review of unknown resource", "POST", "/api/v1/reviews", "ann", map[string]string{"since": since, "until": until, "resource": "nope"}, 422, "unprocessable", `unknown resource "nope"`, ""},
			{"review of unknown person", "POST", "/api/v1/reviews", "ann", map[string]string{"since": since, "until": until, "person": "nobody@example.com"}, 422, "unprocessable", `unknown person "nobody@example.com"`, ""},
			{"follow-up on no request", "POST", "/api/v1/reviews/" + rid + "/followups", "ann", map[string]string{"kind": "request", "ref": "nonexistent", "note": "n"}, 422, "unprocessable", `"nonexistent" names no request`, ""},
			{"follow-up on an unknown request id", "POST", "/api/v1/reviews/" + rid + "/followups", "ann", map[string]string{"kind": "request", "ref": "01900000-0000-7000-8000-000000000000", "note": "n"}, 422, "unprocessable", "names no request", ""},
			{"follow-up on no flag", "POST", "/api/v1/reviews/" + rid + "/followups", "ann", map[string]string{"kind": "flag", "ref": "no-such-flag", "note": "n"}, 422, "unprocessable", "names no flag", ""},
			{"follow-up on no person", "POST", "/api/v1/reviews/" + rid + "/followups", "ann", map[string]string{"kind": "person", "ref": "nobody@example.com", "note": "n"}, 422, "unprocessable", `"nobody@example.com" names no person`, ""},
			{"follow-up on no resource", "POST", "/api/v1/reviews/" + rid + "/followups", "ann", map[string]string{"kind": "resource", "ref": "nope", "note": "n"}, 422, "unprocessable", `"nope" names no resource`, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before, _, _ := db.ListRequests(context.Background(), workflow.RequestQuery{All: true, Limit: 100})
				r := e.call(t, tc.method, tc.path, tc.who, tc.body)
				if r.status != tc.status || r.errCode() != tc.code || !strings.Contains(r.errMessage(), tc.msg) {
					t.Fatalf("got %d %s, want %d %s containing %q", r.status, r.raw, tc.status, tc.code, tc.msg)
				}
				if got := r.header.Get("Allow"); got != tc.allow {
					t.Fatalf("Allow: %q, want %q", got, tc.allow)
				}
				after, _, _ := db.ListRequests(context.Background(), workflow.RequestQuery{All: true, Limit: 100})
				for i := range after {
					if len(after) != len(before) || after[i].Version != before[i].Version {
						t.Fatal("a refused call changed stored requests")
					}
				}
			})
		}
		// The refused follow-ups were not stored.
		if r := e.call(t, "GET", "/api/v1/reviews/"+rid, "ann", nil); r.status != 200 || len(r.body["follow_ups"].([]any)) != 0 {
			t.Fatalf("review after refused follow-ups: %d %s", r.status, r.raw)
		}
		// The limits that are allowed still work.
		for _, path := range []string{"/api/v1/requests?limit=1", "/api/v1/requests?limit=500", "/api/v1/audit?limit=500"} {
			if r := e.call(t, "GET", path, "root", nil); r.status != 200 {
				t.Errorf("GET %s: %d %s", path, r.status, r.raw)
			}
		}
		// Known things are accepted: a follow-up on a real request, flag,
		// person and resource; reviews of a policy resource and person.
		for _, item := range [][2]string{{"request", pending}, {"person", "alice@example.com"}, {"resource", "crm-payments"}} {
			if r := e.call(t, "POST", "/api/v1/reviews/"+rid+"/followups", "ann", map[string]string{"kind": item[0], "ref": item[1], "note": "n"}); r.status != 201 {
				t.Errorf("follow-up on %s %s: %d %s", item[0], item[1], r.status, r.raw)
			}
		}
		for _, scope := range [][2]string{{"resource", "crm-notes"}, {"person", "bob@example.com"}} {
			if r := e.call(t, "POST", "/api/v1/reviews", "ann", map[string]string{"since": since, "until": until, scope[0]: scope[1]}); r.status != 201 {
				t.Errorf("review of %s %s: %d %s", scope[0], scope[1], r.status, r.raw)
			}
		}
	})
}

// TestAPIErrorTableEdges: the lines that need their own server: 429 with
// Retry-After and 503.
func TestAPIErrorTableEdges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		srv := web.New(web.Config{Service: e.svc, Tokens: db, Logger: slog.New(slog.DiscardHandler),
			Edge:  httpkit.EdgeConfig{APIPerMinute: 1},
			Ready: func(context.Context) error { return errors.New("database is down") }})
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		e.srv = hs
		if r := e.call(t, "GET", "/api/v1/me", "alice", nil); r.status != 200 {
			t.Fatalf("first call: %d %s", r.status, r.raw)
		}
		r := e.call(t, "GET", "/api/v1/me", "alice", nil)
		if r.status != 429 || r.errCode() != "rate_limited" || r.header.Get("Retry-After") == "" {
			t.Fatalf("second call: %d %v %s", r.status, r.header, r.raw)
		}
		r = e.send(t, "GET", "/readyz", "", nil)
		if r.status != 503 || r.errCode() != "unavailable" {
			t.Fatalf("readyz: %d %s", r.status, r.raw)
		}
	})
}

// TestAPIErrorTableIdempotencyKey: the table's lines for a bad
// Idempotency-Key (400, naming the header) and a key used for another
// request (422). Neither files anything.
func TestAPIErrorTableIdempotencyKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		body := `{"resource":"crm-notes","duration":"1h","reason":"case 80"}`
		if r := e.callKey(t, "POST", "/api/v1/requests", "bob", keyOf("used"), body); r.status != 201 {
			t.Fatalf("first: %d %s", r.status, r.raw)
		}
		cases := []struct {
			name   string
			keys   []string
			body   string
			status int
			code   string
			msg    string
		}{
			{"empty", []string{""}, body, 400, "invalid_argument", "header Idempotency-Key is empty"},
			{"only quotes", []string{`""`}, body, 400, "invalid_argument", "header Idempotency-Key is empty"},
			{"too long", []string{strings.Repeat("k", 256)}, body, 400, "invalid_argument", "header Idempotency-Key is 256 characters long; at most 255"},
			{"control character", []string{"a\tb"}, body, 400, "invalid_argument", "header Idempotency-Key contains a control character (U+0009)"},
			{"not UTF-8", []string{"a\xffb"}, body, 400, "invalid_argument", "header Idempotency-Key is not valid UTF-8"},
			{"bad quoted string", []string{`"a"b"`}, body, 400, "invalid_argument", "header Idempotency-Key is not a valid quoted string"},
			{"two headers", []string{"a", "b"}, body, 400, "invalid_argument", "send one Idempotency-Key header, not 2"},
			{"another body", []string{"used"}, strings.Replace(body, "1h", "2h", 1), 422, "idempotency_key_mismatch", `Idempotency-Key "used" was used for another request`},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/requests", strings.NewReader(tc.body))
				req.Header.Set("Authorization", "Bearer "+e.tokens["alice"])
				if tc.name == "another body" {
					req.Header.Set("Authorization", "Bearer "+e.tokens["bob"])
				}
				for _, k := range tc.keys {
					req.Header.Add(api.HeaderIdempotencyKey, k)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var eb httpkit.ErrorBody
				if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tc.status || string(eb.Error.Code) != tc.code || !strings.Contains(eb.Error.Message, tc.msg) {
					t.Fatalf("got %d %+v, want %d %s containing %q", resp.StatusCode, eb, tc.status, tc.code, tc.msg)
				}
			})
		}
		if a, b := countRequests(t, db, "alice@example.com"), countRequests(t, db, "bob@example.com"); a != 0 || b != 1 {
			t.Fatalf("refused calls filed: alice %d, bob %d requests", a, b)
		}
		// 255 characters is allowed.
		if r := e.callKey(t, "POST", "/api/v1/requests", "alice", keyOf(strings.Repeat("k", 255)), body); r.status != 201 {
			t.Fatalf("255 characters: %d %s", r.status, r.raw)
		}
	})
}

var headRE = regexp.MustCompile(`^[1-9][0-9]*:[0-9a-f]{64}$`)

// TestVerifyHeadAndSignOff: verify answers the real head, and a sign-off
// answers with the review's follow-ups; separation of duties holds.
func TestVerifyHeadAndSignOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newOversightEnv(t, db)
		id := e.create(t, "bob", "crm-payments", "1h")
		e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "carol", nil)
		e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "dave", nil)
		since, until := "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z"

		r := e.call(t, "GET", "/api/v1/audit/verify", "ann", nil)
		head := r.str("head")
		if r.status != 200 || !headRE.MatchString(head) {
			t.Fatalf("verify: %d %s", r.status, r.raw)
		}
		recs, err := db.AuditChain(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		last := recs[len(recs)-1]
		if want := (audit.Checkpoint{ID: last.ID, Hash: last.Hash}).String(); head != want {
			t.Fatalf("head %s, want the newest record %s", head, want)
		}
		// The head is a checkpoint a later verify accepts.
		if r := e.call(t, "GET", "/api/v1/audit/verify?checkpoint="+head, "ann", nil); r.status != 200 || r.body["ok"] != true {
			t.Fatalf("verify with its own head: %d %s", r.status, r.raw)
		}

		rid := e.call(t, "POST", "/api/v1/reviews", "carol", map[string]string{"since": since, "until": until, "resource": "crm-payments"}).str("id")
		for _, note := range []string{"approved fast", "check the ticket"} {
			if r := e.call(t, "POST", "/api/v1/reviews/"+rid+"/followups", "carol", map[string]string{"kind": "request", "ref": id, "note": note}); r.status != 201 {
				t.Fatalf("follow-up: %d %s", r.status, r.raw)
			}
		}
		// Separation of duties: the approvers (carol, dave) may not sign
		// off; the holder (bob) may not even read it; erin, an approver
		// who approved none of it, may.
		for _, who := range []string{"carol", "dave"} {
			r := e.call(t, "POST", "/api/v1/reviews/"+rid+"/signoff", who, map[string]string{"notes": "ok"})
			if r.status != 403 || r.errCode() != "forbidden" || !strings.Contains(r.errMessage(), "separation of duties") {
				t.Fatalf("%s signs off: %d %s", who, r.status, r.raw)
			}
		}
		if r := e.call(t, "POST", "/api/v1/reviews/"+rid+"/signoff", "bob", map[string]string{"notes": "ok"}); r.status != 403 && r.status != 404 {
			t.Fatalf("bob signs off: %d %s", r.status, r.raw)
		}
		r = e.call(t, "POST", "/api/v1/reviews/"+rid+"/signoff", "erin", map[string]string{"notes": "ok"})
		if r.status != 200 || r.str("state") != "signed_off" {
			t.Fatalf("erin signs off: %d %s", r.status, r.raw)
		}
		if fu, _ := r.body["follow_ups"].([]any); len(fu) != 2 {
			t.Fatalf("sign-off answer has %d follow-ups, want 2: %s", len(fu), r.raw)
		}
	})
}
