package api

import (
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

// LineJSON is one person's access to one resource in a report.
type LineJSON struct {
	Person     string        `json:"person"`
	Resource   string        `json:"resource"`
	Tier       workflow.Tier `json:"tier"`
	Grants     int           `json:"grants"`
	Seconds    int64         `json:"seconds"`
	Total      string        `json:"total"`
	Approvers  []string      `json:"approvers"`
	Reasons    []string      `json:"reasons"`
	RequestIDs []string      `json:"request_ids"`
}

// GrantJSON is one grant in a report.
type GrantJSON struct {
	RequestID   string         `json:"request_id"`
	Person      string         `json:"person"`
	Resource    string         `json:"resource"`
	Tier        workflow.Tier  `json:"tier"`
	Reason      string         `json:"reason"`
	Ticket      string         `json:"ticket"`
	Approvers   []string       `json:"approvers"`
	RequestedAt time.Time      `json:"requested_at"`
	ApprovedAt  time.Time      `json:"approved_at"`
	EndsAt      time.Time      `json:"ends_at"`
	Live        bool           `json:"live"`
	State       workflow.State `json:"state"`
	EndedBy     string         `json:"ended_by"`
	EndReason   string         `json:"end_reason"`
	Seconds     int64          `json:"seconds_in_period"`
}

// ReportJSON is an access review report.
type ReportJSON struct {
	Scope       string    `json:"scope"`
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	GeneratedAt time.Time `json:"generated_at"`
	Digest      string    `json:"digest"`
	Counts      struct {
		Requested int                    `json:"requested"`
		ByState   map[workflow.State]int `json:"by_state"`
	} `json:"counts"`
	Grants     []GrantJSON           `json:"grants"`
	ByResource []ResourceSummaryJSON `json:"by_resource"`
	ByPerson   []PersonSummaryJSON   `json:"by_person"`
	Standing   []StandingJSON        `json:"standing_exceptions"`
	Flags      []review.FlagJSON     `json:"flags"`
}

// ResourceSummaryJSON is one resource's access, person by person.
type ResourceSummaryJSON struct {
	Resource string        `json:"resource"`
	Tier     workflow.Tier `json:"tier"`
	Grants   int           `json:"grants"`
	People   int           `json:"people"`
	Seconds  int64         `json:"seconds"`
	Total    string        `json:"total"`
	Lines    []LineJSON    `json:"people_lines"`
}

// PersonSummaryJSON is one person's access, resource by resource.
type PersonSummaryJSON struct {
	Person    string     `json:"person"`
	Grants    int        `json:"grants"`
	Resources int        `json:"resources"`
	Seconds   int64      `json:"seconds"`
	Total     string     `json:"total"`
	Lines     []LineJSON `json:"resource_lines"`
}

// StandingJSON is a standing exception.
type StandingJSON struct {
	LineJSON
	Message string `json:"message"`
}

func lineJSON(l review.Line) LineJSON {
	return LineJSON{Person: l.Person, Resource: l.Resource, Tier: l.Tier, Grants: l.Grants, Seconds: int64(l.Total / time.Second),
		Total: workflow.FormatDuration(l.Total.Round(time.Second)), Approvers: nonNil(l.Approvers), Reasons: nonNil(l.Reasons), RequestIDs: nonNil(l.RequestIDs)}
}

func linesJSON(ls []review.Line) []LineJSON {
	out := make([]LineJSON, len(ls))
	for i, l := range ls {
		out[i] = lineJSON(l)
	}
	return out
}

func reportJSON(r *review.Report) ReportJSON {
	out := ReportJSON{Scope: r.Scope.String(), Since: r.Period.Start, Until: r.Period.End, GeneratedAt: r.GeneratedAt, Digest: r.Digest,
		Grants: []GrantJSON{}, Flags: []review.FlagJSON{}}
	out.Counts.Requested, out.Counts.ByState = r.Counts.Requested, r.Counts.ByState
	for _, g := range r.Grants {
		out.Grants = append(out.Grants, GrantJSON{RequestID: g.RequestID, Person: g.Person, Resource: g.Resource, Tier: g.Tier, Reason: g.Reason,
			Ticket: g.Ticket, Approvers: nonNil(g.Approvers), RequestedAt: g.RequestedAt, ApprovedAt: g.ApprovedAt, EndsAt: g.EndsAt, Live: g.Live,
			State: g.State, EndedBy: g.EndedBy, EndReason: g.EndReason, Seconds: int64(g.InPeriod / time.Second)})
	}
	out.ByResource = make([]ResourceSummaryJSON, len(r.ByResource))
	for i, s := range r.ByResource {
		o := &out.ByResource[i]
		o.Resource, o.Tier, o.Grants, o.People, o.Seconds = s.Resource, s.Tier, s.Grants, s.People, int64(s.Total/time.Second)
		o.Total, o.Lines = workflow.FormatDuration(s.Total.Round(time.Second)), linesJSON(s.Lines)
	}
	out.ByPerson = make([]PersonSummaryJSON, len(r.ByPerson))
	for i, s := range r.ByPerson {
		o := &out.ByPerson[i]
		o.Person, o.Grants, o.Resources, o.Seconds = s.Person, s.Grants, s.Resources, int64(s.Total/time.Second)
		o.Total, o.Lines = workflow.FormatDuration(s.Total.Round(time.Second)), linesJSON(s.Lines)
	}
	out.Standing = make([]StandingJSON, len(r.Standing))
	for i, s := range r.Standing {
		out.Standing[i].LineJSON, out.Standing[i].Message = lineJSON(s.Line), s.Message
	}
	for _, f := range r.Flags {
		out.Flags = append(out.Flags, f.ToJSON())
	}
	return out
}

// FollowUpJSON is one follow-up.
type FollowUpJSON struct {
	ID         string     `json:"id"`
	ReviewID   string     `json:"review_id"`
	Kind       string     `json:"kind"`
	Ref        string     `json:"ref"`
	Note       string     `json:"note"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ResolvedBy string     `json:"resolved_by"`
	ResolvedAt *time.Time `json:"resolved_at"`
	Resolution string     `json:"resolution"`
	// Notices say what was masked in the note or resolution this call
	// wrote; only on the response to that call.
	Notices []string `json:"notices,omitempty"`
}

func followUpJSON(f review.FollowUp) FollowUpJSON {
	return FollowUpJSON{ID: f.ID, ReviewID: f.ReviewID, Kind: f.ItemKind, Ref: f.ItemRef, Note: f.Note, CreatedBy: f.CreatedBy,
		CreatedAt: f.CreatedAt, ResolvedBy: f.ResolvedBy, ResolvedAt: f.ResolvedAt, Resolution: f.Resolution, Notices: f.Notices}
}

// ReviewJSON is a review; Report and Changed are set when one review is
// read.
type ReviewJSON struct {
	ID           string         `json:"id"`
	Scope        string         `json:"scope"`
	Since        time.Time      `json:"since"`
	Until        time.Time      `json:"until"`
	CreatedBy    string         `json:"created_by"`
	CreatedAt    time.Time      `json:"created_at"`
	State        string         `json:"state"`
	SignedOffBy  string         `json:"signed_off_by"`
	SignedOffAt  *time.Time     `json:"signed_off_at"`
	Notes        string         `json:"notes"`
	ReportDigest string         `json:"report_digest"`
	Campaign     string         `json:"campaign,omitempty"`
	DueAt        *time.Time     `json:"due_at,omitempty"`
	FollowUps    []FollowUpJSON `json:"follow_ups"`
	Changed      *bool          `json:"changed_since_sign_off,omitempty"`
	Report       *ReportJSON    `json:"report,omitempty"`
	// Notices say what was masked in the sign-off notes; only on the
	// response to the sign-off.
	Notices []string `json:"notices,omitempty"`
}

func reviewJSON(r *review.Review) ReviewJSON {
	out := ReviewJSON{ID: r.ID, Scope: r.Scope.String(), Since: r.Period.Start, Until: r.Period.End, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		State: r.State, SignedOffBy: r.SignedOffBy, SignedOffAt: r.SignedOffAt, Notes: r.Notes, ReportDigest: r.ReportDigest, FollowUps: []FollowUpJSON{}, Notices: r.Notices,
		Campaign: r.Campaign, DueAt: r.DueAt}
	for _, f := range r.FollowUps {
		out.FollowUps = append(out.FollowUps, followUpJSON(f))
	}
	return out
}

// DashboardJSON is the dashboard's numbers.
type DashboardJSON struct {
	Since         time.Time       `json:"since"`
	Until         time.Time       `json:"until"`
	GeneratedAt   time.Time       `json:"generated_at"`
	Decided       int             `json:"decided"`
	Approved      int             `json:"approved"`
	Denied        int             `json:"denied"`
	MedianSeconds int64           `json:"median_decision_seconds"`
	P90Seconds    int64           `json:"p90_decision_seconds"`
	Decisions     []BucketJSON    `json:"decision_buckets"`
	Volume        []VolumeJSON    `json:"volume"`
	LiveGrants    []LivePointJSON `json:"live_grants"`
	Flags         []FlagCountJSON `json:"flags"`
	Charts        []string        `json:"charts"`
	// Emergency is break-glass use per person in the period.
	Emergency []EmergencyUseJSON `json:"emergency"`
	// ApprovalByTier is each tier's decisions and the share approved.
	ApprovalByTier []TierRateJSON `json:"approval_rate_by_tier"`
	// Refusals counts refused attempts by reason (self_approval,
	// not_requester, not_approver, over_max_duration, conditions,
	// mfa_required), every reason listed.
	Refusals []RefusalCountJSON `json:"refusals_by_reason"`
}

// TierRateJSON is how one tier's decisions went.
type TierRateJSON struct {
	Tier     workflow.Tier `json:"tier"`
	Decided  int           `json:"decided"`
	Approved int           `json:"approved"`
	Rate     float64       `json:"approval_rate"` // 0 to 1
}

// RefusalCountJSON counts refused attempts of one reason.
type RefusalCountJSON struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// EmergencyUseJSON counts one person's break-glass requests.
type EmergencyUseJSON struct {
	Person string `json:"person"`
	Count  int    `json:"count"`
}

// BucketJSON is one bar of the time-to-decision histogram (up_to_seconds
// 0: no upper bound).
type BucketJSON struct {
	Label       string `json:"label"`
	UpToSeconds int64  `json:"up_to_seconds"`
	Count       int    `json:"count"`
}

// VolumeJSON is the requests filed for one resource.
type VolumeJSON struct {
	Resource string        `json:"resource"`
	Tier     workflow.Tier `json:"tier"`
	Requests int           `json:"requests"`
	Granted  int           `json:"granted"`
}

// LivePointJSON is live grants at one moment.
type LivePointJSON struct {
	At     time.Time             `json:"at"`
	Total  int                   `json:"total"`
	ByTier map[workflow.Tier]int `json:"by_tier"`
}

// FlagCountJSON counts flags of one kind.
type FlagCountJSON struct {
	Kind  review.FlagKind `json:"kind"`
	Count int             `json:"count"`
}

func dashboardJSON(d *review.Dashboard, charts []string) DashboardJSON {
	out := DashboardJSON{Since: d.Period.Start, Until: d.Period.End, GeneratedAt: d.GeneratedAt, Decided: d.Decided, Approved: d.Approved,
		Denied: d.Denied, MedianSeconds: int64(d.MedianDecision / time.Second), P90Seconds: int64(d.P90Decision / time.Second), Charts: charts,
		Decisions: []BucketJSON{}, Volume: []VolumeJSON{}, LiveGrants: []LivePointJSON{}, Flags: []FlagCountJSON{},
		Emergency: []EmergencyUseJSON{}}
	for _, e := range d.Emergency {
		out.Emergency = append(out.Emergency, EmergencyUseJSON{e.Person, e.Count})
	}
	for _, b := range d.Decisions {
		out.Decisions = append(out.Decisions, BucketJSON{b.Label, int64(b.UpTo / time.Second), b.Count})
	}
	for _, v := range d.Volume {
		out.Volume = append(out.Volume, VolumeJSON{v.Resource, v.Tier, v.Count, v.Granted})
	}
	for _, p := range d.LiveGrants {
		out.LiveGrants = append(out.LiveGrants, LivePointJSON{p.At, p.Total, p.ByTier})
	}
	for _, f := range d.Flags {
		out.Flags = append(out.Flags, FlagCountJSON{f.Kind, f.Count})
	}
	out.ApprovalByTier, out.Refusals = []TierRateJSON{}, []RefusalCountJSON{}
	for _, t := range d.ByTier {
		out.ApprovalByTier = append(out.ApprovalByTier, TierRateJSON{t.Tier, t.Decided, t.Approved, t.Rate()})
	}
	for _, r := range d.Refusals {
		out.Refusals = append(out.Refusals, RefusalCountJSON{r.Kind, r.Count})
	}
	return out
}

// ReportJSONOf is the API's JSON form of a report, for the command line.
func ReportJSONOf(r *review.Report) ReportJSON { return reportJSON(r) }

// AuditStatusJSON is GET /api/v1/audit/status.
type AuditStatusJSON struct {
	Last *audit.Result `json:"last_verification"`
}

// ReviewPageJSON is a page of GET /api/v1/reviews.
type ReviewPageJSON struct {
	Reviews    []ReviewJSON `json:"reviews"`
	NextCursor string       `json:"next_cursor"`
}

// FlagsJSON is GET /api/v1/flags.
type FlagsJSON struct {
	Since time.Time         `json:"since"`
	Until time.Time         `json:"until"`
	Flags []review.FlagJSON `json:"flags"`
}

type signOffBody struct {
	Notes string `json:"notes"`
}

type followUpBody struct {
	Kind string `json:"kind"`
	Ref  string `json:"ref"`
	Note string `json:"note"`
}

type resolveBody struct {
	Resolution string `json:"resolution"`
}

// CampaignRunJSON is one review campaign's opening for one period.
type CampaignRunJSON struct {
	Campaign    string    `json:"campaign"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	DueAt       time.Time `json:"due_at"`
	OpenedAt    time.Time `json:"opened_at"`
	Reviews     int       `json:"reviews"`
	SignedOff   int       `json:"signed_off"`
	Open        int       `json:"open"`
	Overdue     bool      `json:"overdue"`
	Reminders   int       `json:"reminders_sent"`
}

// CampaignsJSON is GET /api/v1/reviews/campaigns.
type CampaignsJSON struct {
	Campaigns []CampaignRunJSON `json:"campaigns"`
}

// CampaignRunJSONOf is the JSON of a campaign run at now (the command
// line prints the same).
func CampaignRunJSONOf(r review.CampaignRun, now time.Time) CampaignRunJSON {
	return CampaignRunJSON{Campaign: r.Campaign, PeriodStart: r.Start, PeriodEnd: r.End, DueAt: r.DueAt, OpenedAt: r.OpenedAt,
		Reviews: r.Reviews, SignedOff: r.SignedOff, Open: r.Open(), Overdue: r.Overdue(now), Reminders: r.Reminders}
}
