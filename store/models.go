package store

import (
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/workflow"
)

// Rows mirror the tables of migrations/ one to one; schema_test.go checks
// that they agree on both databases. Timestamps are never set by GORM
// (autoCreateTime/autoUpdateTime off): the service's clock decides.

type requestRow struct {
	ID                string `gorm:"primaryKey"`
	Requester         string
	Resource          string
	Tier              string
	Reason            string
	Ticket            string
	Purpose           string
	DurationSeconds   int64
	State             string
	RequiredApprovals int
	Version           int64
	CreatedAt         time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt         time.Time `gorm:"autoUpdateTime:false"`
	ReviewDeadline    time.Time
	ApprovedAt        *time.Time
	ExpiresAt         *time.Time
	EndedAt           *time.Time
	EndedBy           string
	EndReason         string
	ViaSession        bool
	Emergency         bool
	StartAt           *time.Time
	Extends           string
	ExtendedSeconds   int64
}

func (requestRow) TableName() string { return "requests" }

func toRequestRow(r *workflow.Request) requestRow {
	return requestRow{
		ID:                r.ID,
		Requester:         r.Requester,
		Resource:          r.Resource,
		Tier:              string(r.Tier),
		Reason:            r.Reason,
		Ticket:            r.Ticket,
		Purpose:           r.Purpose,
		DurationSeconds:   int64(r.Duration / time.Second),
		State:             string(r.State),
		RequiredApprovals: r.RequiredApprovals,
		Version:           r.Version,
		CreatedAt:         r.CreatedAt,
		UpdatedAt:         r.UpdatedAt,
		ReviewDeadline:    r.ReviewDeadline,
		ApprovedAt:        r.ApprovedAt,
		ExpiresAt:         r.ExpiresAt,
		EndedAt:           r.EndedAt,
		EndedBy:           r.EndedBy,
		EndReason:         r.EndReason,
		ViaSession:        r.ViaSession,
		Emergency:         r.Emergency,
		StartAt:           r.StartAt,
		Extends:           r.Extends,
		ExtendedSeconds:   int64(r.Extended / time.Second),
	}
}

func (row requestRow) toRequest() *workflow.Request {
	return &workflow.Request{
		ID:                row.ID,
		Requester:         row.Requester,
		Resource:          row.Resource,
		Tier:              workflow.Tier(row.Tier),
		Reason:            row.Reason,
		Ticket:            row.Ticket,
		Purpose:           row.Purpose,
		Duration:          time.Duration(row.DurationSeconds) * time.Second,
		State:             workflow.State(row.State),
		RequiredApprovals: row.RequiredApprovals,
		Version:           row.Version,
		CreatedAt:         row.CreatedAt.UTC(),
		UpdatedAt:         row.UpdatedAt.UTC(),
		ReviewDeadline:    row.ReviewDeadline.UTC(),
		ApprovedAt:        utcPtr(row.ApprovedAt),
		ExpiresAt:         utcPtr(row.ExpiresAt),
		EndedAt:           utcPtr(row.EndedAt),
		EndedBy:           row.EndedBy,
		EndReason:         row.EndReason,
		ViaSession:        row.ViaSession,
		Emergency:         row.Emergency,
		StartAt:           utcPtr(row.StartAt),
		Extends:           row.Extends,
		Extended:          time.Duration(row.ExtendedSeconds) * time.Second,
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

type approvalRow struct {
	RequestID string `gorm:"primaryKey"`
	Approver  string `gorm:"primaryKey"`
	Comment   string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
	// WithdrawnAt is set when the approval stopped counting (its approver
	// no longer may approve), with WithdrawnReason saying why.
	WithdrawnAt     *time.Time
	WithdrawnReason string
	ViaSession      bool
}

func (approvalRow) TableName() string { return "approvals" }

type auditRow struct {
	ID        int64 `gorm:"primaryKey"`
	At        time.Time
	Actor     string
	Action    string
	RequestID *string
	Resource  string
	Subject   string
	FromState string
	ToState   string
	Reason    string
	Purpose   string
	Auth      string
	MFA       string `gorm:"column:mfa"`
	Source    string
	PrevHash  string // the previous record's hash (package audit)
	Hash      string // this record's hash, chained to PrevHash
}

func (auditRow) TableName() string { return "audit_records" }

// auditPendingRow is a committed audit record not yet sealed into the
// chain (sealer.go; written and read with SQL, listed for the schema test).
type auditPendingRow struct {
	ID        int64 `gorm:"primaryKey"`
	WrittenAt time.Time
	Xact      int64
	At        time.Time
	Actor     string
	Action    string
	RequestID *string
	Resource  string
	Subject   string
	FromState string
	ToState   string
	Reason    string
	Purpose   string
	Auth      string
	MFA       string `gorm:"column:mfa"`
	Source    string
}

func (auditPendingRow) TableName() string { return "audit_pending" }

// auditChainHeadRow is the one row that sealing transactions lock.
type auditChainHeadRow struct {
	ID int `gorm:"primaryKey"`
}

func (auditChainHeadRow) TableName() string { return "audit_chain_head" }

func toAuditRow(r *audit.Record) auditRow {
	row := auditRow{
		ID: r.ID, At: r.At, Actor: r.Actor, Action: r.Action, Resource: r.Resource, Subject: r.Subject,
		FromState: string(r.FromState), ToState: string(r.ToState), Reason: r.Reason, Purpose: r.Purpose, Auth: r.Auth, MFA: r.MFA, Source: r.Source, PrevHash: r.PrevHash, Hash: r.Hash,
	}
	if r.RequestID != "" {
		id := r.RequestID
		row.RequestID = &id
	}
	return row
}

func (row auditRow) toRecord() *workflow.AuditRecord {
	r := &workflow.AuditRecord{
		ID: row.ID, At: row.At.UTC(), Actor: row.Actor, Action: row.Action, Resource: row.Resource, Subject: row.Subject,
		FromState: workflow.State(row.FromState), ToState: workflow.State(row.ToState), Reason: row.Reason, Purpose: row.Purpose, Auth: row.Auth, MFA: row.MFA, Source: row.Source,
	}
	if row.RequestID != nil {
		r.RequestID = *row.RequestID
	}
	return r
}

type tokenRow struct {
	ID          string `gorm:"primaryKey"`
	Hash        string
	Kind        string
	Subject     string
	Scopes      string
	Description string
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	ExpiresAt   *time.Time
	RevokedAt   *time.Time
	LastUsedAt  *time.Time
}

func (tokenRow) TableName() string { return "api_tokens" }

type jobRow struct {
	ID          int64 `gorm:"primaryKey"`
	Queue       string
	OrderKey    string
	Payload     string
	State       string
	Attempts    int
	RunAt       time.Time
	LockedUntil *time.Time
	LeaseToken  int64
	LastError   string
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	FinishedAt  *time.Time
}

func (jobRow) TableName() string { return "jobs" }

// Models lists every row type with its table, for the schema test.
func Models() []any {
	return []any{&requestRow{}, &approvalRow{}, &auditRow{}, &tokenRow{}, &jobRow{}, &sessionRow{}, &loginFlowRow{},
		&auditAnchorRow{}, &reviewRow{}, &followUpRow{}, &flagRow{}, &slackMessageRow{}, &slackInboundRow{}, &provisioningRow{},
		&personRow{}, &personEmailRow{}, &directoryGroupRow{}, &directoryMemberRow{}, &leaseRow{},
		&policyVersionRow{}, &auditWitnessRow{}, &idempotencyRow{}, &emergencyReviewRow{}, &signoffRow{}, &campaignRunRow{}, &approverReminderRow{},
		&passkeyRow{}, &auditPendingRow{}, &auditChainHeadRow{}}
}
