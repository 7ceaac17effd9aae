package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/workflow"
)

var _ queue.Store = (*DB)(nil)

// maxErrorLen bounds the last_error column.
const maxErrorLen = 2000

// Claim leases due jobs. Each claim takes the next lease token of the
// row, so that the writes of an earlier claim of the same job are fenced
// off (see queue.Store).
func (d *DB) Claim(ctx context.Context, q string, limit int, lease time.Duration, now time.Time) ([]queue.Job, error) {
	lock := skipLocked(d.kind)
	// A job waits while an earlier pending job with the same key exists,
	// whether that one is running, leased or waiting for its retry.
	// "attempts >= 0" is always true; it matches jobs_due_idx's predicate
	// so that only the outer scan can use that index (migration 00006).
	// The claim is id = ANY(ARRAY(...)) on PostgreSQL (claimedIDs): the
	// inner SELECT runs once whatever the statistics say.
	query := fmt.Sprintf(`UPDATE jobs SET locked_until = ?, attempts = attempts + 1, lease_token = lease_token + 1
		WHERE %s
		RETURNING id, queue, order_key, payload, attempts, lease_token`, claimedIDs(d.kind, fmt.Sprintf(`
			SELECT j.id FROM jobs j
			WHERE j.queue = ? AND j.state = 'pending' AND j.attempts >= 0 AND j.run_at <= ?
			  AND (j.locked_until IS NULL OR j.locked_until <= ?)
			  AND (j.order_key = '' OR NOT EXISTS (
			        SELECT 1 FROM jobs p
			        WHERE p.queue = j.queue AND p.order_key = j.order_key AND p.state = 'pending' AND p.id < j.id))
			ORDER BY j.id LIMIT ? %s`, lock)))
	var rows []jobRow
	if err := d.ctx(ctx).Raw(query, now.Add(lease), q, now, now, limit).Scan(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	jobs := make([]queue.Job, len(rows))
	for i, r := range rows {
		jobs[i] = queue.Job{ID: r.ID, Token: r.LeaseToken, Queue: r.Queue, Key: r.OrderKey, Payload: []byte(r.Payload), Attempts: r.Attempts}
	}
	// RETURNING does not promise an order.
	slices.SortFunc(jobs, func(a, b queue.Job) int { return cmp.Compare(a.ID, b.ID) })
	return jobs, nil
}

// fenced runs a write about one claimed job: it must change the row
// (WHERE ... AND lease_token = ?), else the claim is stale.
func fenced(res *gorm.DB) error {
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return queue.ErrStaleLease
	}
	return nil
}

// The writes below name the claim's token and no state: a row that still
// has the token was claimed last by the caller, whatever its state (a
// fan-out job is already done by ExpandJob when its runner completes it).

func (d *DB) Extend(ctx context.Context, id, token int64, until time.Time) error {
	return fenced(d.ctx(ctx).Exec(`UPDATE jobs SET locked_until = ? WHERE id = ? AND lease_token = ?`, until, id, token))
}

func (d *DB) Complete(ctx context.Context, id, token int64, now time.Time) error {
	return fenced(d.ctx(ctx).Exec(`UPDATE jobs SET state = 'done', locked_until = NULL, last_error = '', finished_at = ?
		WHERE id = ? AND lease_token = ?`, now, id, token))
}

func (d *DB) CompleteMany(ctx context.Context, leases []queue.Lease, now time.Time) ([]int64, error) {
	if len(leases) == 0 {
		return nil, nil
	}
	pairs := make([][]any, len(leases))
	for i, l := range leases {
		pairs[i] = []any{l.ID, l.Token}
	}
	var rows []struct{ ID, LeaseToken int64 }
	if err := d.ctx(ctx).Raw(`UPDATE jobs SET state = 'done', locked_until = NULL, last_error = '', finished_at = ?
		WHERE (id, lease_token) IN ? RETURNING id, lease_token`, now, pairs).Scan(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	done := make(map[queue.Lease]bool, len(rows))
	for _, r := range rows {
		done[queue.Lease{ID: r.ID, Token: r.LeaseToken}] = true
	}
	var stale []int64
	for _, l := range leases {
		if !done[l] {
			stale = append(stale, l.ID)
		}
	}
	return stale, nil
}

func (d *DB) Retry(ctx context.Context, id, token int64, at time.Time, reason string) error {
	return fenced(d.ctx(ctx).Exec(`UPDATE jobs SET run_at = ?, locked_until = NULL, last_error = ? WHERE id = ? AND lease_token = ?`,
		at, truncate(reason, maxErrorLen), id, token))
}

func (d *DB) Fail(ctx context.Context, id, token int64, reason string, now time.Time) error {
	return fenced(d.ctx(ctx).Exec(`UPDATE jobs SET state = 'failed', locked_until = NULL, last_error = ?, finished_at = ?
		WHERE id = ? AND lease_token = ?`, truncate(reason, maxErrorLen), now, id, token))
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

// ExpandJob replaces pending job id, claimed with token, by jobs, in one
// transaction: it marks id done and enqueues jobs. It returns
// queue.ErrStaleLease, and does nothing, when the claim is stale or the
// job is no longer pending (already expanded), so that a fan-out expands
// once even when two runners hold it one after the other.
func (d *DB) ExpandJob(ctx context.Context, id, token int64, jobs []workflow.Job) error {
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		err := fenced(t.ctx(ctx).Exec(`UPDATE jobs SET state = 'done', locked_until = NULL, finished_at = ?
			WHERE id = ? AND lease_token = ? AND state = 'pending'`, workflow.Now(), id, token))
		if err != nil {
			return err
		}
		return t.Enqueue(ctx, jobs...)
	})
}
