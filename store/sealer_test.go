package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// openReplica opens another pool on the database at u, as another
// replica would: not SealInline, so its writes wait for a sealer.
func openReplica(t *testing.T, u string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), u, store.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// startSealer runs db's sealer until the test ends (or stop is called).
func startSealer(t *testing.T, db *store.DB, holder string, interval time.Duration, sealed func(store.SealResult)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.RunSealer(ctx, store.SealerConfig{Interval: interval, Holder: holder, Sealed: sealed})
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// checkChain verifies the chain and that it holds each of want's reasons
// exactly once.
func checkChain(t *testing.T, db *store.DB, want int) {
	t.Helper()
	ctx := context.Background()
	res, err := audit.Verify(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Records != int64(want) || res.FirstID != 1 || res.Head.ID != int64(want) {
		t.Fatalf("verify: %+v; want %d records, ids 1 to %d", res, want, want)
	}
	seen := map[string]bool{}
	err = db.ExportAudit(ctx, store.AuditFilter{}, func(r *audit.Record) error {
		if seen[r.Reason] {
			return fmt.Errorf("record %q sealed twice (id %d)", r.Reason, r.ID)
		}
		seen[r.Reason] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSealerManyWriters: 16 writers × 1,000 audited transactions, on two
// replicas' pools, while both replicas run a sealer (one holds the
// lease): one gapless chain that verifies, every record in it once.
func TestSealerManyWriters(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	storetest.OpenURL(t, u) // migrate
	replicas := []*store.DB{openReplica(t, u), openReplica(t, u)}
	var mu sync.Mutex
	batches, sealedRecs := 0, 0
	for i, db := range replicas {
		startSealer(t, db, fmt.Sprintf("replica-%d", i), 20*time.Millisecond, func(r store.SealResult) {
			mu.Lock()
			batches++
			sealedRecs += r.Records
			mu.Unlock()
		})
	}
	const writers, perWriter = 16, 1000
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := replicas[w%2]
			for i := 0; i < perWriter; i++ {
				err := db.InTx(ctx, func(tx workflow.Tx) error {
					return tx.AppendAudit(ctx, &workflow.AuditRecord{At: workflow.Now(), Actor: "w", Action: "test.write", Reason: fmt.Sprintf("w%d/%d", w, i)})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	storetest.WaitSealed(t, replicas[0], 30*time.Second)
	checkChain(t, replicas[0], writers*perWriter)
	mu.Lock()
	defer mu.Unlock()
	if sealedRecs != writers*perWriter {
		t.Fatalf("the sealers report %d records sealed, want %d", sealedRecs, writers*perWriter)
	}
	t.Logf("%d records sealed in %d batches", sealedRecs, batches)
}

// TestSealerFailover: the lease holder's connection is cut in the middle
// of a batch (and the replica hangs, as a dead one would, holding its
// lease): another replica takes the lease when it lapses and seals
// everything, nothing lost, nothing twice.
func TestSealerFailover(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	admin := storetest.OpenURL(t, u)
	a, b := openReplica(t, u), openReplica(t, u)
	ctx := context.Background()
	write := func(db *store.DB, from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			err := db.InTx(ctx, func(tx workflow.Tx) error {
				return tx.AppendAudit(ctx, &workflow.AuditRecord{At: workflow.Now(), Actor: "w", Action: "test.write", Reason: fmt.Sprintf("r%d", i)})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	write(a, 0, 50) // committed before any sealer runs: a crash before the seal

	inBatch := make(chan struct{}, 1)
	release := make(chan struct{})
	a.SetSealHook(func(ctx context.Context) {
		select {
		case inBatch <- struct{}{}:
		default:
		}
		<-release
	})
	const interval = 50 * time.Millisecond
	stopA := startSealer(t, a, "replica-a", interval, nil)
	select {
	case <-inBatch:
	case <-time.After(10 * time.Second):
		t.Fatal("replica a never started sealing")
	}
	// The sealing transaction has taken the 50 records and waits in the
	// hook, its connection idle in a transaction: cut it.
	var cut int
	err := admin.Gorm().Raw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'`).Scan(&cut).Error
	if err != nil || cut == 0 {
		t.Fatalf("cut the sealing connection: %v (%d cut)", err, cut)
	}
	write(b, 50, 50) // more, from the other replica, while a is dead
	stopB := startSealer(t, b, "replica-b", interval, nil)
	storetest.WaitSealed(t, b, 10*time.Second)
	checkChain(t, b, 100)
	close(release) // the dead replica wakes: its batch must fail, not seal again
	stopA()
	stopB()
	if n, _ := b.AuditBacklog(ctx); n.Records != 0 {
		t.Fatalf("backlog after failover: %+v", n)
	}
	checkChain(t, b, 100)
}

// TestUnsealedRecords: pending records refuse updates, deletes and
// truncation like sealed ones; a superuser who bypasses the triggers can
// change a record before its seal, and the seal then covers the changed
// text (docs/audit.md, "Sealing": tamper-evident from the seal on).
func TestUnsealedRecords(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	admin := storetest.OpenURL(t, u)
	w := openReplica(t, u)
	ctx := context.Background()
	err := w.InTx(ctx, func(tx workflow.Tx) error {
		return tx.AppendAudit(ctx, &workflow.AuditRecord{At: workflow.Now(), Actor: "alice", Action: "test.write", Reason: "original"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE audit_pending SET reason = 'edited'",
		"DELETE FROM audit_pending",
		"TRUNCATE audit_pending",
		"DELETE FROM audit_chain_head",
	} {
		err := admin.Gorm().Exec(stmt).Error
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v, want refused", stmt, err)
		}
	}
	if b, _ := admin.AuditBacklog(ctx); b.Records != 1 {
		t.Fatalf("backlog %+v, want the one record", b)
	}
	// A superuser turns the triggers off for the session and edits it.
	err = admin.Gorm().Transaction(func(g *gorm.DB) error {
		if err := g.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
			return err
		}
		return g.Exec("UPDATE audit_pending SET reason = 'edited before the seal'").Error
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SealPending(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := audit.Verify(ctx, admin)
	if err != nil || !res.OK || res.Records != 1 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	recs, err := admin.AuditChain(ctx, 0, 10)
	if err != nil || len(recs) != 1 || recs[0].Reason != "edited before the seal" {
		t.Fatalf("sealed: %+v %v", recs, err)
	}
	// From its seal on, the same edit breaks the chain.
	err = admin.Gorm().Transaction(func(g *gorm.DB) error {
		if err := g.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
			return err
		}
		return g.Exec("UPDATE audit_records SET reason = 'edited after the seal'").Error
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := audit.Verify(ctx, admin); err != nil || res.OK || res.Break.Kind != audit.BreakHash {
		t.Fatalf("verify after an edit of a sealed record: %+v %v", res, err)
	}
}
