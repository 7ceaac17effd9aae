package ui_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestRequestPageShowsProvisioning: the request page shows where applying
// and removing the grant at the target stands, as the API does, and the
// target's error only to approvers and admins.
func TestRequestPageShowsProvisioning(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var failing atomic.Bool
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing.Load() {
				http.Error(w, "crm is down", http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		defer target.Close()
		e := newUIEnv(t, db)
		e.svc.SetPolicy(mustParse(t, uiPolicy+`  - id: crm-export
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: webhook
      url: `+target.URL+`
      secret_env: HOOK_SECRET
`))
		env := func(string) (string, bool) { return "s3cret-s3cret-s3cret-s3cret", true }
		pipe := &provision.Pipeline{Store: db, Policy: e.svc.Policy, Provisioners: provision.Builtin(env),
			Logger: slog.New(slog.DiscardHandler), Now: e.clock, FailAfter: 1}
		e.svc.OnChange(pipe.Hook)
		e.web.UseAccess(nil, pipe)
		runner := pipe.Runner(db, time.Minute, time.Second)
		runner.Logger = slog.New(slog.DiscardHandler) // claims on the wall clock: jobs are enqueued at it

		req := e.submit(t, workflow.User("alice@example.com"), "crm-export", time.Hour)
		alice := e.signIn(t, "alice@example.com")
		if p := alice.get(t, "/requests/"+req.ID); strings.Contains(p.body, "At the target") {
			t.Fatal("a pending request shows provisioning")
		}
		e.approve(t, workflow.User("carol@example.com"), req.ID)
		if _, err := runner.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		p := alice.get(t, "/requests/"+req.ID)
		if p.status != 200 || !strings.Contains(p.body, "At the target") || !strings.Contains(p.body, "apply: applied") {
			t.Fatalf("applied grant: %d\n%s", p.status, p.body)
		}

		// The removal fails at the target: approvers see why; the
		// requester sees only that it is failing.
		failing.Store(true)
		e.advance(time.Minute)
		if _, err := e.svc.Revoke(ctx, workflow.User("carol@example.com"), req.ID, "case closed"); err != nil {
			t.Fatal(err)
		}
		if _, err := runner.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		carol := e.signIn(t, "carol@example.com")
		p = carol.get(t, "/requests/"+req.ID)
		if !strings.Contains(p.body, "remove: failed") || !strings.Contains(p.body, "Removal keeps failing") || !strings.Contains(p.body, "500") {
			t.Fatalf("approver's view of a failing removal:\n%s", p.body)
		}
		p = alice.get(t, "/requests/"+req.ID)
		if !strings.Contains(p.body, "remove: failed") || strings.Contains(p.body, "Last error") {
			t.Fatalf("requester's view of a failing removal:\n%s", p.body)
		}
	})
}
