package store

import "context"

// Notify implements workflow.Tx: on PostgreSQL, pg_notify, delivered to
// the listeners of channel when the transaction commits; on SQLite nothing
// (one process is the whole system).
func (t *tx) Notify(ctx context.Context, channel, payload string) error {
	return t.notify(ctx, channel, payload)
}

// Notify sends payload on channel at once, outside any transaction (for
// changes already committed). On SQLite it does nothing.
func (d *DB) Notify(ctx context.Context, channel, payload string) error {
	return d.notify(ctx, channel, payload)
}

func (r reader) notify(ctx context.Context, channel, payload string) error {
	if r.kind != Postgres {
		return nil
	}
	return mapError(r.ctx(ctx).Exec(`SELECT pg_notify(?, ?)`, channel, payload).Error)
}
