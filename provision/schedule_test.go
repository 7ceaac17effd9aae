package provision_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestScheduledGrantProvisionedAtStart: a scheduled grant is applied at
// the target when the sweeper activates it at start_at, not when it is
// approved; the grant event then carries the scheduled window. A
// scheduled grant cancelled before it starts is never applied nor removed.
func TestScheduledGrantProvisionedAtStart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, rc := newWebhookEnv(t, db, 5*time.Second)
		ctx := context.Background()
		start := e.clock.Now().Add(3 * time.Hour).Truncate(time.Second)
		req, err := e.svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "night migration", StartAt: &start})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []workflow.Principal{carol, dave} {
			if req, err = e.svc.Approve(ctx, a, req.ID, "ok"); err != nil {
				t.Fatal(err)
			}
		}
		if req.State != workflow.StateScheduled {
			t.Fatalf("approved request is %s", req.State)
		}
		if rec, err := e.pipeline.Status(ctx, req.ID); err != nil || rec != nil {
			t.Fatalf("provisioning at approval: %+v %v", rec, err)
		}
		if n, err := e.runner.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("%d jobs before the start (%v)", n, err)
		}
		// The other scheduled grant is cancelled before it starts.
		other, err := e.svc.Submit(ctx, workflow.User("bob@example.com"), workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "later", StartAt: &start})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []workflow.Principal{carol, dave} {
			if other, err = e.svc.Approve(ctx, a, other.ID, "ok"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.Cancel(ctx, workflow.User("bob@example.com"), other.ID, "not needed"); err != nil {
			t.Fatal(err)
		}

		e.clock.Advance(3 * time.Hour)
		res, err := e.svc.Sweep(ctx)
		if err != nil || res.Activated != 1 {
			t.Fatalf("sweep: %+v %v", res, err)
		}
		if st := e.status(t, req.ID); st.Operation != provision.OpApply || st.Status != provision.StatusPending {
			t.Fatalf("after activation: %+v", st)
		}
		e.runUntil(t, "the grant to be applied", func() bool { return e.status(t, req.ID).Status == provision.StatusApplied })
		calls, active := rc.snapshot()
		if len(calls) != 1 || !active[req.ID] || active[other.ID] {
			t.Fatalf("calls %+v active %v", calls, active)
		}
		if ev := calls[0].Event; ev.Type != "grant" || ev.State != workflow.StateApproved || !ev.ExpiresAt.Equal(start.Add(time.Hour)) {
			t.Fatalf("grant event %+v", ev)
		}
		if rec, _ := e.pipeline.Status(ctx, other.ID); rec != nil {
			t.Fatalf("cancelled scheduled grant has provisioning %+v", rec)
		}
	})
}
