package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/workflow"
)

var (
	_ provision.Store = (*DB)(nil)
	_ provision.Tx    = (*tx)(nil)
)

type provisioningRow struct {
	RequestID    string `gorm:"primaryKey"`
	Resource     string
	Requester    string
	Provisioner  string
	Spec         string
	Operation    string
	Status       string
	Attempts     int
	LastError    string
	FailingSince *time.Time
	AppliedAt    *time.Time
	RemovedAt    *time.Time
	CreatedAt    time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt    time.Time `gorm:"autoUpdateTime:false"`
}

func (provisioningRow) TableName() string { return "provisioning" }

func toProvisioningRow(r *provision.Record) (provisioningRow, error) {
	spec, err := json.Marshal(r.Spec)
	if err != nil {
		return provisioningRow{}, workflow.Internal(err, "encode provisioner spec")
	}
	return provisioningRow{
		RequestID: r.RequestID, Resource: r.Resource, Requester: r.Requester, Provisioner: r.Spec.Type, Spec: string(spec),
		Operation: string(r.Operation), Status: string(r.Status), Attempts: r.Attempts, LastError: truncate(r.LastError, maxErrorLen),
		FailingSince: r.FailingSince, AppliedAt: r.AppliedAt, RemovedAt: r.RemovedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}

func (row provisioningRow) toRecord() (provision.Record, error) {
	r := provision.Record{
		RequestID: row.RequestID, Resource: row.Resource, Requester: row.Requester,
		Operation: provision.Operation(row.Operation), Status: provision.Status(row.Status), Attempts: row.Attempts, LastError: row.LastError,
		FailingSince: utcPtr(row.FailingSince), AppliedAt: utcPtr(row.AppliedAt), RemovedAt: utcPtr(row.RemovedAt),
		CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC(),
	}
	if err := json.Unmarshal([]byte(row.Spec), &r.Spec); err != nil {
		return r, workflow.Internal(err, "provisioning record of request %s has an unreadable spec", row.RequestID)
	}
	return r, nil
}

func toRecords(rows []provisioningRow) ([]provision.Record, error) {
	out := make([]provision.Record, len(rows))
	for i, row := range rows {
		r, err := row.toRecord()
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// GetProvisioning returns a request's provisioning record, or nil when it
// has none.
func (r reader) GetProvisioning(ctx context.Context, requestID string) (*provision.Record, error) {
	if !validID(requestID) {
		return nil, nil
	}
	var row provisioningRow
	err := r.ctx(ctx).Where("request_id = ?", requestID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, mapError(err)
	}
	rec, err := row.toRecord()
	return &rec, err
}

// GetProvisionings returns the records of requests, by request id.
func (r reader) GetProvisionings(ctx context.Context, ids []string) (map[string]*provision.Record, error) {
	out := map[string]*provision.Record{}
	err := inChunks(ids, func(valid []string) error {
		var rows []provisioningRow
		if err := r.ctx(ctx).Where("request_id IN ?", valid).Find(&rows).Error; err != nil {
			return mapError(err)
		}
		recs, err := toRecords(rows)
		if err != nil {
			return err
		}
		for i := range recs {
			out[recs[i].RequestID] = &recs[i]
		}
		return nil
	})
	return out, err
}

// RemoveNone implements provision.Tx.
func (t *tx) RemoveNone(ctx context.Context, ids []string, at time.Time) ([]string, error) {
	var out []string
	err := inChunks(ids, func(valid []string) error {
		var done []string
		err := t.ctx(ctx).Raw(`UPDATE provisioning SET operation = 'remove', status = 'removed', attempts = 0, last_error = '',
			failing_since = NULL, removed_at = ?, updated_at = ?
			WHERE request_id IN ? AND provisioner = 'none' AND operation = 'apply'
			RETURNING request_id`, at, at, valid).Scan(&done).Error
		if err != nil {
			return mapError(err)
		}
		out = append(out, done...)
		return nil
	})
	return out, err
}

// SaveProvisionings inserts or replaces records, in batches.
func (t *tx) SaveProvisionings(ctx context.Context, recs []*provision.Record) error {
	if len(recs) == 0 {
		return nil
	}
	rows := make([]provisioningRow, len(recs))
	for i, rec := range recs {
		row, err := toProvisioningRow(rec)
		if err != nil {
			return err
		}
		rows[i] = row
	}
	return mapError(t.ctx(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "request_id"}}, UpdateAll: true}).
		CreateInBatches(rows, 500).Error)
}

// UpdateProvisioning writes the outcome of one step if the record's
// operation is still op, and its audit record, within and jobs in the
// same transaction.
func (d *DB) UpdateProvisioning(ctx context.Context, rec *provision.Record, op provision.Operation, audit *workflow.AuditRecord, within func(workflow.Tx) error, jobs ...workflow.Job) (bool, error) {
	wrote := false
	err := d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		res := t.ctx(ctx).Exec(`UPDATE provisioning SET status = ?, attempts = ?, last_error = ?, failing_since = ?,
			applied_at = ?, removed_at = ?, updated_at = ? WHERE request_id = ? AND operation = ?`,
			string(rec.Status), rec.Attempts, truncate(rec.LastError, maxErrorLen), rec.FailingSince,
			rec.AppliedAt, rec.RemovedAt, rec.UpdatedAt, rec.RequestID, string(op))
		if res.Error != nil {
			return mapError(res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		wrote = true
		if within != nil {
			if err := within(t); err != nil {
				return err
			}
		}
		if err := t.Enqueue(ctx, jobs...); err != nil {
			return err
		}
		if audit == nil {
			return nil
		}
		return t.AppendAudit(ctx, audit)
	})
	return wrote, err
}

// UnfinishedRemovals lists the other records of a person and resource
// whose removal has not succeeded.
func (d *DB) UnfinishedRemovals(ctx context.Context, resource, requester, exceptID string) ([]provision.Record, error) {
	var rows []provisioningRow
	err := d.ctx(ctx).Where("resource = ? AND requester = ? AND request_id <> ? AND operation = ? AND status <> ?",
		resource, requester, exceptID, string(provision.OpRemove), string(provision.StatusRemoved)).
		Order("created_at").Find(&rows).Error
	if err != nil {
		return nil, mapError(err)
	}
	return toRecords(rows)
}

// jobKeySQL is provision.Key in SQL.
const jobKeySQL = `('provision:' || p.resource || ':' || p.requester)`

// jobPayloadSQL is the JSON of the job for a record's current operation,
// as provision encodes it.
const jobPayloadSQL = `('{"op":"' || p.operation || '","request_id":"' || p.request_id || '"}')`

// StrandedProvisioning lists unfinished records that have no pending job:
// removals, and applies of grants still live.
func (d *DB) StrandedProvisioning(ctx context.Context, queue string, limit int) ([]provision.Record, error) {
	now := workflow.Now()
	var rows []provisioningRow
	err := d.ctx(ctx).Raw(`SELECT p.* FROM provisioning p
		WHERE p.status IN ('pending', 'failed') AND p.provisioner <> 'none'
		  AND (p.operation = 'remove' OR EXISTS (
		        SELECT 1 FROM requests r WHERE r.id = p.request_id AND r.state = 'approved' AND r.expires_at > ?))
		  AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.queue = ? AND j.state = 'pending' AND j.payload = `+jobPayloadSQL+`)
		ORDER BY p.updated_at LIMIT ?`, now, queue, limit).Scan(&rows).Error
	if err != nil {
		return nil, mapError(err)
	}
	return toRecords(rows)
}

// HurryFailedRemovals makes the waiting jobs of failing removals due at
// now (jobs being run are left alone).
func (d *DB) HurryFailedRemovals(ctx context.Context, queue string, now time.Time) (int, error) {
	res := d.ctx(ctx).Exec(`UPDATE jobs SET run_at = ?
		WHERE queue = ? AND state = 'pending' AND run_at > ? AND (locked_until IS NULL OR locked_until <= ?)
		  AND order_key IN (SELECT `+jobKeySQL+` FROM provisioning p WHERE p.operation = 'remove' AND p.status = 'failed')`,
		now, queue, now, now)
	return int(res.RowsAffected), mapError(res.Error)
}

// ListProvisioning lists records, most recently updated first.
func (d *DB) ListProvisioning(ctx context.Context, q provision.Query) ([]provision.Record, error) {
	db := d.ctx(ctx).Model(&provisioningRow{})
	if q.Status != "" {
		db = db.Where("status = ?", string(q.Status))
	}
	if q.Operation != "" {
		db = db.Where("operation = ?", string(q.Operation))
	}
	var rows []provisioningRow
	if err := db.Order("updated_at DESC, request_id").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	return toRecords(rows)
}

// ProvisioningStatuses returns the records of the given requests, by id;
// requests without one are absent.
func (d *DB) ProvisioningStatuses(ctx context.Context, ids []string) (map[string]provision.Record, error) {
	recs, err := d.GetProvisionings(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]provision.Record, len(recs))
	for id, r := range recs {
		out[id] = *r
	}
	return out, nil
}

// GrantProvisioning implements workflow.ProvisioningReader: where the apply
// of a grant stands, or "" when it has no record.
func (r reader) GrantProvisioning(ctx context.Context, requestID string) (workflow.ProvisioningState, error) {
	if !validID(requestID) {
		return "", nil
	}
	var rows []provisioningRow
	if err := r.ctx(ctx).Select("provisioner", "operation", "status").Where("request_id = ?", requestID).Limit(1).Find(&rows).Error; err != nil {
		return "", mapError(err)
	}
	if len(rows) == 0 {
		return "", nil
	}
	row := rows[0]
	switch {
	case row.Provisioner == workflow.ProvisionerNone:
		return workflow.ProvisioningNone, nil
	case row.Operation == string(provision.OpApply) && row.Status == string(provision.StatusApplied):
		return workflow.ProvisioningApplied, nil
	case row.Operation == string(provision.OpApply) && row.Status == string(provision.StatusFailed):
		return workflow.ProvisioningFailed, nil
	}
	return workflow.ProvisioningPending, nil // applying, or already being removed
}
