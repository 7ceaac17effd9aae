package audit_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestVerifyFromWitnessedHead covers the witness's incremental check: it
// resumes at a checkpoint, and a log cut short, forked or edited after it
// is found; an edit before it is the full verify's to find.
func TestVerifyFromWitnessedHead(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		for _, tc := range []struct {
			name    string
			change  func(t *testing.T, db *store.DB)
			from    []int64 // checkpoints, by id, at their hashes before the change
			kind    string  // "" for OK
			breakID int64
		}{
			{"unchanged", nil, []int64{10}, "", 0},
			{"unchanged, several checkpoints", nil, []int64{20, 10, 15}, "", 0},
			{"newest deleted", func(t *testing.T, db *store.DB) {
				tamper(t, db, "DELETE FROM audit_records WHERE id = 20")
			}, []int64{20}, audit.BreakTruncated, 20},
			{"newest deleted, older checkpoint too", func(t *testing.T, db *store.DB) {
				tamper(t, db, "DELETE FROM audit_records WHERE id >= 18")
			}, []int64{10, 20}, audit.BreakTruncated, 20},
			{"everything deleted", func(t *testing.T, db *store.DB) {
				tamper(t, db, "DELETE FROM audit_records")
			}, []int64{20}, audit.BreakTruncated, 20},
			{"newest replaced: a fork", func(t *testing.T, db *store.DB) {
				tamper(t, db, "DELETE FROM audit_records WHERE id = 20")
				if err := db.InTx(context.Background(), func(tx workflow.Tx) error {
					return tx.AppendAudit(context.Background(), &workflow.AuditRecord{At: t0, Actor: "mallory@example.com", Action: "approve"})
				}); err != nil {
					t.Fatal(err)
				}
			}, []int64{20}, audit.BreakMismatch, 20},
			{"edited after the checkpoint", func(t *testing.T, db *store.DB) {
				tamper(t, db, "UPDATE audit_records SET reason = 'x' WHERE id = 15")
			}, []int64{10}, audit.BreakHash, 15},
			{"the checkpoint's record edited", func(t *testing.T, db *store.DB) {
				tamper(t, db, "UPDATE audit_records SET reason = 'x' WHERE id = 10")
			}, []int64{10}, audit.BreakHash, 10},
			{"edited before the checkpoint: not read", func(t *testing.T, db *store.DB) {
				tamper(t, db, "UPDATE audit_records SET reason = 'x' WHERE id = 5")
			}, []int64{10}, "", 0},
			{"a record in between deleted", func(t *testing.T, db *store.DB) {
				tamper(t, db, "DELETE FROM audit_records WHERE id = 12")
			}, []int64{10}, audit.BreakMissing, 12},
		} {
			t.Run(tc.name, func(t *testing.T) {
				db := storetest.OpenURL(t, storetest.NewURL(t, kind))
				seed(t, db, 20, 7)
				var cps []audit.Checkpoint
				for _, id := range tc.from {
					cps = append(cps, audit.Checkpoint{ID: id, Hash: hashOf(t, db, id)})
				}
				if tc.change != nil {
					tc.change(t, db)
				}
				res, err := audit.VerifyFrom(context.Background(), db, cps...)
				if err != nil {
					t.Fatal(err)
				}
				if tc.kind == "" {
					low := slices.Min(tc.from)
					if !res.OK || res.FirstID != low || res.Records != 20-low+1 || res.Head.ID != 20 || len(res.Checked) != len(tc.from) {
						t.Fatalf("want OK from %d: %+v %+v", low, res, res.Break)
					}
					return
				}
				if res.OK || res.Break.Kind != tc.kind || res.Break.ID != tc.breakID {
					t.Fatalf("want %s at %d, got %+v", tc.kind, tc.breakID, res.Break)
				}
			})
		}
	})
}

// TestVerifyFromPrunedCheckpoint: a witnessed head that a prune removed is
// checked against the anchor, by a walk of the whole log.
func TestVerifyFromPrunedCheckpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db, 20, 20)
		ctx := context.Background()
		cp := audit.Checkpoint{ID: 20, Hash: hashOf(t, db, 20)}
		if _, err := audit.Prune(ctx, db, t0.Add(time.Hour), "test", t0.Add(time.Hour), nil); err != nil {
			t.Fatal(err)
		}
		res, err := audit.VerifyFrom(ctx, db, cp)
		if err != nil || !res.OK || res.Head.ID != 21 {
			t.Fatalf("after a prune: %v %+v %+v", err, res, res.Break)
		}
		res, _ = audit.VerifyFrom(ctx, db, audit.Checkpoint{ID: 20, Hash: hashOf(t, db, 21)})
		if res.OK || res.Break.Kind != audit.BreakMismatch {
			t.Fatalf("a pruned checkpoint with another hash: %+v", res.Break)
		}
	})
}
