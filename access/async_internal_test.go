package access

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// TestAsyncAuditOutage: while the database is down the writer holds at
// most one batch and the rest waits in the bounded queue; once it is back
// every record is committed exactly once, none twice.
func TestAsyncAuditOutage(t *testing.T) {
	var mu sync.Mutex
	down := true
	largest := 0
	committed := map[*workflow.AuditRecord]int{}
	commit := func(ctx context.Context, recs []*workflow.AuditRecord) error {
		mu.Lock()
		defer mu.Unlock()
		largest = max(largest, len(recs))
		if down {
			return errors.New("database is down")
		}
		for _, r := range recs {
			committed[r]++
		}
		return nil
	}
	a := newAsyncAudit(commit, 5*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const total = 3*maxAuditBatch + 17
	recs := make([]*workflow.AuditRecord, total)
	for i := range recs {
		recs[i] = &workflow.AuditRecord{Action: "check"}
		if err := a.write(context.Background(), recs[i]); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// The writer takes one batch and stops taking more: the rest stays in
	// the queue, whose capacity is the bound callers feel.
	deadline := time.Now().Add(5 * time.Second)
	for len(a.queue) != total-maxAuditBatch {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d records, want %d: the batch grew past %d while the database was down", len(a.queue), total-maxAuditBatch, maxAuditBatch)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(30 * time.Millisecond) // a few failed retries
	if len(a.queue) != total-maxAuditBatch {
		t.Fatalf("queue holds %d records after retries, want %d", len(a.queue), total-maxAuditBatch)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if largest > maxAuditBatch {
		t.Errorf("one commit had %d records, more than %d", largest, maxAuditBatch)
	}
	for i, r := range recs {
		if committed[r] != 1 {
			t.Fatalf("record %d committed %d times, want once", i, committed[r])
		}
	}
}

// TestAsyncAuditPartialCommit: when a later chunk of a batch fails, the
// chunks already committed are not written again.
func TestAsyncAuditPartialCommit(t *testing.T) {
	a := &asyncAudit{}
	calls := 0
	committed := map[*workflow.AuditRecord]int{}
	a.commit = func(ctx context.Context, recs []*workflow.AuditRecord) error {
		calls++
		if calls == 2 {
			return errors.New("second chunk fails")
		}
		for _, r := range recs {
			committed[r]++
		}
		return nil
	}
	batch := make([]*workflow.AuditRecord, 2*maxAuditBatch+5)
	for i := range batch {
		batch[i] = &workflow.AuditRecord{Action: "mask"}
	}
	n, err := a.commitBatch(batch)
	if err == nil || n != maxAuditBatch {
		t.Fatalf("commitBatch = %d, %v; want %d and the error", n, err, maxAuditBatch)
	}
	if n2, err := a.commitBatch(batch[n:]); err != nil || n2 != len(batch)-n {
		t.Fatalf("retry of the rest = %d, %v", n2, err)
	}
	for i, r := range batch {
		if committed[r] != 1 {
			t.Fatalf("record %d committed %d times, want once", i, committed[r])
		}
	}
}
