package review_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestReportAcrossBatches: a report over more requests than the store
// reads at once is the report of one read (grants, summaries, standing
// exceptions, flags, digest); a period holding more requests than
// MaxPeriodRequests is refused with CodeInvalid, telling to narrow it.
func TestReportAcrossBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		// 60 grants in the week before mon, some rubber-stamped, a few
		// filed before the week and live into it; 10 never approved.
		var reqs []*workflow.Request
		people := []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}
		for i := range 70 {
			created := mon.Add(-8*24*time.Hour + time.Duration(i)*3*time.Hour)
			resource, tier, approver := "crm-notes", workflow.TierMedium, "carol@example.com"
			if i%3 == 0 {
				resource, tier, approver = "crm-payments", workflow.TierHigh, "dave@example.com"
			}
			var opts []reqOpt
			if i%7 != 6 {
				opts = append(opts, lasting(8*time.Hour), approved(time.Duration(1+i%5)*time.Minute, approver), ended(workflow.StateExpired, "system", 8*time.Hour, ""))
			} else {
				opts = append(opts, denied(approver, time.Hour))
			}
			reqs = append(reqs, req(people[i%len(people)], resource, tier, created, opts...))
		}
		if err := db.BulkInsertRequests(ctx, reqs); err != nil {
			t.Fatal(err)
		}
		all := review.Scope{Kind: review.ScopeAll}
		p := review.Period{Start: mon.Add(-7 * 24 * time.Hour), End: mon}

		restore := store.PeriodBatch
		t.Cleanup(func() { store.PeriodBatch = restore })
		store.PeriodBatch = 1000
		one, err := e.rv.Report(ctx, root, all, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(one.Grants) < 45 || len(one.Standing) == 0 || len(one.Flags) == 0 {
			t.Fatalf("fixture: %d grants, %d standing, %d flags", len(one.Grants), len(one.Standing), len(one.Flags))
		}
		for _, batch := range []int{4, 1} {
			store.PeriodBatch = batch
			got, err := e.rv.Report(ctx, root, all, p)
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != one.Digest || !reflect.DeepEqual(got, one) {
				t.Fatalf("batch %d: the report differs from one read (%d grants, want %d)", batch, len(got.Grants), len(one.Grants))
			}
		}

		// Bounded: what the period with its lookback holds is the bound.
		loaded, _, err := db.PeriodRequests(ctx, p.Start.Add(-e.rv.Thresholds().Lookback()), p.End, 0)
		if err != nil || len(loaded) < 50 {
			t.Fatalf("the report loads %d requests: %v", len(loaded), err)
		}
		n := len(loaded)
		for _, tc := range []struct {
			max  int
			code workflow.Code
		}{{10, workflow.CodeInvalid}, {n - 1, workflow.CodeInvalid}, {n, ""}, {-1, ""}} {
			bounded := review.New(db, e.wf.Policy, review.Options{Now: e.clock.Now, MaxPeriodRequests: tc.max})
			rep, err := bounded.Report(ctx, root, all, p)
			if workflow.ErrorCode(err) != tc.code {
				t.Fatalf("max %d: %v, want %q", tc.max, err, tc.code)
			}
			if tc.code == "" {
				if rep.Digest != one.Digest {
					t.Fatalf("max %d: another report", tc.max)
				}
				continue
			}
			if msg := workflow.ErrorMessage(err); !strings.Contains(msg, "period too large") || !strings.Contains(msg, "narrow it") {
				t.Fatalf("max %d: %q", tc.max, msg)
			}
			if _, err := bounded.Dashboard(ctx, root, p); workflow.ErrorCode(err) != workflow.CodeInvalid {
				t.Fatalf("max %d: dashboard %v", tc.max, err)
			}
			// Opening a review of a resource gone from the policy looks
			// for it in the period (without the lookback).
			if _, err := bounded.Open(ctx, root, review.Scope{Kind: review.ScopeResource, Value: "retired"}, p); tc.max == 10 && workflow.ErrorCode(err) != workflow.CodeInvalid {
				t.Fatalf("max %d: open %v", tc.max, err)
			}
		}
	})
}
