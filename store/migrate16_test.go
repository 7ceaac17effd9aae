package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestMigration16KeepsRequests: 00016 (new states; on SQLite a rebuild of
// the requests table) keeps every request and the rows that refer to it,
// and the new states and the one-open-request rule work on the result.
func TestMigration16KeepsRequests(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		ctx := context.Background()
		db, err := store.Open(ctx, storetest.NewURL(t, kind), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.MigrateTo(ctx, 15); err != nil {
			t.Fatal(err)
		}
		g := db.Gorm().WithContext(ctx)
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		id := "0190aaaa-0000-7000-8000-000000000001"
		if err := g.Exec(`INSERT INTO requests (id, requester, resource, tier, reason, ticket, duration_seconds, state, required_approvals, version,
			created_at, updated_at, review_deadline, approved_at, expires_at, ended_by, end_reason, via_session, purpose)
			VALUES (?, 'alice@example.com', 'crm-notes', 'medium', 'case 1', '', 3600, 'approved', 1, 2, ?, ?, ?, ?, ?, '', '', false, 'refund')`,
			id, now, now, now.Add(24*time.Hour), now, now.Add(time.Hour)).Error; err != nil {
			t.Fatal(err)
		}
		if err := g.Exec(`INSERT INTO approvals (request_id, approver, comment, created_at) VALUES (?, 'carol@example.com', 'ok', ?)`, id, now).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := db.GetRequest(ctx, id)
		if err != nil || r.State != workflow.StateApproved || r.Purpose != "refund" || len(r.Approvals) != 1 || r.Extends != "" || r.StartAt != nil {
			t.Fatalf("after 00016: %+v %v", r, err)
		}
		if kind == store.SQLite {
			var broken []map[string]any
			if err := g.Raw("PRAGMA foreign_key_check").Scan(&broken).Error; err != nil || len(broken) != 0 {
				t.Fatalf("foreign keys after the rebuild: %v %v", broken, err)
			}
			var on int
			if err := g.Raw("PRAGMA foreign_keys").Scan(&on).Error; err != nil || on != 1 {
				t.Fatalf("foreign keys are %d after the migration (%v)", on, err)
			}
			// Still enforced: an approval of no request is refused.
			if err := g.Exec(`INSERT INTO approvals (request_id, approver, comment, created_at) VALUES ('0190aaaa-0000-7000-8000-00000000ffff', 'x', '', ?)`, now).Error; err == nil {
				t.Fatal("an approval of no request was stored")
			}
		}
		// The new states are stored; an extension does not count as an open
		// request of its own, a second pending extension does.
		ext := func(n int, state string) error {
			return g.Exec(`INSERT INTO requests (id, requester, resource, tier, reason, duration_seconds, state, required_approvals, version,
				created_at, updated_at, review_deadline, extends) VALUES (?, 'alice@example.com', 'crm-notes', 'medium', 'more', 1800, ?, 1, 1, ?, ?, ?, ?)`,
				"0190aaaa-0000-7000-8000-00000000000"+string(rune('1'+n)), state, now, now, now.Add(time.Hour), id).Error
		}
		if err := ext(1, "pending"); err != nil {
			t.Fatalf("pending extension next to the live grant: %v", err)
		}
		if err := ext(2, "pending"); err == nil {
			t.Fatal("a second pending extension was stored")
		}
		if err := ext(3, "bogus"); err == nil {
			t.Fatal("an unknown state was stored")
		}
	})
}
