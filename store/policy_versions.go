package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitaccess/jitaccess/workflow"
)

// policyLockKey is the PostgreSQL advisory lock that makes policy loaders
// on every replica take turns ("jitpolv" in ASCII).
const policyLockKey = 0x6a6974706f6c76

type policyVersionRow struct {
	Version  int64  `gorm:"primaryKey;autoIncrement:false"`
	SHA256   string `gorm:"column:sha256"`
	Source   string
	Trigger  string
	Summary  string
	Diff     string
	Lowered  bool
	LoadedAt time.Time
	LoadedBy string
}

func (policyVersionRow) TableName() string { return "policy_versions" }

func (row policyVersionRow) toVersion() (*workflow.PolicyVersion, error) {
	v := &workflow.PolicyVersion{Version: int(row.Version), SHA256: row.SHA256, Source: row.Source,
		Trigger: workflow.PolicyTrigger(row.Trigger), Lowered: row.Lowered, LoadedAt: row.LoadedAt.UTC(), LoadedBy: row.LoadedBy}
	if err := json.Unmarshal([]byte(row.Summary), &v.Summary); err != nil {
		return nil, workflow.Internal(fmt.Errorf("policy version %d: summary: %w", row.Version, err), "unreadable policy history")
	}
	if err := json.Unmarshal([]byte(row.Diff), &v.Diff); err != nil {
		return nil, workflow.Internal(fmt.Errorf("policy version %d: diff: %w", row.Version, err), "unreadable policy history")
	}
	return v, nil
}

// LockPolicyVersions takes the policy lock (PostgreSQL: a
// transaction-scoped advisory lock; SQLite has one writer at a time
// already) and returns the latest version.
func (t *tx) LockPolicyVersions(ctx context.Context) (*workflow.PolicyVersion, error) {
	db := t.ctx(ctx)
	if t.kind == Postgres {
		if err := db.Exec("SELECT pg_advisory_xact_lock(?)", int64(policyLockKey)).Error; err != nil {
			return nil, mapError(err)
		}
	}
	var row policyVersionRow
	err := db.Order("version DESC").Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, mapError(err)
	}
	return row.toVersion()
}

// InsertPolicyVersion adds v; an existing version number is CodeConflict.
func (t *tx) InsertPolicyVersion(ctx context.Context, v *workflow.PolicyVersion) error {
	summary, err := json.Marshal(v.Summary)
	if err != nil {
		return workflow.Internal(err, "cannot encode the policy summary")
	}
	diff, err := json.Marshal(v.Diff)
	if err != nil {
		return workflow.Internal(err, "cannot encode the policy diff")
	}
	row := policyVersionRow{Version: int64(v.Version), SHA256: v.SHA256, Source: v.Source, Trigger: string(v.Trigger),
		Summary: string(summary), Diff: string(diff), Lowered: v.Lowered, LoadedAt: v.LoadedAt, LoadedBy: v.LoadedBy}
	res := t.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return workflow.Errorf(workflow.CodeConflict, "policy version %d was recorded by another server first; retry", v.Version)
	}
	return nil
}

type policyVersionCursor struct {
	Version int64 `json:"v"`
}

// ListPolicyVersions returns one page of the policy history, newest first.
func (r reader) ListPolicyVersions(ctx context.Context, q workflow.PolicyVersionQuery) ([]*workflow.PolicyVersion, string, error) {
	db := r.ctx(ctx).Model(&policyVersionRow{})
	if q.Cursor != "" {
		var c policyVersionCursor
		if err := decodeCursor(q.Cursor, &c); err != nil {
			return nil, "", err
		}
		db = db.Where("version < ?", c.Version)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	var rows []policyVersionRow
	if err := db.Order("version DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeCursor(policyVersionCursor{Version: rows[len(rows)-1].Version})
	}
	out := make([]*workflow.PolicyVersion, len(rows))
	for i, row := range rows {
		v, err := row.toVersion()
		if err != nil {
			return nil, "", err
		}
		out[i] = v
	}
	return out, next, nil
}
