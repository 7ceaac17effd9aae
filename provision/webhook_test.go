package provision_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func webhookPolicy(url string, timeout time.Duration) string {
	return fmt.Sprintf(`admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: crm-payments
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: webhook
      url: %s/hooks/jitaccess
      secret_env: CRM_SECRET
      timeout: %s
  - id: crm-notes
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
`, url, timeout)
}

func newWebhookEnv(t *testing.T, db *store.DB, timeout time.Duration) (*env, *receiver) {
	rc := newReceiver(t)
	return newEnv(t, db, webhookPolicy(rc.srv.URL, timeout), map[string]string{"CRM_SECRET": webhookSecret}), rc
}

func TestWebhookGrantAndRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, rc := newWebhookEnv(t, db, 5*time.Second)
		ctx := context.Background()
		req := e.approve(t, alice, "crm-payments")
		if st := e.status(t, req.ID); st.Status != provision.StatusPending || st.Operation != provision.OpApply || st.Spec.Type != "webhook" {
			t.Fatalf("after approval: %+v", st)
		}
		e.runUntil(t, "the grant to be applied", func() bool { return e.status(t, req.ID).Status == provision.StatusApplied })
		calls, active := rc.snapshot()
		if len(calls) != 1 || !active[req.ID] {
			t.Fatalf("calls %+v active %v", calls, active)
		}
		ev := calls[0].Event
		if ev.Type != "grant" || ev.ID != req.ID+":grant" || ev.User != "alice@example.com" || ev.Resource != "crm-payments" ||
			ev.State != workflow.StateApproved || ev.ExpiresAt == nil || !ev.ExpiresAt.Equal(*req.ExpiresAt) {
			t.Fatalf("grant event = %+v", ev)
		}

		if _, err := e.svc.Revoke(ctx, carol, req.ID, "case closed"); err != nil {
			t.Fatal(err)
		}
		if st := e.status(t, req.ID); st.Status != provision.StatusPending || st.Operation != provision.OpRemove {
			t.Fatalf("after revoke, before the worker: %+v (must not claim removed yet)", st)
		}
		e.runUntil(t, "the grant to be removed", func() bool { return e.status(t, req.ID).Status == provision.StatusRemoved })
		calls, active = rc.snapshot()
		if len(calls) != 2 || active[req.ID] || calls[1].Event.Type != "revoke" || calls[1].Event.State != workflow.StateRevoked ||
			calls[1].Event.EndedAt == nil {
			t.Fatalf("calls %+v active %v", calls, active)
		}
		st := e.status(t, req.ID)
		if st.AppliedAt == nil || st.RemovedAt == nil || st.LastError != "" || st.Attempts != 0 {
			t.Fatalf("final status %+v", st)
		}
		want := []string{"submit", "approve", "approve", provision.ActionApplied, "revoke", provision.ActionRemoved}
		if got := e.auditActions(t, req.ID); !slices.Equal(got, want) {
			t.Fatalf("audit = %v, want %v", got, want)
		}

		// A resource without a provisioner is its own record: applied and
		// removed at once, with no job.
		notes := e.approve(t, alice, "crm-notes")
		if st := e.status(t, notes.ID); st.Status != provision.StatusApplied || st.Spec.Type != "none" || st.AppliedAt == nil {
			t.Fatalf("none provisioner after approval: %+v", st)
		}
		if _, err := e.svc.Revoke(ctx, alice, notes.ID, ""); err != nil {
			t.Fatal(err)
		}
		if st := e.status(t, notes.ID); st.Status != provision.StatusRemoved {
			t.Fatalf("none provisioner after relinquish: %+v", st)
		}
		if n, err := e.runner.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("a none provisioner queued %d jobs (%v)", n, err)
		}
	})
}

// TestWebhookRetries: 500s and timeouts are retried with backoff, every try
// carries the same idempotency key, and the receiver acts once.
func TestWebhookRetries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, rc := newWebhookEnv(t, db, 300*time.Millisecond)
		e.pipeline.FailAfter = 3
		rc.setRespond(func(key string, n int) (int, time.Duration) {
			switch n {
			case 1, 2:
				return http.StatusInternalServerError, 0
			case 3:
				return http.StatusOK, 2 * time.Second // longer than the timeout
			}
			return http.StatusOK, 0
		})
		req := e.approve(t, alice, "crm-payments")
		e.runUntil(t, "the grant to be applied", func() bool { return e.status(t, req.ID).Status == provision.StatusApplied })
		key := req.ID + ":grant"
		calls, ok := rc.count(key)
		if calls != 4 || ok != 1 {
			t.Fatalf("receiver saw %d calls and %d successes for %s, want 4 and 1", calls, ok, key)
		}
		rc.mu.Lock()
		acted := rc.acted[key]
		rc.mu.Unlock()
		if acted != 1 {
			t.Fatalf("receiver acted %d times on the grant", acted)
		}
		// The status went through failed (3 failures) and recovered.
		actions := e.auditActions(t, req.ID)
		if !slices.Contains(actions, provision.ActionFailed) || actions[len(actions)-1] != provision.ActionApplied {
			t.Fatalf("audit = %v", actions)
		}
		if st := e.status(t, req.ID); st.Attempts != 0 || st.LastError != "" || st.FailingSince != nil {
			t.Fatalf("recovered status keeps its failure: %+v", st)
		}
		// Nothing more is sent: not by the runner, not by the sweeper.
		if _, err := e.pipeline.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n, err := e.runner.RunOnce(context.Background()); err != nil || n != 0 {
			t.Fatalf("runner ran %d more jobs (%v)", n, err)
		}
		if calls, _ := rc.count(key); calls != 4 {
			t.Fatalf("receiver saw %d calls after the grant was applied", calls)
		}
	})
}

// TestRemovalKeepsFailing: a revoke that the target does not acknowledge
// is never reported removed; it turns failed, is listed for admins,
// audited, and the sweeper makes it due again at once.
func TestRemovalKeepsFailing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, rc := newWebhookEnv(t, db, 2*time.Second)
		e.pipeline.FailAfter = 2
		// Only the sweeper can bring it back soon: the env's runner caps
		// backoff at 50 ms, which would make the retry due at once on a
		// slow machine.
		e.runner.BaseBackoff, e.runner.MaxBackoff = time.Hour, time.Hour
		ctx := context.Background()
		req := e.approve(t, alice, "crm-payments")
		e.runUntil(t, "the grant to be applied", func() bool { return e.status(t, req.ID).Status == provision.StatusApplied })
		rc.setRespond(func(key string, n int) (int, time.Duration) {
			if strings.HasSuffix(key, ":revoke") {
				return http.StatusBadGateway, 0
			}
			return http.StatusOK, 0
		})
		if _, err := e.svc.Revoke(ctx, root, req.ID, "left the team"); err != nil {
			t.Fatal(err)
		}
		// Two failed attempts, the second made due by the sweeper.
		if n, err := e.runner.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("first removal attempt: %d %v", n, err)
		}
		if st := e.status(t, req.ID); st.Status != provision.StatusPending || st.Attempts != 1 || !strings.Contains(st.LastError, "answered 502") {
			t.Fatalf("after one failure: %+v", st)
		}
		if n, _ := e.runner.RunOnce(ctx); n != 0 {
			t.Fatal("the retry ran before its backoff")
		}
		res, err := e.pipeline.Sweep(ctx)
		if err != nil || res.Hurried != 0 {
			t.Fatalf("sweep hurried a removal that is not failed yet: %+v %v", res, err)
		}
		// Force the second attempt now (as an operator could) to reach failed.
		if err := db.Gorm().Exec(`UPDATE jobs SET run_at = ? WHERE queue = 'provision' AND state = 'pending'`, workflow.Now()).Error; err != nil {
			t.Fatal(err)
		}
		if n, _ := e.runner.RunOnce(ctx); n != 1 {
			t.Fatal("second attempt did not run")
		}
		st := e.status(t, req.ID)
		if st.Status != provision.StatusFailed || st.Operation != provision.OpRemove || st.Attempts != 2 || st.FailingSince == nil {
			t.Fatalf("after two failures: %+v", st)
		}
		got, err := e.pipeline.List(ctx, root, provision.Query{Status: provision.StatusFailed})
		if err != nil || len(got) != 1 || got[0].RequestID != req.ID {
			t.Fatalf("admin list of failures: %+v %v", got, err)
		}
		if _, err := e.pipeline.List(ctx, alice, provision.Query{}); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Fatalf("non-admin list: %v", err)
		}
		if _, err := e.pipeline.List(ctx, root, provision.Query{Status: "stuck"}); workflow.ErrorCode(err) != workflow.CodeInvalid {
			t.Fatalf("bad filter: %v", err)
		}
		_, active := rc.snapshot()
		if !active[req.ID] {
			t.Fatal("receiver lost the grant although every revoke failed")
		}

		// The sweeper retries the failing removal now, not in an hour.
		rc.setRespond(nil)
		res, err = e.pipeline.Sweep(ctx)
		if err != nil || res.Hurried != 1 {
			t.Fatalf("sweep: %+v %v", res, err)
		}
		if n, _ := e.runner.RunOnce(ctx); n != 1 {
			t.Fatal("hurried removal did not run")
		}
		if st := e.status(t, req.ID); st.Status != provision.StatusRemoved {
			t.Fatalf("after recovery: %+v", st)
		}
		if _, active := rc.snapshot(); active[req.ID] {
			t.Fatal("receiver still has the grant")
		}
		actions := e.auditActions(t, req.ID)
		if n := countOf(actions, provision.ActionFailed); n != 1 {
			t.Fatalf("provision.failed audited %d times: %v", n, actions)
		}
	})
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// TestRevokedBeforeApplied: a grant revoked before its apply ran is never
// applied; the removal is still sent, since an earlier attempt might have
// reached the target.
func TestRevokedBeforeApplied(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, rc := newWebhookEnv(t, db, 2*time.Second)
		ctx := context.Background()
		req := e.approve(t, alice, "crm-payments")
		if _, err := e.svc.Revoke(ctx, alice, req.ID, ""); err != nil {
			t.Fatal(err)
		}
		if n, err := e.runner.RunOnce(ctx); err != nil || n != 2 {
			t.Fatalf("ran %d jobs: %v", n, err)
		}
		calls, active := rc.snapshot()
		if len(calls) != 1 || calls[0].Event.Type != "revoke" || active[req.ID] {
			t.Fatalf("calls %+v", calls)
		}
		if st := e.status(t, req.ID); st.Status != provision.StatusRemoved || st.AppliedAt != nil {
			t.Fatalf("status %+v", st)
		}
	})
}

// TestOrderAcrossGrants: a person's next grant of a resource is not applied
// until the previous one is removed, and a job lost for good is queued
// again by the sweeper.
func TestOrderAcrossGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, rc := newWebhookEnv(t, db, 2*time.Second)
		ctx := context.Background()
		first := e.approve(t, alice, "crm-payments")
		if _, err := e.svc.Revoke(ctx, alice, first.ID, ""); err != nil {
			t.Fatal(err)
		}
		second := e.approve(t, alice, "crm-payments")
		// Lose the first grant's removal job for good (as if it had been
		// failed by an operator): the second grant's apply must wait.
		if err := db.Gorm().Exec(`UPDATE jobs SET state = 'failed' WHERE queue = 'provision' AND payload LIKE ?`,
			`%"remove"%`+first.ID+`%`).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := e.runner.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if st := e.status(t, second.ID); st.Status == provision.StatusApplied || !strings.Contains(st.LastError, "waiting for the removal of the earlier grant "+first.ID) {
			t.Fatalf("second grant applied before the first was removed: %+v", st)
		}
		res, err := e.pipeline.Sweep(ctx)
		// Both are queued again, the removal first: the apply that had to
		// wait ended its job rather than hold the queue.
		if err != nil || res.Requeued != 2 || res.Requeuing[0] != first.ID || res.Requeuing[1] != second.ID {
			t.Fatalf("sweep: %+v %v", res, err)
		}
		if err := db.Gorm().Exec(`UPDATE jobs SET run_at = ? WHERE queue = 'provision' AND state = 'pending'`, workflow.Now()).Error; err != nil {
			t.Fatal(err)
		}
		e.runUntil(t, "both grants to settle", func() bool {
			return e.status(t, first.ID).Status == provision.StatusRemoved && e.status(t, second.ID).Status == provision.StatusApplied
		})
		calls, active := rc.snapshot()
		var order []string
		for _, c := range calls {
			if c.Status == http.StatusOK {
				order = append(order, c.Key)
			}
		}
		// The first grant was revoked before its apply ran: never sent.
		want := []string{first.ID + ":revoke", second.ID + ":grant"}
		if !slices.Equal(order, want) {
			t.Fatalf("receiver order %v, want %v", order, want)
		}
		if !active[second.ID] || active[first.ID] {
			t.Fatalf("active %v", active)
		}
	})
}

// TestExpiryRemoves: the sweeper's expiry queues the removal in its own
// transaction.
func TestExpiryRemoves(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, rc := newWebhookEnv(t, db, 2*time.Second)
		ctx := context.Background()
		req := e.approve(t, alice, "crm-payments")
		e.runUntil(t, "apply", func() bool { return e.status(t, req.ID).Status == provision.StatusApplied })
		e.clock.Advance(2 * time.Hour)
		if res, err := e.svc.Sweep(ctx); err != nil || res.Expired != 1 {
			t.Fatalf("sweep %+v %v", res, err)
		}
		e.runUntil(t, "removal", func() bool { return e.status(t, req.ID).Status == provision.StatusRemoved })
		calls, active := rc.snapshot()
		if active[req.ID] || calls[len(calls)-1].Event.State != workflow.StateExpired {
			t.Fatalf("calls %+v", calls)
		}
	})
}

// TestApplyAfterLapse: an apply that could not run before the grant lapsed
// (an outage longer than the grant) is not sent.
func TestApplyAfterLapse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, rc := newWebhookEnv(t, db, 2*time.Second)
		ctx := context.Background()
		req := e.approve(t, alice, "crm-payments")
		e.clock.Advance(3 * time.Hour)
		if n, err := e.runner.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("%d %v", n, err)
		}
		if calls, _ := rc.snapshot(); len(calls) != 0 {
			t.Fatalf("a lapsed grant was sent: %+v", calls)
		}
		if _, err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		e.runUntil(t, "removal", func() bool { return e.status(t, req.ID).Status == provision.StatusRemoved })
	})
}

func TestCheckEnv(t *testing.T) {
	pol, err := workflow.ParsePolicy("p.yaml", []byte(webhookPolicy("https://crm.example.com", time.Second)+`
  - id: db
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    provisioner: {type: postgres, dsn_env: TARGET_DSN, role: reader}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vars map[string]string
		want []string
	}{
		{map[string]string{}, []string{`p.yaml:12: resource "crm-payments": environment variable CRM_SECRET`, `p.yaml:27: resource "db": environment variable TARGET_DSN`}},
		{map[string]string{"CRM_SECRET": "short", "TARGET_DSN": "postgres://u:hunter2@[bad"}, []string{"shorter than 16 bytes", "does not hold a valid PostgreSQL DSN"}},
		{map[string]string{"CRM_SECRET": webhookSecret, "TARGET_DSN": "postgres://u:hunter2@db.example.com/x"}, nil},
	} {
		err := provision.CheckEnv(pol, func(n string) (string, bool) { v, ok := tc.vars[n]; return v, ok })
		if tc.want == nil {
			if err != nil {
				t.Fatalf("%v: %v", tc.vars, err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Fatalf("%v: err = %v, want %q", tc.vars, err, w)
			}
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "short\"") {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}
