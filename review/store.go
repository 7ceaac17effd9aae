package review

import (
	"context"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Store is what reviews and flags need from the database. store.DB
// implements it.
type Store interface {
	// PeriodRequests returns, with their approvals, the requests created
	// in [since, until) and those whose access began before until and
	// had not ended by since, oldest first. With max > 0 it returns at
	// most max of them, and more set when there are others.
	PeriodRequests(ctx context.Context, since, until time.Time, max int) (reqs []*workflow.Request, more bool, err error)
	// FailedJobsBetween returns the jobs of queues that failed for good
	// in [since, until).
	FailedJobsBetween(ctx context.Context, queues []string, since, until time.Time) ([]FailedJob, error)
	// ProvisioningFailures returns the grants whose provisioning was
	// declared failing in [since, until) (audit action provision.failed).
	// Provisioning retries forever, so its jobs never fail for good; this
	// is where its failures are recorded.
	ProvisioningFailures(ctx context.Context, since, until time.Time) ([]ProvisioningFailure, error)
	// GetReview returns a review with its follow-ups, or CodeNotFound.
	GetReview(ctx context.Context, id string) (*Review, error)
	// ListReviews returns reviews, newest first, one page at a time.
	ListReviews(ctx context.Context, limit int, cursor string) ([]*Review, string, error)
	// RaisedFlags returns the flags raised (recorded by a scan) whose
	// occurrence is in [since, until), by key.
	RaisedFlags(ctx context.Context, since, until time.Time) (map[string]RaisedFlag, error)
	// GetRequest returns a request with its approvals, or CodeNotFound.
	GetRequest(ctx context.Context, id string) (*workflow.Request, error)
	// PersonByEmail returns the directory user with that address, or nil
	// when the directory does not know it.
	PersonByEmail(ctx context.Context, email string) (*workflow.Person, error)
	// CampaignRuns returns the campaign runs opened for periods that
	// start at or after since, newest first, with their reviews counted.
	CampaignRuns(ctx context.Context, since time.Time) ([]CampaignRun, error)
	// PendingDueBefore returns the pending requests whose review deadline
	// is before t and whose approvers were not reminded yet.
	PendingDueBefore(ctx context.Context, t time.Time) ([]*workflow.Request, error)
	// InReviewTx runs fn in one transaction.
	InReviewTx(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is one transaction over reviews, flags and the audit log.
type Tx interface {
	AppendAudit(ctx context.Context, recs ...*workflow.AuditRecord) error
	Enqueue(ctx context.Context, jobs ...workflow.Job) error
	InsertReview(ctx context.Context, r *Review) error
	// LockReview loads a review (without follow-ups) and holds it until
	// the transaction ends; CodeNotFound if there is none.
	LockReview(ctx context.Context, id string) (*Review, error)
	// UpdateReview writes the sign-off fields if the stored version is
	// still prevVersion (else CodeConflict) and bumps r.Version.
	UpdateReview(ctx context.Context, r *Review, prevVersion int64) error
	InsertFollowUp(ctx context.Context, f *FollowUp) error
	// LockFollowUp loads a follow-up; CodeNotFound if there is none.
	LockFollowUp(ctx context.Context, id string) (*FollowUp, error)
	// ResolveFollowUp records the resolution if f is still unresolved
	// (else CodeConflict).
	ResolveFollowUp(ctx context.Context, f *FollowUp) error
	// RecordFlags stores flags not recorded before (by key) and returns
	// those it stored: each flag is raised once, whichever replica finds
	// it.
	RecordFlags(ctx context.Context, flags []Flag, now time.Time) ([]Flag, error)
	// ClaimCampaignRun records run unless its campaign already has one for
	// its period, and reports whether it did: the replica that records
	// it opens the run.
	ClaimCampaignRun(ctx context.Context, run CampaignRun) (bool, error)
	// AdvanceCampaignReminders moves a run's reminder stage from from to
	// to, and reports whether it moved (no other replica did first).
	AdvanceCampaignReminders(ctx context.Context, campaign string, start time.Time, from, to int) (bool, error)
	// ClaimApproverReminder records that a pending request's approvers
	// are being reminded, and reports whether this is the first time.
	ClaimApproverReminder(ctx context.Context, requestID string, now time.Time) (bool, error)
}

// ProvisioningFailure is one provision.failed audit record.
type ProvisioningFailure struct {
	AuditID   int64
	RequestID string
	Requester string
	Resource  string
	Reason    string
	At        time.Time
}

// FailedJob is a job that failed for good.
type FailedJob struct {
	ID         int64
	Queue      string
	Key        string
	Payload    []byte
	LastError  string
	Attempts   int
	FinishedAt time.Time
}

// RaisedFlag says when a flag was first recorded by a scan.
type RaisedFlag struct {
	ID         int64
	DetectedAt time.Time
}
