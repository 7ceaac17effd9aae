package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestLongNonASCIIError: a job whose error is 2,000 Cyrillic characters
// (4,000 bytes, over the last_error bound) is retried and then failed on
// both databases. Cutting it in the middle of a character used to make
// PostgreSQL refuse the write (SQLSTATE 22021): the job was claimed again
// every lease, forever, and never failed.
func TestLongNonASCIIError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &fakeClock{now: time.Now().UTC().Truncate(time.Microsecond)}
		enqueue(t, db, job("k", "cyrillic", c.now))
		msg := "x" + strings.Repeat("ж", 2000) // odd prefix: a byte cut lands inside a character
		calls := 0
		r := &queue.Runner{Store: db, Queue: "test", Now: c.Now, Logger: slog.New(slog.DiscardHandler), MaxAttempts: 2,
			Handler: func(ctx context.Context, j queue.Job) error { calls++; return errors.New(msg) }}
		for i := 0; i < 4; i++ {
			if _, err := r.RunOnce(ctx); err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
			c.Advance(time.Hour)
		}
		if calls != 2 {
			t.Fatalf("handler ran %d times, want 2", calls)
		}
		failed, err := db.FailedJobs(ctx, "test", 10)
		if err != nil || len(failed) != 1 {
			t.Fatalf("failed jobs: %+v %v", failed, err)
		}
		le := failed[0].LastError
		if !utf8.ValidString(le) || len(le) > 2000 || !strings.Contains(le, "жжж") {
			t.Fatalf("last error: %d bytes, valid %v", len(le), utf8.ValidString(le))
		}
	})
}
