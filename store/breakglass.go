package store

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"github.com/jitaccess/jitaccess/workflow"
)

// emergencyReviewRow is the post-hoc review of an emergency request
// (workflow/breakglass.go).
type emergencyReviewRow struct {
	RequestID     string `gorm:"primaryKey"`
	Required      int
	WithinSeconds int64
	CreatedAt     time.Time `gorm:"autoCreateTime:false"`
	DueAt         time.Time
	State         string
	NextAlertAt   time.Time
	Alerts        int
	SignedOffAt   *time.Time
	Version       int64
}

func (emergencyReviewRow) TableName() string { return "emergency_reviews" }

func (row emergencyReviewRow) toReview() *workflow.EmergencyReview {
	return &workflow.EmergencyReview{RequestID: row.RequestID, Required: row.Required, Within: time.Duration(row.WithinSeconds) * time.Second,
		CreatedAt: row.CreatedAt.UTC(), DueAt: row.DueAt.UTC(), State: row.State, NextAlertAt: row.NextAlertAt.UTC(), Alerts: row.Alerts,
		SignedOffAt: utcPtr(row.SignedOffAt), Version: row.Version}
}

type signoffRow struct {
	RequestID string `gorm:"primaryKey"`
	Reviewer  string `gorm:"primaryKey"`
	Comment   string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
}

func (signoffRow) TableName() string { return "emergency_review_signoffs" }

// attachReviews loads the post-hoc reviews of the emergency requests
// among reqs, with their sign-offs.
func (r reader) attachReviews(ctx context.Context, reqs ...*workflow.Request) error {
	byID := map[string]*workflow.Request{}
	var ids []string
	for _, q := range reqs {
		if q.Emergency {
			byID[q.ID] = q
			ids = append(ids, q.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var rows []emergencyReviewRow
	if err := r.ctx(ctx).Where("request_id IN ?", ids).Find(&rows).Error; err != nil {
		return mapError(err)
	}
	for _, row := range rows {
		byID[row.RequestID].Review = row.toReview()
	}
	var signs []signoffRow
	if err := r.ctx(ctx).Where("request_id IN ?", ids).Order("created_at, reviewer").Find(&signs).Error; err != nil {
		return mapError(err)
	}
	for _, s := range signs {
		if rv := byID[s.RequestID].Review; rv != nil {
			rv.Signoffs = append(rv.Signoffs, workflow.ReviewSignoff{Reviewer: s.Reviewer, Comment: s.Comment, At: s.CreatedAt.UTC()})
		}
	}
	return nil
}

func (t *tx) InsertEmergencyReview(ctx context.Context, rv *workflow.EmergencyReview) error {
	row := emergencyReviewRow{RequestID: rv.RequestID, Required: rv.Required, WithinSeconds: int64(rv.Within / time.Second),
		CreatedAt: rv.CreatedAt, DueAt: rv.DueAt, State: rv.State, NextAlertAt: rv.NextAlertAt, Alerts: rv.Alerts, Version: rv.Version}
	return mapError(t.ctx(ctx).Create(&row).Error)
}

func (t *tx) InsertReviewSignoff(ctx context.Context, requestID string, s workflow.ReviewSignoff) error {
	// DO NOTHING rather than a failed INSERT, which would abort a
	// PostgreSQL transaction.
	row := signoffRow{RequestID: requestID, Reviewer: s.Reviewer, Comment: s.Comment, CreatedAt: s.At}
	res := t.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return workflow.Errorf(workflow.CodeDuplicate, "%s has already signed off this review", s.Reviewer)
	}
	return nil
}

func (t *tx) UpdateEmergencyReview(ctx context.Context, rv *workflow.EmergencyReview, prevVersion int64) error {
	res := t.ctx(ctx).Exec(`UPDATE emergency_reviews SET state = ?, signed_off_at = ?, version = ? WHERE request_id = ? AND version = ?`,
		rv.State, rv.SignedOffAt, prevVersion+1, rv.RequestID, prevVersion)
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return workflow.Errorf(workflow.CodeConflict, "the review of %s was changed by someone else; reload and retry", rv.RequestID)
	}
	rv.Version = prevVersion + 1
	return nil
}

func (t *tx) DueEmergencyReviews(ctx context.Context, now time.Time, limit int) ([]*workflow.EmergencyReview, error) {
	q := t.ctx(ctx).Where("state = ? AND next_alert_at <= ?", workflow.ReviewOpen, now).Order("next_alert_at, request_id").Limit(limit)
	if t.kind == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
	}
	var rows []emergencyReviewRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := make([]*workflow.EmergencyReview, len(rows))
	for i, row := range rows {
		out[i] = row.toReview()
		var signs []signoffRow
		if err := t.ctx(ctx).Where("request_id = ?", row.RequestID).Order("created_at, reviewer").Find(&signs).Error; err != nil {
			return nil, mapError(err)
		}
		for _, s := range signs {
			out[i].Signoffs = append(out[i].Signoffs, workflow.ReviewSignoff{Reviewer: s.Reviewer, Comment: s.Comment, At: s.CreatedAt.UTC()})
		}
	}
	return out, nil
}

func (t *tx) AdvanceReviewAlert(ctx context.Context, requestID string, prev, next time.Time) (bool, error) {
	res := t.ctx(ctx).Exec(`UPDATE emergency_reviews SET next_alert_at = ?, alerts = alerts + 1
		WHERE request_id = ? AND state = ? AND next_alert_at = ?`, next, requestID, workflow.ReviewOpen, prev)
	if res.Error != nil {
		return false, mapError(res.Error)
	}
	return res.RowsAffected == 1, nil
}

func (t *tx) RaiseFlag(ctx context.Context, a workflow.SecurityAlert, now time.Time) (bool, error) {
	row := flagRow{Kind: a.Kind, Key: a.Key, Person: a.Person, Resource: a.Resource, RequestIds: strings.Join(a.RequestIDs, ","),
		Reason: a.Reason, OccurredAt: a.At.UTC(), DetectedAt: now.UTC()}
	res := t.ctx(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, mapError(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// EmergencyUse counts the emergency requests each person filed in [since,
// until), for the dashboard.
func (d *DB) EmergencyUse(ctx context.Context, since, until time.Time) (map[string]int, error) {
	var rows []struct {
		Requester string
		N         int
	}
	if err := d.ctx(ctx).Raw(`SELECT requester, count(*) AS n FROM requests WHERE emergency AND created_at >= ? AND created_at < ? GROUP BY requester`,
		since.UTC(), until.UTC()).Scan(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Requester] = r.N
	}
	return out, nil
}
