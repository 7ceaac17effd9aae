package store

import (
	"context"

	"github.com/jitaccess/jitaccess/workflow"
)

// AppendReadAudit appends the audit records of check and mask calls in one
// transaction: the check and mask APIs write them in batches at a high
// rate. They are chained like every other record (tx.AppendAudit), so a
// read that was audited can be proven not to have been removed.
func (d *DB) AppendReadAudit(ctx context.Context, recs ...*workflow.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return d.InTx(ctx, func(tx workflow.Tx) error { return tx.AppendAudit(ctx, recs...) })
}
