package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func enqueue(t *testing.T, db *store.DB, jobs ...workflow.Job) {
	t.Helper()
	if err := db.InTx(context.Background(), func(tx workflow.Tx) error { return tx.Enqueue(context.Background(), jobs...) }); err != nil {
		t.Fatal(err)
	}
}

func job(key, payload string, at time.Time) workflow.Job {
	return workflow.Job{Queue: "test", Key: key, Payload: []byte(payload), RunAt: at}
}

func TestOrderPerKeyAndRetries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &fakeClock{now: time.Now().UTC().Truncate(time.Microsecond)}
		enqueue(t, db, job("a", "a1", c.now), job("b", "b1", c.now), job("a", "a2", c.now), job("b", "b2", c.now), job("", "free", c.now))
		var got []string
		failA1 := 2
		r := &queue.Runner{Store: db, Queue: "test", Now: c.Now, Logger: slog.New(slog.DiscardHandler), BaseBackoff: time.Second, Concurrency: 1,
			Handler: func(ctx context.Context, j queue.Job) error {
				p := string(j.Payload)
				if p == "a1" && failA1 > 0 {
					failA1--
					return errors.New("slack is down")
				}
				got = append(got, p)
				return nil
			}}
		if _, err := r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		// a1 failed and waits for its retry; a2 must wait behind it.
		if want := []string{"b1", "b2", "free"}; !slices.Equal(got, want) {
			t.Fatalf("first pass ran %v, want %v", got, want)
		}
		for i := 0; i < 2; i++ {
			c.Advance(time.Minute)
			if _, err := r.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if want := []string{"b1", "b2", "free", "a1", "a2"}; !slices.Equal(got, want) {
			t.Fatalf("ran %v, want %v", got, want)
		}
		backlog, _ := db.QueueBacklog(ctx)
		if backlog["test"] != 0 {
			t.Fatalf("backlog %v", backlog)
		}
	})
}

func TestPermanentFailureAndMaxAttempts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &fakeClock{now: time.Now().UTC().Truncate(time.Microsecond)}
		enqueue(t, db, job("x", "gone", c.now), job("x", "after", c.now), job("y", "flaky", c.now))
		calls := map[string]int{}
		r := &queue.Runner{Store: db, Queue: "test", Now: c.Now, Logger: slog.New(slog.DiscardHandler), MaxAttempts: 3,
			Handler: func(ctx context.Context, j queue.Job) error {
				p := string(j.Payload)
				calls[p]++
				switch p {
				case "gone":
					return queue.Permanent(errors.New("channel_not_found"))
				case "flaky":
					return errors.New("timeout")
				}
				return nil
			}}
		for i := 0; i < 6; i++ {
			if _, err := r.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Hour)
		}
		if calls["gone"] != 1 || calls["after"] != 1 || calls["flaky"] != 3 {
			t.Fatalf("calls = %v", calls)
		}
		failed, err := db.FailedJobs(ctx, "test", 10)
		if err != nil || len(failed) != 2 {
			t.Fatalf("failed jobs: %+v %v", failed, err)
		}
		reasons := []string{failed[0].LastError, failed[1].LastError}
		slices.Sort(reasons)
		if reasons[0] != "channel_not_found" || reasons[1] != "gave up after 3 attempts: timeout" {
			t.Fatalf("reasons %q", reasons)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &fakeClock{now: time.Now().UTC().Truncate(time.Microsecond)}
		enqueue(t, db, job("k", "p", c.now))
		n := 0
		r := &queue.Runner{Store: db, Queue: "test", Now: c.Now, Logger: slog.New(slog.DiscardHandler), BaseBackoff: time.Millisecond,
			Handler: func(ctx context.Context, j queue.Job) error {
				n++
				if n == 1 {
					return queue.RetryAfter(30*time.Second, errors.New("rate_limited"))
				}
				return nil
			}}
		r.RunOnce(ctx)
		c.Advance(29 * time.Second)
		r.RunOnce(ctx)
		if n != 1 {
			t.Fatalf("retried before Retry-After: %d calls", n)
		}
		c.Advance(time.Second)
		r.RunOnce(ctx)
		if n != 2 {
			t.Fatalf("%d calls after Retry-After", n)
		}
	})
}

// TestLeaseExpiry: a runner that dies holding a job leaves it to be retried
// once its lease runs out.
func TestLeaseExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &fakeClock{now: time.Now().UTC().Truncate(time.Microsecond)}
		enqueue(t, db, job("k", "p", c.now))
		claimed, err := db.Claim(ctx, "test", 10, time.Minute, c.now)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		if again, _ := db.Claim(ctx, "test", 10, time.Minute, c.now.Add(59*time.Second)); len(again) != 0 {
			t.Fatal("claimed twice within the lease")
		}
		again, _ := db.Claim(ctx, "test", 10, time.Minute, c.now.Add(time.Minute))
		if len(again) != 1 || again[0].Attempts != 2 {
			t.Fatalf("after lease: %+v", again)
		}
	})
}

// TestConcurrentRunners: several runners on one queue (replicas) run each
// job once, and keep each key's jobs in order.
func TestConcurrentRunners(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		now := time.Now().UTC().Truncate(time.Microsecond)
		var jobs []workflow.Job
		for i := 0; i < 200; i++ {
			jobs = append(jobs, job(fmt.Sprint("req", i%10), fmt.Sprint(i), now))
		}
		enqueue(t, db, jobs...)
		var mu sync.Mutex
		seen := map[string]int{}
		perKey := map[string][]int{}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for r := 0; r < 3; r++ {
			rdb := storetest.OpenURL(t, u)
			runner := &queue.Runner{Store: rdb, Queue: "test", Logger: slog.New(slog.DiscardHandler), Concurrency: 4, PollInterval: 10 * time.Millisecond,
				Handler: func(ctx context.Context, j queue.Job) error {
					var n int
					fmt.Sscan(string(j.Payload), &n)
					mu.Lock()
					seen[string(j.Payload)]++
					perKey[j.Key] = append(perKey[j.Key], n)
					mu.Unlock()
					return nil
				}}
			wg.Add(1)
			go func() { defer wg.Done(); runner.Run(ctx) }()
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			done := len(seen)
			mu.Unlock()
			if done == 200 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		if len(seen) != 200 {
			t.Fatalf("ran %d of 200 jobs", len(seen))
		}
		for p, n := range seen {
			if n != 1 {
				t.Fatalf("job %s ran %d times", p, n)
			}
		}
		for k, order := range perKey {
			if !slices.IsSorted(order) {
				t.Fatalf("key %s ran out of order: %v", k, order)
			}
		}
		// Completions are written in batches; when Run returns, all are.
		if backlog, err := db.QueueBacklog(context.Background()); err != nil || backlog["test"] != 0 {
			t.Fatalf("backlog after the runners stopped: %v %v", backlog, err)
		}
	})
}

func TestBackoff(t *testing.T) {
	for attempt := 1; attempt <= 30; attempt++ {
		d := queue.Backoff(attempt, time.Second, time.Minute)
		ceil := min(time.Second<<min(attempt-1, 20), time.Minute)
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, ceil/2, ceil)
		}
	}
}

func TestPruneJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &fakeClock{now: time.Now().UTC().Truncate(time.Microsecond)}
		enqueue(t, db, job("a", "done-old", c.now), job("b", "failed-old", c.now), job("c", "pending", c.now.Add(time.Hour)))
		r := &queue.Runner{Store: db, Queue: "test", Now: c.Now, Logger: slog.New(slog.DiscardHandler),
			Handler: func(ctx context.Context, j queue.Job) error {
				if string(j.Payload) == "failed-old" {
					return queue.Permanent(errors.New("gone"))
				}
				return nil
			}}
		if _, err := r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		// Done jobs older than a day go; failed ones are kept for a week;
		// pending ones always stay.
		n, err := db.PruneJobs(ctx, c.now.Add(time.Second), c.now.Add(-time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d, %v; want the done job only", n, err)
		}
		if failed, _ := db.FailedJobs(ctx, "test", 10); len(failed) != 1 {
			t.Fatalf("failed job pruned too early: %v", failed)
		}
		n, _ = db.PruneJobs(ctx, c.now.Add(time.Second), c.now.Add(time.Second))
		backlog, _ := db.QueueBacklog(ctx)
		if n != 1 || backlog["test"] != 1 {
			t.Fatalf("second prune %d, backlog %v", n, backlog)
		}
	})
}
