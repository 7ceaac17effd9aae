package workflow

import (
	"context"
	"time"
)

// Store is the persistence the service needs. The implementation (store/,
// GORM on PostgreSQL or SQLite) lives outside the domain.
type Store interface {
	// InTx runs fn in one database transaction. It commits when fn returns
	// nil and rolls everything back otherwise. fn must do all its reads and
	// writes through tx, and nothing slow (no network calls).
	InTx(ctx context.Context, fn func(tx Tx) error) error
	Reader
}

// Reader answers queries.
type Reader interface {
	DirectoryReader
	PolicyVersionReader
	// GetRequest returns one request with its approvals, or CodeNotFound.
	GetRequest(ctx context.Context, id string) (*Request, error)
	// ListRequests returns one page of requests, newest first, and the
	// cursor of the next page ("" on the last).
	ListRequests(ctx context.Context, q RequestQuery) ([]*Request, string, error)
	// CountRequests counts the requests q selects (its Limit and Cursor
	// are ignored).
	CountRequests(ctx context.Context, q RequestQuery) (int, error)
	// ListAudit returns one page of audit records and the next cursor.
	ListAudit(ctx context.Context, q AuditQuery) ([]*AuditRecord, string, error)
	// LiveGrant returns user's approved request for resource that has not
	// expired at now, or nil when there is none.
	LiveGrant(ctx context.Context, user, resource string, now time.Time) (*Request, error)
	// OpenRequest returns user's pending or approved request for resource
	// (whatever its effective state), or nil when there is none.
	OpenRequest(ctx context.Context, user, resource string) (*Request, error)
}

// Tx is one transaction.
type Tx interface {
	Reader
	PolicyVersionTx
	// LockRequest loads a request with its approvals and holds it against
	// concurrent writers until the transaction ends (SELECT ... FOR UPDATE
	// where the database has it). CodeNotFound if there is none.
	LockRequest(ctx context.Context, id string) (*Request, error)
	InsertRequest(ctx context.Context, r *Request) error
	// ExtendsOf returns the id of the grant request id extends ("" when it
	// is a request of its own, or unknown), without locking: that never
	// changes once stored.
	ExtendsOf(ctx context.Context, id string) (string, error)
	// UpdateRequest writes r's mutable fields if the stored version is
	// still prevVersion, and sets r.Version to the new version. A changed
	// version is CodeConflict: someone else wrote first.
	UpdateRequest(ctx context.Context, r *Request, prevVersion int64) error
	// InsertApproval records one approval. A second approval by the same
	// approver is CodeDuplicate, unless the first was withdrawn: then the
	// new one takes its place.
	InsertApproval(ctx context.Context, requestID string, a Approval) error
	// WithdrawApproval marks approver's counting approval of the request
	// withdrawn at at, with reason: it stays in the history and no longer
	// counts. CodeConflict when there is no such approval in force.
	WithdrawApproval(ctx context.Context, requestID, approver string, at time.Time, reason string) error
	// EndDue moves up to limit requests that are in state from and whose
	// due time (expires_at for approved, review_deadline for pending) is at
	// or before now to state to, with ended_at set to that due time and
	// ended_by to "system". Rows another transaction holds are skipped, so
	// that sweepers on several replicas share the work and none ends a
	// request twice. It returns the requests it changed.
	EndDue(ctx context.Context, from, to State, now time.Time, limit int) ([]*Request, error)
	// InsertEmergencyReview opens the post-hoc review of an emergency
	// request.
	InsertEmergencyReview(ctx context.Context, r *EmergencyReview) error
	// InsertReviewSignoff records one reviewer's sign-off; a second by
	// the same reviewer is CodeDuplicate.
	InsertReviewSignoff(ctx context.Context, requestID string, s ReviewSignoff) error
	// UpdateEmergencyReview writes the review's state and sign-off time if
	// its stored version is still prevVersion (else CodeConflict).
	UpdateEmergencyReview(ctx context.Context, r *EmergencyReview, prevVersion int64) error
	// DueEmergencyReviews returns up to limit open reviews whose next
	// alert is due at now, skipping rows another transaction holds.
	DueEmergencyReviews(ctx context.Context, now time.Time, limit int) ([]*EmergencyReview, error)
	// AdvanceReviewAlert moves an open review's next alert from prev to
	// next and counts the alert, if next_alert_at is still prev (a
	// compare-and-set); false when another writer moved it first.
	AdvanceReviewAlert(ctx context.Context, requestID string, prev, next time.Time) (bool, error)
	// RaiseFlag records an anomaly flag under its key, once: false when it
	// was recorded before.
	RaiseFlag(ctx context.Context, a SecurityAlert, now time.Time) (bool, error)
	// ExtendGrant writes r's ExpiresAt and Extended in one compare-and-set
	// that succeeds only if the stored request is still prevVersion,
	// approved and not expired at now; otherwise CodeInvalidState naming
	// the state it is in. It sets r.Version to the new version.
	ExtendGrant(ctx context.Context, r *Request, prevVersion int64, now time.Time) error
	// CancelExtensions cancels (by "system", with reason) the pending
	// extensions of the grants ids and returns them.
	CancelExtensions(ctx context.Context, ids []string, now time.Time, reason string) ([]*Request, error)
	// ActivateDue moves up to limit scheduled requests whose start_at is at
	// or before now to approved, skipping rows another transaction holds
	// (as EndDue), and returns them.
	ActivateDue(ctx context.Context, now time.Time, limit int) ([]*Request, error)
	// AppendAudit appends records to the audit log, in order.
	AppendAudit(ctx context.Context, recs ...*AuditRecord) error
	// Enqueue adds jobs to the persisted work queue; they become visible to
	// workers when the transaction commits.
	Enqueue(ctx context.Context, jobs ...Job) error
	// Notify sends payload on channel to every replica when the
	// transaction commits (PostgreSQL NOTIFY), and nothing if it rolls
	// back. On SQLite, where one process is the whole system, it does
	// nothing.
	Notify(ctx context.Context, channel, payload string) error
}

// RequestQuery filters a request listing.
type RequestQuery struct {
	State     State
	Requester string
	Resource  string
	// Extends keeps only the extensions of this grant.
	Extends string
	// Visibility: unless All, only requests by Viewer or for one of
	// ViewerResources are returned (with Viewer empty, only those for one
	// of ViewerResources).
	All             bool
	Viewer          string
	ViewerResources []string
	// ExcludeRequester leaves out this person's own requests (a review
	// queue never offers someone their own request).
	ExcludeRequester string
	// NotApprovedBy leaves out requests this person has an approval in
	// force on (a withdrawn one does not count).
	NotApprovedBy string
	// ApprovedBy keeps only requests this person has an approval in force
	// on.
	ApprovedBy string
	// OpenAt, when set, keeps only requests still open at that time:
	// pending before their review deadline, or approved before expiry.
	OpenAt time.Time
	// Oldest lists oldest first (a review queue) instead of newest first.
	Oldest bool
	Limit  int
	Cursor string
}

// AuditQuery filters the audit log.
type AuditQuery struct {
	RequestID string
	Actor     string
	Subject   string
	Person    string // actor or subject
	Resource  string
	Action    string
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	// Ascending lists oldest first (a request's history) instead of
	// newest first.
	Ascending bool
	Limit     int
	Cursor    string
}

// Job is a unit of work for a background worker, persisted in the same
// transaction as the change that caused it (the outbox pattern).
type Job struct {
	Queue string
	// Key orders jobs: jobs of one queue with the same key run one at a
	// time, in the order they were enqueued (for example, per request).
	Key     string
	Payload []byte
	RunAt   time.Time
}

// Hook runs inside the transaction of every committed change. Hooks
// enqueue follow-up work (notifications, provisioning); an error from a
// hook rolls the whole change back, audit records included (they are
// appended at the end of the same transaction).
type Hook func(ctx context.Context, tx Tx, changes []Change) error
