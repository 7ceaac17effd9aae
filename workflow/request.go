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
	Duration  time.Duration
	State     State
	// RequiredApprovals is fixed when the request is submitted, so that a
	// later policy edit cannot change the bar for a request in flight.
	RequiredApprovals int
	// Version increases with every write; writers compare and set it.
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ReviewDeadline time.Time  // a pending request times out here
	ApprovedAt     *time.Time // set when the request becomes approved
	ExpiresAt      *time.Time // ApprovedAt + Duration
	EndedAt        *time.Time // when it stopped being pending or live
	EndedBy        string     // who ended it (a person, or "system")
	EndReason      string     // the deny, cancel or revoke reason
	Approvals      []Approval // in the order they were given
}

// Approval is one approver's sign-off.
type Approval struct {
	Approver string
	Comment  string
	At       time.Time
}

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

// Live reports whether the request grants access at now.
func (r *Request) Live(now time.Time) bool { return r.EffectiveState(now) == StateApproved }

// ApprovedBy reports whether who has already approved.
func (r *Request) ApprovedBy(email string) bool {
	for _, a := range r.Approvals {
		if a.Approver == email {
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
	}
}
