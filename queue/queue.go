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
//
// Fencing. Every claim gives the job a new lease token (Job.Token), and
// every write a runner makes about the job afterwards (complete, retry,
// fail, extend, and the notifier's expansion of a fan-out job) names it:
// the store changes the row only while the token is still the row's. A
// runner whose lease ran out, and whose job another runner has claimed
// since, therefore changes nothing (ErrStaleLease, logged at warn level as
// "stale lease"). Without it, such a runner would clear the lock under the
// new holder or mark done a job still running, and the next job of the
// key (a removal after its apply) could overtake it.
//
// Leases are held while handlers run: the runner extends a job's lease
// every quarter of a lease (a heartbeat), so a handler may take longer than
// one lease without another runner taking the job over. When the lease
// cannot be extended (the database is unreachable, or the job was claimed
// again), the handler's context ends half a lease before the last lease
// secured does, with ErrLeaseEnding or ErrStaleLease as its cause
// (context.Cause), so that a handler that respects its context has
// stopped before another runner may claim the job. Handlers should still
// bound their own calls well below the lease (provisioning refuses a
// webhook timeout that is not below its lease).
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Job is a claimed unit of work.
type Job struct {
	ID int64
	// Token is this claim's lease token: the writes about the job made on
	// behalf of this claim name it, and change nothing once the job has
	// been claimed again.
	Token    int64
	Queue    string
	Key      string
	Payload  []byte
	Attempts int // including this one
}

// Lease names one claim of a job.
type Lease struct {
	ID    int64
	Token int64
}

// Lease returns the claim j was handed out with.
func (j Job) Lease() Lease { return Lease{ID: j.ID, Token: j.Token} }

// DefaultLease is how long a claim lasts unless the runner says otherwise.
const DefaultLease = time.Minute

var (
	// ErrStaleLease is what the store returns for a write whose lease
	// token is no longer the job's: the job was claimed again after the
	// lease ran out (or put back in line by an admin). The write changed
	// nothing. It is also the cause of a handler's context ending when
	// the heartbeat finds the lease lost.
	ErrStaleLease = errors.New("stale lease: the job was claimed again")
	// ErrLeaseEnding is the cause of a handler's context ending because
	// its lease could not be extended and is about to run out.
	ErrLeaseEnding = errors.New("the job's lease is about to run out and could not be extended")
)

// Store persists jobs. store.DB implements it. Every method but Claim
// changes a job only while token is still its lease token, and returns
// ErrStaleLease when it is not.
type Store interface {
	// Claim leases up to limit due jobs of queue until now+lease, each
	// with a new lease token. A job is due when it is pending, its run_at
	// has passed, its lease (if any) has expired, and no earlier pending
	// job has the same key.
	Claim(ctx context.Context, queue string, limit int, lease time.Duration, now time.Time) ([]Job, error)
	// Extend moves the end of a job's lease to until.
	Extend(ctx context.Context, id, token int64, until time.Time) error
	Complete(ctx context.Context, id, token int64, now time.Time) error
	// CompleteMany marks jobs done in one statement, and returns the ids
	// of those whose token was stale (left unchanged).
	CompleteMany(ctx context.Context, leases []Lease, now time.Time) (stale []int64, err error)
	Retry(ctx context.Context, id, token int64, at time.Time, reason string) error
	Fail(ctx context.Context, id, token int64, reason string, now time.Time) error
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
	Lease        time.Duration // how long a claim lasts unless extended; default DefaultLease
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
			r.Lease = DefaultLease
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
	done := make(chan Job, 4*r.Concurrency) // completions to write
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
		claimed := time.Now() // before the claim: the lease ends no sooner than claimed+Lease
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
				r.runOne(ctx, j, claimed, done)
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
// tools). It returns how many jobs it ran. It claims one job at a time,
// since it runs them one at a time: a job claimed while others ran first
// could have lost its lease before its handler started.
func (r *Runner) RunOnce(ctx context.Context) (int, error) {
	r.init()
	n := 0
	for {
		claimed := time.Now()
		jobs, err := r.Store.Claim(ctx, r.Queue, 1, r.Lease, r.Now())
		if err != nil {
			return n, err
		}
		if len(jobs) == 0 {
			return n, nil
		}
		for _, j := range jobs {
			r.runOne(ctx, j, claimed, nil)
			n++
		}
	}
}

// runOne runs a job, holding its lease claimed at claimed, and records
// its outcome; a completion goes to done when it is given (Run writes them
// in batches), else straight to the store.
func (r *Runner) runOne(ctx context.Context, j Job, claimed time.Time, done chan<- Job) {
	// A job finishes its bookkeeping even when shutdown has begun, so that
	// its outcome is not lost; the handler itself sees ctx.
	bg := context.WithoutCancel(ctx)
	hctx, release := r.hold(ctx, j, claimed)
	err := r.safeHandle(hctx, j)
	if lost := release(); lost {
		return // the job's new holder records its outcome
	}
	now := r.Now()
	var perm permanentError
	var after retryAfterError
	switch {
	case err == nil && done != nil:
		done <- j
	case err == nil:
		err = r.Store.Complete(bg, j.ID, j.Token, now)
	case errors.As(err, &perm):
		r.Logger.Warn("job failed permanently", "queue", r.Queue, "job", j.ID, "key", j.Key, "err", err)
		err = r.Store.Fail(bg, j.ID, j.Token, err.Error(), now)
	case j.Attempts >= r.MaxAttempts:
		r.Logger.Warn("job failed after its last attempt", "queue", r.Queue, "job", j.ID, "attempts", j.Attempts, "err", err)
		err = r.Store.Fail(bg, j.ID, j.Token, fmt.Sprintf("gave up after %d attempts: %v", j.Attempts, err), now)
	default:
		delay := Backoff(j.Attempts, r.BaseBackoff, r.MaxBackoff)
		if errors.As(err, &after) && after.after > delay {
			delay = after.after
		}
		r.Logger.Info("job will be retried", "queue", r.Queue, "job", j.ID, "attempt", j.Attempts, "in", delay, "err", err)
		err = r.Store.Retry(bg, j.ID, j.Token, now.Add(delay), err.Error())
	}
	switch {
	case errors.Is(err, ErrStaleLease):
		r.staleLease(j, "record its outcome")
	case err != nil:
		r.Logger.Error("record job outcome", "queue", r.Queue, "job", j.ID, "err", err)
	}
}

// staleLease logs a write refused because j was claimed again.
func (r *Runner) staleLease(j Job, what string) {
	r.Logger.Warn("stale lease: the job was claimed again after this runner's lease ran out; not "+what,
		"queue", r.Queue, "job", j.ID, "key", j.Key, "attempt", j.Attempts, "token", j.Token)
}

// hold keeps j's lease, claimed at claimed, while its handler runs: it
// extends the lease every quarter of a lease, and ends the returned
// context half a lease before the last lease it secured runs out (half:
// a loaded machine may take a while to stop the handler and let it
// return, and the job must be back in no runner's hands before another
// may claim it). release
// stops it, once the handler has returned, and reports whether the lease
// was lost to another claim; no extension runs after release returns.
func (r *Runner) hold(ctx context.Context, j Job, claimed time.Time) (hctx context.Context, release func() (lost bool)) {
	hctx, cancel := context.WithCancelCause(ctx)
	margin := r.Lease / 2
	ending := time.AfterFunc(time.Until(claimed.Add(r.Lease-margin)), func() { cancel(ErrLeaseEnding) })
	stop, stopped := make(chan struct{}), make(chan struct{})
	var lost bool
	go func() {
		defer close(stopped)
		tick := time.NewTicker(max(r.Lease/4, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			start := time.Now()
			// Half a lease: by then the handler is stopped anyway
			// (ending), and release never waits long.
			ectx, ecancel := context.WithTimeout(context.WithoutCancel(ctx), r.Lease/2)
			err := r.Store.Extend(ectx, j.ID, j.Token, r.Now().Add(r.Lease))
			ecancel()
			switch {
			case err == nil:
				ending.Reset(time.Until(start.Add(r.Lease - margin)))
			case errors.Is(err, ErrStaleLease):
				lost = true
				r.staleLease(j, "extend it; stopping the handler")
				cancel(ErrStaleLease)
				return
			default:
				r.Logger.Warn("extend job lease", "queue", r.Queue, "job", j.ID, "err", err)
			}
		}
	}()
	return hctx, func() bool {
		close(stop)
		<-stopped
		ending.Stop()
		cancel(nil)
		return lost
	}
}

// completer writes the completions Run's jobs report, a batch at a time,
// until done is closed; then it writes what is left and closes flushed.
func (r *Runner) completer(done <-chan Job, flushed chan<- struct{}) {
	defer close(flushed)
	var jobs []Job
	flush := func() {
		if len(jobs) == 0 {
			return
		}
		leases := make([]Lease, len(jobs))
		for i, j := range jobs {
			leases[i] = j.Lease()
		}
		stale, err := r.Store.CompleteMany(context.Background(), leases, r.Now())
		if err != nil {
			r.Logger.Error("record completed jobs", "queue", r.Queue, "jobs", len(jobs), "err", err)
		}
		for _, j := range jobs {
			if slices.Contains(stale, j.ID) {
				r.staleLease(j, "mark it done")
			}
		}
		jobs = jobs[:0]
		r.Wake() // a completion may unblock the next job of its key
	}
	tick := time.NewTicker(completeEvery)
	defer tick.Stop()
	for {
		select {
		case j, ok := <-done:
			if !ok {
				flush()
				return
			}
			jobs = append(jobs, j)
			if len(jobs) >= 256 {
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
