package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/audit"
)

// auditWitnessRow is the one row of audit_witness: the highest head of
// the audit chain that serve has verified (docs/audit.md, "The witness").
type auditWitnessRow struct {
	ID          int64 `gorm:"primaryKey"`
	HeadID      int64
	HeadHash    string
	WitnessedAt time.Time
	WitnessedBy string
}

func (auditWitnessRow) TableName() string { return "audit_witness" }

// AuditWitness is the witnessed head as the database holds it.
type AuditWitness struct {
	Head audit.Checkpoint
	At   time.Time
	By   string // the replica that verified it
}

// AuditWitness returns the witnessed head, or a zero AuditWitness when
// serve has not verified one yet.
func (d *DB) AuditWitness(ctx context.Context) (AuditWitness, error) {
	var row auditWitnessRow
	err := d.ctx(ctx).Take(&row, 1).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return AuditWitness{}, nil
	}
	if err != nil {
		return AuditWitness{}, mapError(err)
	}
	return AuditWitness{Head: audit.Checkpoint{ID: row.HeadID, Hash: row.HeadHash}, At: row.WitnessedAt.UTC(), By: row.WitnessedBy}, nil
}

// AdvanceAuditWitness records head as witnessed by by, if it is past the
// head recorded (replicas race; the highest wins), in one statement. It
// reports whether the row moved. The row never moves back: the triggers
// of migration 00013 refuse that.
func (d *DB) AdvanceAuditWitness(ctx context.Context, head audit.Checkpoint, by string, now time.Time) (bool, error) {
	if head.ID <= 0 {
		return false, nil
	}
	res := d.ctx(ctx).Exec(`INSERT INTO audit_witness (id, head_id, head_hash, witnessed_at, witnessed_by) VALUES (1, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET head_id = excluded.head_id, head_hash = excluded.head_hash,
			witnessed_at = excluded.witnessed_at, witnessed_by = excluded.witnessed_by
		WHERE audit_witness.head_id < excluded.head_id`, head.ID, head.Hash, now.UTC(), by)
	if res.Error != nil {
		return false, mapError(res.Error)
	}
	return res.RowsAffected == 1, nil
}
