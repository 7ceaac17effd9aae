package store

import "context"

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
