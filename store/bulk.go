package store

import (
	"context"

	"github.com/jitaccess/jitaccess/workflow"
)

// BulkInsertRequests stores requests as they are, with their approvals,
// in batches, without audit records or hooks. It is for benchmarks and
// fixtures that need a large table quickly; the service never uses it.
func (d *DB) BulkInsertRequests(ctx context.Context, reqs []*workflow.Request) error {
	rows := make([]requestRow, len(reqs))
	var approvals []approvalRow
	for i, r := range reqs {
		rows[i] = toRequestRow(r)
		for _, a := range r.Approvals {
			approvals = append(approvals, approvalRow{RequestID: r.ID, Approver: a.Approver, Comment: a.Comment, CreatedAt: a.At,
				WithdrawnAt: a.WithdrawnAt, WithdrawnReason: a.WithdrawnReason, ViaSession: a.ViaSession})
		}
	}
	if err := d.ctx(ctx).CreateInBatches(rows, 1000).Error; err != nil {
		return mapError(err)
	}
	if len(approvals) == 0 {
		return nil
	}
	return mapError(d.ctx(ctx).CreateInBatches(approvals, 1000).Error)
}
