package store

import (
	"context"
	"time"
)

type leaseRow struct {
	Name      string `gorm:"primaryKey"`
	Holder    string
	ExpiresAt time.Time
}

func (leaseRow) TableName() string { return "leases" }

// TakeLease takes or renews the lease name for holder until now+ttl, and
// reports whether holder has it: it is free, lapsed, or already holder's.
// One statement, so two replicas asking at once cannot both win. A lease in
// a table, not an advisory lock, so that it also works where advisory
// locks do not (PostgreSQL-compatible distributed SQL).
func (d *DB) TakeLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	res := d.ctx(ctx).Exec(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`, name, holder, now.Add(ttl), now)
	if res.Error != nil {
		return false, mapError(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseLease gives up name if holder has it, so that another replica
// can take it at once rather than when it lapses.
func (d *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	return mapError(d.ctx(ctx).Exec("DELETE FROM leases WHERE name = ? AND holder = ?", name, holder).Error)
}
