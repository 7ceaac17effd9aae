package workflow_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// race runs fn n times at once, released together, and returns the errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := 0; i < n; i++ {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

func countAudit(t *testing.T, db *store.DB, requestID, action string) int {
	t.Helper()
	recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{RequestID: requestID, Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func TestConcurrentApprovalsSingleApprover(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newService(t, db, newClock())
		req := submit(t, svc, alice, "crm-notes", time.Hour) // medium: one approval
		managers := []workflow.Principal{carol, dave, erin}
		errs := race(100, func(i int) error {
			_, err := svc.Approve(ctx, managers[i%3], req.ID, fmt.Sprint("approval ", i))
			return err
		})
		ok, conflicts := 0, 0
		for _, err := range errs {
			switch workflow.ErrorCode(err) {
			case "":
				ok++
			case workflow.CodeInvalidState, workflow.CodeDuplicate:
				conflicts++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 || conflicts != 99 {
			t.Fatalf("%d succeeded and %d got 409, want 1 and 99", ok, conflicts)
		}
		got, _ := svc.Get(ctx, alice, req.ID)
		if got.State != workflow.StateApproved || len(got.Approvals) != 1 {
			t.Fatalf("state %s with %d approvals", got.State, len(got.Approvals))
		}
		if n := countAudit(t, db, req.ID, "approve"); n != 1 {
			t.Fatalf("%d approve audit records, want 1", n)
		}
	})
}

func TestConcurrentApprovalsTwoPerson(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newService(t, db, newClock())
		req := submit(t, svc, alice, "crm-payments", time.Hour) // high: two approvals
		managers := []workflow.Principal{carol, dave, erin}
		errs := race(20, func(i int) error {
			_, err := svc.Approve(ctx, managers[i%3], req.ID, "")
			return err
		})
		ok := 0
		for _, err := range errs {
			switch workflow.ErrorCode(err) {
			case "":
				ok++
			case workflow.CodeInvalidState, workflow.CodeDuplicate:
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		got, _ := svc.Get(ctx, alice, req.ID)
		if ok != 2 || got.State != workflow.StateApproved || len(got.Approvals) != 2 || got.Approvals[0].Approver == got.Approvals[1].Approver {
			t.Fatalf("%d succeeded; state %s; approvals %+v", ok, got.State, got.Approvals)
		}
		toApproved := 0
		for _, h := range got.History {
			if h.ToState == workflow.StateApproved {
				toApproved++
			}
		}
		if toApproved != 1 || countAudit(t, db, req.ID, "approve") != 2 {
			t.Fatalf("%d transitions to approved, %d approve records; history %v", toApproved, countAudit(t, db, req.ID, "approve"), auditActions(t, db, req.ID))
		}
	})
}

// seedApproved stores n approved requests by distinct people, all expiring
// at expiresAt. It writes rows directly: this is fixture setup, not the
// behaviour under test.
func seedApproved(t testing.TB, db *store.DB, n int, expiresAt time.Time, resource string) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, 0, n)
	err := db.InTx(ctx, func(tx workflow.Tx) error {
		for i := 0; i < n; i++ {
			approved := expiresAt.Add(-time.Hour)
			exp := expiresAt
			r := &workflow.Request{
				ID: fmt.Sprintf("01900000-0000-7000-8000-%012d", i), Requester: fmt.Sprintf("user%05d@example.com", i),
				Resource: resource, Tier: workflow.TierMedium, Reason: "seed", Duration: time.Hour,
				State: workflow.StateApproved, RequiredApprovals: 1, Version: 1,
				CreatedAt: approved, UpdatedAt: approved, ReviewDeadline: approved.Add(24 * time.Hour),
				ApprovedAt: &approved, ExpiresAt: &exp,
			}
			if err := tx.InsertRequest(ctx, r); err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestConcurrentSweepers(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		ctx := context.Background()
		u := storetest.NewURL(t, kind)
		first := storetest.OpenURL(t, u)
		c := newClock()
		ids := seedApproved(t, first, 300, c.Now(), "crm-notes")
		c.Advance(time.Second)

		// Four replicas: each its own connection pool and service.
		var svcs []*workflow.Service
		for i := 0; i < 4; i++ {
			db := storetest.OpenURL(t, u)
			svc := workflow.NewService(db, mustPolicy(t), workflow.Options{Now: c.Now, SweepBatch: 25})
			svcs = append(svcs, svc)
		}
		total := 0
		var mu sync.Mutex
		for _, err := range race(4, func(i int) error {
			res, err := svcs[i].Sweep(ctx)
			mu.Lock()
			total += res.Expired
			mu.Unlock()
			return err
		}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		if total != len(ids) {
			t.Fatalf("sweepers expired %d in all, want %d", total, len(ids))
		}
		recs, _, err := first.ListAudit(ctx, workflow.AuditQuery{Action: "expire", Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, r := range recs {
			seen[r.RequestID]++
		}
		if len(recs) != len(ids) || len(seen) != len(ids) {
			t.Fatalf("%d expire records for %d distinct requests, want %d each once", len(recs), len(seen), len(ids))
		}
		for _, id := range ids {
			r, err := first.GetRequest(ctx, id)
			if err != nil || r.State != workflow.StateExpired || r.Version != 2 {
				t.Fatalf("request %s: %+v %v", id, r, err)
			}
		}
	})
}

// TestApprovalRacesSweeper races a final approval at the last microsecond
// of the review window against a sweeper that has reached the deadline:
// whichever commits first wins and the other is refused; never both.
func TestApprovalRacesSweeper(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		ctx := context.Background()
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		c := newClock()
		svc := newService(t, db, c)
		var reqs []*workflow.Request
		for _, who := range []workflow.Principal{alice, bob} {
			for _, res := range []string{"crm-notes", "admin-console"} {
				r := submit(t, svc, who, res, time.Hour)
				reqs = append(reqs, r)
			}
		}
		deadline := reqs[0].ReviewDeadline
		approverClock := &clock{now: deadline.Add(-time.Microsecond)}
		sweeperClock := &clock{now: deadline.Add(time.Second)}
		approver := workflow.NewService(storetest.OpenURL(t, u), mustPolicy(t), workflow.Options{Now: approverClock.Now})
		sweeper := workflow.NewService(storetest.OpenURL(t, u), mustPolicy(t), workflow.Options{Now: sweeperClock.Now, SweepBatch: 1})
		errs := race(len(reqs)+1, func(i int) error {
			if i == len(reqs) {
				_, err := sweeper.Sweep(ctx)
				return err
			}
			_, err := approver.Approve(ctx, carol, reqs[i].ID, "")
			return err
		})
		for i, r := range reqs {
			got, err := db.GetRequest(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			approveErr := errs[i]
			switch got.State {
			case workflow.StateApproved:
				if approveErr != nil || got.ApprovedAt.After(deadline) {
					t.Errorf("%s approved but approve returned %v, approved_at %v", r.ID, approveErr, got.ApprovedAt)
				}
				if countAudit(t, db, r.ID, "timeout") != 0 {
					t.Errorf("%s approved and timed out", r.ID)
				}
			case workflow.StateTimedOut:
				if workflow.ErrorCode(approveErr) != workflow.CodeInvalidState || len(got.Approvals) != 0 {
					t.Errorf("%s timed out but approve returned %v with %d approvals", r.ID, approveErr, len(got.Approvals))
				}
				if countAudit(t, db, r.ID, "timeout") != 1 || countAudit(t, db, r.ID, "approve") != 0 {
					t.Errorf("%s audit: %v", r.ID, auditActions(t, db, r.ID))
				}
			default:
				t.Errorf("%s ended %s", r.ID, got.State)
			}
		}
	})
}

// TestRevokeRacesSweeper races revokes just before expiry against the
// sweeper just after it: each grant ends exactly once, and access is never
// live after it ended.
func TestRevokeRacesSweeper(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		ctx := context.Background()
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		base := newClock()
		ids := seedApproved(t, db, 40, base.Now(), "crm-notes")
		revClock := &clock{now: base.Now().Add(-time.Microsecond)}
		sweepClock := &clock{now: base.Now()}
		revoker := workflow.NewService(storetest.OpenURL(t, u), mustPolicy(t), workflow.Options{Now: revClock.Now})
		sweeper := workflow.NewService(storetest.OpenURL(t, u), mustPolicy(t), workflow.Options{Now: sweepClock.Now, SweepBatch: 3})
		errs := race(len(ids)+1, func(i int) error {
			if i == len(ids) {
				_, err := sweeper.Sweep(ctx)
				return err
			}
			_, err := revoker.Revoke(ctx, root, ids[i], "incident")
			return err
		})
		if errs[len(ids)] != nil {
			t.Fatal(errs[len(ids)])
		}
		for i, id := range ids {
			got, _ := db.GetRequest(ctx, id)
			ends := countAudit(t, db, id, "revoke") + countAudit(t, db, id, "expire")
			if ends != 1 || got.EndedAt == nil || got.EndedAt.After(*got.ExpiresAt) {
				t.Fatalf("%s: state %s, %d end records, ended_at %v, expires_at %v", id, got.State, ends, got.EndedAt, got.ExpiresAt)
			}
			if (got.State == workflow.StateRevoked) != (errs[i] == nil) {
				t.Fatalf("%s: state %s but revoke returned %v", id, got.State, errs[i])
			}
			live, err := db.LiveGrant(ctx, got.Requester, "crm-notes", *got.EndedAt)
			if err != nil || live != nil {
				t.Fatalf("%s still live at ended_at: %v %v", id, live, err)
			}
		}
	})
}

func TestAuditFailureRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		req := submit(t, svc, alice, "crm-payments", time.Hour)
		if _, err := svc.Approve(ctx, carol, req.ID, ""); err != nil {
			t.Fatal(err)
		}
		live := submit(t, svc, bob, "kb-drafts", time.Hour)

		breakAudit(t, db)
		_, err := svc.Approve(ctx, dave, req.ID, "")
		wantCode(t, err, workflow.CodeInternal)
		_, err = svc.Deny(ctx, dave, req.ID, "no")
		wantCode(t, err, workflow.CodeInternal)
		_, err = svc.Submit(ctx, bob, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "x"})
		wantCode(t, err, workflow.CodeInternal)
		_, err = svc.Check(ctx, root, "bob@example.com", "kb-drafts")
		wantCode(t, err, workflow.CodeInternal)
		c.Advance(2 * time.Hour)
		_, err = svc.Sweep(ctx)
		wantCode(t, err, workflow.CodeInternal)

		got, _ := db.GetRequest(ctx, req.ID)
		if got.State != workflow.StatePending || len(got.Approvals) != 1 || got.Version != req.Version+1 {
			t.Fatalf("request changed without its audit record: %+v", got)
		}
		if g, _ := db.GetRequest(ctx, live.ID); g.State != workflow.StateApproved {
			t.Fatalf("sweep changed state without audit: %s", g.State)
		}
		all, _, _ := db.ListRequests(ctx, workflow.RequestQuery{All: true, Limit: 10})
		if len(all) != 2 {
			t.Fatalf("%d requests stored, want 2", len(all))
		}

		repairAudit(t, db)
		c.Advance(-2 * time.Hour)
		if r, err := svc.Approve(ctx, dave, req.ID, ""); err != nil || r.State != workflow.StateApproved {
			t.Fatalf("after repair: %v %v", r, err)
		}
	})
}

func breakAudit(t *testing.T, db *store.DB) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER fail_audit BEFORE INSERT ON audit_records BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END`}
	if db.Kind() == store.Postgres {
		stmts = []string{
			`CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$`,
			`CREATE TRIGGER fail_audit BEFORE INSERT ON audit_records FOR EACH ROW EXECUTE FUNCTION fail_audit()`,
		}
	}
	for _, s := range stmts {
		if err := db.Gorm().Exec(s).Error; err != nil {
			t.Fatal(err)
		}
	}
}

func repairAudit(t *testing.T, db *store.DB) {
	t.Helper()
	s := `DROP TRIGGER fail_audit`
	if db.Kind() == store.Postgres {
		s = `DROP TRIGGER fail_audit ON audit_records`
	}
	if err := db.Gorm().Exec(s).Error; err != nil {
		t.Fatal(err)
	}
}
