package access

import (
	"context"
	"log/slog"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// asyncAuditCap bounds the queued records: when the database cannot keep
// up (or is down), calls wait for room, then fail, rather than answer
// without an audit record.
const asyncAuditCap = 10_000

// maxAuditBatch bounds one commit.
const maxAuditBatch = 1000

// asyncAudit queues records and commits them in batches, at least every
// flush interval. A failed commit is retried; the batch is kept meanwhile.
type asyncAudit struct {
	commit  func(ctx context.Context, recs []*workflow.AuditRecord) error
	every   time.Duration
	log     *slog.Logger
	queue   chan *workflow.AuditRecord
	stop    chan struct{}
	done    chan struct{}
	lastErr error // of the final flush; read after done
}

func newAsyncAudit(commit func(ctx context.Context, recs []*workflow.AuditRecord) error, every time.Duration, log *slog.Logger) *asyncAudit {
	a := &asyncAudit{commit: commit, every: every, log: log,
		queue: make(chan *workflow.AuditRecord, asyncAuditCap), stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *asyncAudit) write(ctx context.Context, rec *workflow.AuditRecord) error {
	workflow.StampSource(ctx, rec) // written later, by the background writer
	select {
	case a.queue <- rec:
		return nil
	default:
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	select {
	case a.queue <- rec:
		return nil
	case <-wait.Done():
		return workflow.Errorf(workflow.CodeUnavailable, "the audit log is not keeping up; retry")
	}
}

func (a *asyncAudit) run() {
	defer close(a.done)
	tick := time.NewTicker(a.every)
	defer tick.Stop()
	var batch []*workflow.AuditRecord
	failures := 0
	for {
		// A full batch is written before more is taken, so that while the
		// database is down the records back up into the bounded queue
		// (callers wait, then fail) instead of growing the batch.
		in := a.queue
		if len(batch) >= maxAuditBatch {
			in = nil
		}
		select {
		case rec := <-in:
			batch = append(batch, rec)
			if len(batch) < maxAuditBatch {
				continue
			}
		case <-tick.C:
		case <-a.stop:
			// Everything queued before close was called is in the channel.
			for more := true; more; {
				select {
				case rec := <-a.queue:
					batch = append(batch, rec)
				default:
					more = false
				}
			}
			var n int
			if n, a.lastErr = a.commitBatch(batch); a.lastErr != nil {
				a.log.Error("check/mask audit records lost at shutdown", "records", len(batch)-n, "err", a.lastErr)
			}
			return
		}
		if len(batch) == 0 {
			continue
		}
		n, err := a.commitBatch(batch)
		// What was committed is dropped even when a later chunk failed:
		// retrying it would write those records twice.
		batch = append(batch[:0], batch[n:]...)
		if err != nil {
			failures++
			if failures == 1 || failures%100 == 0 {
				a.log.Error("cannot write check/mask audit records; keeping them and retrying", "queued", len(batch)+len(a.queue), "err", err)
			}
			continue
		}
		failures = 0
	}
}

// commitBatch commits batch in chunks of at most maxAuditBatch and returns
// how many records it committed, a prefix of batch.
func (a *asyncAudit) commitBatch(batch []*workflow.AuditRecord) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := 0
	for done < len(batch) {
		n := min(len(batch)-done, maxAuditBatch)
		if err := a.commit(ctx, batch[done:done+n]); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// close stops the writer once it has committed everything queued. Calls
// must have stopped (the HTTP server shut down) before.
func (a *asyncAudit) close(ctx context.Context) error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	select {
	case <-a.done:
		return a.lastErr
	case <-ctx.Done():
		return ctx.Err()
	}
}
