// Package queue runs persisted jobs: the outbox of notifications and any
// other work that must happen after a change commits and must not be lost.
//
// Jobs are rows written in the same transaction as the change that causes
// them (workflow.Tx.Enqueue). A Runner claims due jobs with a lease, runs
// its handler, and marks each job done, schedules a retry with exponential
// backoff and jitter, or marks it failed for good. Jobs with the same key
// run one at a time in the order they were enqueued, so that, for example,
// the messages about one request arrive in order. Delivery is at least
// once: a runner that dies mid-job leaves its lease to expire and another
// runner retries the job, so handlers must be idempotent.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Job is a claimed unit of work.
type Job struct {
	ID       int64
	Queue    string
	Key      string
	Payload  []byte
	Attempts int // including this one
}

// Store persists jobs. store.DB implements it.
type Store interface {
	// Claim leases up to limit due jobs of queue until now+lease. A job
	// is due when it is pending, its run_at has passed, its lease (if
	// any) has expired, and no earlier pending job has the same key.
	Claim(ctx context.Context, queue string, limit int, lease time.Duration, now time.Time) ([]Job, error)
	Complete(ctx context.Context, id int64, now time.Time) error
	// CompleteMany marks jobs done in one statement.
	CompleteMany(ctx context.Context, ids []int64, now time.Time) error
	Retry(ctx context.Context, id int64, at time.Time, reason string) error
	Fail(ctx context.Context, id int64, reason string, now time.Time) error
}

// Handler does one job. Returning nil completes it; Permanent(err) fails it
// for good; RetryAfter(d, err) retries no sooner than d; any other error
// retries with backoff.
type Handler func(ctx context.Context, job Job) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks an error that retrying cannot fix (a deleted channel, a
// revoked token).
func Permanent(err error) error { return permanentError{err} }

type retryAfterError struct {
	after time.Duration
	err   error
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter asks for a retry no sooner than d (for example Slack's
// Retry-After on 429).
func RetryAfter(d time.Duration, err error) error { return retryAfterError{d, err} }

// Runner runs the jobs of one queue.
type Runner struct {
	Store   Store
	Queue   string
	Handler Handler
	Logger  *slog.Logger

	Concurrency  int           // jobs run at once; default 4
	PollInterval time.Duration // how often to look for due jobs; default 500ms
	Lease        time.Duration // how long a claim lasts; default 1m
	MaxAttempts  int           // then the job fails for good; default 20
	BaseBackoff  time.Duration // first retry delay; default 1s, doubling
	MaxBackoff   time.Duration // default 10m
	Now          func() time.Time

	wake chan struct{}
	once sync.Once
}

// completeEvery is how long Run gathers completions before writing them
// in one statement: a busy queue commits once per batch instead of once
// per job. The next job of the same key waits at most this long, and a
// job completed but not yet written when its runner dies runs again
// (delivery is at least once anyway).
const completeEvery = 10 * time.Millisecond

func (r *Runner) init() {
	r.once.Do(func() {
		if r.Concurrency <= 0 {
			r.Concurrency = 4
		}
		if r.PollInterval <= 0 {
			r.PollInterval = 500 * time.Millisecond
		}
		if r.Lease <= 0 {
			r.Lease = time.Minute
		}
		if r.MaxAttempts <= 0 {
			r.MaxAttempts = 20
		}
		if r.BaseBackoff <= 0 {
			r.BaseBackoff = time.Second
		}
		if r.MaxBackoff <= 0 {
			r.MaxBackoff = 10 * time.Minute
		}
		if r.Now == nil {
			r.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
		}
		if r.Logger == nil {
			r.Logger = slog.Default()
		}
		r.wake = make(chan struct{}, 1)
	})
}

// Wake makes the runner look for jobs now rather than at its next poll.
func (r *Runner) Wake() {
	r.init()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Backoff is the delay before retry number attempt (1-based): exponential
// from base, capped at max, with full jitter over its upper half so that
// many failing jobs do not retry in lockstep.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// Run claims and runs jobs until ctx is done, then waits for the jobs in
// hand to finish.
func (r *Runner) Run(ctx context.Context) {
	r.init()
	sem := make(chan struct{}, r.Concurrency)
	var wg sync.WaitGroup
	done := make(chan int64, 4*r.Concurrency) // completions to write
	flushed := make(chan struct{})
	go r.completer(done, flushed)
	defer func() { wg.Wait(); close(done); <-flushed }()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.wake:
		}
		free := r.Concurrency - len(sem)
		var jobs []Job
		if free > 0 {
			var err error
			jobs, err = r.Store.Claim(ctx, r.Queue, free, r.Lease, r.Now())
			if err != nil && ctx.Err() == nil {
				r.Logger.Error("claim jobs", "queue", r.Queue, "err", err)
			}
		}
		for _, j := range jobs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done(); r.Wake() }()
				r.runOne(ctx, j, done)
			}()
		}
		wait := r.PollInterval
		if len(jobs) == free && free > 0 {
			wait = 0 // there may be more
		}
		timer.Reset(wait)
	}
}

// RunOnce claims and runs due jobs until none is left (for tests and
// tools). It returns how many jobs it ran.
func (r *Runner) RunOnce(ctx context.Context) (int, error) {
	r.init()
	n := 0
	for {
		jobs, err := r.Store.Claim(ctx, r.Queue, r.Concurrency, r.Lease, r.Now())
		if err != nil {
			return n, err
		}
		if len(jobs) == 0 {
			return n, nil
		}
		for _, j := range jobs {
			r.runOne(ctx, j, nil)
			n++
		}
	}
}

// runOne runs a job and records its outcome; a completion goes to done
// when it is given (Run writes them in batches), else straight to the
// store.
func (r *Runner) runOne(ctx context.Context, j Job, done chan<- int64) {
	// A job finishes its bookkeeping even when shutdown has begun, so that
	// its outcome is not lost; the handler itself sees ctx.
	bg := context.WithoutCancel(ctx)
	err := r.safeHandle(ctx, j)
	now := r.Now()
	var perm permanentError
	var after retryAfterError
	switch {
	case err == nil && done != nil:
		done <- j.ID
	case err == nil:
		err = r.Store.Complete(bg, j.ID, now)
	case errors.As(err, &perm):
		r.Logger.Warn("job failed permanently", "queue", r.Queue, "job", j.ID, "key", j.Key, "err", err)
		err = r.Store.Fail(bg, j.ID, err.Error(), now)
	case j.Attempts >= r.MaxAttempts:
		r.Logger.Warn("job failed after its last attempt", "queue", r.Queue, "job", j.ID, "attempts", j.Attempts, "err", err)
		err = r.Store.Fail(bg, j.ID, fmt.Sprintf("gave up after %d attempts: %v", j.Attempts, err), now)
	default:
		delay := Backoff(j.Attempts, r.BaseBackoff, r.MaxBackoff)
		if errors.As(err, &after) && after.after > delay {
			delay = after.after
		}
		r.Logger.Info("job will be retried", "queue", r.Queue, "job", j.ID, "attempt", j.Attempts, "in", delay, "err", err)
		err = r.Store.Retry(bg, j.ID, now.Add(delay), err.Error())
	}
	if err != nil {
		r.Logger.Error("record job outcome", "queue", r.Queue, "job", j.ID, "err", err)
	}
}

// completer writes the completions Run's jobs report, a batch at a time,
// until done is closed; then it writes what is left and closes flushed.
func (r *Runner) completer(done <-chan int64, flushed chan<- struct{}) {
	defer close(flushed)
	var ids []int64
	flush := func() {
		if len(ids) == 0 {
			return
		}
		if err := r.Store.CompleteMany(context.Background(), ids, r.Now()); err != nil {
			r.Logger.Error("record completed jobs", "queue", r.Queue, "jobs", len(ids), "err", err)
		}
		ids = ids[:0]
		r.Wake() // a completion may unblock the next job of its key
	}
	tick := time.NewTicker(completeEvery)
	defer tick.Stop()
	for {
		select {
		case id, ok := <-done:
			if !ok {
				flush()
				return
			}
			ids = append(ids, id)
			if len(ids) >= 256 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

func (r *Runner) safeHandle(ctx context.Context, j Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return r.Handler(ctx, j)
}
