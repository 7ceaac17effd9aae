package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Break-glass: emergency access that is live at once, with no approver,
// and answered for afterwards (docs/policy.md, break_glass).
//
// A member of a resource's break_glass groups files with Emergency set.
// In the one transaction that grants the access, jitaccess also raises an
// anomaly flag (kind break_glass), enqueues a security alert (the Slack
// security channel and the log, through the SecurityQueue) and opens the
// post-hoc review: ReviewersRequired distinct reviewers, never the
// requester, must sign it off within ReviewWithin. A review still open at
// its due time raises a flag and an alert, and again every ReviewWithin
// until it is signed off (AlertOverdueReviews).

// BreakGlass is a resource's emergency path (policy key break_glass).
type BreakGlass struct {
	// Groups are the groups whose members may file an emergency request.
	Groups []string
	// MaxDuration caps an emergency grant; at most the resource's
	// max_duration (the default).
	MaxDuration time.Duration
	// ReviewersRequired distinct reviewers must sign the review off
	// (default 1). Reviewers are the resource's approvers and the admins,
	// never the requester.
	ReviewersRequired int
	// ReviewWithin is how long the review may stay open (default 24h), and
	// the period of the overdue alerts after that.
	ReviewWithin time.Duration
	// SkipConditions lets an emergency grant skip the resource's
	// conditions; policy check warns about it.
	SkipConditions bool
}

// Break-glass defaults.
const (
	DefaultBreakGlassReviewWithin = 24 * time.Hour
	DefaultBreakGlassReviewers    = 1
)

// SecurityQueue is the persisted queue whose jobs are security alerts
// (SecurityAlert payloads), delivered to the log and the Slack security
// channel.
const SecurityQueue = "security"

// Flag kinds break-glass raises (besides the scanner's; see review/).
const (
	FlagBreakGlass              = "break_glass"
	FlagBreakGlassReviewOverdue = "break_glass_review_overdue"
)

// Audit actions of the post-hoc review.
const (
	ActionBreakGlassSignoff = "break_glass.review_signoff"
	ActionBreakGlassOverdue = "break_glass.review_overdue"
)

// Post-hoc review states.
const (
	ReviewOpen      = "open"
	ReviewSignedOff = "signed_off"
)

// EmergencyReview is the mandatory after-the-fact review of an emergency
// grant.
type EmergencyReview struct {
	RequestID string
	Required  int
	Within    time.Duration
	CreatedAt time.Time
	DueAt     time.Time
	State     string // ReviewOpen or ReviewSignedOff
	// NextAlertAt is when the next overdue alert is due; replicas
	// compare and set it, so that one alerts per period.
	NextAlertAt time.Time
	Alerts      int // overdue alerts sent so far
	SignedOffAt *time.Time
	Signoffs    []ReviewSignoff // in the order given
	Version     int64
}

// ReviewSignoff is one reviewer's sign-off.
type ReviewSignoff struct {
	Reviewer string
	Comment  string
	At       time.Time
}

// Overdue reports whether the review is still open past its due time.
func (r *EmergencyReview) Overdue(now time.Time) bool {
	return r.State == ReviewOpen && !now.Before(r.DueAt)
}

// SignedBy reports whether reviewer has signed the review off.
func (r *EmergencyReview) SignedBy(reviewer string) bool {
	return slices.ContainsFunc(r.Signoffs, func(s ReviewSignoff) bool { return s.Reviewer == reviewer })
}

// Progress is "1 of 2 sign-offs".
func (r *EmergencyReview) Progress() string {
	return fmt.Sprintf("%d of %d sign-offs", len(r.Signoffs), r.Required)
}

// Countdown says where the review stands against its due time: "review
// due in 23 h", "review overdue by 2 h", or "signed off".
func (r *EmergencyReview) Countdown(now time.Time) string {
	if r.State == ReviewSignedOff {
		return "review signed off"
	}
	if r.Overdue(now) {
		return "review overdue by " + roughDuration(now.Sub(r.DueAt))
	}
	return "review due in " + roughDuration(r.DueAt.Sub(now))
}

// roughDuration is a duration for people: "23 h", "45 min", "2 d".
func roughDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return "less than a minute"
}

// SecurityAlert is the payload of a SecurityQueue job, and the flag it
// records. Its JSON is that of review.FlagJSON, plus a summary and a
// severity.
type SecurityAlert struct {
	Kind       string    `json:"kind"`
	Key        string    `json:"key"`
	Person     string    `json:"person,omitempty"`
	Resource   string    `json:"resource,omitempty"`
	RequestIDs []string  `json:"request_ids"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
	Summary    string    `json:"summary,omitempty"`
	Severity   string    `json:"severity,omitempty"` // "critical" or "warning" (the default)
}

// IsBreakGlassMember reports whether who may file an emergency request
// for r.
func (p *Policy) IsBreakGlassMember(who Principal, r *Resource) bool {
	return r != nil && r.BreakGlass != nil && p.InAnyGroup(who, r.BreakGlass.Groups)
}

// checkBreakGlass applies the rules on filing an emergency request: the
// resource has a break_glass block and who is in one of its groups.
func checkBreakGlass(pol *Policy, who Principal, res *Resource) error {
	if res.BreakGlass == nil {
		return Errorf(CodePolicy, "%s has no break-glass access; file a normal request", res.ID)
	}
	if !pol.IsBreakGlassMember(who, res) {
		return Errorf(CodeForbidden, "%s may not use emergency access to %s: only members of %s may (file a normal request instead)",
			who.Email, res.ID, joinOr(res.BreakGlass.Groups))
	}
	return nil
}

func joinOr(items []string) string {
	switch len(items) {
	case 0:
		return "nobody"
	case 1:
		return items[0]
	}
	out := ""
	for i, s := range items {
		switch {
		case i == 0:
		case i == len(items)-1:
			out += " or "
		default:
			out += ", "
		}
		out += s
	}
	return out
}

// breakGlass grants an emergency request in the transaction that files
// it, and opens its review: it returns the break_glass change. req is
// pending and not yet inserted; once it is, raiseBreakGlass writes the
// review, the flag and the alert.
func (s *Service) breakGlass(who Principal, req *Request, res *Resource, now time.Time) (Change, error) {
	t, err := Next(StatePending, EventBreakGlass, RoleRequester)
	if err != nil {
		return Change{}, err
	}
	bg := res.BreakGlass
	req.Emergency = true
	req.RequiredApprovals = 0
	grant(req, now)
	req.Review = &EmergencyReview{RequestID: req.ID, Required: bg.ReviewersRequired, Within: bg.ReviewWithin, CreatedAt: now,
		DueAt: now.Add(bg.ReviewWithin), State: ReviewOpen, NextAlertAt: now.Add(bg.ReviewWithin), Version: 1}
	comment := "emergency access (break-glass): live at once, post-hoc review by " + Plural(bg.ReviewersRequired, "reviewer", "reviewers") +
		" due " + req.Review.DueAt.Format(time.RFC3339)
	return Change{Event: EventBreakGlass, Actor: who.Name(), From: t.From, To: t.To, Comment: comment, At: now, Request: req}, nil
}

// raiseBreakGlass writes the review, the flag and the alert of an emergency
// grant just inserted.
func (s *Service) raiseBreakGlass(ctx context.Context, tx Tx, req *Request, res *Resource, now time.Time) error {
	if err := tx.InsertEmergencyReview(ctx, req.Review); err != nil {
		return err
	}
	skip := ""
	if res.BreakGlass.SkipConditions && len(res.Conditions) > 0 {
		skip = " Its conditions were skipped (break_glass.skip_conditions)."
	}
	a := SecurityAlert{Kind: FlagBreakGlass, Key: FlagBreakGlass + ":" + req.ID, Person: req.Requester, Resource: req.Resource,
		RequestIDs: []string{req.ID}, At: now, Severity: "critical",
		Summary: fmt.Sprintf("Break-glass: %s took emergency access to %s", req.Requester, req.Resource),
		Reason: fmt.Sprintf("%s used emergency access to %s for %s, live until %s with no approver: %q.%s Post-hoc review: %s due %s.",
			req.Requester, req.Resource, FormatDuration(req.Duration), req.ExpiresAt.Format(time.RFC3339), req.Reason, skip,
			Plural(req.Review.Required, "sign-off", "sign-offs"), req.Review.DueAt.Format(time.RFC3339))}
	return s.raise(ctx, tx, a, now)
}

// raise records a flag and enqueues its alert, in tx.
func (s *Service) raise(ctx context.Context, tx Tx, a SecurityAlert, now time.Time) error {
	if _, err := tx.RaiseFlag(ctx, a, now); err != nil {
		return err
	}
	payload, err := json.Marshal(a)
	if err != nil {
		return Internal(err, "encode security alert")
	}
	return tx.Enqueue(ctx, Job{Queue: SecurityQueue, Key: "flag", Payload: payload, RunAt: now})
}

// SignOffReview records who's sign-off of the post-hoc review of
// emergency request id, with an optional comment; the sign-off that makes
// ReviewersRequired distinct reviewers signs the review off. Reviewers are
// the resource's approvers and the admins; never the requester.
//
// Errors: CodeNotFound, CodeInvalidState (not an emergency request, or
// already signed off), CodeForbidden (the requester, or not a reviewer),
// CodeDuplicate (signed off before), CodeInvalid (bad comment).
func (s *Service) SignOffReview(ctx context.Context, who Principal, id, comment string) (*Request, error) {
	comment, notices, err := CheckComment(s.Policy(), "comment", comment, false, "sign off")
	if err != nil {
		return nil, err
	}
	return withNotices(notices)(s.decide(ctx, who, id, func(tx Tx, sn snapshot, req *Request, res *Resource, roles Role, now time.Time) ([]Change, error) {
		rv := req.Review
		switch {
		case !req.Emergency || rv == nil:
			return nil, Errorf(CodeInvalidState, "request %s is not an emergency request; it has no post-hoc review", req.ID)
		case roles&RoleRequester != 0:
			return nil, Errorf(CodeForbidden, "you cannot sign off the review of your own emergency access")
		case roles&(RoleApprover|RoleAdmin) == 0:
			return nil, Errorf(CodeForbidden, "only approvers of %s and admins sign off its emergency reviews", req.Resource)
		case rv.State == ReviewSignedOff:
			return nil, Errorf(CodeInvalidState, "the review of %s is already signed off", req.ID)
		case rv.SignedBy(sn.who.Email):
			return nil, Errorf(CodeDuplicate, "%s has already signed off this review", sn.who.Email)
		}
		so := ReviewSignoff{Reviewer: sn.who.Email, Comment: comment, At: now}
		if err := tx.InsertReviewSignoff(ctx, req.ID, so); err != nil {
			return nil, err
		}
		rv.Signoffs = append(rv.Signoffs, so)
		if len(rv.Signoffs) >= rv.Required {
			prev := rv.Version
			rv.State, rv.SignedOffAt = ReviewSignedOff, &now
			if err := tx.UpdateEmergencyReview(ctx, rv, prev); err != nil {
				return nil, err
			}
		}
		text := rv.Progress()
		if comment != "" {
			text += ": " + comment
		}
		return nil, s.auditOnly(tx, &AuditRecord{At: now, Actor: sn.who.Name(), Action: ActionBreakGlassSignoff, RequestID: req.ID,
			Resource: req.Resource, Subject: req.Requester, FromState: req.State, ToState: req.State, Reason: text})
	}))
}

// auditOnly appends audit records to the use case's transaction, for
// actions that are not changes of a request (no hooks run).
func (s *Service) auditOnly(tx Tx, recs ...*AuditRecord) error {
	rtx, ok := tx.(*recordingTx)
	if !ok {
		return Internal(fmt.Errorf("auditOnly called outside Service.inTx"), "cannot record an action")
	}
	rtx.audit = append(rtx.audit, recs...)
	return nil
}

// AlertOverdueReviews raises a flag and an alert for each post-hoc review
// still open past its next alert time, and moves that time on by the
// review's period. The move is a compare-and-set on next_alert_at, so that
// with several replicas sweeping at once each period alerts exactly once.
// It returns how many alerts it raised.
func (s *Service) AlertOverdueReviews(ctx context.Context) (int, error) {
	now := s.now()
	raised := 0
	for {
		var n, claimed int
		err := s.inTx(ctx, func(tx Tx) error {
			n, claimed = 0, 0
			due, err := tx.DueEmergencyReviews(ctx, now, s.sweepBatch)
			if err != nil {
				return err
			}
			n = len(due)
			for _, rv := range due {
				next := rv.NextAlertAt.Add(rv.Within)
				if !next.After(now) { // down for several periods: one alert now, the next a period on
					next = now.Add(rv.Within)
				}
				ok, err := tx.AdvanceReviewAlert(ctx, rv.RequestID, rv.NextAlertAt, next)
				if err != nil {
					return err
				}
				if !ok {
					continue // another replica alerted for this period
				}
				claimed++
				req, err := tx.GetRequest(ctx, rv.RequestID)
				if err != nil {
					return err
				}
				count := rv.Alerts + 1
				a := SecurityAlert{Kind: FlagBreakGlassReviewOverdue, Key: fmt.Sprintf("%s:%s:%d", FlagBreakGlassReviewOverdue, req.ID, count),
					Person: req.Requester, Resource: req.Resource, RequestIDs: []string{req.ID}, At: now, Severity: "critical",
					Summary: fmt.Sprintf("Break-glass review overdue: %s's emergency access to %s", req.Requester, req.Resource),
					Reason: fmt.Sprintf("The post-hoc review of %s's emergency access to %s (%s) was due %s and has %s; %s. Overdue alert %d.",
						req.Requester, req.Resource, req.ID, rv.DueAt.Format(time.RFC3339), rv.Progress(), rv.Countdown(now), count)}
				if err := s.raise(ctx, tx, a, now); err != nil {
					return err
				}
				if err := s.auditOnly(tx, &AuditRecord{At: now, Actor: System.Name(), Action: ActionBreakGlassOverdue, RequestID: req.ID,
					Resource: req.Resource, Subject: req.Requester, FromState: req.State, ToState: req.State, Reason: a.Reason}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return raised, err
		}
		raised += claimed
		if n < s.sweepBatch || ctx.Err() != nil {
			return raised, ctx.Err()
		}
	}
}
