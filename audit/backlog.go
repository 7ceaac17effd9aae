package audit

import "context"

// Backlog is what the sealer has yet to seal (docs/audit.md, "Sealing"):
// records committed with their change but not yet in the hash chain, and
// so not yet tamper-evident.
type Backlog struct {
	Records int64    `json:"records"`
	Oldest  Duration `json:"oldest"` // age of the oldest unsealed record
}

// BacklogLog is a Log whose records are sealed behind their writers.
type BacklogLog interface {
	AuditBacklog(ctx context.Context) (Backlog, error)
}

// ReadBacklog returns log's unsealed backlog, or nil when log seals every
// record as it is written.
func ReadBacklog(ctx context.Context, log Log) (*Backlog, error) {
	bl, ok := log.(BacklogLog)
	if !ok {
		return nil, nil
	}
	b, err := bl.AuditBacklog(ctx)
	if err != nil {
		return nil, err
	}
	return &b, nil
}
