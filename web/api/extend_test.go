package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestAPIExtend: POST /requests/{id}/extend answers 201 with a request of
// its own (extends: the grant), decided with the usual approve; a new
// request for a resource held live is 409 already_live naming the grant;
// refusals are 409 (not live) and 422 (over max_total_duration).
func TestAPIExtend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		grant := e.create(t, "alice", "crm-payments", "2h") // two approvals
		for _, who := range []string{"carol", "dave"} {
			if r := e.call(t, "POST", "/api/v1/requests/"+grant+"/approve", who, nil); r.status != 200 {
				t.Fatalf("approve: %d %s", r.status, r.raw)
			}
		}
		r := e.call(t, "POST", "/api/v1/requests", "alice", map[string]string{"resource": "crm-payments", "duration": "1h", "reason": "again"})
		if r.status != http.StatusConflict || r.errCode() != "already_live" {
			t.Fatalf("second request: %d %s", r.status, r.raw)
		}
		if id, _ := r.body["error"].(map[string]any)["request_id"].(string); id != grant {
			t.Fatalf("already_live names %q, want %q", id, grant)
		}

		r = e.call(t, "POST", "/api/v1/requests/"+grant+"/extend", "alice", map[string]string{"duration": "30m", "reason": "the call runs long"})
		if r.status != http.StatusCreated || r.str("extends") != grant || r.str("id") == grant || r.str("state") != "pending" {
			t.Fatalf("extend: %d %s", r.status, r.raw)
		}
		ext := r.str("id")
		if r.header.Get("Location") != "/api/v1/requests/"+ext {
			t.Fatalf("Location %q", r.header.Get("Location"))
		}
		for _, who := range []string{"carol", "dave"} {
			if r := e.call(t, "POST", "/api/v1/requests/"+ext+"/approve", who, nil); r.status != 200 {
				t.Fatalf("approve extension: %d %s", r.status, r.raw)
			}
		}
		g := e.call(t, "GET", "/api/v1/requests/"+grant, "alice", nil)
		if g.body["extended_seconds"].(float64) != 1800 || g.str("state") != "approved" || g.body["extends"] != nil {
			t.Fatalf("grant after extension: %s", g.raw)
		}
		want := e.clock().Add(150 * time.Minute).Format(time.RFC3339)
		if got := g.str("expires_at"); got != want {
			t.Fatalf("expires_at %s, want %s", got, want)
		}
		if x := e.call(t, "GET", "/api/v1/requests/"+ext, "alice", nil); x.str("state") != "extended" {
			t.Fatalf("extension: %s", x.raw)
		}

		for _, tc := range []struct {
			name, who, id string
			body          map[string]string
			status        int
			code          string
		}{
			{"over max_total_duration", "alice", grant, map[string]string{"duration": "2h", "reason": "x"}, 422, "policy_violation"},
			{"bad duration", "alice", grant, map[string]string{"duration": "soon", "reason": "x"}, 400, "invalid_argument"},
			{"not the requester", "carol", grant, map[string]string{"duration": "1m", "reason": "x"}, 403, "forbidden"},
			{"someone else's", "bob", grant, map[string]string{"duration": "1m", "reason": "x"}, 404, "not_found"},
			{"an extension", "alice", ext, map[string]string{"duration": "1m", "reason": "x"}, 409, "invalid_state"},
		} {
			if r := e.call(t, "POST", "/api/v1/requests/"+tc.id+"/extend", tc.who, tc.body); r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("%s: %d %s", tc.name, r.status, r.raw)
			}
		}
		if r := e.call(t, "POST", "/api/v1/requests/"+grant+"/revoke", "carol", map[string]string{"reason": "done"}); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		r = e.call(t, "POST", "/api/v1/requests/"+grant+"/extend", "alice", map[string]string{"duration": "1m", "reason": "x"})
		if r.status != 409 || r.errCode() != "invalid_state" || r.errMessage() != "request is revoked; only a live grant can be extended" {
			t.Fatalf("extend revoked: %d %s", r.status, r.raw)
		}
	})
}

// TestAPIStartAt: start_at schedules access; 422 in the past or beyond
// max_start_delay, 400 when it is no time.
func TestAPIStartAt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		start := e.clock().Add(2 * time.Hour).Format(time.RFC3339)
		r := e.call(t, "POST", "/api/v1/requests", "bob", map[string]string{"resource": "kb-drafts", "duration": "1h", "reason": "x", "start_at": start})
		if r.status != 201 || r.str("state") != "scheduled" || r.str("start_at") != start ||
			r.str("expires_at") != e.clock().Add(3*time.Hour).Format(time.RFC3339) {
			t.Fatalf("scheduled: %d %s", r.status, r.raw)
		}
		for _, tc := range []struct {
			start, code string
			status      int
		}{
			{e.clock().Add(-time.Hour).Format(time.RFC3339), "policy_violation", 422},
			{e.clock().Add(8 * 24 * time.Hour).Format(time.RFC3339), "policy_violation", 422},
			{"tomorrow", "invalid_argument", 400},
		} {
			r := e.call(t, "POST", "/api/v1/requests", "alice", map[string]string{"resource": "crm-notes", "duration": "1h", "reason": "x", "start_at": tc.start})
			if r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("start_at %s: %d %s", tc.start, r.status, r.raw)
			}
		}
		if r := e.call(t, "GET", "/api/v1/requests?state=scheduled", "bob", nil); r.status != 200 || len(r.body["requests"].([]any)) != 1 {
			t.Fatalf("list scheduled: %d %s", r.status, r.raw)
		}
	})
}
