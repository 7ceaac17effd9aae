package workflow_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func submitAt(svc *workflow.Service, who workflow.Principal, resource string, d time.Duration, start time.Time) (*workflow.Request, error) {
	return svc.Submit(context.Background(), who, workflow.SubmitInput{Resource: resource, Duration: d,
		Reason: "night migration", StartAt: &start})
}

func TestScheduledStart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newExtendService(t, db, c)
		start := c.Now().Add(2 * time.Hour)
		req, err := submitAt(svc, alice, "crm-notes", time.Hour, start)
		if err != nil {
			t.Fatal(err)
		}
		if req.State != workflow.StatePending || !req.StartAt.Equal(start) {
			t.Fatalf("submitted %s start %v", req.State, req.StartAt)
		}
		req, err = svc.Approve(ctx, carol, req.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if req.State != workflow.StateScheduled || !req.ExpiresAt.Equal(start.Add(time.Hour)) {
			t.Fatalf("approved: %s until %v", req.State, req.ExpiresAt)
		}
		// Until start_at there is no live grant: check is false.
		res, _ := svc.Policy().Resource("crm-notes")
		if g, _ := db.LiveGrant(ctx, alice.Email, "crm-notes", c.Now()); g != nil {
			t.Fatal("scheduled grant is live before its start")
		}
		if cr, err := svc.CheckDecision(ctx, svc.Policy(), res, alice.Email, c.Now()); err != nil || cr.Allowed {
			t.Fatalf("check before the start: %+v %v", cr, err)
		}
		c.set(start.Add(-time.Second))
		if cr, _ := svc.CheckDecision(ctx, svc.Policy(), res, alice.Email, c.Now()); cr.Allowed {
			t.Fatal("check allowed a second before the start")
		}
		if res, _ := svc.Sweep(ctx); res.Activated != 0 {
			t.Fatalf("activated early: %+v", res)
		}
		// A second request for the same resource is refused, naming it.
		_, err = svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "x"})
		wantCode(t, err, workflow.CodeInvalidState)
		if workflow.ErrorRequestID(err) != req.ID {
			t.Fatalf("refusal names %q", workflow.ErrorRequestID(err))
		}
		// Extending it before it starts is refused: only live grants.
		_, err = extendBy(svc, alice, req.ID, time.Minute)
		wantCode(t, err, workflow.CodeInvalidState)

		c.set(start)
		swept, err := svc.Sweep(ctx)
		if err != nil || swept.Activated != 1 {
			t.Fatalf("sweep at start: %+v %v", swept, err)
		}
		if cr, err := svc.CheckDecision(ctx, svc.Policy(), res, alice.Email, c.Now()); err != nil || !cr.Allowed || cr.RequestID != req.ID {
			t.Fatalf("check after activation: %+v %v", cr, err)
		}
		d := get(t, svc, req.ID)
		if d.State != workflow.StateApproved || !d.ExpiresAt.Equal(start.Add(time.Hour)) {
			t.Fatalf("after activation %s until %v", d.State, d.ExpiresAt)
		}
		if g, _ := db.LiveGrant(ctx, alice.Email, "crm-notes", c.Now()); g == nil || g.ID != req.ID {
			t.Fatal("not live after activation")
		}
		want := []string{"submit:>pending", "approve:pending>scheduled", "activate:scheduled>approved"}
		if got := auditActions(t, db, req.ID); !slices.Equal(got, want) {
			t.Fatalf("history %v, want %v", got, want)
		}
		c.set(start.Add(time.Hour))
		if res, _ := svc.Sweep(ctx); res.Expired != 1 {
			t.Fatalf("expiry: %+v", res)
		}
	})
}

func TestScheduledCancelAndRevokeBeforeStart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newExtendService(t, db, c)
		start := c.Now().Add(24 * time.Hour)

		a, _ := submitAt(svc, alice, "crm-notes", time.Hour, start)
		if _, err := svc.Approve(ctx, carol, a.ID, ""); err != nil {
			t.Fatal(err)
		}
		acts := workflow.AllowedActions(svc.Policy(), alice, get(t, svc, a.ID).Request, c.Now())
		if !acts.Cancel || acts.Relinquish || acts.Extend {
			t.Fatalf("requester's actions on a scheduled grant %+v", acts)
		}
		if acts := workflow.AllowedActions(svc.Policy(), dave, get(t, svc, a.ID).Request, c.Now()); !acts.Revoke || acts.Cancel {
			t.Fatalf("approver's actions on a scheduled grant %+v", acts)
		}
		_, err := svc.Cancel(ctx, carol, a.ID, "") // an approver cannot cancel
		wantCode(t, err, workflow.CodeForbidden)
		if r, err := svc.Cancel(ctx, alice, a.ID, "plans changed"); err != nil || r.State != workflow.StateCancelled {
			t.Fatalf("cancel: %v %v", r, err)
		}

		b, _ := submitAt(svc, bob, "crm-notes", time.Hour, start)
		if _, err := svc.Approve(ctx, carol, b.ID, ""); err != nil {
			t.Fatal(err)
		}
		if r, err := svc.Revoke(ctx, dave, b.ID, "not needed"); err != nil || r.State != workflow.StateRevoked {
			t.Fatalf("revoke: %v %v", r, err)
		}
		c.set(start)
		if res, _ := svc.Sweep(ctx); res.Activated != 0 {
			t.Fatalf("an ended scheduled grant was activated: %+v", res)
		}
	})
}

func TestScheduledStartRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newExtendService(t, db, c)
		now := c.Now()
		for _, tc := range []struct {
			name     string
			resource string
			start    time.Time
			code     workflow.Code
			state    workflow.State
		}{
			{"past", "crm-notes", now.Add(-2 * time.Minute), workflow.CodePolicy, ""},
			{"beyond default 7 days", "crm-notes", now.Add(7*24*time.Hour + time.Second), workflow.CodePolicy, ""},
			{"beyond max_start_delay", "capped", now.Add(49 * time.Hour), workflow.CodePolicy, ""},
			{"within skew is now", "admin-console", now.Add(-30 * time.Second), "", workflow.StatePending},
			{"auto-approved is scheduled", "kb-drafts", now.Add(time.Hour), "", workflow.StateScheduled},
		} {
			r, err := submitAt(svc, bob, tc.resource, time.Hour, tc.start)
			if workflow.ErrorCode(err) != tc.code {
				t.Fatalf("%s: %v, want %q", tc.name, err, tc.code)
			}
			if err == nil && r.State != tc.state {
				t.Fatalf("%s: state %s, want %s", tc.name, r.State, tc.state)
			}
			if tc.name == "within skew is now" && r.StartAt != nil {
				t.Fatalf("%s: start_at kept: %v", tc.name, r.StartAt)
			}
		}
		// An approval that arrives after start_at makes it live at once,
		// for its whole duration.
		late, err := submitAt(svc, alice, "crm-notes", time.Hour, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		c.Advance(90 * time.Minute)
		r, err := svc.Approve(ctx, carol, late.ID, "")
		if err != nil || r.State != workflow.StateApproved || !r.ExpiresAt.Equal(c.Now().Add(time.Hour)) {
			t.Fatalf("late approval: %v until %v, %v", r.State, r.ExpiresAt, err)
		}
		// The review deadline still applies while it is pending.
		p, err := submitAt(svc, erin, "prod-db", time.Hour, c.Now().Add(48*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		c.Advance(25 * time.Hour)
		if res, _ := svc.Sweep(ctx); res.TimedOut < 1 {
			t.Fatalf("sweep %+v", res)
		}
		if d := get(t, svc, p.ID); d.State != workflow.StateTimedOut {
			t.Fatalf("scheduled request pending past its deadline is %s", d.State)
		}
	})
}
