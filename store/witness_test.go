package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestAuditWitnessOnlyMovesForward: replicas race to advance the witness
// and the highest head wins; the database refuses to lower it, change its
// hash or delete it, so that hiding a truncation takes disabling triggers.
func TestAuditWitnessOnlyMovesForward(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
		h := func(c string) string { return strings.Repeat(c, 64) }
		if w, err := db.AuditWitness(ctx); err != nil || w.Head.ID != 0 {
			t.Fatalf("before any: %+v %v", w, err)
		}
		for _, step := range []struct {
			head  audit.Checkpoint
			moved bool
			want  int64
		}{
			{audit.Checkpoint{ID: 5, Hash: h("a")}, true, 5},
			{audit.Checkpoint{ID: 9, Hash: h("b")}, true, 9},
			{audit.Checkpoint{ID: 7, Hash: h("c")}, false, 9}, // a replica behind
			{audit.Checkpoint{ID: 9, Hash: h("b")}, false, 9},
		} {
			moved, err := db.AdvanceAuditWitness(ctx, step.head, "replica-1", now)
			w, _ := db.AuditWitness(ctx)
			if err != nil || moved != step.moved || w.Head.ID != step.want || w.By != "replica-1" || !w.At.Equal(now) {
				t.Fatalf("advance to %s: moved %v, %v; witness %+v", step.head, moved, err, w)
			}
		}
		for _, stmt := range []string{
			"UPDATE audit_witness SET head_id = 5",
			"UPDATE audit_witness SET head_hash = '" + h("d") + "'",
			"DELETE FROM audit_witness",
		} {
			if err := db.Gorm().Exec(stmt).Error; err == nil {
				t.Errorf("%s: accepted", stmt)
			}
		}
		if w, _ := db.AuditWitness(ctx); w.Head != (audit.Checkpoint{ID: 9, Hash: h("b")}) {
			t.Fatalf("witness changed: %+v", w)
		}
	})
}
