package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestHandlersLongerThanTheLease: two runners on one database, a 100 ms
// lease and handlers of 300 ms. The runners hold their leases while the
// handlers run, so no job runs twice at once, no two jobs of a key run at
// once, and each key's jobs run in the order they were enqueued. When an
// extension does not land in time (a busy SQLite), the handler is stopped
// half a lease (50 ms here) before the lease ends and the job runs
// again later; the test relies on the handler returning within those
// 50 ms of being stopped.
func TestHandlersLongerThanTheLease(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		now := time.Now().UTC().Truncate(time.Microsecond)
		const keys, perKey = 2, 3
		var jobs []workflow.Job
		for i := 0; i < keys*perKey; i++ {
			jobs = append(jobs, job(fmt.Sprint("k", i%keys), fmt.Sprint(i), now))
		}
		enqueue(t, db, jobs...)

		var mu sync.Mutex
		runningJob := map[string]int{}
		runningKey := map[string]int{}
		var overlaps []string
		started := map[string][]int{} // per key, jobs in the order their runs started
		finished := map[string]bool{}
		handler := func(ctx context.Context, j queue.Job) error {
			p := string(j.Payload)
			var n int
			fmt.Sscan(p, &n)
			mu.Lock()
			if runningJob[p] > 0 {
				overlaps = append(overlaps, "job "+p+" started while it was running")
			}
			if runningKey[j.Key] > 0 {
				overlaps = append(overlaps, fmt.Sprintf("job %s of key %s started while another job of the key was running", p, j.Key))
			}
			runningJob[p]++
			runningKey[j.Key]++
			started[j.Key] = append(started[j.Key], n)
			mu.Unlock()
			defer func() {
				mu.Lock()
				runningJob[p]--
				runningKey[j.Key]--
				mu.Unlock()
			}()
			select {
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
				return context.Cause(ctx) // lease lost or ending: retried
			}
			mu.Lock()
			finished[p] = true
			mu.Unlock()
			return nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var logs syncBuffer // shown when the test fails
		for range 2 {
			r := &queue.Runner{Store: storetest.OpenURL(t, u), Queue: "test", Handler: handler, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Lease: 100 * time.Millisecond, Concurrency: 2, PollInterval: 50 * time.Millisecond, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
			wg.Add(1)
			go func() { defer wg.Done(); r.Run(ctx) }()
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			backlog, err := db.QueueBacklog(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			overlapped := len(overlaps) > 0
			mu.Unlock()
			if backlog["test"] == 0 || overlapped || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		if len(overlaps) > 0 {
			t.Fatalf("runs overlapped:\n%s\nrunner logs:\n%s", strings.Join(overlaps, "\n"), logs.String())
		}
		if len(finished) != keys*perKey {
			t.Fatalf("%d of %d jobs finished", len(finished), keys*perKey)
		}
		for k, order := range started {
			if !slices.IsSorted(order) {
				t.Fatalf("key %s ran out of order: %v", k, order)
			}
		}
		if backlog, err := db.QueueBacklog(context.Background()); err != nil || backlog["test"] != 0 {
			t.Fatalf("backlog: %v %v", backlog, err)
		}
	})
}

type jobState struct {
	State       string
	Attempts    int
	RunAt       time.Time
	LockedUntil *time.Time
	LeaseToken  int64
	LastError   string
}

func readJob(t *testing.T, db *store.DB, id int64) jobState {
	t.Helper()
	var s jobState
	if err := db.Gorm().Raw(`SELECT state, attempts, run_at, locked_until, lease_token, last_error FROM jobs WHERE id = ?`, id).Scan(&s).Error; err != nil {
		t.Fatal(err)
	}
	s.RunAt = s.RunAt.UTC()
	if s.LockedUntil != nil {
		u := s.LockedUntil.UTC()
		s.LockedUntil = &u
	}
	return s
}

// TestStaleLeaseChangesNothing: once a job is claimed again, every write
// in the name of the earlier claim is refused and leaves the row as the
// new claim left it; the new claim's writes go through.
func TestStaleLeaseChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Microsecond)
		enqueue(t, db, job("k", "p", t0))
		first, err := db.Claim(ctx, "test", 1, time.Minute, t0)
		if err != nil || len(first) != 1 {
			t.Fatalf("claim: %v %v", first, err)
		}
		second, err := db.Claim(ctx, "test", 1, time.Minute, t0.Add(time.Minute)) // the first lease ran out
		if err != nil || len(second) != 1 {
			t.Fatalf("claim after the lease: %v %v", second, err)
		}
		stale, fresh := first[0], second[0]
		if stale.Token == fresh.Token {
			t.Fatalf("both claims got token %d", stale.Token)
		}
		want := readJob(t, db, fresh.ID)
		for _, w := range []struct {
			name  string
			write func() error
		}{
			{"Extend", func() error { return db.Extend(ctx, stale.ID, stale.Token, t0.Add(time.Hour)) }},
			{"Complete", func() error { return db.Complete(ctx, stale.ID, stale.Token, t0) }},
			{"Retry", func() error { return db.Retry(ctx, stale.ID, stale.Token, t0, "stale retry") }},
			{"Fail", func() error { return db.Fail(ctx, stale.ID, stale.Token, "stale failure", t0) }},
			{"ExpandJob", func() error {
				return db.ExpandJob(ctx, stale.ID, stale.Token, []workflow.Job{job("x", "expanded", t0)})
			}},
			{"CompleteMany", func() error {
				ids, err := db.CompleteMany(ctx, []queue.Lease{stale.Lease()}, t0)
				if err == nil && slices.Equal(ids, []int64{stale.ID}) {
					return queue.ErrStaleLease
				}
				return fmt.Errorf("stale ids %v, err %v", ids, err)
			}},
		} {
			if err := w.write(); !errors.Is(err, queue.ErrStaleLease) {
				t.Errorf("%s with the stale token: %v, want queue.ErrStaleLease", w.name, err)
			}
			if got := readJob(t, db, stale.ID); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s with the stale token changed the job:\n got %+v\nwant %+v", w.name, got, want)
			}
		}
		if backlog, _ := db.QueueBacklog(ctx); backlog["test"] != 1 {
			t.Fatalf("backlog %v, want the one job", backlog)
		}

		// The current claim's writes go through.
		if err := db.Extend(ctx, fresh.ID, fresh.Token, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := readJob(t, db, fresh.ID); got.LockedUntil == nil || !got.LockedUntil.Equal(t0.Add(time.Hour)) {
			t.Fatalf("extended lease: %+v", got)
		}
		if err := db.Retry(ctx, fresh.ID, fresh.Token, t0.Add(2*time.Minute), "later"); err != nil {
			t.Fatal(err)
		}
		if got := readJob(t, db, fresh.ID); got.LockedUntil != nil || got.LastError != "later" || got.State != "pending" {
			t.Fatalf("after retry: %+v", got)
		}
		third, err := db.Claim(ctx, "test", 1, time.Minute, t0.Add(2*time.Minute))
		if err != nil || len(third) != 1 || third[0].Token == fresh.Token {
			t.Fatalf("claim after the retry: %+v %v", third, err)
		}
		if ids, err := db.CompleteMany(ctx, []queue.Lease{fresh.Lease(), third[0].Lease()}, t0); err != nil || !slices.Equal(ids, []int64{fresh.ID}) {
			t.Fatalf("CompleteMany of a stale and a current lease of one job: stale %v, %v", ids, err)
		}
		if got := readJob(t, db, fresh.ID); got.State != "done" {
			t.Fatalf("after complete: %+v", got)
		}
	})
}

// syncBuffer is a log destination for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestLeaseLostWhileRunning: when a job is claimed again while its
// handler runs (here the claim is made by hand, as a runner that found the
// lease run out would), the heartbeat finds out, ends the handler's
// context with ErrStaleLease, and the runner records nothing for it: it
// logs "stale lease" instead.
func TestLeaseLostWhileRunning(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		enqueue(t, db, job("k", "p", time.Now().UTC()))
		var logs syncBuffer
		running := make(chan queue.Job, 1)
		var cause error
		// A lease long enough that a heartbeat (every quarter of it) finds
		// the new token well before the handler's own deadline (half a
		// lease before expiry) would end it, even on a loaded machine.
		r := &queue.Runner{Store: db, Queue: "test", Lease: 2 * time.Second,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Handler: func(ctx context.Context, j queue.Job) error {
				running <- j
				select {
				case <-ctx.Done():
					cause = context.Cause(ctx)
					return errors.New("interrupted")
				case <-time.After(10 * time.Second):
					return nil
				}
			}}
		done := make(chan error, 1)
		go func() { _, err := r.RunOnce(ctx); done <- err }()
		j := <-running
		if err := db.Gorm().Exec(`UPDATE jobs SET lease_token = lease_token + 1, locked_until = ? WHERE id = ?`,
			time.Now().UTC().Add(time.Hour), j.ID).Error; err != nil {
			t.Fatal(err)
		}
		before := readJob(t, db, j.ID)
		start := time.Now()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !errors.Is(cause, queue.ErrStaleLease) {
			t.Fatalf("the handler's context ended with %v, want queue.ErrStaleLease", cause)
		}
		if took := time.Since(start); took > 5*time.Second { // the handler's own wait is 10 s
			t.Fatalf("the handler ran %v after its lease was lost", took)
		}
		if after := readJob(t, db, j.ID); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("the stale runner changed the job:\n got %+v\nwant %+v", after, before)
		}
		if !strings.Contains(logs.String(), "level=WARN msg=\"stale lease") {
			t.Fatalf("no stale lease warning in %q", logs.String())
		}
	})
}

// TestLeaseEndsBeforeItRunsOut: when the lease cannot be extended (here
// the runner's database is gone), the handler's context ends with
// ErrLeaseEnding before the lease runs out, so that the handler has
// stopped before another runner may take the job.
func TestLeaseEndsBeforeItRunsOut(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		enqueue(t, db, job("k", "p", time.Now().UTC()))
		rdb := storetest.OpenURL(t, u)
		const lease = time.Second
		running := make(chan struct{})
		type result struct {
			cause error
			ran   time.Duration
		}
		res := make(chan result, 1)
		r := &queue.Runner{Store: rdb, Queue: "test", Lease: lease, Logger: slog.New(slog.DiscardHandler),
			Handler: func(ctx context.Context, j queue.Job) error {
				start := time.Now()
				close(running)
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
				}
				res <- result{context.Cause(ctx), time.Since(start)}
				return ctx.Err()
			}}
		go r.RunOnce(context.Background())
		<-running
		rdb.Close()
		got := <-res
		if !errors.Is(got.cause, queue.ErrLeaseEnding) || got.ran >= lease {
			t.Fatalf("the handler ran %v and its context ended with %v; want less than the lease %v, and queue.ErrLeaseEnding", got.ran, got.cause, lease)
		}
	})
}
