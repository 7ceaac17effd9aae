package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

type campaignRunRow struct {
	Campaign    string    `gorm:"primaryKey"`
	PeriodStart time.Time `gorm:"primaryKey"`
	PeriodEnd   time.Time
	DueAt       time.Time
	OpenedAt    time.Time
	Reviews     int
	Reminders   int
}

func (campaignRunRow) TableName() string { return "review_campaign_runs" }

type approverReminderRow struct {
	RequestID string `gorm:"primaryKey"`
	SentAt    time.Time
}

func (approverReminderRow) TableName() string { return "approver_reminders" }

// ClaimCampaignRun implements review.Tx: one INSERT that does nothing on
// the (campaign, period_start) key, so of replicas racing, one wins.
func (t *tx) ClaimCampaignRun(ctx context.Context, run review.CampaignRun) (bool, error) {
	row := campaignRunRow{Campaign: run.Campaign, PeriodStart: run.Start.UTC(), PeriodEnd: run.End.UTC(), DueAt: run.DueAt.UTC(),
		OpenedAt: run.OpenedAt.UTC(), Reviews: run.Reviews, Reminders: run.Reminders}
	res := t.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, mapError(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// AdvanceCampaignReminders implements review.Tx: a compare-and-set on the
// run's stage.
func (t *tx) AdvanceCampaignReminders(ctx context.Context, campaign string, start time.Time, from, to int) (bool, error) {
	res := t.ctx(ctx).Exec(`UPDATE review_campaign_runs SET reminders = ? WHERE campaign = ? AND period_start = ? AND reminders = ?`,
		to, campaign, start.UTC(), from)
	if res.Error != nil {
		return false, mapError(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ClaimApproverReminder implements review.Tx.
func (t *tx) ClaimApproverReminder(ctx context.Context, requestID string, now time.Time) (bool, error) {
	res := t.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&approverReminderRow{RequestID: requestID, SentAt: now.UTC()})
	if res.Error != nil {
		return false, mapError(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// CampaignRuns implements review.Store.
func (d *DB) CampaignRuns(ctx context.Context, since time.Time) ([]review.CampaignRun, error) {
	var rows []struct {
		Campaign                                string
		PeriodStart, PeriodEnd, DueAt, OpenedAt time.Time
		Reviews, Reminders                      int
		SignedOff, SignedLate                   int
	}
	// A run's reviews are those of its campaign whose period ends where
	// the run's begins (a run reviews the period before it).
	err := d.ctx(ctx).Raw(`SELECT r.campaign, r.period_start, r.period_end, r.due_at, r.opened_at, r.reviews, r.reminders,
			(SELECT count(*) FROM reviews v WHERE v.campaign = r.campaign AND v.period_end = r.period_start AND v.state = 'signed_off') AS signed_off,
			(SELECT count(*) FROM reviews v WHERE v.campaign = r.campaign AND v.period_end = r.period_start AND v.state = 'signed_off'
				AND v.signed_off_at > r.due_at) AS signed_late
		FROM review_campaign_runs r WHERE r.period_start >= ? ORDER BY r.period_start DESC, r.campaign`, since.UTC()).Scan(&rows).Error
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]review.CampaignRun, len(rows))
	for i, r := range rows {
		out[i] = review.CampaignRun{Campaign: r.Campaign, Start: r.PeriodStart.UTC(), End: r.PeriodEnd.UTC(), DueAt: r.DueAt.UTC(),
			OpenedAt: r.OpenedAt.UTC(), Reviews: r.Reviews, Reminders: r.Reminders, SignedOff: r.SignedOff, SignedLate: r.SignedLate}
	}
	return out, nil
}

// PendingDueBefore implements review.Store.
func (d *DB) PendingDueBefore(ctx context.Context, t time.Time) ([]*workflow.Request, error) {
	var rows []requestRow
	err := d.ctx(ctx).Where(`state = ? AND review_deadline < ? AND id NOT IN (SELECT request_id FROM approver_reminders)`,
		string(workflow.StatePending), t.UTC()).Order("review_deadline, id").Limit(1000).Find(&rows).Error
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]*workflow.Request, len(rows))
	for i, r := range rows {
		out[i] = r.toRequest()
	}
	return out, d.attachApprovals(ctx, out...)
}
