package workflow_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// extendPolicy is testPolicy with the extension and scheduling limits
// set on one resource.
const extendPolicy = testPolicy + `
  - id: capped
    tier: medium
    max_duration: 1h
    max_total_duration: 90m
    max_start_delay: 48h
    requesters: [agents]
    approvers: [managers]
`

func newExtendService(t testing.TB, db *store.DB, c *clock) *workflow.Service {
	t.Helper()
	p, err := workflow.ParsePolicy("test.yaml", []byte(extendPolicy))
	if err != nil {
		t.Fatal(err)
	}
	return workflow.NewService(db, p, workflow.Options{Now: c.Now, ReviewTimeout: 24 * time.Hour})
}

// live files and approves a request, returning it live.
func live(t testing.TB, svc *workflow.Service, who workflow.Principal, resource string, d time.Duration, approvers ...workflow.Principal) *workflow.Request {
	t.Helper()
	r := submit(t, svc, who, resource, d)
	for _, a := range approvers {
		var err error
		if r, err = svc.Approve(context.Background(), a, r.ID, "ok"); err != nil {
			t.Fatalf("approve by %s: %v", a.Email, err)
		}
	}
	if r.State != workflow.StateApproved {
		t.Fatalf("request is %s, want approved", r.State)
	}
	return r
}

func get(t testing.TB, svc *workflow.Service, id string) *workflow.RequestDetail {
	t.Helper()
	d, err := svc.Get(context.Background(), root, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func extendBy(svc *workflow.Service, who workflow.Principal, id string, d time.Duration) (*workflow.Request, error) {
	return svc.Extend(context.Background(), who, id, workflow.ExtendInput{Duration: d, Reason: "the call runs long"})
}

func TestExtendNeedsTheSameApprovals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newExtendService(t, db, c)
		orig := live(t, svc, alice, "crm-payments", time.Hour, carol, dave) // high: two approvals
		exp := *orig.ExpiresAt
		c.Advance(50 * time.Minute)
		ext, err := extendBy(svc, alice, orig.ID, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ext.ID == orig.ID || ext.Extends != orig.ID || ext.State != workflow.StatePending || ext.RequiredApprovals != 2 {
			t.Fatalf("extension %+v", ext)
		}
		// While it is pending the grant runs on, and check answers from the
		// grant only.
		g, err := db.LiveGrant(ctx, alice.Email, "crm-payments", c.Now())
		if err != nil || g == nil || g.ID != orig.ID {
			t.Fatalf("live grant %+v, %v", g, err)
		}
		if _, err := extendBy(svc, alice, orig.ID, 10*time.Minute); workflow.ErrorCode(err) != workflow.CodeInvalidState ||
			!strings.Contains(err.Error(), "already has a pending extension") {
			t.Fatalf("second extension: %v", err)
		}
		if _, err := svc.Approve(ctx, carol, ext.ID, "fine"); err != nil {
			t.Fatal(err)
		}
		if d := get(t, svc, orig.ID); !d.ExpiresAt.Equal(exp) {
			t.Fatalf("one of two approvals moved expires_at to %s", d.ExpiresAt)
		}
		done, err := svc.Approve(ctx, dave, ext.ID, "fine")
		if err != nil {
			t.Fatal(err)
		}
		if done.State != workflow.StateExtended {
			t.Fatalf("extension is %s", done.State)
		}
		d := get(t, svc, orig.ID)
		if d.State != workflow.StateApproved || !d.ExpiresAt.Equal(exp.Add(30*time.Minute)) || d.Extended != 30*time.Minute {
			t.Fatalf("grant %s until %s, extended %s", d.State, d.ExpiresAt, d.Extended)
		}
		if len(d.Extensions) != 1 || d.Extensions[0].ID != ext.ID {
			t.Fatalf("extensions %v", d.Extensions)
		}
		hist := auditActions(t, db, orig.ID)
		if !slices.Contains(hist, "extend:approved>approved") {
			t.Fatalf("history of the grant %v has no extend", hist)
		}
		if got := auditActions(t, db, ext.ID); !slices.Equal(got, []string{"submit:>pending", "approve:pending>pending", "approve:pending>extended"}) {
			t.Fatalf("history of the extension %v", got)
		}
		// The grant now lasts until the new expiry, then the sweeper ends it.
		c.Advance(30 * time.Minute) // 20 minutes past the old expiry
		if g, _ := db.LiveGrant(ctx, alice.Email, "crm-payments", c.Now()); g == nil {
			t.Fatal("grant not live after its old expiry")
		}
		c.Advance(time.Hour)
		if _, err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if d := get(t, svc, orig.ID); d.State != workflow.StateExpired || !d.EndedAt.Equal(exp.Add(30*time.Minute)) {
			t.Fatalf("grant %s ended %v", d.State, d.EndedAt)
		}
	})
}

func TestExtendAutoApprovedWhereTheOriginalWas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		svc := newExtendService(t, db, c)
		orig := submit(t, svc, alice, "kb-drafts", time.Hour)
		ext, err := extendBy(svc, alice, orig.ID, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if ext.State != workflow.StateExtended || ext.EndedBy != "system" {
			t.Fatalf("extension %s by %q", ext.State, ext.EndedBy)
		}
		if d := get(t, svc, orig.ID); !d.ExpiresAt.Equal(orig.ExpiresAt.Add(2 * time.Hour)) {
			t.Fatalf("expires %s", d.ExpiresAt)
		}
		if got := auditActions(t, db, ext.ID); !slices.Equal(got, []string{"submit:>pending", "auto_approve:pending>extended"}) {
			t.Fatalf("history %v", got)
		}
	})
}

func TestExtendRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newExtendService(t, db, c)

		expired := live(t, svc, alice, "crm-notes", time.Hour, carol)
		c.Advance(time.Hour)
		_, err := extendBy(svc, alice, expired.ID, time.Minute)
		wantCode(t, err, workflow.CodeInvalidState)
		if !strings.Contains(err.Error(), "request is expired; only a live grant can be extended") {
			t.Fatalf("expired: %v", err)
		}
		if _, err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = extendBy(svc, alice, expired.ID, time.Minute)
		wantCode(t, err, workflow.CodeInvalidState)

		revoked := live(t, svc, bob, "crm-notes", time.Hour, carol)
		if _, err := svc.Revoke(ctx, carol, revoked.ID, "done"); err != nil {
			t.Fatal(err)
		}
		_, err = extendBy(svc, bob, revoked.ID, time.Minute)
		wantCode(t, err, workflow.CodeInvalidState)
		if !strings.Contains(err.Error(), "request is revoked") {
			t.Fatalf("revoked: %v", err)
		}

		grant := live(t, svc, alice, "crm-payments", time.Hour, carol, dave)
		_, err = extendBy(svc, carol, grant.ID, time.Minute) // an approver
		wantCode(t, err, workflow.CodeForbidden)
		_, err = extendBy(svc, bob, grant.ID, time.Minute) // someone else
		wantCode(t, err, workflow.CodeNotFound)
		_, err = extendBy(svc, alice, grant.ID, 3*time.Hour) // longer than max_duration
		wantCode(t, err, workflow.CodePolicy)
		_, err = svc.Extend(ctx, alice, grant.ID, workflow.ExtendInput{Duration: time.Minute})
		wantCode(t, err, workflow.CodePolicy) // no reason

		pending := submit(t, svc, bob, "crm-payments", time.Hour)
		_, err = extendBy(svc, bob, pending.ID, time.Minute)
		wantCode(t, err, workflow.CodeInvalidState)

		ext, err := extendBy(svc, alice, grant.ID, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		_, err = extendBy(svc, alice, ext.ID, time.Minute) // an extension of an extension
		wantCode(t, err, workflow.CodeInvalidState)
	})
}

func TestExtendMaxTotalDuration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newExtendService(t, db, c)
		// capped: max_duration 1h, max_total_duration 90m.
		g := live(t, svc, alice, "capped", time.Hour, carol)
		_, err := extendBy(svc, alice, g.ID, 31*time.Minute)
		wantCode(t, err, workflow.CodePolicy)
		if !strings.Contains(err.Error(), "max_total_duration of 1h30m") {
			t.Fatalf("message: %v", err)
		}
		ext, err := extendBy(svc, alice, g.ID, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Approve(ctx, carol, ext.ID, ""); err != nil {
			t.Fatal(err)
		}
		_, err = extendBy(svc, alice, g.ID, time.Second)
		wantCode(t, err, workflow.CodePolicy)

		// Default: twice max_duration (crm-notes: 8h, so 16h in all).
		n := live(t, svc, bob, "crm-notes", 8*time.Hour, carol)
		for _, d := range []time.Duration{8 * time.Hour} {
			e, err := extendBy(svc, bob, n.ID, d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Approve(ctx, carol, e.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
		_, err = extendBy(svc, bob, n.ID, time.Minute)
		wantCode(t, err, workflow.CodePolicy)
	})
}

func TestMaxTotalDurationPolicy(t *testing.T) {
	bad := strings.Replace(extendPolicy, "max_total_duration: 90m", "max_total_duration: 30m", 1)
	_, err := workflow.ParsePolicy("test.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "shorter than its max_duration") {
		t.Fatalf("max_total_duration below max_duration: %v", err)
	}
	p, err := workflow.ParsePolicy("test.yaml", []byte(extendPolicy))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := p.Resource("capped")
	n, _ := p.Resource("crm-notes")
	if r.MaxTotal() != 90*time.Minute || r.StartDelay() != 48*time.Hour || n.MaxTotal() != 16*time.Hour || n.StartDelay() != 7*24*time.Hour {
		t.Fatalf("limits %s %s %s %s", r.MaxTotal(), r.StartDelay(), n.MaxTotal(), n.StartDelay())
	}
}

func TestAlreadyLivePointsAtTheGrant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		svc := newExtendService(t, db, c)
		g := live(t, svc, alice, "crm-notes", time.Hour, carol)
		_, err := svc.Submit(context.Background(), alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "again"})
		wantCode(t, err, workflow.CodeAlreadyLive)
		if workflow.ErrorRequestID(err) != g.ID {
			t.Fatalf("request id %q, want %q", workflow.ErrorRequestID(err), g.ID)
		}
		// A pending request is another case: no extension to offer.
		p := submit(t, svc, bob, "crm-notes", time.Hour)
		_, err = svc.Submit(context.Background(), bob, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "again"})
		wantCode(t, err, workflow.CodeInvalidState)
		if workflow.ErrorRequestID(err) != p.ID {
			t.Fatalf("request id %q", workflow.ErrorRequestID(err))
		}
		// A pending extension does not count as an open request of its own.
		if _, err := extendBy(svc, alice, g.ID, time.Hour); err != nil {
			t.Fatal(err)
		}
		_, err = svc.Submit(context.Background(), alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "again"})
		wantCode(t, err, workflow.CodeAlreadyLive)
	})
}

func TestPendingExtensionEndsWithTheGrant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newExtendService(t, db, c)
		for _, end := range []string{"revoke", "relinquish", "expire"} {
			g := live(t, svc, alice, "crm-notes", time.Hour, carol)
			ext, err := extendBy(svc, alice, g.ID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			switch end {
			case "revoke":
				_, err = svc.Revoke(ctx, carol, g.ID, "case closed")
			case "relinquish":
				_, err = svc.Revoke(ctx, alice, g.ID, "")
			case "expire":
				c.Advance(time.Hour)
				var res workflow.SweepResult
				res, err = svc.Sweep(ctx)
				if res.Expired != 1 || res.ExtensionsCancelled != 1 {
					t.Errorf("sweep %+v", res)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			e := get(t, svc, ext.ID)
			if e.State != workflow.StateCancelled || e.EndedBy != "system" || e.EndReason != workflow.ExtensionReason {
				t.Fatalf("%s: extension %s by %q (%q)", end, e.State, e.EndedBy, e.EndReason)
			}
			_, err = svc.Approve(ctx, carol, ext.ID, "")
			wantCode(t, err, workflow.CodeInvalidState)
		}
	})
}

// TestExtensionRacesTheSweeper releases an extension's final approval and
// the sweeper together, 200 times, at the grant's expiry: the approver's
// clock is a millisecond before it (the grant is live), the sweeper's at
// it (the grant is due). Each trial ends in exactly one of two consistent
// states, and no grant is ever live past its capped total.
func TestExtensionRacesTheSweeper(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pol, err := workflow.ParsePolicy("test.yaml", []byte(extendPolicy))
		if err != nil {
			t.Fatal(err)
		}
		main, sweepClock, approveClock := newClock(), newClock(), newClock()
		svc := workflow.NewService(db, pol, workflow.Options{Now: main.Now})
		sweeper := workflow.NewService(db, pol, workflow.Options{Now: sweepClock.Now})
		approver := workflow.NewService(db, pol, workflow.Options{Now: approveClock.Now})
		res, _ := pol.Resource("capped")
		won := map[string]int{}
		for trial := range 200 {
			g := live(t, svc, alice, "capped", time.Hour, carol)
			ext, err := extendBy(svc, alice, g.ID, 30*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			exp := *g.ExpiresAt
			sweepClock.set(exp)
			approveClock.set(exp.Add(-time.Millisecond))
			var swept workflow.SweepResult
			var sweepErr, approveErr error
			var wg sync.WaitGroup
			start := make(chan struct{})
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				swept, sweepErr = sweeper.Sweep(ctx)
			}()
			go func() {
				defer wg.Done()
				<-start
				_, approveErr = approver.Approve(ctx, dave, ext.ID, "ok")
			}()
			close(start)
			wg.Wait()
			if sweepErr != nil {
				t.Fatalf("trial %d: sweep: %v", trial, sweepErr)
			}
			o, e := get(t, svc, g.ID), get(t, svc, ext.ID)
			if o.ExpiresAt.Sub(*o.ApprovedAt) > res.MaxTotal() {
				t.Fatalf("trial %d: grant lasts %s, past the cap", trial, o.ExpiresAt.Sub(*o.ApprovedAt))
			}
			switch {
			case approveErr == nil:
				// The approval won: the grant runs on, 30 minutes longer.
				if o.State != workflow.StateApproved || !o.ExpiresAt.Equal(exp.Add(30*time.Minute)) ||
					e.State != workflow.StateExtended || swept.Expired != 0 {
					t.Fatalf("trial %d: approval won but grant %s until %s, extension %s, swept %+v", trial, o.State, o.ExpiresAt, e.State, swept)
				}
				won["approval"]++
				// End it for the next trial.
				sweepClock.set(o.ExpiresAt.Add(time.Second))
				if r, err := sweeper.Sweep(ctx); err != nil || r.Expired != 1 {
					t.Fatalf("trial %d: cleanup sweep %+v %v", trial, r, err)
				}
			case workflow.ErrorCode(approveErr) == workflow.CodeInvalidState:
				// The sweeper won: expired at the old expiry, the extension
				// cancelled with it, nothing extended.
				if o.State != workflow.StateExpired || !o.EndedAt.Equal(exp) || o.Extended != 0 ||
					e.State != workflow.StateCancelled || len(e.Approvals) != 0 || swept.Expired != 1 {
					t.Fatalf("trial %d: sweeper won but grant %s ended %v extended %s, extension %s with %d approvals, swept %+v",
						trial, o.State, o.EndedAt, o.Extended, e.State, len(e.Approvals), swept)
				}
				if !strings.Contains(approveErr.Error(), "expired") {
					t.Fatalf("trial %d: refusal does not name the state: %v", trial, approveErr)
				}
				won["sweeper"]++
			default:
				t.Fatalf("trial %d: approve: %v", trial, approveErr)
			}
			if n := countAudit(t, db, g.ID, "expire") + countAudit(t, db, g.ID, "extend"); n < 1 || n > 2 {
				t.Fatalf("trial %d: %d expire/extend records", trial, n)
			}
			main.set(sweepClock.Now().Add(time.Minute))
		}
		t.Logf("%s: approval won %d, sweeper won %d", db.Kind(), won["approval"], won["sweeper"])
	})
}
