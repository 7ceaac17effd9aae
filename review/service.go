package review

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jitaccess/workflow"
)

// Audit actions of reviews.
const (
	ActionReviewOpen    = "review.open"
	ActionReviewSignOff = "review.signoff"
	ActionFollowUp      = "review.followup"
	ActionFollowUpDone  = "review.followup.resolve"
)

// Options configure a Service. Zero values take the defaults.
type Options struct {
	Now             func() time.Time // default workflow.Now
	NewID           func() string    // default UUIDv7
	Thresholds      Thresholds       // default DefaultThresholds()
	ProvisionQueues []string         // job queues whose failures are flagged
	// AlertQueue, when set, receives one job per new flag found by Scan
	// (the security channel's outbox); the job's payload is the Flag as
	// JSON (FlagJSON).
	AlertQueue string
	// ScanWindow is how far back Scan looks for new flags; default 48h.
	ScanWindow time.Duration
	// MaxPeriodRequests bounds what a report, a dashboard or a review
	// loads: a period (with the rules' lookback) holding more requests
	// is refused with CodeInvalid, to be narrowed. Default
	// DefaultMaxPeriodRequests; negative for no bound (the command line,
	// which runs on its own). Scan, over its fixed window, is not bound.
	MaxPeriodRequests int
	// ReminderJob, when set, turns a reminder (a campaign's reviewers, a
	// pending request's approvers) into a job of the notifier's outbox,
	// queued in the transaction that decided to send it.
	ReminderJob func(Reminder) (workflow.Job, error)
}

// DefaultMaxPeriodRequests is the default Options.MaxPeriodRequests.
const DefaultMaxPeriodRequests = 50000

// Service runs access reviews and anomaly scans.
type Service struct {
	store  Store
	policy func() *workflow.Policy
	opts   Options
}

// New returns a Service; policy returns the policy in force (it changes on
// reload).
func New(store Store, policy func() *workflow.Policy, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = workflow.Now
	}
	if opts.NewID == nil {
		opts.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	if opts.Thresholds == (Thresholds{}) {
		opts.Thresholds = DefaultThresholds()
	}
	if opts.ScanWindow <= 0 {
		opts.ScanWindow = 48 * time.Hour
	}
	if opts.MaxPeriodRequests == 0 {
		opts.MaxPeriodRequests = DefaultMaxPeriodRequests
	}
	return &Service{store: store, policy: policy, opts: opts}
}

// Thresholds returns the thresholds in force.
func (s *Service) Thresholds() Thresholds { return s.opts.Thresholds }

// periodRequests loads the requests of [since, until) within max (0: no
// bound); p is the period asked for, for the refusal's message.
//
// Errors: CodeInvalid (more than max).
func (s *Service) periodRequests(ctx context.Context, since, until time.Time, p Period, max int) ([]*workflow.Request, error) {
	reqs, more, err := s.store.PeriodRequests(ctx, since, until, max)
	if err != nil {
		return nil, err
	}
	if more {
		return nil, workflow.Errorf(workflow.CodeInvalid,
			"period too large: %s to %s holds more than %d requests (counting the %s before it that the anomaly rules look back on); narrow it with since and until",
			p.Start.UTC().Format(time.RFC3339), p.End.UTC().Format(time.RFC3339), max, humanDays(until.Sub(since)-p.End.Sub(p.Start)))
	}
	return reqs, nil
}

// maxLoad is the bound on what a report loads (0: none).
func (s *Service) maxLoad() int { return max(s.opts.MaxPeriodRequests, 0) }

func humanDays(d time.Duration) string {
	if d <= 0 {
		return "nothing"
	}
	if d%(24*time.Hour) == 0 {
		return itoa(int(d/(24*time.Hour))) + " days"
	}
	return d.String()
}

// detect loads what the rules need and runs them over period, loading at
// most max requests (0: no bound).
func (s *Service) detect(ctx context.Context, p Period, max int) ([]Flag, []*workflow.Request, error) {
	since := p.Start.Add(-s.opts.Thresholds.Lookback())
	reqs, err := s.periodRequests(ctx, since, p.End, p, max)
	if err != nil {
		return nil, nil, err
	}
	jobs, err := s.store.FailedJobsBetween(ctx, s.opts.ProvisionQueues, p.Start, p.End)
	if err != nil {
		return nil, nil, err
	}
	failing, err := s.store.ProvisioningFailures(ctx, p.Start, p.End)
	if err != nil {
		return nil, nil, err
	}
	flags := Detect(DetectInput{Policy: s.policy(), Thresholds: s.opts.Thresholds, Period: p, Requests: reqs, FailedJobs: jobs,
		ProvisioningFailures: failing})
	overdue, err := s.campaignFlags(ctx, s.policy(), p)
	if err != nil {
		return nil, nil, err
	}
	flags = append(flags, overdue...)
	raised, err := s.store.RaisedFlags(ctx, p.Start, p.End)
	if err != nil {
		return nil, nil, err
	}
	for i := range flags {
		if r, ok := raised[flags[i].Key]; ok {
			at := r.DetectedAt
			flags[i].RaisedAt = &at
		}
	}
	return flags, reqs, nil
}

// Report builds the access review report of scope over period.
//
// Errors: CodeForbidden, CodeInvalid (bad period or scope).
func (s *Service) Report(ctx context.Context, who workflow.Principal, scope Scope, p Period) (*Report, error) {
	scope, err := s.checkAsk(&who, scope, p)
	if err != nil {
		return nil, err
	}
	return s.report(ctx, scope, p)
}

// checkAsk validates scope and period and, unless who is nil (an
// operator), that who may read the scope.
func (s *Service) checkAsk(who *workflow.Principal, scope Scope, p Period) (Scope, error) {
	scope, err := CheckScope(scope)
	if err != nil {
		return scope, err
	}
	if who != nil {
		if err := CheckRead(s.policy(), *who, scope); err != nil {
			return scope, err
		}
	}
	return scope, CheckPeriod(p)
}

func (s *Service) report(ctx context.Context, scope Scope, p Period) (*Report, error) {
	flags, reqs, err := s.detect(ctx, p, s.maxLoad())
	if err != nil {
		return nil, err
	}
	return BuildReport(ReportInput{Scope: scope, Period: p, Now: s.opts.Now(), Requests: reqs, Flags: flags,
		StandingCount: s.opts.Thresholds.StandingCount}), nil
}

// Flags returns the anomaly flags of scope in period, oldest first.
//
// Errors: CodeForbidden, CodeInvalid.
func (s *Service) Flags(ctx context.Context, who workflow.Principal, scope Scope, p Period) ([]Flag, error) {
	rep, err := s.Report(ctx, who, scope, p)
	if err != nil {
		return nil, err
	}
	return rep.Flags, nil
}

// Dashboard returns the dashboard numbers for period. Admins and
// reviewers only.
//
// Errors: CodeForbidden, CodeInvalid.
func (s *Service) Dashboard(ctx context.Context, who workflow.Principal, p Period) (*Dashboard, error) {
	if err := CheckDashboard(s.policy(), who); err != nil {
		return nil, err
	}
	if err := CheckPeriod(p); err != nil {
		return nil, err
	}
	flags, reqs, err := s.detect(ctx, p, s.maxLoad())
	if err != nil {
		return nil, err
	}
	return BuildDashboard(p, s.opts.Now(), reqs, flags), nil
}

// Detail is a review with its current report.
type Detail struct {
	*Review
	Report *Report
	// Changed is set on a signed-off review whose data no longer gives
	// the report that was signed (for example, access granted in the
	// period was revoked afterwards).
	Changed bool
}

// Open starts a review of scope over period.
//
// Errors: CodeForbidden, CodeInvalid.
func (s *Service) Open(ctx context.Context, who workflow.Principal, scope Scope, p Period) (*Review, error) {
	scope, err := s.checkAsk(&who, scope, p)
	if err != nil {
		return nil, err
	}
	if err := s.checkScopeExists(ctx, scope, p); err != nil {
		return nil, err
	}
	now := s.opts.Now()
	rev := &Review{ID: s.opts.NewID(), Scope: scope, Period: Period{p.Start.UTC(), p.End.UTC()}, CreatedBy: who.Email, CreatedAt: now,
		State: StateOpen, Version: 1}
	err = s.store.InReviewTx(ctx, func(tx Tx) error {
		if err := tx.InsertReview(ctx, rev); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, s.auditRecord(rev, who, ActionReviewOpen, "", now))
	})
	if err != nil {
		return nil, err
	}
	return rev, nil
}

func (s *Service) auditRecord(rev *Review, who workflow.Principal, action, text string, now time.Time) *workflow.AuditRecord {
	rec := &workflow.AuditRecord{At: now, Actor: who.Name(), Action: action,
		Reason: "review " + rev.ID + " of " + rev.Scope.String() + " from " + rev.Period.Start.Format(time.RFC3339) + " to " + rev.Period.End.Format(time.RFC3339)}
	if text != "" {
		rec.Reason += ": " + text
	}
	switch rev.Scope.Kind {
	case ScopeResource:
		rec.Resource = rev.Scope.Value
	case ScopePerson:
		rec.Subject = rev.Scope.Value
	}
	return rec
}

// Get returns a review with its follow-ups and current report.
//
// Errors: CodeNotFound (unknown, or not visible to who).
func (s *Service) Get(ctx context.Context, who workflow.Principal, id string) (*Detail, error) {
	rev, err := s.store.GetReview(ctx, id)
	if err != nil {
		return nil, err
	}
	if CheckReadReview(s.policy(), who, rev) != nil {
		return nil, workflow.Errorf(workflow.CodeNotFound, "review %s not found", id)
	}
	rep, err := s.report(ctx, rev.Scope, rev.Period)
	if err != nil {
		return nil, err
	}
	return &Detail{Review: rev, Report: rep, Changed: rev.State == StateSignedOff && rev.ReportDigest != rep.Digest}, nil
}

// List returns the reviews who may read, newest first.
//
// Errors: CodeForbidden (may read no review: see CheckReviews),
// CodeInvalid (bad cursor).
func (s *Service) List(ctx context.Context, who workflow.Principal, limit int, cursor string) ([]*Review, string, error) {
	pol := s.policy()
	if err := CheckReviews(pol, who); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var out []*Review
	for {
		page, next, err := s.store.ListReviews(ctx, limit, cursor)
		if err != nil {
			return nil, "", err
		}
		for _, r := range page {
			if CheckReadReview(pol, who, r) == nil {
				out = append(out, r)
			}
		}
		cursor = next
		if len(out) >= limit || next == "" {
			return out, next, nil
		}
	}
}

// SignOff closes a review with notes. The sign-off records the digest of
// the report as it stands and is audited in the same transaction.
//
// Errors: CodeNotFound, CodeForbidden (may not read it, or had access in
// it), CodeInvalidState (already signed off), CodeInvalid (notes too
// long), CodeConflict.
func (s *Service) SignOff(ctx context.Context, who workflow.Principal, id, notes string) (*Review, error) {
	notes, notices, err := workflow.CheckComment(s.policy(), "notes", notes, false, "sign off")
	if err != nil {
		return nil, err
	}
	current, err := s.store.GetReview(ctx, id)
	if err != nil {
		return nil, err
	}
	pol := s.policy()
	if CheckReadReview(pol, who, current) != nil {
		return nil, workflow.Errorf(workflow.CodeNotFound, "review %s not found", id)
	}
	rep, err := s.report(ctx, current.Scope, current.Period)
	if err != nil {
		return nil, err
	}
	var out *Review
	err = s.store.InReviewTx(ctx, func(tx Tx) error {
		rev, err := tx.LockReview(ctx, id)
		if err != nil {
			return err
		}
		if err := CheckSignOff(pol, who, rev, rep); err != nil {
			return err
		}
		now := s.opts.Now()
		prev := rev.Version
		rev.State, rev.SignedOffBy, rev.SignedOffAt, rev.Notes, rev.ReportDigest = StateSignedOff, who.Email, &now, notes, rep.Digest
		if err := tx.UpdateReview(ctx, rev, prev); err != nil {
			return err
		}
		text := "signed off (report " + rep.Digest[:16] + ", " + itoa(len(rep.Grants)) + " grants, " + itoa(len(rep.Flags)) + " flags)"
		if notes != "" {
			text += ": " + notes
		}
		rev.Notices = notices
		rev.FollowUps = current.FollowUps // LockReview loads none; the answer shows them
		out = rev
		return tx.AppendAudit(ctx, s.auditRecord(rev, who, ActionReviewSignOff, text, now))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkFollowUp marks one item of a review for follow-up, with a note.
// Items can be marked on open and signed-off reviews alike.
//
// Errors: CodeNotFound, CodeInvalid (bad item, note missing or too long).
func (s *Service) MarkFollowUp(ctx context.Context, who workflow.Principal, reviewID, kind, ref, note string) (*FollowUp, error) {
	kind, ref, err := ParseItem(kind, ref)
	if err != nil {
		return nil, err
	}
	note, notices, err := workflow.CheckComment(s.policy(), "note", note, true, "mark for follow-up")
	if err != nil {
		return nil, err
	}
	current, err := s.store.GetReview(ctx, reviewID)
	if err != nil {
		return nil, err
	}
	if CheckReadReview(s.policy(), who, current) != nil {
		return nil, workflow.Errorf(workflow.CodeNotFound, "review %s not found", reviewID)
	}
	if err := s.checkItemExists(ctx, current, kind, ref); err != nil {
		return nil, err
	}
	var out *FollowUp
	err = s.store.InReviewTx(ctx, func(tx Tx) error {
		rev, err := tx.LockReview(ctx, reviewID)
		if err != nil {
			return err
		}
		if CheckReadReview(s.policy(), who, rev) != nil {
			return workflow.Errorf(workflow.CodeNotFound, "review %s not found", reviewID)
		}
		now := s.opts.Now()
		f := &FollowUp{ID: s.opts.NewID(), ReviewID: rev.ID, ItemKind: kind, ItemRef: ref, Note: note, CreatedBy: who.Email, CreatedAt: now, Notices: notices}
		if err := tx.InsertFollowUp(ctx, f); err != nil {
			return err
		}
		rec := s.auditRecord(rev, who, ActionFollowUp, kind+" "+ref+" marked for follow-up ("+f.ID+"): "+note, now)
		if kind == ItemRequest && validUUID(ref) {
			rec.RequestID = ref
		}
		out = f
		return tx.AppendAudit(ctx, rec)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ResolveFollowUp records how a follow-up was dealt with.
//
// Errors: CodeNotFound, CodeInvalid, CodeConflict (already resolved).
func (s *Service) ResolveFollowUp(ctx context.Context, who workflow.Principal, id, resolution string) (*FollowUp, error) {
	resolution, notices, err := workflow.CheckComment(s.policy(), "resolution", resolution, true, "resolve a follow-up")
	if err != nil {
		return nil, err
	}
	var out *FollowUp
	err = s.store.InReviewTx(ctx, func(tx Tx) error {
		f, err := tx.LockFollowUp(ctx, id)
		if err != nil {
			return err
		}
		rev, err := tx.LockReview(ctx, f.ReviewID)
		if err != nil {
			return err
		}
		if CheckReadReview(s.policy(), who, rev) != nil {
			return workflow.Errorf(workflow.CodeNotFound, "follow-up %s not found", id)
		}
		if f.ResolvedAt != nil {
			return workflow.Errorf(workflow.CodeInvalidState, "follow-up %s was already resolved by %s", id, f.ResolvedBy)
		}
		now := s.opts.Now()
		f.ResolvedBy, f.ResolvedAt, f.Resolution = who.Email, &now, resolution
		if err := tx.ResolveFollowUp(ctx, f); err != nil {
			return err
		}
		f.Notices = notices
		out = f
		return tx.AppendAudit(ctx, s.auditRecord(rev, who, ActionFollowUpDone, "follow-up "+f.ID+" on "+f.ItemKind+" "+f.ItemRef+" resolved: "+resolution, now))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// knownPerson reports whether the policy or the directory knows email.
func (s *Service) knownPerson(ctx context.Context, email string) (bool, error) {
	if s.policy().Knows(workflow.User(email)) {
		return true, nil
	}
	p, err := s.store.PersonByEmail(ctx, email)
	if err != nil {
		return false, err
	}
	return p != nil, nil
}

// checkScopeExists refuses a review of what does not exist: a resource
// neither in the policy nor in the period's requests (a retired resource
// can still be reviewed), a person neither in the policy, nor in the
// directory, nor in the period's requests.
//
// Errors: CodeUnprocessable.
func (s *Service) checkScopeExists(ctx context.Context, scope Scope, p Period) error {
	switch scope.Kind {
	case ScopeResource:
		if _, ok := s.policy().Resource(scope.Value); ok {
			return nil
		}
	case ScopePerson:
		if ok, err := s.knownPerson(ctx, scope.Value); err != nil || ok {
			return err
		}
	default:
		return nil
	}
	reqs, err := s.periodRequests(ctx, p.Start, p.End, p, s.maxLoad())
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if scope.Kind == ScopeResource && r.Resource == scope.Value || scope.Kind == ScopePerson && r.Requester == scope.Value {
			return nil
		}
	}
	if scope.Kind == ScopeResource {
		return workflow.Errorf(workflow.CodeUnprocessable, "unknown resource %q: not in the policy and no request for it in the period", scope.Value)
	}
	return workflow.Errorf(workflow.CodeUnprocessable, "unknown person %q: not in the policy, not in the directory and no request by them in the period", scope.Value)
}

// checkItemExists refuses a follow-up on something that does not exist:
// a request not in the database, a flag not in the review's report, a
// person unknown to the policy, the directory and the report, a resource
// unknown to the policy and the report.
//
// Errors: CodeUnprocessable.
func (s *Service) checkItemExists(ctx context.Context, rev *Review, kind, ref string) error {
	switch kind {
	case ItemRequest:
		if !validUUID(ref) {
			return workflow.Errorf(workflow.CodeUnprocessable, "follow-up ref %q names no request", ref)
		}
		_, err := s.store.GetRequest(ctx, ref)
		if workflow.ErrorCode(err) == workflow.CodeNotFound {
			return workflow.Errorf(workflow.CodeUnprocessable, "follow-up ref %q names no request", ref)
		}
		return err
	case ItemPerson:
		if ok, err := s.knownPerson(ctx, ref); err != nil || ok {
			return err
		}
	case ItemResource:
		if _, ok := s.policy().Resource(ref); ok {
			return nil
		}
	}
	rep, err := s.report(ctx, rev.Scope, rev.Period)
	if err != nil {
		return err
	}
	switch kind {
	case ItemFlag:
		for _, f := range rep.Flags {
			if f.Key == ref {
				return nil
			}
		}
		return workflow.Errorf(workflow.CodeUnprocessable, "follow-up ref %q names no flag of this review's report", ref)
	case ItemPerson, ItemResource:
		for _, g := range rep.Grants {
			if kind == ItemPerson && g.Person == ref || kind == ItemResource && g.Resource == ref {
				return nil
			}
		}
	}
	return workflow.Errorf(workflow.CodeUnprocessable, "follow-up ref %q names no %s known to the policy, the directory or this review", ref, kind)
}

func validUUID(s string) bool { _, err := uuid.Parse(s); return err == nil && len(s) == 36 }

// FlagJSON is a flag as the alert queue and the API carry it.
type FlagJSON struct {
	Kind       FlagKind   `json:"kind"`
	Key        string     `json:"key"`
	Person     string     `json:"person,omitempty"`
	People     []string   `json:"people,omitempty"`
	Resource   string     `json:"resource,omitempty"`
	RequestIDs []string   `json:"request_ids"`
	Reason     string     `json:"reason"`
	At         time.Time  `json:"at"`
	RaisedAt   *time.Time `json:"raised_at,omitempty"`
}

// ToJSON converts a flag.
func (f Flag) ToJSON() FlagJSON {
	ids := f.RequestIDs
	if ids == nil {
		ids = []string{}
	}
	return FlagJSON{Kind: f.Kind, Key: f.Key, Person: f.Person, People: f.People, Resource: f.Resource, RequestIDs: ids,
		Reason: f.Reason, At: f.At, RaisedAt: f.RaisedAt}
}

// Scan finds the flags of the last ScanWindow, records those not recorded
// before, and (with AlertQueue set) enqueues an alert for each, in one
// transaction. Scans on several replicas raise each flag once. It returns
// the new flags.
func (s *Service) Scan(ctx context.Context) ([]Flag, error) {
	now := s.opts.Now()
	flags, _, err := s.detect(ctx, Period{Start: now.Add(-s.opts.ScanWindow), End: now.Add(time.Microsecond)}, 0)
	if err != nil {
		return nil, err
	}
	var fresh []Flag
	for _, f := range flags {
		if f.RaisedAt == nil {
			fresh = append(fresh, f)
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	var added []Flag
	err = s.store.InReviewTx(ctx, func(tx Tx) error {
		added, err = tx.RecordFlags(ctx, fresh, now)
		if err != nil || s.opts.AlertQueue == "" {
			return err
		}
		jobs := make([]workflow.Job, 0, len(added))
		for _, f := range added {
			payload, err := json.Marshal(f.ToJSON())
			if err != nil {
				return workflow.Internal(err, "encode flag")
			}
			jobs = append(jobs, workflow.Job{Queue: s.opts.AlertQueue, Key: "flag", Payload: payload, RunAt: now})
		}
		return tx.Enqueue(ctx, jobs...)
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// Audit actions of the audit log's own use.
const (
	ActionAuditExport = workflow.ActionAuditExport
	ActionAuditVerify = "audit.verify"
)

// AuthorizeAuditRead checks that who may export or verify the audit log
// and, for an export, records who exported what (what describes the
// filter) in the audit log itself, before the first record is sent.
//
// Errors: CodeForbidden.
func (s *Service) AuthorizeAuditRead(ctx context.Context, who workflow.Principal, action, what string) error {
	if err := CheckExport(s.policy(), who); err != nil {
		return err
	}
	if action != ActionAuditExport {
		return nil
	}
	return s.store.InReviewTx(ctx, func(tx Tx) error {
		return tx.AppendAudit(ctx, &workflow.AuditRecord{At: s.opts.Now(), Actor: who.Name(), Action: action, Reason: what})
	})
}

// OperatorReport builds a report for an operator with direct database
// access (the command line), who needs no permission from the policy.
//
// Errors: CodeInvalid.
func (s *Service) OperatorReport(ctx context.Context, scope Scope, p Period) (*Report, error) {
	scope, err := s.checkAsk(nil, scope, p)
	if err != nil {
		return nil, err
	}
	return s.report(ctx, scope, p)
}
