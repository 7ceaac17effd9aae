package review

import (
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// ScopeKind says what a review or report covers.
type ScopeKind string

const (
	ScopeAll      ScopeKind = "all"
	ScopeResource ScopeKind = "resource"
	ScopePerson   ScopeKind = "person"
)

// Scope is everything, one resource, or one person.
type Scope struct {
	Kind  ScopeKind
	Value string // the resource id or the person's email; "" for all
}

func (s Scope) String() string {
	if s.Kind == ScopeAll || s.Kind == "" {
		return "all"
	}
	return string(s.Kind) + ":" + s.Value
}

// Period is [Start, End).
type Period struct {
	Start time.Time
	End   time.Time
}

// Review states.
const (
	StateOpen      = "open"
	StateSignedOff = "signed_off"
)

// Review is one reviewer's look at one period and scope: opened, marked
// for follow-up item by item, and signed off with notes.
type Review struct {
	ID           string
	Scope        Scope
	Period       Period
	CreatedBy    string
	CreatedAt    time.Time
	State        string
	SignedOffBy  string
	SignedOffAt  *time.Time
	Notes        string
	ReportDigest string // the digest of the report as it was signed off
	Version      int64
	// Campaign names the policy's review campaign that opened it ("" for
	// one opened by hand), and DueAt when the campaign wants it signed.
	Campaign  string
	DueAt     *time.Time
	FollowUps []FollowUp
	// Notices say what was masked in the notes just written (see
	// workflow.MaskText); set by SignOff, never stored.
	Notices []string
}

// Item kinds a follow-up can point at.
const (
	ItemRequest  = "request"
	ItemPerson   = "person"
	ItemResource = "resource"
	ItemFlag     = "flag"
)

// FollowUp is one item of a review marked for someone to look into.
type FollowUp struct {
	ID         string
	ReviewID   string
	ItemKind   string
	ItemRef    string
	Note       string
	CreatedBy  string
	CreatedAt  time.Time
	ResolvedBy string
	ResolvedAt *time.Time
	Resolution string
	// Notices say what was masked in the note or resolution just written;
	// set by MarkFollowUp and ResolveFollowUp, never stored.
	Notices []string
}

// FlagKind names an anomaly rule.
type FlagKind string

const (
	FlagOutOfHours     FlagKind = "out_of_hours"        // requested or granted outside the team's working hours
	FlagFrequentHigh   FlagKind = "frequent_high_tier"  // more than N high/critical requests in D days
	FlagMutualApproval FlagKind = "mutual_approval"     // two people approving each other's requests
	FlagForcedRevoke   FlagKind = "forced_revoke"       // access revoked early by someone else
	FlagRubberStamp    FlagKind = "rubber_stamp"        // high-tier approval seconds after filing
	FlagProvisioning   FlagKind = "provisioning_failed" // granting or removing access failed for good
	FlagCampaignDue    FlagKind = "campaign_overdue"    // a review campaign's reviews were not all signed off when due
)

// FlagKinds lists every kind, in the order reports show them.
var FlagKinds = []FlagKind{FlagOutOfHours, FlagFrequentHigh, FlagMutualApproval, FlagForcedRevoke, FlagRubberStamp, FlagProvisioning, FlagCampaignDue}

// Flag is one anomaly: what, why, and the requests it is about.
type Flag struct {
	Kind       FlagKind
	Key        string   // stable identity: the same anomaly has the same key in every scan
	Person     string   // whom it is mostly about
	People     []string // everyone it involves (requesters, approvers)
	Resource   string
	RequestIDs []string
	Reason     string
	At         time.Time  // when it happened
	RaisedAt   *time.Time // when a scan first recorded it (and alerted), if one has
}

// Grant is one period of access that overlaps a report's period.
type Grant struct {
	RequestID   string
	Person      string
	Resource    string
	Tier        workflow.Tier
	Reason      string
	Ticket      string
	Approvers   []string
	RequestedAt time.Time
	ApprovedAt  time.Time
	EndsAt      time.Time // when access ended or will end
	Live        bool      // still live at the report's time
	State       workflow.State
	EndedBy     string
	EndReason   string
	InPeriod    time.Duration // how much of it falls inside the period
}
