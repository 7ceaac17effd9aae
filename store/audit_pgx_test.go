package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestAuditChainPgxSameAsSQL: on PostgreSQL, AuditChain reads with pgx
// itself (one string per batch); every field must come back exactly as
// database/sql reads it: request ids (set and NULL), every optional
// field, text that is not ASCII, legacy records without a hash, times to
// the microsecond, before and after 2000 (PostgreSQL's epoch), and a
// limit that cuts a batch.
func TestAuditChainPgxSameAsSQL(t *testing.T) {
	db := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	g := db.Gorm()
	for i, at := range []string{"1999-12-31 23:59:59.999999+00", "1970-01-01 00:00:00+00", "2026-06-01 12:00:00.5+02"} {
		if err := g.Exec(`INSERT INTO audit_records (id, at, actor, action) VALUES (?, ?, 'old@example.com', 'submit')`, i+1, at).Error; err != nil {
			t.Fatal(err)
		}
	}
	var recs []*workflow.AuditRecord
	for i := range 50 {
		r := &workflow.AuditRecord{At: time.Date(2026, 11, 23, 9, 0, 0, i*1001000, time.UTC).Add(time.Duration(i) * time.Minute),
			Actor: fmt.Sprintf("user%d@example.com", i), Action: "approve", Resource: "crm", Subject: "zoë@example.com",
			FromState: workflow.StatePending, ToState: workflow.StateApproved, Reason: fmt.Sprintf("ticket «%d» ✓", i)}
		if i%2 == 0 {
			r.RequestID = uuid.NewString()
		}
		if i%3 == 0 {
			r.Purpose, r.Auth, r.MFA = "incident", "oidc", "webauthn"
		}
		if i%5 == 0 {
			r.Source = workflow.SourceSystem
		}
		recs = append(recs, r)
	}
	if err := db.InTx(ctx, func(tx workflow.Tx) error { return tx.AppendAudit(ctx, recs...) }); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ after, limit int64 }{{0, 1000}, {0, 2}, {2, 7}, {40, 5}, {53, 10}} {
		got, err := db.AuditChain(ctx, q.after, int(q.limit))
		if err != nil {
			t.Fatal(err)
		}
		want, err := db.AuditChainSQL(ctx, q.after, int(q.limit))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("after %d limit %d: %d records, want %d", q.after, q.limit, len(got), len(want))
		}
		for i := range got {
			if !got[i].At.Equal(want[i].At) || got[i].At.Location() != time.UTC {
				t.Fatalf("record %d: at %v, want %v", want[i].ID, got[i].At, want[i].At)
			}
			got[i].At, want[i].At = time.Time{}, time.Time{}
			if got[i] != want[i] {
				t.Fatalf("record %d:\n pgx %+v\n sql %+v", want[i].ID, got[i], want[i])
			}
		}
	}
}
