package audit_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// A test binary started with JITACCESS_AUDIT_WRITER_URL set is a writer
// process for TestConcurrentWritersKeepTheChain, not a test run.
func TestMain(m *testing.M) {
	if u := os.Getenv("JITACCESS_AUDIT_WRITER_URL"); u != "" {
		os.Exit(writerProcess(u, os.Getenv("JITACCESS_AUDIT_WRITER_NAME")))
	}
	os.Exit(m.Run())
}

const txPerWriter = 30

// appendMany writes txPerWriter transactions of 1 to 3 records each, named
// NAME/TX/N in their reason.
func appendMany(ctx context.Context, db *store.DB, name string) error {
	for i := 0; i < txPerWriter; i++ {
		n := 1 + i%3
		err := db.InTx(ctx, func(tx workflow.Tx) error {
			recs := make([]*workflow.AuditRecord, n)
			for j := range recs {
				recs[j] = &workflow.AuditRecord{At: workflow.Now(), Actor: name, Action: "test.write", Reason: fmt.Sprintf("%s/%d/%d", name, i, j)}
			}
			return tx.AppendAudit(ctx, recs...)
		})
		if err != nil {
			return fmt.Errorf("%s tx %d: %w", name, i, err)
		}
	}
	return nil
}

func writerProcess(u, name string) int {
	ctx := context.Background()
	db, err := store.Open(ctx, u, store.Options{MaxOpenConns: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for g := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[g] = appendMany(ctx, db, fmt.Sprintf("%s.%d", name, g)) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// TestConcurrentWritersKeepTheChain appends from several OS processes and
// from several connection pools in this one, all at once, like replicas
// sharing a database, while a sealer chains what they commit. The chain must verify, hold every record once, and
// keep each transaction's records together and in order.
func TestConcurrentWritersKeepTheChain(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		storetest.OpenURL(t, u) // migrate
		ctx := context.Background()
		// The writers leave their records to a sealer (PostgreSQL), which
		// runs meanwhile, as it would on one of the replicas.
		sealer := storetest.OpenURL(t, u)
		sctx, stopSealer := context.WithCancel(ctx)
		sealed := make(chan struct{})
		go func() {
			defer close(sealed)
			sealer.RunSealer(sctx, store.SealerConfig{Interval: 20 * time.Millisecond, Holder: "test"})
		}()
		defer func() { stopSealer(); <-sealed }()
		const procs, pools, perPool = 3, 3, 3
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		fail := func(s string) { mu.Lock(); failures = append(failures, s); mu.Unlock() }
		for p := 0; p < procs; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "JITACCESS_AUDIT_WRITER_URL="+u, "JITACCESS_AUDIT_WRITER_NAME=proc"+strconv.Itoa(p))
				if out, err := cmd.CombinedOutput(); err != nil {
					fail(fmt.Sprintf("writer process %d: %v: %s", p, err, out))
				}
			}()
		}
		for p := 0; p < pools; p++ {
			db, err := store.Open(ctx, u, store.Options{MaxOpenConns: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			for g := 0; g < perPool; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := appendMany(ctx, db, fmt.Sprintf("pool%d.%d", p, g)); err != nil {
						fail(err.Error())
					}
				}()
			}
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Fatal(strings.Join(failures, "\n"))
		}
		db := storetest.OpenURL(t, u)
		storetest.WaitSealed(t, db, 10*time.Second)
		writers := procs*2 + pools*perPool
		perWriter := 0
		for i := 0; i < txPerWriter; i++ {
			perWriter += 1 + i%3
		}
		res := verify(t, db)
		if !res.OK || res.Records != int64(writers*perWriter) {
			t.Fatalf("verify: %+v (want %d records)", res, writers*perWriter)
		}
		recs, err := db.AuditChain(ctx, 0, writers*perWriter+1)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i, r := range recs {
			if seen[r.Reason] {
				t.Fatalf("record %s written twice", r.Reason)
			}
			seen[r.Reason] = true
			parts := strings.Split(r.Reason, "/")
			if parts[2] != "0" { // not the first of its transaction: the previous record must be its predecessor
				prev := strings.Split(recs[i-1].Reason, "/")
				j, _ := strconv.Atoi(parts[2])
				if prev[0] != parts[0] || prev[1] != parts[1] || prev[2] != strconv.Itoa(j-1) {
					t.Fatalf("record %d (%s) follows %s: a transaction's records were interleaved", r.ID, r.Reason, recs[i-1].Reason)
				}
			}
		}
		_ = audit.BatchSize
	})
}

// TestAppendAfterRollback shows that a rolled-back append leaves no gap
// and no fork: the next writer chains to the last committed record.
func TestAppendAfterRollback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seed(t, db, 3, 3)
		err := db.InTx(ctx, func(tx workflow.Tx) error {
			if err := tx.AppendAudit(ctx, &workflow.AuditRecord{At: t0, Actor: "x", Action: "lost"}); err != nil {
				return err
			}
			return workflow.Errorf(workflow.CodeConflict, "roll back")
		})
		if workflow.ErrorCode(err) != workflow.CodeConflict {
			t.Fatal(err)
		}
		seed(t, db, 2, 2)
		if res := verify(t, db); !res.OK || res.Records != 5 || res.Head.ID != 5 {
			t.Fatalf("%+v", res)
		}
		_ = time.Second
	})
}
