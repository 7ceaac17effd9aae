package audit_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// seed appends n records in transactions of per records each; record i
// (1-based) is at t0 + i minutes.
func seed(t testing.TB, db *store.DB, n, per int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += per {
		err := db.InTx(ctx, func(tx workflow.Tx) error {
			var recs []*workflow.AuditRecord
			for j := i; j < min(i+per, n); j++ {
				recs = append(recs, &workflow.AuditRecord{At: t0.Add(time.Duration(j+1) * time.Minute), Actor: fmt.Sprintf("user%d@example.com", j%7),
					Action: "approve", Resource: "crm-notes", Subject: "alice@example.com", FromState: workflow.StatePending,
					ToState: workflow.StateApproved, Reason: fmt.Sprintf("record %d", j+1)})
			}
			return tx.AppendAudit(ctx, recs...)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// tamper runs statements as someone with direct access to the database
// would: on PostgreSQL as a superuser with triggers off for the session,
// on SQLite after dropping the triggers.
func tamper(t *testing.T, db *store.DB, stmts ...string) {
	t.Helper()
	err := db.Gorm().Transaction(func(g *gorm.DB) error {
		if db.Kind() == store.Postgres {
			if err := g.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
				return err
			}
		} else {
			for _, tr := range []string{"audit_records_no_update", "audit_records_delete_anchored"} {
				if err := g.Exec("DROP TRIGGER IF EXISTS " + tr).Error; err != nil {
					return err
				}
			}
		}
		for _, s := range stmts {
			if err := g.Exec(s).Error; err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func hashOf(t *testing.T, db *store.DB, id int64) string {
	t.Helper()
	var h string
	if err := db.Gorm().Raw("SELECT hash FROM audit_records WHERE id = ?", id).Scan(&h).Error; err != nil {
		t.Fatal(err)
	}
	return h
}

func verify(t *testing.T, db *store.DB, expect ...audit.Checkpoint) audit.Result {
	t.Helper()
	res, err := audit.Verify(context.Background(), db, expect...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// tamperCase is one way of changing the log behind the application's
// back, and the first record verify must name.
type tamperCase struct {
	name   string
	stmts  func(t *testing.T, db *store.DB) []string
	wantID int64
	kind   string
}

// tamperCases run on a log seeded with seed(t, db, 20, 6).
var tamperCases = []tamperCase{
	{"edit reason", func(*testing.T, *store.DB) []string {
		return []string{"UPDATE audit_records SET reason = 'nothing to see' WHERE id = 7"}
	}, 7, audit.BreakHash},
	{"edit actor", func(*testing.T, *store.DB) []string {
		return []string{"UPDATE audit_records SET actor = 'mallory@example.com' WHERE id = 12"}
	}, 12, audit.BreakHash},
	{"edit time", func(*testing.T, *store.DB) []string {
		return []string{"UPDATE audit_records SET at = (SELECT at FROM audit_records WHERE id = 1) WHERE id = 3"}
	}, 3, audit.BreakHash},
	{"edit and recompute the hash", func(t *testing.T, db *store.DB) []string {
		r := audit.Record{AuditRecord: workflow.AuditRecord{ID: 9, At: t0.Add(9 * time.Minute), Actor: "user1@example.com", Action: "approve",
			Resource: "crm-notes", Subject: "alice@example.com", FromState: workflow.StatePending, ToState: workflow.StateApproved, Reason: "forged", Source: workflow.SourceSystem}} // as seed wrote it
		prev := hashOf(t, db, 8)
		h := audit.Hash(prev, &r.AuditRecord)
		return []string{fmt.Sprintf("UPDATE audit_records SET actor = 'user1@example.com', reason = 'forged', hash = '%s' WHERE id = 9", h)}
	}, 10, audit.BreakLink},
	{"delete one", func(*testing.T, *store.DB) []string {
		return []string{"DELETE FROM audit_records WHERE id = 7"}
	}, 7, audit.BreakMissing},
	{"delete several", func(*testing.T, *store.DB) []string {
		return []string{"DELETE FROM audit_records WHERE id BETWEEN 5 AND 8"}
	}, 5, audit.BreakMissing},
	{"delete the first", func(*testing.T, *store.DB) []string {
		return []string{"DELETE FROM audit_records WHERE id = 1"}
	}, 2, audit.BreakAnchor},
	{"insert at the end", func(t *testing.T, db *store.DB) []string {
		return []string{fmt.Sprintf(`INSERT INTO audit_records (id, at, actor, action, resource, subject, reason, prev_hash, hash)
				VALUES (21, '2026-11-23 10:00:00+00', 'mallory@example.com', 'approve', 'crm-notes', 'mallory@example.com', 'forged', '%s', '%s')`,
			hashOf(t, db, 20), strings.Repeat("0", 64))}
	}, 21, audit.BreakHash},
	{"insert in the middle", func(t *testing.T, db *store.DB) []string {
		return []string{
			"UPDATE audit_records SET id = id + 1000 WHERE id > 10",
			"UPDATE audit_records SET id = id - 999 WHERE id > 1000",
			fmt.Sprintf(`INSERT INTO audit_records (id, at, actor, action, resource, subject, reason, prev_hash, hash)
					VALUES (11, '2026-11-23 09:10:30+00', 'mallory@example.com', 'approve', 'crm-notes', 'mallory@example.com', 'forged', '%s', '%s')`,
				hashOf(t, db, 10), strings.Repeat("1", 64)),
		}
	}, 11, audit.BreakHash},
	{"insert without a hash", func(*testing.T, *store.DB) []string {
		return []string{
			"UPDATE audit_records SET id = id + 1000 WHERE id > 10",
			"UPDATE audit_records SET id = id - 999 WHERE id > 1000",
			`INSERT INTO audit_records (id, at, actor, action) VALUES (11, '2026-11-23 09:10:30+00', 'mallory@example.com', 'approve')`,
		}
	}, 11, audit.BreakUnhashed},
	{"swap two records' ids", func(*testing.T, *store.DB) []string {
		return []string{
			"UPDATE audit_records SET id = 1005 WHERE id = 5",
			"UPDATE audit_records SET id = 5 WHERE id = 6",
			"UPDATE audit_records SET id = 6 WHERE id = 1005",
		}
	}, 5, audit.BreakLink},
	{"swap two records' contents", func(*testing.T, *store.DB) []string {
		return []string{
			"UPDATE audit_records SET reason = 'tmp' WHERE id = 14",
			"UPDATE audit_records SET reason = 'record 14' WHERE id = 15",
			"UPDATE audit_records SET reason = 'record 15' WHERE id = 14",
		}
	}, 14, audit.BreakHash},
}

func TestVerifyFindsTampering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range tamperCases {
			t.Run(tc.name, func(t *testing.T) {
				fresh := storetest.OpenURL(t, storetest.NewURL(t, db.Kind()))
				seed(t, fresh, 20, 6)
				if res := verify(t, fresh); !res.OK || res.Records != 20 || res.Head.ID != 20 {
					t.Fatalf("before tampering: %+v", res)
				}
				tamper(t, fresh, tc.stmts(t, fresh)...)
				res := verify(t, fresh)
				if res.OK || res.Break == nil {
					t.Fatalf("verify did not notice: %+v", res)
				}
				if res.Break.ID != tc.wantID || res.Break.Kind != tc.kind {
					t.Fatalf("break at %d (%s: %s), want %d (%s)", res.Break.ID, res.Break.Kind, res.Break.Message, tc.wantID, tc.kind)
				}
				// AddBatch (what Verify walks with) names exactly the
				// break that Add, record by record, names.
				recs, err := fresh.AuditChain(context.Background(), 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				if add := sameAsAdd(t, nil, nil, recs); !reflect.DeepEqual(add.Break, res.Break) {
					t.Fatalf("Verify %+v, Add %+v", res.Break, add.Break)
				}
			})
		}
	})
}

func TestCheckpointCatchesTruncationAndRewrites(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db, 20, 5)
		head := verify(t, db).Head
		if head.ID != 20 {
			t.Fatalf("head %v", head)
		}
		mid := audit.Checkpoint{ID: 10, Hash: hashOf(t, db, 10)}
		if res := verify(t, db, head, mid); !res.OK || len(res.Checked) != 2 {
			t.Fatalf("%+v", res)
		}
		// Dropping records from the end leaves a valid chain: only a
		// checkpoint written down earlier shows the loss.
		tamper(t, db, "DELETE FROM audit_records WHERE id > 17")
		if res := verify(t, db); !res.OK || res.Head.ID != 17 {
			t.Fatalf("without a checkpoint: %+v", res)
		}
		res := verify(t, db, head)
		if res.OK || res.Break.Kind != audit.BreakTruncated || res.Break.ID != 20 {
			t.Fatalf("truncation: %+v", res.Break)
		}
		// A rewrite that recomputes every hash verifies on its own, but
		// not against a checkpoint.
		tamper(t, db, rewriteFrom(t, db, 3)...)
		if res := verify(t, db); !res.OK {
			t.Fatalf("full rewrite should verify on its own: %+v", res.Break)
		}
		res = verify(t, db, mid)
		if res.OK || res.Break.Kind != audit.BreakMismatch || res.Break.ID != 10 {
			t.Fatalf("rewrite: %+v", res.Break)
		}
	})
}

// rewriteFrom changes record from and recomputes every hash after it, as
// an attacker who knows the format would.
func rewriteFrom(t *testing.T, db *store.DB, from int64) []string {
	recs, err := db.AuditChain(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	prev := ""
	for _, r := range recs {
		if r.ID >= from {
			if r.ID == from {
				r.Reason = "rewritten"
				stmts = append(stmts, fmt.Sprintf("UPDATE audit_records SET reason = 'rewritten' WHERE id = %d", r.ID))
			}
			h := audit.Hash(prev, &r.AuditRecord)
			stmts = append(stmts, fmt.Sprintf("UPDATE audit_records SET prev_hash = '%s', hash = '%s' WHERE id = %d", prev, h, r.ID))
			r.Hash = h
		}
		prev = r.Hash
	}
	return stmts
}

func TestDatabaseRefusesChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db, 5, 5)
		g := db.Gorm()
		stmts := []string{
			"UPDATE audit_records SET reason = 'x' WHERE id = 2",
			"UPDATE audit_records SET reason = reason",
			"DELETE FROM audit_records WHERE id = 5",
			"DELETE FROM audit_records",
			"INSERT INTO audit_anchors (at, actor, first_id, through_id, through_hash, through_at, pruned) VALUES ('2026-01-01 00:00:00+00', 'x', 1, 1, 'h', '2026-01-01 00:00:00+00', 1)",
		}
		if db.Kind() == store.Postgres {
			stmts = append(stmts, "TRUNCATE audit_records", "TRUNCATE audit_anchors")
		}
		for _, s := range stmts[:4] {
			err := g.Exec(s).Error
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Errorf("%s: err = %v, want a refusal", s, err)
			}
		}
		// An anchor covers record 1: only record 1 may now be deleted, and
		// the anchor itself can be neither changed nor removed.
		if err := g.Exec(stmts[4]).Error; err != nil {
			t.Fatal(err)
		}
		if err := g.Exec("DELETE FROM audit_records WHERE id <= 2").Error; err == nil {
			t.Error("deleting past the anchor was allowed")
		}
		if err := g.Exec("DELETE FROM audit_records WHERE id = 1").Error; err != nil {
			t.Errorf("deleting an anchored record: %v", err)
		}
		for _, s := range append([]string{"UPDATE audit_anchors SET through_id = 5", "DELETE FROM audit_anchors"}, stmts[5:]...) {
			if err := g.Exec(s).Error; err == nil || !strings.Contains(err.Error(), "refused") {
				t.Errorf("%s: err = %v, want a refusal", s, err)
			}
		}
		var n int64
		g.Raw("SELECT count(*) FROM audit_records").Scan(&n)
		if n != 4 {
			t.Errorf("%d records left, want 4", n)
		}
	})
}

// Records written before the chain existed (migration 00005) have no hash:
// they are counted, not verified, and the chain starts after them.
func TestLegacyRecordsBeforeTheChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for i := 1; i <= 3; i++ {
			if err := db.Gorm().Exec(`INSERT INTO audit_records (id, at, actor, action) VALUES (?, ?, 'old@example.com', 'submit')`,
				i*2, t0).Error; err != nil { // legacy ids may have gaps
				t.Fatal(err)
			}
		}
		seed(t, db, 4, 2)
		res := verify(t, db)
		if !res.OK || res.Legacy != 3 || res.Records != 4 || res.Head.ID != 10 {
			t.Fatalf("%+v", res)
		}
		tamper(t, db, "UPDATE audit_records SET reason = 'x' WHERE id = 8")
		if res := verify(t, db); res.OK || res.Break.ID != 8 {
			t.Fatalf("%+v", res.Break)
		}
	})
}
