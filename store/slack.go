package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitaccess/jitaccess/workflow"
)

// Tables of the Slack integration (migrations 00002_slack).

type slackMessageRow struct {
	RequestID string `gorm:"primaryKey"`
	Channel   string
	TS        string `gorm:"column:ts"`
	Version   int64
	PostedAt  time.Time
	UpdatedAt time.Time `gorm:"autoUpdateTime:false"`
}

func (slackMessageRow) TableName() string { return "slack_messages" }

type slackInboundRow struct {
	BodyHash   string `gorm:"primaryKey"`
	Kind       string
	ReceivedAt time.Time
}

func (slackInboundRow) TableName() string { return "slack_inbound" }

// SlackMessage is where the approvers' message about one request lives in
// Slack, and which version of the request it shows.
type SlackMessage struct {
	RequestID string
	Channel   string // a channel ID, as Slack returned it
	TS        string
	Version   int64
	PostedAt  time.Time
	UpdatedAt time.Time
}

// SlackMessage returns the stored message of a request, or nil when none
// has been posted.
func (d *DB) SlackMessage(ctx context.Context, requestID string) (*SlackMessage, error) {
	if !validID(requestID) {
		return nil, nil
	}
	var rows []slackMessageRow
	if err := d.ctx(ctx).Where("request_id = ?", requestID).Limit(1).Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	r := rows[0]
	return &SlackMessage{RequestID: r.RequestID, Channel: r.Channel, TS: r.TS, Version: r.Version,
		PostedAt: r.PostedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}, nil
}

// SaveSlackMessage records where a request's message is and what it
// shows, replacing what was stored (a message posted anew, after the old
// one was deleted in Slack, replaces it whole).
func (d *DB) SaveSlackMessage(ctx context.Context, m SlackMessage) error {
	if !validID(m.RequestID) {
		return workflow.Errorf(workflow.CodeInvalid, "request id %q is not valid", m.RequestID)
	}
	row := slackMessageRow{RequestID: m.RequestID, Channel: m.Channel, TS: m.TS, Version: m.Version,
		PostedAt: m.PostedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC()}
	return mapError(d.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "request_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"channel", "ts", "version", "posted_at", "updated_at"}),
	}).Create(&row).Error)
}

// ClaimSlackInbound records that the inbound delivery with this body hash
// is being handled. It returns false when it was already claimed: the
// delivery is a retry or a duplicate, and must not be applied again.
func (d *DB) ClaimSlackInbound(ctx context.Context, hash, kind string, now time.Time) (bool, error) {
	row := slackInboundRow{BodyHash: hash, Kind: kind, ReceivedAt: now.UTC()}
	res := d.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, mapError(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseSlackInbound forgets a claim, so that a retry of a delivery whose
// handling failed (the database was down) is handled after all.
func (d *DB) ReleaseSlackInbound(ctx context.Context, hash string) error {
	return mapError(d.ctx(ctx).Where("body_hash = ?", hash).Delete(&slackInboundRow{}).Error)
}

// PruneSlackInbound deletes claims received before before. Slack signs
// each delivery with a timestamp that is refused after five minutes, so
// older claims can never match again.
func (d *DB) PruneSlackInbound(ctx context.Context, before time.Time) (int64, error) {
	res := d.ctx(ctx).Where("received_at < ?", before.UTC()).Delete(&slackInboundRow{})
	return res.RowsAffected, mapError(res.Error)
}

// FailedJob is a job that failed for good, with its payload, for admins.
type FailedJob struct {
	JobInfo
	Payload    []byte
	FinishedAt *time.Time
}

// FailedJobsOf lists the failed jobs of queue, newest first, starting
// below id before (0: from the newest).
func (d *DB) FailedJobsOf(ctx context.Context, queue string, limit int, before int64) ([]FailedJob, error) {
	var rows []jobRow
	q := d.ctx(ctx).Where("state = 'failed' AND queue = ?", queue)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	if err := q.Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := make([]FailedJob, len(rows))
	for i, r := range rows {
		out[i] = FailedJob{
			JobInfo: JobInfo{ID: r.ID, Queue: r.Queue, Key: r.OrderKey, State: r.State, Attempts: r.Attempts,
				RunAt: r.RunAt.UTC(), LastError: r.LastError, CreatedAt: r.CreatedAt.UTC()},
			Payload: []byte(r.Payload), FinishedAt: utcPtr(r.FinishedAt),
		}
	}
	return out, nil
}

// ActionJobRetry is the audit action of an admin sending a failed job
// again.
const ActionJobRetry = "job.retry"

// RetryFailedJob puts a failed job of queue back in line, with its
// attempts reset and a new lease token (no earlier claim may write about
// it), and audits who did it. CodeNotFound when there is no
// such failed job.
func (d *DB) RetryFailedJob(ctx context.Context, queue string, id int64, actor string, now time.Time) error {
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		var row jobRow
		err := t.ctx(ctx).Where("id = ? AND queue = ? AND state = 'failed'", id, queue).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return workflow.Errorf(workflow.CodeNotFound, "no failed %s job %d", queue, id)
		}
		if err != nil {
			return mapError(err)
		}
		if err := t.ctx(ctx).Exec(`UPDATE jobs SET state = 'pending', attempts = 0, run_at = ?, locked_until = NULL,
			lease_token = lease_token + 1, last_error = '', finished_at = NULL WHERE id = ? AND state = 'failed'`, now.UTC(), id).Error; err != nil {
			return mapError(err)
		}
		rec := &workflow.AuditRecord{At: now, Actor: actor, Action: ActionJobRetry, Reason: truncate("retried failed "+queue+" job: "+row.LastError, 1000)}
		if validID(row.OrderKey) {
			rec.RequestID = row.OrderKey
		}
		return t.AppendAudit(ctx, rec)
	})
}
