package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// seedRequests stores n requests in state st, one person each, ids under
// prefix, due (expires_at) at due(i).
func seedRequests(t *testing.T, db *store.DB, prefix string, n int, st workflow.State, due func(i int) time.Time) {
	t.Helper()
	var reqs []*workflow.Request
	for i := 0; i < n; i++ {
		exp := due(i)
		approved := exp.Add(-time.Hour)
		r := &workflow.Request{ID: fmt.Sprintf("%s-0000-7000-8000-%012d", prefix, i), Requester: fmt.Sprintf("%s%d@example.com", prefix, i),
			Resource: "crm", Tier: workflow.TierMedium, Reason: "seed", Duration: time.Hour, State: st, RequiredApprovals: 1, Version: 2,
			CreatedAt: approved, UpdatedAt: approved, ReviewDeadline: approved.Add(time.Hour), ApprovedAt: &approved, ExpiresAt: &exp}
		if st == workflow.StateExpired {
			r.EndedAt, r.EndedBy = &exp, "system"
		}
		if st == workflow.StateScheduled {
			start := exp.Add(-time.Hour)
			r.StartAt = &start
		}
		reqs = append(reqs, r)
	}
	if err := db.BulkInsertRequests(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
}

// TestSweepPlanAfterFinishedOnlyAnalyze: statistics gathered while the
// table held only finished requests once made PostgreSQL claim due grants
// with a nested loop that ran the claiming SELECT once per due row (a 10k
// sweep took 18 s instead of about 1). The claim must read the partial
// index requests_expiry_idx once and update by primary key, whatever the
// statistics; and it still ends every due grant, once.
func TestSweepPlanAfterFinishedOnlyAnalyze(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		old := workflow.Now().Add(-30 * 24 * time.Hour)
		seedRequests(t, db, "0190aaaa", 3000, workflow.StateExpired, func(i int) time.Time { return old.Add(time.Duration(i) * time.Second) })
		if err := db.Gorm().Exec("ANALYZE").Error; err != nil {
			t.Fatal(err)
		}
		now := workflow.Now()
		const due = 1000
		seedRequests(t, db, "0190bbbb", due, workflow.StateApproved, func(i int) time.Time { return now.Add(-time.Minute - time.Duration(i)*time.Millisecond) })
		plan, err := db.ExplainEndDue(ctx, now, 200)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("plan:\n%s", plan)
		want := []string{"requests_expiry_idx", "(id=?)"} // SQLite: by the primary key's index
		if db.Kind() == store.Postgres {
			want = want[:1]
			want = append(want, "requests_pkey", "InitPlan")
			if strings.Contains(plan, "Nested Loop") || strings.Contains(plan, "Sort") {
				t.Errorf("the claim joins or sorts instead of reading the index once:\n%s", plan)
			}
		}
		for _, w := range want {
			if !strings.Contains(plan, w) {
				t.Errorf("the plan does not use %s:\n%s", w, plan)
			}
		}
		ended := 0
		for {
			var n int
			err := db.InTx(ctx, func(tx workflow.Tx) error {
				reqs, err := tx.EndDue(ctx, workflow.StateApproved, workflow.StateExpired, now, 200)
				n = len(reqs)
				for _, r := range reqs {
					if r.State != workflow.StateExpired || r.EndedAt == nil || !r.EndedAt.Equal(*r.ExpiresAt) {
						return fmt.Errorf("ended %s as %s at %v", r.ID, r.State, r.EndedAt)
					}
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			ended += n
		}
		if ended != due {
			t.Fatalf("ended %d of %d due grants", ended, due)
		}
	})
}

// TestNextDue: the earliest expiry of a live grant or start of a
// scheduled one; none when there is neither.
func TestNextDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, ok, err := db.NextDue(ctx); ok || err != nil {
			t.Fatalf("empty table: %v %v", ok, err)
		}
		now := workflow.Now()
		seedRequests(t, db, "0190aaaa", 3, workflow.StateExpired, func(i int) time.Time { return now.Add(-time.Hour) })
		if _, ok, err := db.NextDue(ctx); ok || err != nil {
			t.Fatalf("finished only: %v %v", ok, err)
		}
		seedRequests(t, db, "0190bbbb", 3, workflow.StateApproved, func(i int) time.Time { return now.Add(time.Duration(10-i) * time.Minute) })
		got, ok, err := db.NextDue(ctx)
		if want := now.Add(8 * time.Minute); !ok || err != nil || !got.Equal(want) {
			t.Fatalf("live grants: %v %v %v, want %v", got, ok, err, want)
		}
		// A scheduled grant starting sooner (its start is an hour before
		// its expiry) comes first.
		seedRequests(t, db, "0190cccc", 1, workflow.StateScheduled, func(int) time.Time { return now.Add(65 * time.Minute) })
		got, ok, err = db.NextDue(ctx)
		if want := now.Add(5 * time.Minute); !ok || err != nil || !got.Equal(want) {
			t.Fatalf("with a scheduled grant: %v %v %v, want %v", got, ok, err, want)
		}
	})
}
