package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

// Rows of migrations/*/00005_oversight.sql.

type auditAnchorRow struct {
	ID          int64 `gorm:"primaryKey"`
	At          time.Time
	Actor       string
	FirstID     int64
	ThroughID   int64
	ThroughHash string
	ThroughAt   time.Time
	Pruned      int64
}

func (auditAnchorRow) TableName() string { return "audit_anchors" }

func (a auditAnchorRow) toAnchor() audit.Anchor {
	return audit.Anchor{ID: a.ID, At: a.At.UTC(), Actor: a.Actor, FirstID: a.FirstID, ThroughID: a.ThroughID,
		ThroughHash: a.ThroughHash, ThroughAt: a.ThroughAt.UTC(), Pruned: a.Pruned}
}

type reviewRow struct {
	ID           string `gorm:"primaryKey"`
	ScopeKind    string
	Scope        string
	PeriodStart  time.Time
	PeriodEnd    time.Time
	CreatedBy    string
	CreatedAt    time.Time `gorm:"autoCreateTime:false"`
	State        string
	SignedOffBy  string
	SignedOffAt  *time.Time
	Notes        string
	ReportDigest string
	Version      int64
	Campaign     string
	DueAt        *time.Time
}

func (reviewRow) TableName() string { return "reviews" }

func (r reviewRow) toReview() *review.Review {
	return &review.Review{ID: r.ID, Scope: review.Scope{Kind: review.ScopeKind(r.ScopeKind), Value: r.Scope},
		Period: review.Period{Start: r.PeriodStart.UTC(), End: r.PeriodEnd.UTC()}, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(),
		State: r.State, SignedOffBy: r.SignedOffBy, SignedOffAt: utcPtr(r.SignedOffAt), Notes: r.Notes, ReportDigest: r.ReportDigest, Version: r.Version,
		Campaign: r.Campaign, DueAt: utcPtr(r.DueAt)}
}

type followUpRow struct {
	ID         string `gorm:"primaryKey"`
	ReviewID   string
	ItemKind   string
	ItemRef    string
	Note       string
	CreatedBy  string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	ResolvedBy string
	ResolvedAt *time.Time
	Resolution string
}

func (followUpRow) TableName() string { return "review_followups" }

func (r followUpRow) toFollowUp() review.FollowUp {
	return review.FollowUp{ID: r.ID, ReviewID: r.ReviewID, ItemKind: r.ItemKind, ItemRef: r.ItemRef, Note: r.Note,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), ResolvedBy: r.ResolvedBy, ResolvedAt: utcPtr(r.ResolvedAt), Resolution: r.Resolution}
}

type flagRow struct {
	ID         int64 `gorm:"primaryKey"`
	Kind       string
	Key        string
	Person     string
	Resource   string
	RequestIds string
	Reason     string
	OccurredAt time.Time
	DetectedAt time.Time
}

func (flagRow) TableName() string { return "oversight_flags" }

var _ review.Store = (*DB)(nil)
var _ review.Tx = (*tx)(nil)
var _ audit.Log = (*DB)(nil)

// PeriodBatch is how many requests PeriodRequests reads per query. A
// variable so that tests can cross batch boundaries with few rows.
var PeriodBatch = 500

// PeriodRequests implements review.Store. It reads in keyset batches on
// (created_at, id), each batch (and its approvals) its own short query,
// so that a long period never holds a connection (SQLite's only one) for
// the whole read, and it stops reading after max requests.
func (d *DB) PeriodRequests(ctx context.Context, since, until time.Time, max int) ([]*workflow.Request, bool, error) {
	var reqs []*workflow.Request
	var after *requestCursor
	for {
		q := d.ctx(ctx).Where(`created_at < ? AND (created_at >= ?
			OR (approved_at IS NOT NULL AND approved_at < ? AND (ended_at IS NULL OR ended_at > ?)))`,
			until.UTC(), since.UTC(), until.UTC(), since.UTC())
		if after != nil {
			q = q.Where("(created_at, id) > (?, ?)", after.T, after.ID)
		}
		n := PeriodBatch
		if max > 0 {
			n = min(n, max+1-len(reqs)) // one more than max says there is more
		}
		var rows []requestRow
		if err := q.Order("created_at, id").Limit(n).Find(&rows).Error; err != nil {
			return nil, false, mapError(err)
		}
		batch := make([]*workflow.Request, len(rows))
		for i, row := range rows {
			batch[i] = row.toRequest()
		}
		more := max > 0 && len(reqs)+len(batch) > max
		if more {
			batch = batch[:max-len(reqs)]
		}
		if err := d.attachApprovals(ctx, batch...); err != nil {
			return nil, false, err
		}
		reqs = append(reqs, batch...)
		if more || len(rows) < n {
			return reqs, more, nil
		}
		last := rows[len(rows)-1]
		after = &requestCursor{T: last.CreatedAt.UTC(), ID: last.ID}
	}
}

// FailedJobsBetween implements review.Store.
func (d *DB) FailedJobsBetween(ctx context.Context, queues []string, since, until time.Time) ([]review.FailedJob, error) {
	if len(queues) == 0 {
		return nil, nil
	}
	var rows []jobRow
	err := d.ctx(ctx).Where("state = 'failed' AND queue IN ? AND finished_at >= ? AND finished_at < ?", queues, since.UTC(), until.UTC()).
		Order("id").Limit(10000).Find(&rows).Error
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]review.FailedJob, len(rows))
	for i, r := range rows {
		out[i] = review.FailedJob{ID: r.ID, Queue: r.Queue, Key: r.OrderKey, Payload: []byte(r.Payload), LastError: r.LastError, Attempts: r.Attempts}
		if r.FinishedAt != nil {
			out[i].FinishedAt = r.FinishedAt.UTC()
		}
	}
	return out, nil
}

// ProvisioningFailures implements review.Store.
func (d *DB) ProvisioningFailures(ctx context.Context, since, until time.Time) ([]review.ProvisioningFailure, error) {
	var rows []auditRow
	err := d.ctx(ctx).Where("action = ? AND at >= ? AND at < ?", provision.ActionFailed, since.UTC(), until.UTC()).
		Order("id").Limit(10000).Find(&rows).Error
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]review.ProvisioningFailure, len(rows))
	for i, r := range rows {
		out[i] = review.ProvisioningFailure{AuditID: r.ID, Resource: r.Resource, Requester: r.Subject, Reason: r.Reason, At: r.At.UTC()}
		if r.RequestID != nil {
			out[i].RequestID = *r.RequestID
		}
	}
	return out, nil
}

// FailedJobCounts counts jobs that failed for good, per queue.
func (d *DB) FailedJobCounts(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Queue string
		N     int64
	}
	if err := d.ctx(ctx).Raw(`SELECT queue, count(*) AS n FROM jobs WHERE state = 'failed' GROUP BY queue`).Scan(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Queue] = r.N
	}
	return out, nil
}

// RequestCount is one cell of RequestCounts.
type RequestCount struct {
	State string
	Tier  string
	N     int64
}

// RequestCounts counts requests by stored state and tier.
func (d *DB) RequestCounts(ctx context.Context) ([]RequestCount, error) {
	var rows []RequestCount
	err := d.ctx(ctx).Raw(`SELECT state, tier, count(*) AS n FROM requests GROUP BY state, tier`).Scan(&rows).Error
	return rows, mapError(err)
}

// LiveGrantCounts counts live grants at now by tier, and returns the due
// time of the oldest grant the sweeper has not ended yet (zero if none).
func (d *DB) LiveGrantCounts(ctx context.Context, now time.Time) (map[string]int64, time.Time, error) {
	var rows []struct {
		Tier string
		N    int64
	}
	if err := d.ctx(ctx).Raw(`SELECT tier, count(*) AS n FROM requests WHERE state = 'approved' AND expires_at > ? GROUP BY tier`, now.UTC()).
		Scan(&rows).Error; err != nil {
		return nil, time.Time{}, mapError(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Tier] = r.N
	}
	var due []requestRow
	if err := d.ctx(ctx).Select("id, expires_at").Where("state = 'approved' AND expires_at <= ?", now.UTC()).
		Order("expires_at").Limit(1).Find(&due).Error; err != nil {
		return nil, time.Time{}, mapError(err)
	}
	var oldest time.Time
	if len(due) == 1 && due[0].ExpiresAt != nil {
		oldest = due[0].ExpiresAt.UTC()
	}
	return out, oldest, nil
}

// GetReview implements review.Store.
func (d *DB) GetReview(ctx context.Context, id string) (*review.Review, error) {
	r, err := d.loadReview(d.ctx(ctx), id)
	if err != nil {
		return nil, err
	}
	var rows []followUpRow
	if err := d.ctx(ctx).Where("review_id = ?", id).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	for _, f := range rows {
		r.FollowUps = append(r.FollowUps, f.toFollowUp())
	}
	return r, nil
}

func (r reader) loadReview(q *gorm.DB, id string) (*review.Review, error) {
	if !validID(id) {
		return nil, workflow.Errorf(workflow.CodeNotFound, "review %s not found", id)
	}
	var row reviewRow
	err := q.Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, workflow.Errorf(workflow.CodeNotFound, "review %s not found", id)
	}
	if err != nil {
		return nil, mapError(err)
	}
	return row.toReview(), nil
}

type reviewCursor struct {
	T  time.Time `json:"t"`
	ID string    `json:"id"`
}

// ListReviews implements review.Store.
func (d *DB) ListReviews(ctx context.Context, limit int, cursor string) ([]*review.Review, string, error) {
	db := d.ctx(ctx).Model(&reviewRow{})
	if cursor != "" {
		var c reviewCursor
		if err := decodeCursor(cursor, &c); err != nil {
			return nil, "", err
		}
		db = db.Where("(created_at, id) < (?, ?)", c.T, c.ID)
	}
	var rows []reviewRow
	if err := db.Order("created_at DESC, id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		next = encodeCursor(reviewCursor{T: last.CreatedAt.UTC(), ID: last.ID})
	}
	out := make([]*review.Review, len(rows))
	for i, r := range rows {
		out[i] = r.toReview()
	}
	return out, next, nil
}

// RaisedFlags implements review.Store.
func (d *DB) RaisedFlags(ctx context.Context, since, until time.Time) (map[string]review.RaisedFlag, error) {
	var rows []flagRow
	if err := d.ctx(ctx).Select("id, key, detected_at").Where("occurred_at >= ? AND occurred_at < ?", since.UTC(), until.UTC()).
		Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := make(map[string]review.RaisedFlag, len(rows))
	for _, r := range rows {
		out[r.Key] = review.RaisedFlag{ID: r.ID, DetectedAt: r.DetectedAt.UTC()}
	}
	return out, nil
}

// InReviewTx implements review.Store.
func (d *DB) InReviewTx(ctx context.Context, fn func(review.Tx) error) error {
	return d.InTx(ctx, func(t workflow.Tx) error { return fn(t.(*tx)) })
}

func (t *tx) InsertReview(ctx context.Context, r *review.Review) error {
	row := reviewRow{ID: r.ID, ScopeKind: string(r.Scope.Kind), Scope: r.Scope.Value, PeriodStart: r.Period.Start.UTC(),
		PeriodEnd: r.Period.End.UTC(), CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, State: r.State, Version: r.Version,
		Campaign: r.Campaign, DueAt: utcPtr(r.DueAt)}
	return mapError(t.ctx(ctx).Create(&row).Error)
}

func (t *tx) LockReview(ctx context.Context, id string) (*review.Review, error) {
	q := t.ctx(ctx)
	if t.kind == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return t.loadReview(q, id)
}

func (t *tx) UpdateReview(ctx context.Context, r *review.Review, prevVersion int64) error {
	res := t.ctx(ctx).Exec(`UPDATE reviews SET state = ?, signed_off_by = ?, signed_off_at = ?, notes = ?, report_digest = ?, version = ?
		WHERE id = ? AND version = ?`, r.State, r.SignedOffBy, r.SignedOffAt, r.Notes, r.ReportDigest, prevVersion+1, r.ID, prevVersion)
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return workflow.Errorf(workflow.CodeConflict, "review %s was changed by someone else; reload and retry", r.ID)
	}
	r.Version = prevVersion + 1
	return nil
}

func (t *tx) InsertFollowUp(ctx context.Context, f *review.FollowUp) error {
	row := followUpRow{ID: f.ID, ReviewID: f.ReviewID, ItemKind: f.ItemKind, ItemRef: f.ItemRef, Note: f.Note,
		CreatedBy: f.CreatedBy, CreatedAt: f.CreatedAt}
	return mapError(t.ctx(ctx).Create(&row).Error)
}

func (t *tx) LockFollowUp(ctx context.Context, id string) (*review.FollowUp, error) {
	if !validID(id) {
		return nil, workflow.Errorf(workflow.CodeNotFound, "follow-up %s not found", id)
	}
	q := t.ctx(ctx)
	if t.kind == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var row followUpRow
	err := q.Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, workflow.Errorf(workflow.CodeNotFound, "follow-up %s not found", id)
	}
	if err != nil {
		return nil, mapError(err)
	}
	f := row.toFollowUp()
	return &f, nil
}

func (t *tx) ResolveFollowUp(ctx context.Context, f *review.FollowUp) error {
	res := t.ctx(ctx).Exec(`UPDATE review_followups SET resolved_by = ?, resolved_at = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL`,
		f.ResolvedBy, f.ResolvedAt, f.Resolution, f.ID)
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return workflow.Errorf(workflow.CodeConflict, "follow-up %s was resolved by someone else", f.ID)
	}
	return nil
}

func (t *tx) RecordFlags(ctx context.Context, flags []review.Flag, now time.Time) ([]review.Flag, error) {
	var out []review.Flag
	for _, f := range flags {
		// One row at a time: RowsAffected says whether this scan is the
		// first to find the flag, also when another replica races it.
		row := flagRow{Kind: string(f.Kind), Key: f.Key, Person: f.Person, Resource: f.Resource,
			RequestIds: strings.Join(f.RequestIDs, ","), Reason: f.Reason, OccurredAt: f.At.UTC(), DetectedAt: now.UTC()}
		res := t.ctx(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoNothing: true}).Create(&row)
		if res.Error != nil {
			return nil, mapError(res.Error)
		}
		if res.RowsAffected == 1 {
			at := now.UTC()
			f.RaisedAt = &at
			out = append(out, f)
		}
	}
	return out, nil
}
