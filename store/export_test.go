package store

import (
	"context"

	"github.com/jitaccess/jitaccess/audit"
)

// MigrateTo applies the migrations up to version v, for tests of one
// migration over the data of the ones before.
func (d *DB) MigrateTo(ctx context.Context, v int64) error {
	p, err := d.migrator()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, v)
	return err
}

// AuditChainSQL is AuditChain read through database/sql, as it is in a
// transaction and on SQLite: the reference for the pgx path.
func (d *DB) AuditChainSQL(ctx context.Context, afterID int64, limit int) ([]audit.Record, error) {
	return d.auditChainSQL(ctx, afterID, limit)
}
