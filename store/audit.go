package store

import (
	"context"

	"github.com/jitaccess/jitaccess/workflow"
)

func (t *tx) AppendAudit(ctx context.Context, recs ...*workflow.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	rows := make([]auditRow, len(recs))
	for i, r := range recs {
		rows[i] = toAuditRow(r)
	}
	if err := t.ctx(ctx).CreateInBatches(rows, 500).Error; err != nil {
		return mapError(err)
	}
	for i := range rows {
		recs[i].ID = rows[i].ID
	}
	return nil
}

type auditCursor struct {
	ID int64 `json:"id"`
}

func (r reader) ListAudit(ctx context.Context, q workflow.AuditQuery) ([]*workflow.AuditRecord, string, error) {
	db := r.ctx(ctx).Model(&auditRow{})
	if q.RequestID != "" {
		if !validID(q.RequestID) {
			return nil, "", nil
		}
		db = db.Where("request_id = ?", q.RequestID)
	}
	if q.Actor != "" {
		db = db.Where("actor = ?", q.Actor)
	}
	if q.Subject != "" {
		db = db.Where("subject = ?", q.Subject)
	}
	if q.Person != "" {
		db = db.Where("(actor = ? OR subject = ?)", q.Person, q.Person)
	}
	if q.Resource != "" {
		db = db.Where("resource = ?", q.Resource)
	}
	if q.Action != "" {
		db = db.Where("action = ?", q.Action)
	}
	if !q.Since.IsZero() {
		db = db.Where("at >= ?", q.Since.UTC())
	}
	if !q.Until.IsZero() {
		db = db.Where("at < ?", q.Until.UTC())
	}
	op, order := "<", "id DESC"
	if q.Ascending {
		op, order = ">", "id"
	}
	if q.Cursor != "" {
		var c auditCursor
		if err := decodeCursor(q.Cursor, &c); err != nil {
			return nil, "", err
		}
		db = db.Where("id "+op+" ?", c.ID)
	}
	var rows []auditRow
	if err := db.Order(order).Limit(q.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		next = encodeCursor(auditCursor{ID: rows[len(rows)-1].ID})
	}
	out := make([]*workflow.AuditRecord, len(rows))
	for i, row := range rows {
		out[i] = row.toRecord()
	}
	return out, next, nil
}
