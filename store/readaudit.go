package store

import (
	"context"
	"strings"

	"github.com/jitaccess/jitaccess/workflow"
)

// AppendReadAudit appends the audit records of check and mask calls as
// one INSERT (one statement, one commit, no ids read back): the check and
// mask APIs write them in batches at a high rate.
func (d *DB) AppendReadAudit(ctx context.Context, recs ...*workflow.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	var sb strings.Builder
	sb.WriteString(`INSERT INTO audit_records (at, actor, action, request_id, resource, subject, from_state, to_state, reason) VALUES `)
	args := make([]any, 0, 9*len(recs))
	for i, r := range recs {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		row := toAuditRow(r)
		args = append(args, row.At, row.Actor, row.Action, row.RequestID, row.Resource, row.Subject, row.FromState, row.ToState, row.Reason)
	}
	return mapError(d.ctx(ctx).Exec(sb.String(), args...).Error)
}
