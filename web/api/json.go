package api

import (
	"time"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// RequestJSON is a request as the API shows it.
type RequestJSON struct {
	ID                string         `json:"id"`
	Requester         string         `json:"requester"`
	Resource          string         `json:"resource"`
	Tier              workflow.Tier  `json:"tier"`
	Reason            string         `json:"reason"`
	Ticket            string         `json:"ticket"`
	Purpose           string         `json:"purpose"`
	DurationSeconds   int64          `json:"duration_seconds"`
	Duration          string         `json:"duration"`
	State             workflow.State `json:"state"`
	RequiredApprovals int            `json:"required_approvals"`
	Approvals         []ApprovalJSON `json:"approvals"`
	CreatedAt         time.Time      `json:"created_at"`
	ReviewDeadline    time.Time      `json:"review_deadline"`
	ApprovedAt        *time.Time     `json:"approved_at"`
	ExpiresAt         *time.Time     `json:"expires_at"`
	EndedAt           *time.Time     `json:"ended_at"`
	EndedBy           string         `json:"ended_by"`
	EndReason         string         `json:"end_reason"`
	// StartAt is when a scheduled grant begins (null: at approval).
	StartAt *time.Time `json:"start_at"`
	// Extends is the id of the grant this request extends (null for a
	// request of its own).
	Extends *string `json:"extends"`
	// ExtendedSeconds is what approved extensions have added to this grant.
	ExtendedSeconds int64 `json:"extended_seconds"`
	// Notices say what was masked in the text this call wrote ("a card
	// number in your reason was masked"); only on the response to the
	// call that wrote it.
	Notices []string `json:"notices,omitempty"`
	// Provisioning is where applying and removing the grant at the target
	// stands; null until the request is approved.
	Provisioning *ProvisioningJSON `json:"provisioning"`
	History      []AuditJSON       `json:"history,omitempty"`
	// Emergency marks break-glass access (live at once, no approver);
	// Review is its post-hoc review, absent on other requests.
	Emergency bool                 `json:"emergency"`
	Review    *EmergencyReviewJSON `json:"review,omitempty"`
}

// EmergencyReviewJSON is the post-hoc review of an emergency request: state open
// or signed_off, the sign-offs required and given, and when it is due.
type EmergencyReviewJSON struct {
	State       string        `json:"state"`
	Required    int           `json:"required"`
	SignedBy    []string      `json:"signed_by"`
	Signoffs    []SignoffJSON `json:"signoffs"`
	DueAt       time.Time     `json:"due_at"`
	Overdue     bool          `json:"overdue"`
	Countdown   string        `json:"countdown"` // "review due in 23 h", "review overdue by 2 h"
	Progress    string        `json:"progress"`  // "1 of 2 sign-offs"
	SignedOffAt *time.Time    `json:"signed_off_at"`
	Alerts      int           `json:"overdue_alerts"`
}

// SignoffJSON is one reviewer's sign-off.
type SignoffJSON struct {
	Reviewer string    `json:"reviewer"`
	Comment  string    `json:"comment"`
	At       time.Time `json:"at"`
}

// BreakGlassJSON is a resource's break_glass block, with whether the
// caller may use it.
type BreakGlassJSON struct {
	Groups            []string `json:"groups"`
	MaxDuration       string   `json:"max_duration"`
	ReviewersRequired int      `json:"reviewers_required"`
	ReviewWithin      string   `json:"review_within"`
	SkipConditions    bool     `json:"skip_conditions"`
	CanUse            bool     `json:"can_use"`
}

func emergencyReviewJSON(rv *workflow.EmergencyReview, now time.Time) *EmergencyReviewJSON {
	if rv == nil {
		return nil
	}
	out := &EmergencyReviewJSON{State: rv.State, Required: rv.Required, SignedBy: []string{}, Signoffs: []SignoffJSON{}, DueAt: rv.DueAt,
		Overdue: rv.Overdue(now), Countdown: rv.Countdown(now), Progress: rv.Progress(), SignedOffAt: rv.SignedOffAt, Alerts: rv.Alerts}
	for _, s := range rv.Signoffs {
		out.SignedBy = append(out.SignedBy, s.Reviewer)
		out.Signoffs = append(out.Signoffs, SignoffJSON{Reviewer: s.Reviewer, Comment: s.Comment, At: s.At})
	}
	return out
}

// ProvisioningJSON is a grant's provisioning status: operation apply or
// remove, status pending, applied, removed or failed (still retried).
type ProvisioningJSON struct {
	RequestID    string     `json:"request_id,omitempty"` // in listings only
	Resource     string     `json:"resource,omitempty"`
	Requester    string     `json:"requester,omitempty"`
	Provisioner  string     `json:"provisioner"`
	Operation    string     `json:"operation"`
	Status       string     `json:"status"`
	Attempts     int        `json:"attempts"`
	LastError    string     `json:"last_error"`
	FailingSince *time.Time `json:"failing_since"`
	AppliedAt    *time.Time `json:"applied_at"`
	RemovedAt    *time.Time `json:"removed_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

func provisioningJSON(r provision.Record) ProvisioningJSON {
	return ProvisioningJSON{Provisioner: r.Spec.Type, Operation: string(r.Operation), Status: string(r.Status),
		Attempts: r.Attempts, LastError: r.LastError, FailingSince: r.FailingSince, AppliedAt: r.AppliedAt,
		RemovedAt: r.RemovedAt, UpdatedAt: r.UpdatedAt}
}

// ApprovalJSON is one approval.
type ApprovalJSON struct {
	Approver string    `json:"approver"`
	Comment  string    `json:"comment"`
	At       time.Time `json:"at"`
	// Withdrawn approvals stay in the history and do not count.
	Withdrawn       bool       `json:"withdrawn"`
	WithdrawnAt     *time.Time `json:"withdrawn_at,omitempty"`
	WithdrawnReason string     `json:"withdrawn_reason,omitempty"`
}

// AuditJSON is one audit record.
type AuditJSON struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	RequestID string    `json:"request_id,omitempty"`
	Resource  string    `json:"resource,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	FromState string    `json:"from_state,omitempty"`
	ToState   string    `json:"to_state,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Purpose   string    `json:"purpose,omitempty"`
	Auth      string    `json:"auth,omitempty"`
	MFA       string    `json:"mfa,omitempty"`
	// Source is the way in: api, web, slack, cli, mcp, scim or system.
	Source string `json:"source,omitempty"`
}

// ResourceJSON is a catalog entry as one caller may use it.
type ResourceJSON struct {
	ID                 string        `json:"id"`
	Name               string        `json:"name"`
	Description        string        `json:"description,omitempty"`
	Tier               workflow.Tier `json:"tier"`
	MaxDuration        string        `json:"max_duration"`
	MaxDurationSeconds int64         `json:"max_duration_seconds"`
	AutoApprove        bool          `json:"auto_approve"`
	RequiredApprovals  int           `json:"required_approvals"`
	Requesters         []string      `json:"requesters"`
	Approvers          []string      `json:"approvers"`
	CanRequest         bool          `json:"can_request"`
	CanApprove         bool          `json:"can_approve"`
	// What a request for it must carry, and what an approval must.
	Classification          string   `json:"classification,omitempty"`
	Categories              []string `json:"categories,omitempty"`
	Purposes                []string `json:"purposes,omitempty"`
	TicketRequired          bool     `json:"ticket_required"`
	TicketPattern           string   `json:"ticket_pattern,omitempty"`
	ReviewTimeout           string   `json:"review_timeout,omitempty"`
	ApproverCommentRequired bool     `json:"approver_comment_required"`
	// BreakGlass is the resource's emergency path; absent when it has
	// none.
	BreakGlass *BreakGlassJSON `json:"break_glass,omitempty"`
}

func requestJSON(r *workflow.Request) RequestJSON {
	out := RequestJSON{
		ID: r.ID, Requester: r.Requester, Resource: r.Resource, Tier: r.Tier, Reason: r.Reason, Ticket: r.Ticket, Purpose: r.Purpose,
		DurationSeconds: int64(r.Duration / time.Second), Duration: workflow.FormatDuration(r.Duration),
		State: r.State, RequiredApprovals: r.RequiredApprovals, Approvals: []ApprovalJSON{},
		CreatedAt: r.CreatedAt, ReviewDeadline: r.ReviewDeadline, ApprovedAt: r.ApprovedAt, ExpiresAt: r.ExpiresAt,
		EndedAt: r.EndedAt, EndedBy: r.EndedBy, EndReason: r.EndReason, Notices: r.Notices,
		Emergency: r.Emergency, Review: emergencyReviewJSON(r.Review, workflow.Now()),
		StartAt: r.StartAt, ExtendedSeconds: int64(r.Extended / time.Second),
	}
	if r.Extends != "" {
		ext := r.Extends
		out.Extends = &ext
	}
	for _, a := range r.Approvals {
		out.Approvals = append(out.Approvals, ApprovalJSON{Approver: a.Approver, Comment: a.Comment, At: a.At,
			Withdrawn: !a.Counts(), WithdrawnAt: a.WithdrawnAt, WithdrawnReason: a.WithdrawnReason})
	}
	return out
}

func auditJSON(r *workflow.AuditRecord) AuditJSON {
	return AuditJSON{ID: r.ID, At: r.At, Actor: r.Actor, Action: r.Action, RequestID: r.RequestID, Resource: r.Resource,
		Subject: r.Subject, FromState: string(r.FromState), ToState: string(r.ToState), Reason: r.Reason, Purpose: r.Purpose, Auth: r.Auth, MFA: r.MFA, Source: r.Source}
}

func resourceJSON(v workflow.ResourceView) ResourceJSON {
	out := ResourceJSON{
		ID: v.ID, Name: v.Name, Description: v.Description, Tier: v.Tier,
		MaxDuration: workflow.FormatDuration(v.MaxDuration), MaxDurationSeconds: int64(v.MaxDuration / time.Second),
		AutoApprove: v.AutoApprove, RequiredApprovals: v.ApprovalsRequired,
		Requesters: nonNil(v.Requesters), Approvers: nonNil(v.Approvers),
		CanRequest: v.CanRequest, CanApprove: v.CanApprove,
		Classification: v.Classification, Categories: v.Categories, Purposes: v.Purposes,
		TicketRequired: v.TicketRequired, TicketPattern: ticketPattern(v.Resource),
		ApproverCommentRequired: v.ApproverCommentRequired,
	}
	if v.ReviewTimeout > 0 {
		out.ReviewTimeout = workflow.FormatDuration(v.ReviewTimeout)
	}
	if bg := v.BreakGlass; bg != nil {
		out.BreakGlass = &BreakGlassJSON{Groups: bg.Groups, MaxDuration: workflow.FormatDuration(bg.MaxDuration),
			ReviewersRequired: bg.ReviewersRequired, ReviewWithin: workflow.FormatDuration(bg.ReviewWithin),
			SkipConditions: bg.SkipConditions, CanUse: v.CanBreakGlass}
	}
	return out
}

func ticketPattern(r *workflow.Resource) string {
	if r.TicketPattern == nil {
		return ""
	}
	return r.TicketPattern.String()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// The answers and bodies below are named so that the OpenAPI document
// (openapi.go) describes exactly what the handlers send and read.

// MeJSON is GET /api/v1/me: who the token belongs to.
type MeJSON struct {
	Name    string   `json:"name"`
	Email   string   `json:"email,omitempty"`
	Service string   `json:"service,omitempty"`
	Scopes  []string `json:"scopes,omitempty"`
	Admin   bool     `json:"admin"`
	Known   bool     `json:"in_policy"`
}

// ResourceListJSON is GET /api/v1/resources.
type ResourceListJSON struct {
	Resources []ResourceJSON `json:"resources"`
}

// CheckJSON is GET /api/v1/grants/check.
type CheckJSON struct {
	Allowed   bool       `json:"allowed"`
	RequestID *string    `json:"request_id"`
	ExpiresAt *time.Time `json:"expires_at"`
	// Provisioning: applied, pending, failed or none.
	Provisioning workflow.ProvisioningState `json:"provisioning"`
}

// AuditPageJSON is a page of GET /api/v1/audit.
type AuditPageJSON struct {
	Records    []AuditJSON `json:"records"`
	NextCursor string      `json:"next_cursor"`
}

// RequestPageJSON is a page of requests (/requests, /decisions, /grants).
type RequestPageJSON struct {
	Requests   []RequestJSON `json:"requests"`
	NextCursor string        `json:"next_cursor"`
}

// ProvisioningPageJSON is GET /api/v1/provisioning.
type ProvisioningPageJSON struct {
	Provisioning []ProvisioningJSON `json:"provisioning"`
}

// PolicyVersionPageJSON is a page of GET /api/v1/policy/versions.
type PolicyVersionPageJSON struct {
	Versions   []PolicyVersionJSON `json:"versions"`
	NextCursor string              `json:"next_cursor"`
}

// StatusJSON is /healthz and a ready /readyz.
type StatusJSON struct {
	Status string `json:"status"`
}

// NotReadyJSON is a /readyz that is not ready: the error shape with a
// status and a fixed reason for probes.
type NotReadyJSON struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	httpkit.ErrorBody
}
