package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/workflow"
)

// callKey is call with an Idempotency-Key (none when key is nil), and the
// raw body as sent.
func (e *apiEnv) callKey(t *testing.T, method, path, who string, key *string, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	if key != nil {
		req.Header.Set(api.HeaderIdempotencyKey, *key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func keyOf(s string) *string { return &s }

func replayed(r response) bool { return r.header.Get(api.HeaderIdempotentReplayed) == "true" }

func countRequests(t *testing.T, db *store.DB, requester string) int {
	t.Helper()
	reqs, _, err := db.ListRequests(context.Background(), workflow.RequestQuery{All: true, Requester: requester, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(reqs)
}

func countKeys(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm().Raw(`SELECT count(*) FROM idempotency_keys`).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIdempotencyKeyCreate: a retried create files once and answers the
// first answer again, also after the request was cancelled; another body
// or endpoint with the key is 422; keys are per caller; a day later the
// key is free.
func TestIdempotencyKeyCreate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		body := `{"resource":"crm-notes","duration":"1h","reason":"case 77"}`
		k := keyOf("8e03978e-40d5-43e8-bc93-6894a57f9324")

		first := e.callKey(t, "POST", "/api/v1/requests", "alice", k, body)
		if first.status != 201 || replayed(first) {
			t.Fatalf("first: %d %v %s", first.status, first.header, first.raw)
		}
		id := first.str("id")
		again := e.callKey(t, "POST", "/api/v1/requests", "alice", k, body)
		if again.status != 201 || !replayed(again) || again.raw != first.raw ||
			again.header.Get("Location") != "/api/v1/requests/"+id || !strings.HasPrefix(again.header.Get("Content-Type"), "application/json") {
			t.Fatalf("repeat: %d %v %s; first %s", again.status, again.header, again.raw, first.raw)
		}
		// The draft's quoted form names the same key.
		if r := e.callKey(t, "POST", "/api/v1/requests", "alice", keyOf(`"`+*k+`"`), body); r.status != 201 || !replayed(r) || r.raw != first.raw {
			t.Fatalf("quoted key: %d %s", r.status, r.raw)
		}
		if n := countRequests(t, db, "alice@example.com"); n != 1 {
			t.Fatalf("%d requests filed, want 1", n)
		}

		// Another body, or another endpoint, with the key.
		for _, c := range []struct{ path, body string }{
			{"/api/v1/requests", `{"resource":"crm-notes","duration":"2h","reason":"case 77"}`},
			{"/api/v1/requests/" + id + "/cancel", body},
		} {
			r := e.callKey(t, "POST", c.path, "alice", k, c.body)
			if r.status != 422 || r.errCode() != "idempotency_key_mismatch" || !strings.Contains(r.errMessage(), *k) {
				t.Fatalf("POST %s %s: %d %s", c.path, c.body, r.status, r.raw)
			}
		}
		// Bob's key of the same name is his own.
		if r := e.callKey(t, "POST", "/api/v1/requests", "bob", k, body); r.status != 201 || replayed(r) || r.str("requester") != "bob@example.com" {
			t.Fatalf("bob: %d %s", r.status, r.raw)
		}

		// Cancel, then retry the create: the original answer, not a new
		// request.
		if r := e.callKey(t, "POST", "/api/v1/requests/"+id+"/cancel", "alice", keyOf("cancel-1"), ""); r.status != 200 || r.str("state") != "cancelled" {
			t.Fatalf("cancel: %d %s", r.status, r.raw)
		}
		if r := e.callKey(t, "POST", "/api/v1/requests", "alice", k, body); r.status != 201 || !replayed(r) || r.raw != first.raw {
			t.Fatalf("create after cancel: %d %s", r.status, r.raw)
		}
		if n := countRequests(t, db, "alice@example.com"); n != 1 {
			t.Fatalf("after cancel and retry: %d requests, want 1", n)
		}
		// The cancel's answer replays too (not 409 "already cancelled").
		if r := e.callKey(t, "POST", "/api/v1/requests/"+id+"/cancel", "alice", keyOf("cancel-1"), ""); r.status != 200 || !replayed(r) {
			t.Fatalf("cancel again: %d %s", r.status, r.raw)
		}

		// A final refusal (4xx) is stored like a success.
		tooLong := `{"resource":"crm-payments","duration":"3h","reason":"case 78"}`
		r1 := e.callKey(t, "POST", "/api/v1/requests", "alice", keyOf("too-long"), tooLong)
		r2 := e.callKey(t, "POST", "/api/v1/requests", "alice", keyOf("too-long"), tooLong)
		if r1.status != 422 || r1.errCode() != "policy_violation" || replayed(r1) || r2.status != 422 || !replayed(r2) || r2.raw != r1.raw {
			t.Fatalf("policy violation: %d %s, then %d %v %s", r1.status, r1.raw, r2.status, r2.header, r2.raw)
		}

		// Without a key, nothing is stored and a create after the cancel
		// files again: the header is what makes a retry safe.
		keys := countKeys(t, db)
		fresh := e.callKey(t, "POST", "/api/v1/requests", "alice", nil, body)
		if fresh.status != 201 || replayed(fresh) {
			t.Fatalf("no key: %d %s", fresh.status, fresh.raw)
		}
		if countKeys(t, db) != keys || countRequests(t, db, "alice@example.com") != 2 {
			t.Fatal("a create without a key was stored, or did not file")
		}
		if r := e.callKey(t, "POST", "/api/v1/requests/"+fresh.str("id")+"/cancel", "alice", nil, ""); r.status != 200 {
			t.Fatalf("cancel: %d %s", r.status, r.raw)
		}

		// A day later the key is forgotten: the same create files anew.
		e.advance(api.IdempotencyKeep)
		if r := e.callKey(t, "POST", "/api/v1/requests", "alice", k, body); r.status != 201 || replayed(r) || r.str("id") == id {
			t.Fatalf("a day later: %d %s", r.status, r.raw)
		}
	})
}

// TestIdempotencyKeyConcurrent: the same create sent at once, many times:
// it files once, and every answer is that one or "in use".
func TestIdempotencyKeyConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		body := `{"resource":"crm-notes","duration":"1h","reason":"case 79"}`
		answers := make([]response, 6)
		var wg sync.WaitGroup
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = e.callKey(t, "POST", "/api/v1/requests", "alice", keyOf("burst"), body)
			}()
		}
		wg.Wait()
		ids := map[string]bool{}
		for _, r := range answers {
			switch {
			case r.status == 201:
				ids[r.str("id")] = true
			case r.status == 409 && r.errCode() == "idempotency_key_in_use":
			default:
				t.Fatalf("answer %d %s", r.status, r.raw)
			}
		}
		if len(ids) != 1 || countRequests(t, db, "alice@example.com") != 1 {
			t.Fatalf("ids %v, %d requests filed", ids, countRequests(t, db, "alice@example.com"))
		}
	})
}

// TestIdempotencyKeyInFlight holds a first request in its handler: a
// repeat is 409, another body 422; once its lock has lapsed (a crashed
// request), a repeat runs, and the first, answering late, does not
// overwrite the repeat's stored answer.
func TestIdempotencyKeyInFlight(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		var calls atomic.Int32
		started, release := make(chan struct{}, 4), make(chan struct{})
		releaseFirst := sync.OnceFunc(func() { close(release) })
		t.Cleanup(releaseFirst) // before the server closes, should a check fail
		e.web.Echo().POST("/api/v1/test/slow", func(c echo.Context) error {
			n := calls.Add(1)
			if n == 1 {
				started <- struct{}{}
				<-release
			}
			return c.JSON(http.StatusCreated, map[string]int32{"call": n})
		}, e.web.AuthenticateAPI)

		firstDone := make(chan response, 1)
		go func() { firstDone <- e.callKey(t, "POST", "/api/v1/test/slow", "alice", keyOf("slow"), `{"a":1}`) }()
		<-started
		if r := e.callKey(t, "POST", "/api/v1/test/slow", "alice", keyOf("slow"), `{"a":1}`); r.status != 409 || r.errCode() != "idempotency_key_in_use" {
			t.Fatalf("repeat while running: %d %s", r.status, r.raw)
		}
		if r := e.callKey(t, "POST", "/api/v1/test/slow", "alice", keyOf("slow"), `{"a":2}`); r.status != 422 || r.errCode() != "idempotency_key_mismatch" {
			t.Fatalf("another body while running: %d %s", r.status, r.raw)
		}
		e.advance(api.IdempotencyLock)
		second := e.callKey(t, "POST", "/api/v1/test/slow", "alice", keyOf("slow"), `{"a":1}`)
		if second.status != 201 || replayed(second) || second.raw != `{"call":2}`+"\n" {
			t.Fatalf("repeat after the lock lapsed: %d %q", second.status, second.raw)
		}
		releaseFirst()
		if r := <-firstDone; r.status != 201 || r.raw != `{"call":1}`+"\n" {
			t.Fatalf("first: %d %s", r.status, r.raw)
		}
		if r := e.callKey(t, "POST", "/api/v1/test/slow", "alice", keyOf("slow"), `{"a":1}`); r.status != 201 || !replayed(r) || r.raw != second.raw {
			t.Fatalf("replay: %d %s, want the second's %s", r.status, r.raw, second.raw)
		}
		if calls.Load() != 2 {
			t.Fatalf("%d calls, want 2", calls.Load())
		}
	})
}

// TestIdempotencyKeyNotFinal: answers that are not final release the key
// (5xx, a lost race, a panic), so that the retry runs; the first final
// answer is stored.
func TestIdempotencyKeyNotFinal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		var calls atomic.Int32
		e.web.Echo().POST("/api/v1/test/flaky", func(c echo.Context) error {
			switch calls.Add(1) {
			case 1:
				return &workflow.Error{Code: workflow.CodeUnavailable, Message: "the database is unavailable"}
			case 2:
				return workflow.Errorf(workflow.CodeConflict, "a concurrent change got in the way; retry")
			case 3:
				panic(errors.New("boom"))
			case 4:
				return workflow.Internal(errors.New("bug"), "internal error")
			}
			return c.JSON(http.StatusOK, map[string]string{"ok": "yes"})
		}, e.web.AuthenticateAPI)
		for i, want := range []int{503, 409, 500, 500, 200} {
			r := e.callKey(t, "POST", "/api/v1/test/flaky", "alice", keyOf("flaky"), `{}`)
			if r.status != want || replayed(r) {
				t.Fatalf("call %d: %d %s, want %d", i+1, r.status, r.raw, want)
			}
		}
		r := e.callKey(t, "POST", "/api/v1/test/flaky", "alice", keyOf("flaky"), `{}`)
		if r.status != 200 || !replayed(r) || calls.Load() != 5 {
			t.Fatalf("after the success: %d %s, %d calls", r.status, r.raw, calls.Load())
		}
	})
}

// TestIdempotencyKeyIgnored: GET, and mask and detokenize (their answers
// hold personal data in clear), store nothing.
func TestIdempotencyKeyIgnored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		for range 2 {
			for _, c := range []struct{ method, path, body string }{
				{"GET", "/api/v1/me", ""},
				{"POST", "/api/v1/mask", `{"user":"alice@example.com","resource":"crm-notes","record":{"name":"x"}}`},
				{"POST", "/api/v1/detokenize", `{"user":"alice@example.com","resource":"crm-notes","tokens":["tok_x"]}`},
			} {
				if r := e.callKey(t, c.method, c.path, "helpdesk", keyOf("same"), c.body); replayed(r) || r.status >= 500 {
					t.Fatalf("%s %s: %d %v %s", c.method, c.path, r.status, r.header, r.raw)
				}
			}
		}
		if n := countKeys(t, db); n != 0 {
			t.Fatalf("%d keys stored", n)
		}
	})
}

// TestIdempotencyKeyLockBoundsRequest: a request holding a key may not
// outlive its lock (past it a repeat would run too); a 204 replays empty.
func TestIdempotencyKeyLockBoundsRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		var deadline time.Time
		e.web.Echo().POST("/api/v1/test/deadline", func(c echo.Context) error {
			deadline, _ = c.Request().Context().Deadline()
			return c.NoContent(http.StatusNoContent)
		}, e.web.AuthenticateAPI)
		start := time.Now()
		if r := e.callKey(t, "POST", "/api/v1/test/deadline", "alice", keyOf("d"), ""); r.status != 204 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if deadline.IsZero() || deadline.Before(start) || deadline.After(time.Now().Add(api.IdempotencyLock)) {
			t.Fatalf("deadline %v, want within %s of %v", deadline, api.IdempotencyLock, start)
		}
		if r := e.callKey(t, "POST", "/api/v1/test/deadline", "alice", keyOf("d"), ""); r.status != 204 || !replayed(r) || r.raw != "" {
			t.Fatalf("replay of 204: %d %v %q", r.status, r.header, r.raw)
		}
	})
}
