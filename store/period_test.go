package store_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// periodFixture is n requests spread over three days around [since,
// until), some created at the same instant, with approvals: approved ones
// (ended or not, live across since or not), and ones never approved.
func periodFixture(n int, since time.Time) []*workflow.Request {
	rng := rand.New(rand.NewPCG(1, 2))
	reqs := make([]*workflow.Request, n)
	for i := range reqs {
		// Minutes from since-1d to until+1d (until = since+1d), in steps
		// of 10 so that several requests share an instant.
		created := since.Add(time.Duration(rng.IntN(3*24*6)-24*6) * 10 * time.Minute)
		r := &workflow.Request{ID: uuid.NewString(), Requester: fmt.Sprintf("p%d@example.com", i), Resource: "crm-notes", Tier: workflow.TierMedium,
			Reason: "r", Duration: 8 * time.Hour, State: workflow.StatePending, RequiredApprovals: 1, Version: 1, CreatedAt: created, UpdatedAt: created,
			ReviewDeadline: created.Add(24 * time.Hour)}
		if rng.IntN(4) != 0 {
			approved := created.Add(time.Duration(1+rng.IntN(60)) * time.Minute)
			expires := approved.Add(r.Duration)
			r.State, r.ApprovedAt, r.ExpiresAt = workflow.StateApproved, &approved, &expires
			for j := range 1 + rng.IntN(2) {
				r.Approvals = append(r.Approvals, workflow.Approval{Approver: fmt.Sprintf("m%d@example.com", j), Comment: "ok", At: approved.Add(-time.Duration(j) * time.Second)})
			}
			if rng.IntN(2) == 0 {
				ended := approved.Add(time.Duration(rng.IntN(8*60)) * time.Minute)
				r.State, r.EndedAt, r.EndedBy, r.EndReason = workflow.StateRevoked, &ended, "m0@example.com", "done"
			}
		} else if rng.IntN(2) == 0 {
			ended := created.Add(time.Hour)
			r.State, r.EndedAt, r.EndedBy = workflow.StateDenied, &ended, "m0@example.com"
		}
		reqs[i] = r
	}
	return reqs
}

// inPeriod is PeriodRequests' selection, for the test to check it by.
func inPeriod(r *workflow.Request, since, until time.Time) bool {
	if !r.CreatedAt.Before(until) {
		return false
	}
	return !r.CreatedAt.Before(since) ||
		r.ApprovedAt != nil && r.ApprovedAt.Before(until) && (r.EndedAt == nil || r.EndedAt.After(since))
}

// TestPeriodRequestsAcrossBatches: read in batches, a period gives the
// same requests, in the same order and with the same approvals, whatever
// the batch size (batches splitting requests of one instant too); with a
// bound it stops after max and says there is more.
func TestPeriodRequestsAcrossBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		since := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
		until := since.Add(24 * time.Hour)
		all := periodFixture(400, since)
		if err := db.BulkInsertRequests(ctx, all); err != nil {
			t.Fatal(err)
		}
		var want []*workflow.Request
		for _, r := range all {
			if inPeriod(r, since, until) {
				want = append(want, r)
			}
		}
		slices.SortFunc(want, func(a, b *workflow.Request) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
		})
		if len(want) < 100 {
			t.Fatalf("fixture: only %d requests in the period", len(want))
		}
		summary := func(reqs []*workflow.Request) []string {
			out := make([]string, len(reqs))
			for i, r := range reqs {
				s := r.ID + " " + r.CreatedAt.UTC().Format(time.RFC3339) + " " + string(r.State)
				for _, a := range r.Approvals {
					s += " " + a.Approver + "@" + a.At.UTC().Format(time.RFC3339)
				}
				out[i] = s
			}
			return out
		}
		// The approvals are read back in their stored order.
		for _, r := range want {
			slices.SortFunc(r.Approvals, func(a, b workflow.Approval) int {
				return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Approver, b.Approver))
			})
		}
		restore := store.PeriodBatch
		t.Cleanup(func() { store.PeriodBatch = restore })
		for _, batch := range []int{1000, len(want), 7, 1} {
			store.PeriodBatch = batch
			got, more, err := db.PeriodRequests(ctx, since, until, 0)
			if err != nil || more {
				t.Fatalf("batch %d: more %v, %v", batch, more, err)
			}
			if g, w := summary(got), summary(want); !slices.Equal(g, w) {
				t.Fatalf("batch %d: %d requests, want %d\n got %v\nwant %v", batch, len(got), len(want), g, w)
			}
		}
		store.PeriodBatch = 7
		for _, max := range []int{1, 7, 50, len(want) - 1} {
			got, more, err := db.PeriodRequests(ctx, since, until, max)
			if err != nil || !more || !slices.Equal(summary(got), summary(want[:max])) {
				t.Fatalf("max %d: %d requests, more %v, %v", max, len(got), more, err)
			}
		}
		for _, max := range []int{len(want), len(want) + 1} {
			got, more, err := db.PeriodRequests(ctx, since, until, max)
			if err != nil || more || len(got) != len(want) {
				t.Fatalf("max %d: %d requests, more %v, %v", max, len(got), more, err)
			}
		}
	})
}
