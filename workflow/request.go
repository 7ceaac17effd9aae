package workflow

import "time"

// Request is one ask for access to one resource, for a duration, with a
// reason, and everything that has happened to it since.
type Request struct {
	ID        string
	Requester string
	Resource  string
	Tier      Tier
	Reason    string
	Ticket    string
	// Purpose is the purpose the requester named, one of the resource's
	// purposes ("" when the resource lists none).
	Purpose  string
	Duration time.Duration
	State    State
	// RequiredApprovals is fixed when the request is submitted, so that a
	// later policy edit cannot change the bar for a request in flight.
	RequiredApprovals int
	// Version increases with every write; writers compare and set it.
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ReviewDeadline time.Time  // a pending request times out here
	ApprovedAt     *time.Time // set when the request becomes approved
	ExpiresAt      *time.Time // ApprovedAt (or StartAt) + Duration + Extended
	EndedAt        *time.Time // when it stopped being pending or live
	EndedBy        string     // who ended it (a person, or "system")
	EndReason      string     // the deny, cancel or revoke reason
	Approvals      []Approval // in the order they were given
	// ViaSession is set when the requester could ask only through the
	// groups their web session asserted (the OIDC claim), which
	// re-evaluation cannot judge again; the directory's deactivation still
	// ends such access.
	ViaSession bool
	// Emergency marks a break-glass request: granted at once with no
	// approver. Review is its post-hoc review (nil on other requests).
	Emergency bool
	Review    *EmergencyReview
	// StartAt, when set, is when approved access begins (a scheduled
	// start): approval makes the request scheduled, and the sweeper
	// activates it at StartAt. nil: at approval.
	StartAt *time.Time
	// Extends is the id of the live grant this request extends ("" for
	// a request of its own). An extension never grants access itself: its
	// approval moves the original's ExpiresAt forward.
	Extends string
	// Extended is how much approved extensions have added to this grant
	// (Duration + Extended is its whole length).
	Extended time.Duration
	// Notices tell the person who just wrote to the request what was
	// masked in their text ("a card number in your reason was masked").
	// Set by Submit, Approve, Deny, Cancel and Revoke on the request they
	// return; never stored.
	Notices []string
}

// Approval is one approver's sign-off.
type Approval struct {
	Approver string
	Comment  string
	At       time.Time
	// WithdrawnAt is set when the approval stopped counting because its
	// approver no longer may approve the resource; it stays in the
	// request's history with WithdrawnReason.
	WithdrawnAt     *time.Time
	WithdrawnReason string
	// ViaSession is set when the approver's standing came only from the
	// groups their web session asserted (see Request.ViaSession).
	ViaSession bool
}

// Counts reports whether the approval counts towards the quorum.
func (a Approval) Counts() bool { return a.WithdrawnAt == nil }

// EffectiveState is the state as of now: an approved request whose expiry
// has passed is expired, and a pending request whose review deadline has
// passed is timed out, even before the sweeper has written that down. Every
// decision uses it, so that a late approval or revoke cannot act on access
// that has already lapsed.
func (r *Request) EffectiveState(now time.Time) State {
	switch {
	case r.State == StateApproved && r.ExpiresAt != nil && !now.Before(*r.ExpiresAt):
		return StateExpired
	case r.State == StatePending && !now.Before(r.ReviewDeadline):
		return StateTimedOut
	}
	return r.State
}

// IsExtension reports whether the request extends another.
func (r *Request) IsExtension() bool { return r.Extends != "" }

// Total is the grant's whole length: its duration and every extension
// approved since.
func (r *Request) Total() time.Duration { return r.Duration + r.Extended }

// GrantTarget is the state the approval that completes req's quorum (or
// its auto-approval) at now leads to: extended for an extension,
// scheduled while its start_at is ahead, approved otherwise. It picks the
// row of the state table (NextTo).
func GrantTarget(req *Request, now time.Time) State {
	switch {
	case req.IsExtension():
		return StateExtended
	case req.StartAt != nil && now.Before(*req.StartAt):
		return StateScheduled
	}
	return StateApproved
}

// Live reports whether the request grants access at now.
func (r *Request) Live(now time.Time) bool { return r.EffectiveState(now) == StateApproved }

// Counting returns the approvals that count towards the quorum: all but
// the withdrawn ones, in order.
func (r *Request) Counting() []Approval {
	out := make([]Approval, 0, len(r.Approvals))
	for _, a := range r.Approvals {
		if a.Counts() {
			out = append(out, a)
		}
	}
	return out
}

// ApprovedBy reports whether who has an approval in force (one that was
// withdrawn does not count).
func (r *Request) ApprovedBy(email string) bool {
	for _, a := range r.Approvals {
		if a.Approver == email && a.Counts() {
			return true
		}
	}
	return false
}

// Change is one thing that happened to a request, as committed: a state
// change, or an approval that did not yet complete the quorum (From == To).
type Change struct {
	Event   Event
	Actor   string
	From    State
	To      State
	Comment string
	At      time.Time
	Request *Request // the request after the change
	// Auth and MFA say how Actor was verified (see AuditRecord).
	Auth, MFA string
}

// AuditRecord is one entry of the audit log.
type AuditRecord struct {
	ID        int64
	At        time.Time
	Actor     string // who acted: an email, "service:NAME" or "system"
	Action    string // an Event, or another audited action such as "check"
	RequestID string
	Resource  string
	Subject   string // whose access it concerns (the requester)
	FromState State
	ToState   State
	Reason    string // reason, comment or outcome
	// Purpose is the request's purpose, on its submit record.
	Purpose string
	// Source is the way in the action came: api, web, slack, cli, mcp,
	// scim or system (source.go). The store fills it from the context
	// when it is empty.
	Source string
	// Auth and MFA say how the person behind a decision was verified
	// (AuthSession, AuthToken, AuthSlack; MFAWebAuthn, MFAOIDC, MFANone);
	// "" on records that are not a person's decision.
	Auth string
	MFA  string
}

// Audit actions that are not state events.
const (
	ActionCheck       = "check"
	ActionTokenCreate = "token.create"
	ActionTokenRevoke = "token.revoke"
	// ActionAuditExport records an export of the audit log itself.
	ActionAuditExport  = "audit.export"
	ActionPolicyLoaded = "policy.load"
)

func auditFor(c Change) *AuditRecord {
	return &AuditRecord{
		At:        c.At,
		Actor:     c.Actor,
		Action:    string(c.Event),
		RequestID: c.Request.ID,
		Resource:  c.Request.Resource,
		Subject:   c.Request.Requester,
		FromState: c.From,
		ToState:   c.To,
		Reason:    c.Comment,
		Purpose:   purposeOf(c),
		Auth:      c.Auth,
		MFA:       c.MFA,
	}
}

// purposeOf is the purpose a change's audit record carries: the
// request's, on its submit record (the other records of the request refer
// to it).
func purposeOf(c Change) string {
	if c.Event == EventSubmit {
		return c.Request.Purpose
	}
	return ""
}
