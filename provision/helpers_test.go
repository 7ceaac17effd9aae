package provision_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

var (
	alice = workflow.User("alice@example.com")
	carol = workflow.User("carol@example.com")
	dave  = workflow.User("dave@example.com")
	root  = workflow.User("root@example.com")
)

const webhookSecret = "a-shared-secret-of-decent-length"

// clock is a settable clock for the service.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a service with the provisioning pipeline on a real database.
type env struct {
	db       *store.DB
	svc      *workflow.Service
	pipeline *provision.Pipeline
	runner   *queue.Runner
	clock    *clock
	vars     map[string]string
}

func newEnv(t *testing.T, db *store.DB, policy string, vars map[string]string) *env {
	t.Helper()
	pol, err := workflow.ParsePolicy("test.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, clock: &clock{now: workflow.Now()}, vars: vars}
	lookup := func(name string) (string, bool) { v, ok := e.vars[name]; return v, ok }
	if err := provision.CheckEnv(pol, lookup); err != nil {
		t.Fatal(err)
	}
	e.svc = workflow.NewService(db, pol, workflow.Options{Now: e.clock.Now})
	e.pipeline = &provision.Pipeline{Store: db, Policy: e.svc.Policy, Provisioners: provision.Builtin(lookup),
		Logger: slog.New(slog.DiscardHandler), Now: e.clock.Now}
	e.svc.OnChange(e.pipeline.Hook)
	e.runner = e.pipeline.Runner(db, 30*time.Second, 50*time.Millisecond)
	e.runner.BaseBackoff = 10 * time.Millisecond
	return e
}

// approve submits a request for who and has carol (and dave, for two-person
// resources) approve it.
func (e *env) approve(t *testing.T, who workflow.Principal, resource string) *workflow.Request {
	t.Helper()
	ctx := context.Background()
	req, err := e.svc.Submit(ctx, who, workflow.SubmitInput{Resource: resource, Duration: time.Hour, Reason: "case 77: customer asked"})
	if err != nil {
		t.Fatal(err)
	}
	for _, approver := range []workflow.Principal{carol, dave} {
		if req.State == workflow.StateApproved {
			break
		}
		if req, err = e.svc.Approve(ctx, approver, req.ID, "ok"); err != nil {
			t.Fatal(err)
		}
	}
	if req.State != workflow.StateApproved {
		t.Fatalf("request is %s", req.State)
	}
	return req
}

func (e *env) status(t *testing.T, id string) provision.Record {
	t.Helper()
	rec, err := e.pipeline.Status(context.Background(), id)
	if err != nil || rec == nil {
		t.Fatalf("status of %s: %v %v", id, rec, err)
	}
	return *rec
}

// runUntil runs the runner in the background until cond holds or the
// deadline passes.
func (e *env) runUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.runner.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) auditActions(t *testing.T, id string) []string {
	t.Helper()
	recs, _, err := e.db.ListAudit(context.Background(), workflow.AuditQuery{RequestID: id, Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Action)
	}
	return out
}

// verifyJitaccess is a receiver's check of a jitaccess webhook, exactly as
// docs/provisioning.md shows it: independent of the sending code.
func verifyJitaccess(secret []byte, r *http.Request, body []byte, now time.Time) error {
	ts := r.Header.Get("X-Jitaccess-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("missing or malformed X-Jitaccess-Timestamp")
	}
	if age := now.Sub(time.Unix(sec, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return errors.New("timestamp too old or in the future")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Jitaccess-Signature"))) {
		return errors.New("bad signature")
	}
	return nil
}

// delivery is one webhook call as the receiver saw it.
type delivery struct {
	Key    string
	Event  provision.WebhookEvent
	Status int
}

// receiver is a webhook endpoint that checks signatures and acts on each
// idempotency key once, like a well-behaved integration.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []delivery
	acted  map[string]int // idempotency key → times acted on
	active map[string]bool
	// respond decides the answer to call number n (1-based) of a key: a
	// status, after a delay; nil answers 200 at once.
	respond func(key string, n int) (status int, delay time.Duration)
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, acted: map[string]int{}, active: map[string]bool{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setRespond(f func(key string, n int) (int, time.Duration)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.respond = f
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := verifyJitaccess([]byte(webhookSecret), r, body, time.Now()); err != nil {
		rc.t.Errorf("receiver refused a call: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev provision.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("receiver got bad JSON: %v", err)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key != ev.ID || r.Header.Get("X-Jitaccess-Event") != ev.Type {
		rc.t.Errorf("headers do not match the body: key %q event %q body %+v", key, r.Header.Get("X-Jitaccess-Event"), ev)
	}
	rc.mu.Lock()
	n := 1
	for _, c := range rc.calls {
		if c.Key == key {
			n++
		}
	}
	respond := rc.respond
	rc.mu.Unlock()
	status, delay := http.StatusOK, time.Duration(0)
	if respond != nil {
		status, delay = respond(key, n)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			status = 0 // the sender gave up
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls = append(rc.calls, delivery{Key: key, Event: ev, Status: status})
	if status != http.StatusOK {
		if status != 0 {
			http.Error(w, "receiver says no", status)
		}
		return
	}
	if rc.acted[key] == 0 {
		switch ev.Type {
		case provision.EventGrant:
			rc.active[ev.RequestID] = true
		case provision.EventRevoke:
			delete(rc.active, ev.RequestID)
		}
	}
	rc.acted[key]++
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) snapshot() ([]delivery, map[string]bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	active := map[string]bool{}
	for k, v := range rc.active {
		active[k] = v
	}
	return append([]delivery(nil), rc.calls...), active
}

func (rc *receiver) count(key string) (calls, ok int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, c := range rc.calls {
		if c.Key == key {
			calls++
			if c.Status == http.StatusOK {
				ok++
			}
		}
	}
	return calls, ok
}
