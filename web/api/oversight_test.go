package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/metrics"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/workflow"
)

// newOversightEnv is newAPIEnv's server with the oversight routes mounted
// and ann@example.com as a reviewer.
func newOversightEnv(t *testing.T, db *store.DB) *apiEnv {
	t.Helper()
	src := "reviewers: [auditors]\n" + strings.Replace(apiPolicy, "groups:\n", "groups:\n  auditors: [ann@example.com]\n", 1)
	pol, err := workflow.ParsePolicy("api.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e := &apiEnv{db: db, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), tokens: map[string]string{}}
	e.svc = workflow.NewService(db, pol, workflow.Options{Now: e.clock})
	srv := web.New(web.Config{Service: e.svc, Tokens: db, Idempotency: db, Logger: slog.New(slog.DiscardHandler), BodyLimit: "8K"})
	e.web = srv
	m := metrics.New(db, e.clock)
	e.svc.OnCommit(m.Committed)
	srv.MountOversight(api.Oversight{Reviews: review.New(db, e.svc.Policy, review.Options{Now: e.clock}), Audit: db, Metrics: m.Handler(),
		Status: func() *audit.Result { return nil }})
	e.srv = httptest.NewServer(srv)
	t.Cleanup(e.srv.Close)
	for _, who := range []string{"alice", "bob", "carol", "dave", "erin", "root", "ann"} {
		secret, _, err := db.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, e.now)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[who] = secret
	}
	return e
}

func (e *apiEnv) get(t *testing.T, path, who string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAPIOversight(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newOversightEnv(t, db)
		// Bob's high-tier request is approved in seconds: two rubber-stamp flags.
		id := e.create(t, "bob", "crm-payments", "1h")
		e.advance(3 * time.Second)
		e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "carol", nil)
		e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "dave", nil)
		e.advance(time.Hour)
		since, until := "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z"

		// Reports: reviewers and admins; approvers for their resources.
		r := e.call(t, "GET", "/api/v1/reviews/report?since="+since+"&until="+until, "ann", nil)
		grants, _ := r.body["grants"].([]any)
		flags, _ := r.body["flags"].([]any)
		if r.status != 200 || len(grants) != 1 || len(flags) != 2 {
			t.Fatalf("report: %d %s", r.status, r.raw)
		}
		if r := e.call(t, "GET", "/api/v1/reviews/report?since="+since+"&until="+until+"&resource=crm-payments", "carol", nil); r.status != 200 {
			t.Fatalf("approver's report: %d %s", r.status, r.raw)
		}
		for _, tc := range []struct {
			who, path string
			status    int
			code      string
		}{
			{"bob", "/api/v1/reviews/report?since=" + since + "&until=" + until, 403, "forbidden"},
			{"carol", "/api/v1/reviews/report?since=" + since + "&until=" + until, 403, "forbidden"},
			{"ann", "/api/v1/reviews/report?since=" + until + "&until=" + since, 400, "invalid_argument"},
			{"ann", "/api/v1/reviews/report?since=yesterday&until=" + until, 400, "invalid_argument"},
			{"ann", "/api/v1/reviews/report?since=" + since, 400, "invalid_argument"},
			{"ann", "/api/v1/reviews/report?since=" + since + "&until=" + until + "&resource=a&person=b", 400, "invalid_argument"},
			{"ann", "/api/v1/reviews/report?since=" + since + "&until=" + until + "&team=x", 400, "invalid_argument"},
			{"ann", "/api/v1/reviews/not-a-uuid", 404, "not_found"},
			{"ann", "/api/v1/flags?kind=ufo", 400, "invalid_argument"},
			{"bob", "/api/v1/flags", 403, "forbidden"},
			{"bob", "/api/v1/reviews", 403, "forbidden"}, // approves nothing: may read no review
			{"bob", "/api/v1/dashboard", 403, "forbidden"},
			{"ann", "/api/v1/dashboard/charts/pie", 404, "not_found"},
			{"bob", "/api/v1/audit/export", 403, "forbidden"},
			{"ann", "/api/v1/audit/export?format=xml", 400, "invalid_argument"},
			{"ann", "/api/v1/audit/verify?checkpoint=1:zz", 400, "invalid_argument"},
			{"", "/api/v1/audit/verify", 401, "unauthenticated"},
		} {
			if r := e.call(t, "GET", tc.path, tc.who, nil); r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("%s GET %s: %d %s", tc.who, tc.path, r.status, r.raw)
			}
		}

		// A review: open, mark, sign off, resolve.
		r = e.call(t, "POST", "/api/v1/reviews", "ann", map[string]string{"since": since, "until": until})
		if r.status != 201 || r.str("state") != "open" {
			t.Fatalf("open: %d %s", r.status, r.raw)
		}
		rid := r.str("id")
		if r := e.call(t, "POST", "/api/v1/reviews", "ann", `{"since":"`+since+`"}`); r.status != 400 {
			t.Errorf("open without until: %d %s", r.status, r.raw)
		}
		if r := e.call(t, "POST", "/api/v1/reviews", "bob", map[string]string{"since": since, "until": until}); r.status != 403 {
			t.Errorf("bob opening a review: %d", r.status)
		}
		r = e.call(t, "POST", "/api/v1/reviews/"+rid+"/followups", "ann", map[string]string{"kind": "request", "ref": id, "note": "approved in 3 seconds"})
		if r.status != 201 {
			t.Fatalf("follow-up: %d %s", r.status, r.raw)
		}
		fid := r.str("id")
		if r := e.call(t, "POST", "/api/v1/reviews/"+rid+"/followups", "ann", map[string]string{"kind": "team", "ref": "x", "note": "n"}); r.status != 400 {
			t.Errorf("bad item: %d %s", r.status, r.raw)
		}
		if r := e.call(t, "POST", "/api/v1/reviews/"+rid+"/followups", "ann", `{"kind":"request","ref":"x","note":"n","extra":1}`); r.status != 400 {
			t.Errorf("unknown field: %d %s", r.status, r.raw)
		}
		r = e.call(t, "POST", "/api/v1/reviews/"+rid+"/signoff", "ann", map[string]string{"notes": "one follow-up; card 4111111111111111 seen"})
		if r.status != 200 || r.str("state") != "signed_off" || r.str("signed_off_by") != "ann@example.com" {
			t.Fatalf("sign off: %d %s", r.status, r.raw)
		}
		// The notes are stored masked, and the answer says so.
		if n, _ := r.body["notices"].([]any); r.str("notes") != "one follow-up; card [card ending 1111] seen" || len(n) != 1 || n[0] != "a card number in your notes was masked" {
			t.Fatalf("sign-off notes: %s", r.raw)
		}
		if r := e.call(t, "POST", "/api/v1/reviews/"+rid+"/signoff", "root", nil); r.status != 409 || r.errCode() != "invalid_state" {
			t.Errorf("second sign-off: %d %s", r.status, r.raw)
		}
		if r := e.call(t, "POST", "/api/v1/followups/"+fid+"/resolve", "root", map[string]string{"resolution": "talked to carol"}); r.status != 200 || r.str("resolved_by") != "root@example.com" {
			t.Errorf("resolve: %d %s", r.status, r.raw)
		}
		r = e.call(t, "GET", "/api/v1/reviews/"+rid, "ann", nil)
		if fu, _ := r.body["follow_ups"].([]any); r.status != 200 || len(fu) != 1 || r.body["changed_since_sign_off"] != false || r.body["report"] == nil {
			t.Fatalf("get review: %d %s", r.status, r.raw)
		}
		if r := e.call(t, "GET", "/api/v1/reviews/"+rid, "bob", nil); r.status != 404 {
			t.Errorf("bob reading the review: %d", r.status)
		}
		if r := e.call(t, "GET", "/api/v1/reviews", "ann", nil); len(r.body["reviews"].([]any)) != 1 {
			t.Errorf("list: %s", r.raw)
		}
		if r := e.call(t, "GET", "/api/v1/reviews", "carol", nil); r.status != 200 || len(r.body["reviews"].([]any)) != 0 {
			t.Errorf("an approver lists reviews of everything: %s", r.raw)
		}
		// Reviewers read every request (read only).
		if r := e.call(t, "GET", "/api/v1/requests/"+id, "ann", nil); r.status != 200 {
			t.Errorf("a reviewer reading a request: %d %s", r.status, r.raw)
		}
		if r := e.call(t, "POST", "/api/v1/requests/"+id+"/revoke", "ann", map[string]string{"comment": "x"}); r.status != 403 {
			t.Errorf("a reviewer revoking: %d %s", r.status, r.raw)
		}

		// Flags and the dashboard.
		r = e.call(t, "GET", "/api/v1/flags?since="+since+"&until="+until+"&kind=rubber_stamp", "ann", nil)
		if fl, _ := r.body["flags"].([]any); r.status != 200 || len(fl) != 2 || !strings.Contains(r.raw, id) {
			t.Fatalf("flags: %d %s", r.status, r.raw)
		}
		r = e.call(t, "GET", "/api/v1/dashboard?since="+since+"&until="+until, "root", nil)
		if r.status != 200 || r.body["decided"] != float64(1) {
			t.Fatalf("dashboard: %d %s", r.status, r.raw)
		}
		status, h, body := e.get(t, "/api/v1/dashboard/charts/decisions?since="+since+"&until="+until, "root")
		if status != 200 || h.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(body, "<svg") {
			t.Fatalf("chart: %d %s %.80s", status, h.Get("Content-Type"), body)
		}

		// The export streams JSON lines that verify, and is itself audited.
		status, h, body = e.get(t, "/api/v1/audit/export", "ann")
		if status != 200 || h.Get("Content-Type") != "application/x-ndjson" || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
			t.Fatalf("export: %d %v", status, h)
		}
		if res, err := audit.VerifyExport(strings.NewReader(body), false, nil); err != nil || !res.OK || res.Records < 8 {
			t.Fatalf("exported log: %+v %v", res, err)
		}
		status, _, body = e.get(t, "/api/v1/audit/export?format=csv&person=bob@example.com", "root")
		if status != 200 || !strings.HasPrefix(body, "id,at,actor") || strings.Contains(body, "ann@example.com") {
			t.Fatalf("csv export: %d\n%s", status, body)
		}
		recs, _, _ := db.ListAudit(context.Background(), workflow.AuditQuery{Action: review.ActionAuditExport, Limit: 10})
		if len(recs) != 2 || recs[0].Actor != "root@example.com" || !strings.Contains(recs[0].Reason, "person bob@example.com") {
			t.Fatalf("export not audited: %+v", recs)
		}
		r = e.call(t, "GET", "/api/v1/audit/verify", "ann", nil)
		if r.status != 200 || r.body["ok"] != true {
			t.Fatalf("verify: %d %s", r.status, r.raw)
		}
		// Metrics are served (no token configured here).
		status, _, body = e.get(t, "/metrics", "")
		if status != 200 || !strings.Contains(body, `jitaccess_decision_seconds_count{outcome="approved",tier="high"} 1`) {
			t.Fatalf("metrics: %d", status)
		}
	})
}
