// Package provision makes grants real: it applies access where the data
// lives when a request is approved, and removes it when the grant ends.
//
// Provisioning is part of the workflow, not a side effect that can be lost.
// The pipeline's hook runs inside the transaction of every change (see
// workflow.Service.OnChange): on a change to approved it writes the
// request's provisioning record (operation apply, status pending) and
// enqueues an apply job; on approved → expired or revoked it switches the
// record to operation remove and enqueues a remove job. Both commit with
// the change or not at all. A queue.Runner then runs the jobs after commit,
// at least once, retrying with backoff until they succeed; jobs for one
// person and resource run one at a time in order, so a removal never
// overtakes its apply and a new grant is never applied before the previous
// one is removed.
//
// Every step is idempotent (GRANT and REVOKE are; webhook receivers get a
// stable idempotency key), so a crash at any point is repaired by running
// the step again: the persisted job is claimed again when its lease
// expires.
//
// Status per request, as the API shows it:
//
//	operation apply:  pending → applied            (or failed, still retrying)
//	operation remove: pending → removed            (or failed, still retrying)
//
// A removal is reported removed only when the target said so (postgres:
// the membership is verified gone; webhook: the receiver answered 2xx).
// After FailAfter failed attempts the status is failed: the failure is
// logged at error level for removals, audited, and listed for admins
// (GET /api/v1/provisioning?status=failed); the job keeps retrying, and the
// sweeper makes failing removals due again at every sweep.
package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/workflow"
)

// Queue is the name of the provisioning queue.
const Queue = "provision"

// Status is where a request's provisioning stands.
type Status string

const (
	StatusPending Status = "pending" // the current operation has not succeeded yet
	StatusApplied Status = "applied" // access is in place at the target
	StatusRemoved Status = "removed" // access is gone from the target
	StatusFailed  Status = "failed"  // the current operation keeps failing; still retried
)

// Operation is what the pipeline is doing for a request.
type Operation string

const (
	OpApply  Operation = "apply"
	OpRemove Operation = "remove"
)

func (op Operation) done() Status {
	if op == OpApply {
		return StatusApplied
	}
	return StatusRemoved
}

// Audit actions of the pipeline.
const (
	ActionApplied = "provision.apply"
	ActionRemoved = "provision.remove"
	ActionFailed  = "provision.failed"
)

// Record is a request's provisioning state.
type Record struct {
	RequestID string
	Resource  string
	Requester string
	// Spec is the provisioner as it was when the grant was approved.
	Spec      workflow.ProvisionerSpec
	Operation Operation
	Status    Status
	// Attempts counts the failed attempts of the current operation.
	Attempts     int
	LastError    string
	FailingSince *time.Time
	AppliedAt    *time.Time
	RemovedAt    *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Key is the job key of a person's grants of a resource: their jobs run
// one at a time, in order.
func Key(resource, requester string) string { return "provision:" + resource + ":" + requester }

// Grant is what a provisioner needs to apply or remove one grant.
type Grant struct {
	RequestID  string
	User       string // the requester's email
	Resource   string
	ApprovedAt *time.Time
	ExpiresAt  *time.Time
	EndedAt    *time.Time
	State      workflow.State // the request's state when the step runs
	Spec       workflow.ProvisionerSpec
}

// Provisioner applies and removes access at one kind of target. Both
// methods must be idempotent, and Remove must return nil only once the
// access is gone.
type Provisioner interface {
	Apply(ctx context.Context, g Grant) error
	Remove(ctx context.Context, g Grant) error
}

// Tx is what the hook needs of the change's transaction; store's
// transactions implement it.
type Tx interface {
	workflow.Tx
	// GetProvisionings returns the records of requests, by request id;
	// requests without one are absent.
	GetProvisionings(ctx context.Context, requestIDs []string) (map[string]*Record, error)
	// SaveProvisionings inserts or replaces records.
	SaveProvisionings(ctx context.Context, recs []*Record) error
	// RemoveNone marks removed, at at, the applied records of requests
	// whose provisioner is none, and returns their ids: their grant was
	// jitaccess's own record, so ending it is all there is to remove.
	RemoveNone(ctx context.Context, requestIDs []string, at time.Time) ([]string, error)
}

// Query filters a provisioning listing.
type Query struct {
	Status    Status
	Operation Operation
	Limit     int
}

// Store is the persistence the pipeline needs; store.DB implements it.
type Store interface {
	InTx(ctx context.Context, fn func(workflow.Tx) error) error
	GetRequest(ctx context.Context, id string) (*workflow.Request, error)
	// GetProvisioning returns a request's record, or nil when it has none.
	GetProvisioning(ctx context.Context, requestID string) (*Record, error)
	// UpdateProvisioning writes rec's outcome fields if the stored
	// operation is still op, with audit (if any), within (if any, run
	// after the write) and jobs in the same transaction. It reports
	// whether it wrote.
	UpdateProvisioning(ctx context.Context, rec *Record, op Operation, audit *workflow.AuditRecord, within func(workflow.Tx) error, jobs ...workflow.Job) (bool, error)
	// UnfinishedRemovals lists the other records of the same person and
	// resource whose removal has not succeeded.
	UnfinishedRemovals(ctx context.Context, resource, requester, exceptID string) ([]Record, error)
	// StrandedProvisioning lists records whose operation has not
	// succeeded and that have no pending job in queue.
	StrandedProvisioning(ctx context.Context, queue string, limit int) ([]Record, error)
	// HurryFailedRemovals makes the waiting jobs of failing removals due at
	// now, and returns how many it moved.
	HurryFailedRemovals(ctx context.Context, queue string, now time.Time) (int, error)
	ListProvisioning(ctx context.Context, q Query) ([]Record, error)
	ProvisioningStatuses(ctx context.Context, ids []string) (map[string]Record, error)
}

// Pipeline applies and removes grants.
type Pipeline struct {
	Store  Store
	Policy func() *workflow.Policy
	// Provisioners by type (webhook, postgres). none needs none.
	Provisioners map[string]Provisioner
	Logger       *slog.Logger
	// Now is the service's clock: whether a grant is still live.
	Now func() time.Time
	// JobNow is the queue's clock: when jobs become due. Default
	// workflow.Now.
	JobNow func() time.Time
	// FailAfter is the number of failed attempts after which the status
	// is failed; default 3.
	FailAfter int
	// Announce, when set, returns jobs to enqueue in the same transaction
	// as a step outcome that changes what people see: applied, removed,
	// or failing (for example, redrawing the approvers' Slack message).
	Announce func(rec Record, at time.Time) ([]workflow.Job, error)
	// StatusHook, when set, runs inside the transaction that writes a
	// step outcome changing the record's status (applied, failed,
	// removed), for example to notify other replicas; an error rolls the
	// outcome back. StatusCommitted, when set, runs after that
	// transaction has committed (to drop cached decisions).
	StatusHook      func(ctx context.Context, tx workflow.Tx, rec Record) error
	StatusCommitted func(rec Record)
	// RemovalConfirmed, when set, is called once per removal the target
	// confirmed (webhook 2xx, postgres REVOKE committed and verified),
	// after its outcome is written: ended is when the grant ended (its
	// ended_at: expires_at for an expiry, the revoke or end otherwise),
	// confirmed when the target's answer came. It is the revocation lag
	// (metrics: jitaccess_revocation_lag_seconds).
	RemovalConfirmed func(rec Record, ended, confirmed time.Time)
}

// update writes a step's outcome; prev is the record's status before it.
// The status hooks run when the status changed.
func (p *Pipeline) update(ctx context.Context, rec *Record, prev Status, op Operation, audit *workflow.AuditRecord, jobs ...workflow.Job) (bool, error) {
	changed := rec.Status != prev
	var within func(workflow.Tx) error
	if changed && p.StatusHook != nil {
		within = func(tx workflow.Tx) error { return p.StatusHook(ctx, tx, *rec) }
	}
	wrote, err := p.Store.UpdateProvisioning(ctx, rec, op, audit, within, jobs...)
	if err == nil && wrote && changed && p.StatusCommitted != nil {
		p.StatusCommitted(*rec)
	}
	return wrote, err
}

// announce returns the jobs that tell about rec's new status.
func (p *Pipeline) announce(rec *Record) ([]workflow.Job, error) {
	if p.Announce == nil {
		return nil, nil
	}
	return p.Announce(*rec, p.jobNow())
}

func (p *Pipeline) now() time.Time {
	if p.Now == nil {
		return workflow.Now()
	}
	return p.Now()
}

func (p *Pipeline) jobNow() time.Time {
	if p.JobNow == nil {
		return workflow.Now()
	}
	return p.JobNow()
}

func (p *Pipeline) log() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}

func (p *Pipeline) failAfter() int {
	if p.FailAfter <= 0 {
		return 3
	}
	return p.FailAfter
}

// Runner returns the queue runner for the pipeline's jobs. It never gives
// up on a job: steps are retried with backoff (capped at maxBackoff) until
// they succeed; the record's status says when they keep failing.
func (p *Pipeline) Runner(store queue.Store, lease, maxBackoff time.Duration) *queue.Runner {
	return &queue.Runner{
		Store: store, Queue: Queue, Handler: p.Handle, Logger: p.log(),
		Lease: lease, MaxBackoff: maxBackoff, MaxAttempts: math.MaxInt32,
	}
}

type jobPayload struct {
	Op        Operation `json:"op"`
	RequestID string    `json:"request_id"`
}

func job(op Operation, r *workflow.Request) (workflow.Job, error) {
	payload, err := json.Marshal(jobPayload{Op: op, RequestID: r.ID})
	if err != nil {
		return workflow.Job{}, workflow.Internal(err, "encode provisioning job")
	}
	return workflow.Job{Queue: Queue, Key: Key(r.Resource, r.Requester), Payload: payload}, nil
}

// Hook runs in the transaction of every change: it records and enqueues
// the apply of a grant that starts and the removal of one that ends.
// Register it with workflow.Service.OnChange.
func (p *Pipeline) Hook(ctx context.Context, tx workflow.Tx, changes []workflow.Change) error {
	ptx, ok := tx.(Tx)
	if !ok {
		return workflow.Internal(fmt.Errorf("%T does not implement provision.Tx", tx), "this store cannot record provisioning")
	}
	type step struct {
		c  workflow.Change
		op Operation
	}
	var steps []step
	var ending []string
	for _, c := range changes {
		switch {
		case c.To == workflow.StateApproved && c.From != workflow.StateApproved:
			steps = append(steps, step{c, OpApply})
		case c.From == workflow.StateApproved && c.To != workflow.StateApproved:
			steps = append(steps, step{c, OpRemove})
			ending = append(ending, c.Request.ID)
		}
	}
	if len(steps) == 0 {
		return nil
	}
	// A few statements for the whole batch, not a few per grant: the
	// sweeper ends a thousand grants per transaction. Grants without a
	// provisioner are removed by one UPDATE; the others are read once,
	// written once and their jobs enqueued once.
	var done []string
	if len(ending) > 0 {
		var err error
		if done, err = ptx.RemoveNone(ctx, ending, steps[0].c.At); err != nil {
			return err
		}
	}
	removed := make(map[string]bool, len(done))
	for _, id := range done {
		removed[id] = true
	}
	var rest []string
	for _, id := range ending {
		if !removed[id] {
			rest = append(rest, id)
		}
	}
	recs, err := ptx.GetProvisionings(ctx, rest)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = map[string]*Record{}
	}
	var save []*Record
	var jobs []workflow.Job
	for _, st := range steps {
		if st.op == OpRemove && removed[st.c.Request.ID] {
			continue
		}
		rec, j, err := p.start(recs[st.c.Request.ID], st.c, st.op)
		if err != nil {
			return err
		}
		if rec == nil {
			continue
		}
		recs[rec.RequestID] = rec
		save = append(save, rec)
		if j != nil {
			jobs = append(jobs, *j)
		}
	}
	if err := ptx.SaveProvisionings(ctx, dedupeLast(save)); err != nil {
		return err
	}
	return ptx.Enqueue(ctx, jobs...)
}

// dedupeLast keeps the last of several records of one request, in order.
func dedupeLast(recs []*Record) []*Record {
	last := make(map[string]int, len(recs))
	for i, r := range recs {
		last[r.RequestID] = i
	}
	out := recs[:0:0]
	for i, r := range recs {
		if last[r.RequestID] == i {
			out = append(out, r)
		}
	}
	return out
}

// start moves a request's record (nil when it has none) to the start of
// op, and returns the job that carries the step out (nil for none). It
// returns no record when there is nothing to record.
func (p *Pipeline) start(rec *Record, c workflow.Change, op Operation) (*Record, *workflow.Job, error) {
	r := c.Request
	if rec == nil || op == OpApply {
		res, _ := p.Policy().Resource(r.Resource)
		spec := res.ProvisionerOf()
		if rec == nil && op == OpRemove && spec.Type == workflow.ProvisionerNone {
			// Never recorded (granted before provisioning existed), and
			// nothing outside jitaccess to remove.
			return nil, nil, nil
		}
		rec = &Record{RequestID: r.ID, Resource: r.Resource, Requester: r.Requester, Spec: spec, CreatedAt: c.At}
	}
	rec.Operation, rec.Status, rec.Attempts, rec.LastError, rec.FailingSince, rec.UpdatedAt = op, StatusPending, 0, "", nil, c.At
	if rec.Spec.Type == workflow.ProvisionerNone {
		// Nothing outside jitaccess to change: its own record is the grant.
		rec.Status = op.done()
		at := c.At
		if op == OpApply {
			rec.AppliedAt = &at
		} else {
			rec.RemovedAt = &at
		}
		return rec, nil, nil
	}
	j, err := job(op, r)
	if err != nil {
		return nil, nil, err
	}
	return rec, &j, nil
}

// Handle runs one provisioning job (a queue.Handler).
func (p *Pipeline) Handle(ctx context.Context, j queue.Job) error {
	var pl jobPayload
	if err := json.Unmarshal(j.Payload, &pl); err != nil || pl.RequestID == "" || (pl.Op != OpApply && pl.Op != OpRemove) {
		return queue.Permanent(fmt.Errorf("provisioning job %d has a malformed payload %q", j.ID, j.Payload))
	}
	rec, err := p.Store.GetProvisioning(ctx, pl.RequestID)
	if err != nil {
		return err
	}
	if rec == nil {
		return queue.Permanent(fmt.Errorf("request %s has no provisioning record", pl.RequestID))
	}
	switch {
	case rec.Operation != pl.Op:
		// The grant ended before it was applied: nothing to apply; the
		// removal job, queued behind this one, runs next.
		return nil
	case rec.Status == pl.Op.done():
		return nil // done before: a job run again after a crash
	}
	req, err := p.Store.GetRequest(ctx, pl.RequestID)
	if err != nil {
		return err
	}
	if pl.Op == OpApply {
		if !req.Live(p.now()) {
			// Lapsed before it could be applied (a long outage): the
			// sweeper's expiry queues the removal.
			return nil
		}
		others, err := p.Store.UnfinishedRemovals(ctx, rec.Resource, rec.Requester, rec.RequestID)
		if err != nil {
			return err
		}
		if len(others) > 0 {
			// Only when the earlier removal's job was lost (jobs of one
			// person and resource otherwise run in order). This job ends
			// so that it does not hold the key's queue; the sweeper queues
			// the removal and then this apply again.
			return p.recordFailure(ctx, rec, pl.Op, fmt.Errorf("waiting for the removal of the earlier grant %s", others[0].RequestID))
		}
	}
	prov := p.Provisioners[rec.Spec.Type]
	if prov == nil {
		return p.failed(ctx, rec, pl.Op, fmt.Errorf("no %q provisioner is configured", rec.Spec.Type))
	}
	g := Grant{RequestID: req.ID, User: req.Requester, Resource: req.Resource, ApprovedAt: req.ApprovedAt,
		ExpiresAt: req.ExpiresAt, EndedAt: req.EndedAt, State: req.State, Spec: rec.Spec}
	if pl.Op == OpApply {
		err = prov.Apply(ctx, g)
	} else {
		err = prov.Remove(ctx, g)
	}
	confirmed := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: not the target's failure
		}
		return p.failed(ctx, rec, pl.Op, err)
	}
	wrote, err := p.succeeded(ctx, rec, pl.Op)
	if err == nil && wrote && pl.Op == OpRemove && p.RemovalConfirmed != nil {
		ended := req.EndedAt
		if ended == nil {
			ended = req.ExpiresAt
		}
		if ended != nil {
			p.RemovalConfirmed(*rec, *ended, confirmed)
		}
	}
	return err
}

func (p *Pipeline) succeeded(ctx context.Context, rec *Record, op Operation) (bool, error) {
	now := p.now()
	prev := rec.Status
	wasFailing := rec.Status == StatusFailed
	rec.Status, rec.Attempts, rec.LastError, rec.FailingSince, rec.UpdatedAt = op.done(), 0, "", nil, now
	action := ActionApplied
	if op == OpApply {
		rec.AppliedAt = &now
	} else {
		rec.RemovedAt = &now
		action = ActionRemoved
	}
	audit := &workflow.AuditRecord{At: now, Actor: workflow.System.Name(), Action: action, RequestID: rec.RequestID,
		Resource: rec.Resource, Subject: rec.Requester, Reason: Describe(rec.Spec, rec.Requester)}
	jobs, err := p.announce(rec)
	if err != nil {
		return false, err
	}
	wrote, err := p.update(ctx, rec, prev, op, audit, jobs...)
	if err != nil {
		return false, err
	}
	if wrote {
		l := p.log().With("request", rec.RequestID, "resource", rec.Resource, "user", rec.Requester, "provisioner", rec.Spec.Type)
		if wasFailing {
			l.Info("provisioning recovered", "operation", op, "status", rec.Status)
		} else {
			l.Info("provisioned", "operation", op, "status", rec.Status)
		}
	}
	return wrote, nil
}

// failed records a failed attempt and returns its cause, so that the queue
// retries the job with backoff.
func (p *Pipeline) failed(ctx context.Context, rec *Record, op Operation, cause error) error {
	if err := p.recordFailure(ctx, rec, op, cause); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// recordFailure records a failed attempt: the status turns failed after
// FailAfter attempts, which is logged at error level and audited.
func (p *Pipeline) recordFailure(ctx context.Context, rec *Record, op Operation, cause error) error {
	now := p.now()
	prev := rec.Status
	rec.Attempts++
	rec.LastError = truncate(cause.Error(), 1000)
	rec.UpdatedAt = now
	if rec.FailingSince == nil {
		rec.FailingSince = &now
	}
	var audit *workflow.AuditRecord
	if rec.Attempts >= p.failAfter() && rec.Status != StatusFailed {
		rec.Status = StatusFailed
		audit = &workflow.AuditRecord{At: now, Actor: workflow.System.Name(), Action: ActionFailed, RequestID: rec.RequestID,
			Resource: rec.Resource, Subject: rec.Requester,
			Reason: truncate(fmt.Sprintf("%s keeps failing after %d attempts: %s", op, rec.Attempts, rec.LastError), 1000)}
	}
	l := p.log().With("request", rec.RequestID, "resource", rec.Resource, "user", rec.Requester, "provisioner", rec.Spec.Type,
		"operation", op, "attempts", rec.Attempts, "err", cause)
	switch {
	case rec.Status == StatusFailed && op == OpRemove:
		l.Error("REMOVAL FAILING: access may still be live at the target after the grant ended; retrying", "failing_since", rec.FailingSince)
	case rec.Status == StatusFailed:
		l.Error("provisioning failing; retrying", "failing_since", rec.FailingSince)
	default:
		l.Warn("provisioning attempt failed; will retry")
	}
	var jobs []workflow.Job
	if audit != nil { // newly failing: worth telling
		var err error
		if jobs, err = p.announce(rec); err != nil {
			return err
		}
	}
	_, err := p.update(ctx, rec, prev, op, audit, jobs...)
	return err
}

// Describe says in a few words what a provisioner does for user, for the
// audit log.
func Describe(spec workflow.ProvisionerSpec, user string) string {
	switch spec.Type {
	case workflow.ProvisionerWebhook:
		return "webhook " + spec.URL
	case workflow.ProvisionerPostgres:
		name, err := DatabaseUser(spec, user)
		if err != nil {
			name = user
		}
		return fmt.Sprintf("postgres role %s for %s on $%s", spec.Role, name, spec.DSNEnv)
	}
	return spec.Type
}

func truncate(s string, n int) string { return workflow.Clip(s, n) }

// SweepResult counts what one provisioning sweep did.
type SweepResult struct {
	Hurried   int // failing removals made due now
	Requeued  int // records whose job was gone, queued again
	Requeuing []string
}

// Sweep runs with the sweeper: it makes the jobs of failing removals due
// at once, rather than after their backoff, and queues again any record
// whose operation has not succeeded but has no job left (a job failed for
// good, or was removed by hand). It is safe on several replicas at once:
// a second job for the same step finds it done.
func (p *Pipeline) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	n, err := p.Store.HurryFailedRemovals(ctx, Queue, p.jobNow())
	if err != nil {
		return res, err
	}
	res.Hurried = n
	stranded, err := p.Store.StrandedProvisioning(ctx, Queue, 200)
	if err != nil {
		return res, err
	}
	for _, rec := range stranded {
		j, err := job(rec.Operation, &workflow.Request{ID: rec.RequestID, Resource: rec.Resource, Requester: rec.Requester})
		if err != nil {
			return res, err
		}
		if err := p.Store.InTx(ctx, func(tx workflow.Tx) error { return tx.Enqueue(ctx, j) }); err != nil {
			return res, err
		}
		res.Requeued++
		res.Requeuing = append(res.Requeuing, rec.RequestID)
		p.log().Warn("provisioning step had no job; queued it again", "request", rec.RequestID, "operation", rec.Operation, "status", rec.Status)
	}
	return res, nil
}

// Status returns a request's provisioning record, or nil when it has none
// (it was never approved).
func (p *Pipeline) Status(ctx context.Context, requestID string) (*Record, error) {
	return p.Store.GetProvisioning(ctx, requestID)
}

// List returns provisioning records for admins, most recently updated
// first: for example every failing step (Status failed).
//
// Errors: CodeForbidden (not an admin), CodeInvalid (bad filter).
func (p *Pipeline) List(ctx context.Context, who workflow.Principal, q Query) ([]Record, error) {
	if !p.Policy().IsAdmin(who) {
		return nil, workflow.Errorf(workflow.CodeForbidden, "only admins may list provisioning")
	}
	switch q.Status {
	case "", StatusPending, StatusApplied, StatusRemoved, StatusFailed:
	default:
		return nil, workflow.Errorf(workflow.CodeInvalid, "unknown status %q; use pending, applied, removed or failed", q.Status)
	}
	switch q.Operation {
	case "", OpApply, OpRemove:
	default:
		return nil, workflow.Errorf(workflow.CodeInvalid, "unknown operation %q; use apply or remove", q.Operation)
	}
	if q.Limit <= 0 || q.Limit > workflow.MaxPageSize {
		q.Limit = 100
	}
	return p.Store.ListProvisioning(ctx, q)
}

// Statuses returns the records of the given requests, by id; requests
// that were never approved are absent.
func (p *Pipeline) Statuses(ctx context.Context, ids []string) (map[string]Record, error) {
	return p.Store.ProvisioningStatuses(ctx, ids)
}
