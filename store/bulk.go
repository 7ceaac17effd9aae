package store

import (
	"context"

	"github.com/jitaccess/jitaccess/workflow"
)

// BulkInsertRequests stores requests as they are, in batches, without
// audit records or hooks. It is for benchmarks and fixtures that need a
// large table quickly; the service never uses it.
func (d *DB) BulkInsertRequests(ctx context.Context, reqs []*workflow.Request) error {
	rows := make([]requestRow, len(reqs))
	for i, r := range reqs {
		rows[i] = toRequestRow(r)
	}
	return mapError(d.ctx(ctx).CreateInBatches(rows, 1000).Error)
}
