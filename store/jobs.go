package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/workflow"
)

var _ queue.Store = (*DB)(nil)

// maxErrorLen bounds the last_error column.
const maxErrorLen = 2000

func (d *DB) Claim(ctx context.Context, q string, limit int, lease time.Duration, now time.Time) ([]queue.Job, error) {
	lock := ""
	if d.kind == Postgres {
		lock = "FOR UPDATE SKIP LOCKED"
	}
	// A job waits while an earlier pending job with the same key exists,
	// whether that one is running, leased or waiting for its retry.
	// "attempts >= 0" is always true; it matches jobs_due_idx's predicate
	// so that only the outer scan can use that index (migration 00006).
	query := fmt.Sprintf(`UPDATE jobs SET locked_until = ?, attempts = attempts + 1
		WHERE id IN (
			SELECT j.id FROM jobs j
			WHERE j.queue = ? AND j.state = 'pending' AND j.attempts >= 0 AND j.run_at <= ?
			  AND (j.locked_until IS NULL OR j.locked_until <= ?)
			  AND (j.order_key = '' OR NOT EXISTS (
			        SELECT 1 FROM jobs p
			        WHERE p.queue = j.queue AND p.order_key = j.order_key AND p.state = 'pending' AND p.id < j.id))
			ORDER BY j.id LIMIT ? %s)
		RETURNING id, queue, order_key, payload, attempts`, lock)
	var rows []jobRow
	if err := d.ctx(ctx).Raw(query, now.Add(lease), q, now, now, limit).Scan(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	jobs := make([]queue.Job, len(rows))
	for i, r := range rows {
		jobs[i] = queue.Job{ID: r.ID, Queue: r.Queue, Key: r.OrderKey, Payload: []byte(r.Payload), Attempts: r.Attempts}
	}
	// RETURNING does not promise an order.
	slices.SortFunc(jobs, func(a, b queue.Job) int { return cmp.Compare(a.ID, b.ID) })
	return jobs, nil
}

func (d *DB) Complete(ctx context.Context, id int64, now time.Time) error {
	return mapError(d.ctx(ctx).Exec(`UPDATE jobs SET state = 'done', locked_until = NULL, last_error = '', finished_at = ? WHERE id = ?`, now, id).Error)
}

func (d *DB) CompleteMany(ctx context.Context, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return mapError(d.ctx(ctx).Exec(`UPDATE jobs SET state = 'done', locked_until = NULL, last_error = '', finished_at = ? WHERE id IN ? AND state = 'pending'`, now, ids).Error)
}

func (d *DB) Retry(ctx context.Context, id int64, at time.Time, reason string) error {
	return mapError(d.ctx(ctx).Exec(`UPDATE jobs SET run_at = ?, locked_until = NULL, last_error = ? WHERE id = ? AND state = 'pending'`,
		at, truncate(reason, maxErrorLen), id).Error)
}

func (d *DB) Fail(ctx context.Context, id int64, reason string, now time.Time) error {
	return mapError(d.ctx(ctx).Exec(`UPDATE jobs SET state = 'failed', locked_until = NULL, last_error = ?, finished_at = ? WHERE id = ?`,
		truncate(reason, maxErrorLen), now, id).Error)
}

// truncate cuts text for a column, keeping it valid UTF-8.
func truncate(s string, n int) string { return workflow.Clip(s, n) }

// JobInfo is a job as admins see it.
type JobInfo struct {
	ID        int64
	Queue     string
	Key       string
	State     string
	Attempts  int
	RunAt     time.Time
	LastError string
	CreatedAt time.Time
}

// FailedJobs lists jobs that failed for good, newest first.
func (d *DB) FailedJobs(ctx context.Context, q string, limit int) ([]JobInfo, error) {
	var rows []jobRow
	db := d.ctx(ctx).Where("state = 'failed'")
	if q != "" {
		db = db.Where("queue = ?", q)
	}
	if err := db.Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := make([]JobInfo, len(rows))
	for i, r := range rows {
		out[i] = JobInfo{ID: r.ID, Queue: r.Queue, Key: r.OrderKey, State: r.State, Attempts: r.Attempts,
			RunAt: r.RunAt.UTC(), LastError: r.LastError, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

// QueueBacklog counts pending jobs per queue.
func (d *DB) QueueBacklog(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Queue string
		N     int64
	}
	if err := d.ctx(ctx).Raw(`SELECT queue, count(*) AS n FROM jobs WHERE state = 'pending' GROUP BY queue`).Scan(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Queue] = r.N
	}
	return out, nil
}

// PruneJobs deletes jobs that finished before the given times: done jobs
// and failed ones (kept longer, for admins to look into). It returns how
// many it deleted.
func (d *DB) PruneJobs(ctx context.Context, doneBefore, failedBefore time.Time) (int64, error) {
	res := d.ctx(ctx).Exec(`DELETE FROM jobs WHERE (state = 'done' AND finished_at < ?) OR (state = 'failed' AND finished_at < ?)`,
		doneBefore, failedBefore)
	return res.RowsAffected, mapError(res.Error)
}

// ExpandJob replaces pending job id by jobs, in one transaction: it marks
// id done and enqueues jobs, or does nothing when id is no longer pending
// (already expanded by a runner that died before recording it).
func (d *DB) ExpandJob(ctx context.Context, id int64, jobs []workflow.Job) error {
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		res := t.ctx(ctx).Exec(`UPDATE jobs SET state = 'done', locked_until = NULL, finished_at = ? WHERE id = ? AND state = 'pending'`, workflow.Now(), id)
		if res.Error != nil {
			return mapError(res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		return t.Enqueue(ctx, jobs...)
	})
}
