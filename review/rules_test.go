package review_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

const policyYAML = `admins: [root@example.com]
reviewers: [auditors]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com]
  auditors: [ann@example.com, alice@example.com]
working_hours:
  - groups: [agents]
    timezone: Europe/Paris
    days: mon-fri
    hours: "08:00-19:00"
resources:
  - id: crm-payments
    tier: high
    max_duration: 8h
    requesters: [agents, managers]
    approvers: [managers, agents]
  - id: crm-notes
    tier: medium
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
`

func policy(t *testing.T) *workflow.Policy {
	t.Helper()
	p, err := workflow.ParsePolicy("p.yaml", []byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Monday 23 November 2026, 10:00 in Paris.
var mon = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

type reqOpt func(r *workflow.Request)

var nextID int

func req(requester, resource string, tier workflow.Tier, created time.Time, opts ...reqOpt) *workflow.Request {
	nextID++
	r := &workflow.Request{ID: fmt.Sprintf("00000000-0000-7000-8000-%012d", nextID), Requester: requester, Resource: resource, Tier: tier,
		Reason: "ticket " + fmt.Sprint(nextID), Duration: time.Hour, State: workflow.StatePending, CreatedAt: created, ReviewDeadline: created.Add(24 * time.Hour)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// approved by approvers, each d after the one before (the first d after
// filing); access lasts the request's duration.
func approved(d time.Duration, approvers ...string) reqOpt {
	return func(r *workflow.Request) {
		at := r.CreatedAt
		for _, a := range approvers {
			at = at.Add(d)
			r.Approvals = append(r.Approvals, workflow.Approval{Approver: a, At: at})
		}
		exp := at.Add(r.Duration)
		r.State, r.ApprovedAt, r.ExpiresAt = workflow.StateApproved, &at, &exp
	}
}

func lasting(d time.Duration) reqOpt { return func(r *workflow.Request) { r.Duration = d } }

func autoApproved() reqOpt {
	return func(r *workflow.Request) {
		at, exp := r.CreatedAt, r.CreatedAt.Add(r.Duration)
		r.State, r.ApprovedAt, r.ExpiresAt = workflow.StateApproved, &at, &exp
	}
}

func ended(state workflow.State, by string, after time.Duration, reason string) reqOpt {
	return func(r *workflow.Request) {
		at := r.ApprovedAt.Add(after)
		r.State, r.EndedAt, r.EndedBy, r.EndReason = state, &at, by, reason
	}
}

func denied(by string, after time.Duration) reqOpt {
	return func(r *workflow.Request) {
		at := r.CreatedAt.Add(after)
		r.State, r.EndedAt, r.EndedBy, r.EndReason = workflow.StateDenied, &at, by, "no"
	}
}

func keys(flags []review.Flag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, string(f.Kind))
	}
	return out
}

func TestDetect(t *testing.T) {
	pol := policy(t)
	th := review.DefaultThresholds()
	th.FrequentCount, th.FrequentWindow = 3, 24*time.Hour
	day := review.Period{Start: mon.Add(-time.Hour), End: mon.Add(48 * time.Hour)}
	many := func(n int, gap time.Duration) []*workflow.Request {
		var out []*workflow.Request
		for i := 0; i < n; i++ {
			out = append(out, req("carol@example.com", "crm-payments", workflow.TierHigh, mon.Add(time.Duration(i)*gap), approved(10*time.Minute, "dave@example.com", "bob@example.com")))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		reqs   []*workflow.Request
		jobs   []review.FailedJob
		want   []string
		reason string // a substring of the first flag's reason
	}{
		{"an ordinary day", []*workflow.Request{
			req("alice@example.com", "crm-notes", workflow.TierMedium, mon, approved(5*time.Minute, "carol@example.com")),
		}, nil, nil, ""},
		{"requested at night", []*workflow.Request{
			req("alice@example.com", "crm-notes", workflow.TierMedium, mon.Add(13*time.Hour), approved(5*time.Minute, "carol@example.com")), // 23:00 Paris
		}, nil, []string{"out_of_hours"}, "requested Mon 23:00 Europe/Paris; access began Mon 23:05"},
		{"granted after hours", []*workflow.Request{
			req("alice@example.com", "crm-notes", workflow.TierMedium, mon.Add(8*time.Hour+50*time.Minute), approved(20*time.Minute, "carol@example.com")), // 18:50 Paris, granted 19:10
		}, nil, []string{"out_of_hours"}, "access began Mon 19:10 Europe/Paris"},
		{"managers have no working hours", []*workflow.Request{
			req("carol@example.com", "crm-payments", workflow.TierHigh, mon.Add(13*time.Hour), approved(5*time.Minute, "dave@example.com", "alice@example.com")),
		}, nil, nil, ""},
		{"relinquished is not forced", []*workflow.Request{
			req("alice@example.com", "crm-notes", workflow.TierMedium, mon, approved(5*time.Minute, "carol@example.com"), ended(workflow.StateRevoked, "alice@example.com", 10*time.Minute, "")),
		}, nil, nil, ""},
		{"revoked by a manager", []*workflow.Request{
			req("alice@example.com", "crm-notes", workflow.TierMedium, mon, approved(5*time.Minute, "carol@example.com"), ended(workflow.StateRevoked, "carol@example.com", 10*time.Minute, "wrong customer")),
		}, nil, []string{"forced_revoke"}, "carol@example.com revoked alice@example.com's access to crm-notes 50m before it would have expired: wrong customer"},
		{"high tier approved in seconds", []*workflow.Request{
			req("alice@example.com", "crm-payments", workflow.TierHigh, mon, approved(8*time.Second, "carol@example.com", "dave@example.com")),
		}, nil, []string{"rubber_stamp", "rubber_stamp"}, "carol@example.com approved alice@example.com's high request for crm-payments 8s after it was filed"},
		{"medium tier approved in seconds is fine", []*workflow.Request{
			req("alice@example.com", "crm-notes", workflow.TierMedium, mon, approved(8*time.Second, "carol@example.com")),
		}, nil, nil, ""},
		{"high tier approved after a minute", []*workflow.Request{
			req("alice@example.com", "crm-payments", workflow.TierHigh, mon, approved(time.Minute, "carol@example.com", "dave@example.com")),
		}, nil, nil, ""},
		{"three high-tier requests a day is the limit", many(3, 2*time.Hour), nil, nil, ""},
		{"the fourth is flagged once", many(6, 90*time.Minute), nil, []string{"frequent_high_tier"}, "carol@example.com asked for high or critical access 4 times within 24h (more than 3): crm-payments ×4"},
		{"spread out is fine", many(6, 9*time.Hour), nil, nil, ""},
		{"two episodes, two flags", append(many(4, time.Hour), req("carol@example.com", "crm-payments", workflow.TierHigh, mon.Add(30*time.Hour)),
			req("carol@example.com", "crm-payments", workflow.TierHigh, mon.Add(31*time.Hour)), req("carol@example.com", "crm-payments", workflow.TierHigh, mon.Add(32*time.Hour)),
			req("carol@example.com", "crm-payments", workflow.TierHigh, mon.Add(33*time.Hour))), nil, []string{"frequent_high_tier", "frequent_high_tier"}, ""},
		{"approving each other", []*workflow.Request{
			req("alice@example.com", "crm-payments", workflow.TierHigh, mon, approved(10*time.Minute, "bob@example.com", "carol@example.com")),
			req("bob@example.com", "crm-payments", workflow.TierHigh, mon.Add(2*time.Hour), approved(10*time.Minute, "alice@example.com", "dave@example.com")),
		}, nil, []string{"mutual_approval"}, "alice@example.com and bob@example.com approve each other's requests"},
		{"one-way approvals are fine", []*workflow.Request{
			req("alice@example.com", "crm-payments", workflow.TierHigh, mon, approved(10*time.Minute, "bob@example.com", "carol@example.com")),
			req("alice@example.com", "crm-payments", workflow.TierHigh, mon.Add(2*time.Hour), approved(10*time.Minute, "bob@example.com", "dave@example.com")),
		}, nil, nil, ""},
		{"provisioning failed", nil, []review.FailedJob{{ID: 9, Queue: "provision", Attempts: 20, FinishedAt: mon.Add(time.Hour), LastError: "ldap: connection refused\nstack",
			Payload: []byte(`{"request_id":"00000000-0000-7000-8000-000000000001","requester":"alice@example.com","resource":"crm-notes"}`)}},
			[]string{"provisioning_failed"}, "job 9 on queue provision failed for good after 20 attempts: ldap: connection refused"},
		{"outside the period", []*workflow.Request{
			req("alice@example.com", "crm-notes", workflow.TierMedium, mon.Add(-5*time.Hour), approved(5*time.Minute, "carol@example.com")),
		}, nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flags := review.Detect(review.DetectInput{Policy: pol, Thresholds: th, Period: day, Requests: tc.reqs, FailedJobs: tc.jobs})
			if got := keys(flags); !slices.Equal(got, tc.want) {
				t.Fatalf("flags %v, want %v", got, tc.want)
			}
			seen := map[string]bool{}
			for _, f := range flags {
				if seen[f.Key] || f.Reason == "" || f.At.IsZero() {
					t.Errorf("flag %+v: duplicate key, no reason or no time", f)
				}
				seen[f.Key] = true
				if f.Kind != review.FlagProvisioning && len(f.RequestIDs) == 0 {
					t.Errorf("flag %s links no request", f.Key)
				}
			}
			if tc.reason != "" && !strings.Contains(flags[0].Reason, tc.reason) {
				t.Errorf("reason %q\nwant %q", flags[0].Reason, tc.reason)
			}
		})
	}
}

// A scan that sees only part of the history finds the same flags under
// the same keys, so that no flag is raised twice.
func TestDetectIsStableAcrossWindows(t *testing.T) {
	pol := policy(t)
	th := review.DefaultThresholds()
	th.FrequentCount, th.FrequentWindow = 2, 24*time.Hour
	var reqs []*workflow.Request
	for i := 0; i < 12; i++ {
		reqs = append(reqs, req("bob@example.com", "crm-payments", workflow.TierHigh, mon.Add(time.Duration(i)*5*time.Hour), approved(30*time.Second, "carol@example.com", "dave@example.com")))
	}
	all := review.Detect(review.DetectInput{Policy: pol, Thresholds: th, Period: review.Period{Start: mon, End: mon.Add(100 * time.Hour)}, Requests: reqs})
	byKey := map[string]review.Flag{}
	for _, f := range all {
		byKey[f.Key] = f
	}
	for start := mon; start.Before(mon.Add(60 * time.Hour)); start = start.Add(7 * time.Hour) {
		p := review.Period{Start: start, End: start.Add(10 * time.Hour)}
		var visible []*workflow.Request
		for _, r := range reqs {
			if !r.CreatedAt.Before(p.Start.Add(-th.Lookback())) {
				visible = append(visible, r)
			}
		}
		for _, f := range review.Detect(review.DetectInput{Policy: pol, Thresholds: th, Period: p, Requests: visible}) {
			if g, ok := byKey[f.Key]; !ok || g.Reason != f.Reason {
				t.Errorf("window from %s found %s (%s), not found over the whole history", start, f.Key, f.Reason)
			}
		}
	}
}

func TestBuildReport(t *testing.T) {
	p := review.Period{Start: mon, End: mon.Add(7 * 24 * time.Hour)}
	now := mon.Add(30 * 24 * time.Hour)
	var reqs []*workflow.Request
	for i := 0; i < 5; i++ { // a standing exception: 5 grants of the same high-tier resource
		reqs = append(reqs, req("bob@example.com", "crm-payments", workflow.TierHigh, mon.Add(time.Duration(i)*24*time.Hour), approved(time.Hour, "carol@example.com", "dave@example.com")))
	}
	reqs = append(reqs,
		// began before the period: only its part inside counts
		req("alice@example.com", "crm-notes", workflow.TierMedium, mon.Add(-90*time.Minute), lasting(2*time.Hour), approved(time.Minute, "carol@example.com")),
		// revoked after 10 minutes
		req("alice@example.com", "crm-notes", workflow.TierMedium, mon.Add(time.Hour), approved(time.Minute, "dave@example.com"), ended(workflow.StateRevoked, "dave@example.com", 10*time.Minute, "done")),
		req("alice@example.com", "kb", workflow.TierLow, mon.Add(2*time.Hour), autoApproved()),
		req("alice@example.com", "crm-notes", workflow.TierMedium, mon.Add(3*time.Hour), denied("carol@example.com", time.Minute)),
		// after the period
		req("alice@example.com", "crm-notes", workflow.TierMedium, p.End.Add(time.Hour), approved(time.Minute, "carol@example.com")),
	)
	flags := []review.Flag{{Kind: review.FlagForcedRevoke, Key: "k1", Person: "alice@example.com", Resource: "crm-notes", At: mon},
		{Kind: review.FlagRubberStamp, Key: "k2", Person: "carol@example.com", People: []string{"carol@example.com", "bob@example.com"}, Resource: "crm-payments", At: mon}}
	rep := review.BuildReport(review.ReportInput{Scope: review.Scope{Kind: review.ScopeAll}, Period: p, Now: now, Requests: reqs, Flags: flags, StandingCount: 5})
	if len(rep.Grants) != 8 {
		t.Fatalf("%d grants, want 8", len(rep.Grants))
	}
	if rep.Counts.Requested != 8 || rep.Counts.ByState[workflow.StateDenied] != 1 || rep.Counts.ByState[workflow.StateRevoked] != 1 {
		t.Errorf("counts %+v", rep.Counts)
	}
	if len(rep.ByResource) != 3 || len(rep.ByPerson) != 2 {
		t.Fatalf("by resource %d, by person %d", len(rep.ByResource), len(rep.ByPerson))
	}
	notes := rep.ByResource[0] // sorted: crm-notes, crm-payments, kb
	if notes.Resource != "crm-notes" || notes.Grants != 2 || notes.Total != 31*time.Minute+10*time.Minute {
		t.Errorf("crm-notes: %+v", notes)
	}
	if l := notes.Lines[0]; !slices.Equal(l.Approvers, []string{"carol@example.com", "dave@example.com"}) || len(l.Reasons) != 2 {
		t.Errorf("crm-notes line: %+v", l)
	}
	if kb := rep.ByResource[2]; kb.Lines[0].Approvers[0] != review.AutoApproved || kb.Total != time.Hour {
		t.Errorf("kb: %+v", kb)
	}
	if bob := rep.ByPerson[1]; bob.Person != "bob@example.com" || bob.Grants != 5 || bob.Total != 5*time.Hour {
		t.Errorf("bob: %+v", bob)
	}
	if len(rep.Standing) != 1 || rep.Standing[0].Person != "bob@example.com" || !strings.Contains(rep.Standing[0].Message, "5 times") {
		t.Errorf("standing: %+v", rep.Standing)
	}
	if len(rep.Flags) != 2 {
		t.Errorf("flags %v", rep.Flags)
	}
	// Scopes narrow grants and flags alike.
	for _, tc := range []struct {
		scope         review.Scope
		grants, flags int
	}{
		{review.Scope{Kind: review.ScopeResource, Value: "crm-payments"}, 5, 1},
		{review.Scope{Kind: review.ScopePerson, Value: "alice@example.com"}, 3, 1},
		{review.Scope{Kind: review.ScopePerson, Value: "bob@example.com"}, 5, 1}, // bob is among the people of k2
		{review.Scope{Kind: review.ScopePerson, Value: "carol@example.com"}, 0, 1},
	} {
		r := review.BuildReport(review.ReportInput{Scope: tc.scope, Period: p, Now: now, Requests: reqs, Flags: flags, StandingCount: 5})
		if len(r.Grants) != tc.grants || len(r.Flags) != tc.flags {
			t.Errorf("%s: %d grants, %d flags; want %d, %d", tc.scope, len(r.Grants), len(r.Flags), tc.grants, tc.flags)
		}
	}
	// The digest is about content, not the hour the report was made.
	again := review.BuildReport(review.ReportInput{Scope: review.Scope{Kind: review.ScopeAll}, Period: p, Now: now.Add(time.Hour), Requests: reqs, Flags: flags, StandingCount: 5})
	if again.Digest != rep.Digest {
		t.Error("digest changed with the time of the report")
	}
	reqs[0].State = workflow.StateRevoked
	changed := review.BuildReport(review.ReportInput{Scope: review.Scope{Kind: review.ScopeAll}, Period: p, Now: now, Requests: reqs, Flags: flags, StandingCount: 5})
	if changed.Digest == rep.Digest {
		t.Error("digest did not change with the data")
	}
}

func TestAuthorization(t *testing.T) {
	pol := policy(t)
	all := review.Scope{Kind: review.ScopeAll}
	notes := review.Scope{Kind: review.ScopeResource, Value: "crm-notes"}
	bobScope := review.Scope{Kind: review.ScopePerson, Value: "bob@example.com"}
	for _, tc := range []struct {
		who   workflow.Principal
		scope review.Scope
		read  bool
	}{
		{workflow.User("root@example.com"), all, true},
		{workflow.User("ann@example.com"), all, true}, // reviewer
		{workflow.User("ann@example.com"), bobScope, true},
		{workflow.User("carol@example.com"), notes, true}, // approver of crm-notes
		{workflow.User("carol@example.com"), all, false},
		{workflow.User("carol@example.com"), bobScope, false},
		{workflow.User("bob@example.com"), notes, false}, // requester only
		{workflow.User("stranger@example.com"), notes, false},
		{workflow.ServiceAccount("siem", "check"), all, false},
	} {
		err := review.CheckRead(pol, tc.who, tc.scope)
		if (err == nil) != tc.read {
			t.Errorf("%s reading %s: %v", tc.who.Name(), tc.scope, err)
		}
		if err != nil && workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Errorf("%s: code %s", tc.who.Name(), workflow.ErrorCode(err))
		}
	}
	for _, tc := range []struct {
		who  workflow.Principal
		code workflow.Code
	}{
		{workflow.User("root@example.com"), ""},
		{workflow.User("ann@example.com"), ""},
		{workflow.User("carol@example.com"), workflow.CodeForbidden},
		{workflow.ServiceAccount("siem"), workflow.CodeForbidden},
	} {
		if got := workflow.ErrorCode(review.CheckExport(pol, tc.who)); got != tc.code {
			t.Errorf("export by %s: %s, want %s", tc.who.Name(), got, tc.code)
		}
		if got := workflow.ErrorCode(review.CheckDashboard(pol, tc.who)); got != tc.code {
			t.Errorf("dashboard for %s: %s, want %s", tc.who.Name(), got, tc.code)
		}
	}
	// Any review at all: overseers, and approvers of something.
	for _, tc := range []struct {
		who  workflow.Principal
		code workflow.Code
	}{
		{workflow.User("root@example.com"), ""},
		{workflow.User("ann@example.com"), ""},
		{workflow.User("carol@example.com"), ""}, // approves crm-notes and crm-payments
		{workflow.User("bob@example.com"), ""},   // agents approve crm-payments here
		{workflow.User("stranger@example.com"), workflow.CodeForbidden},
		{workflow.Principal{Email: "eve@example.com", Groups: []string{"nobody"}}, workflow.CodeForbidden},
		{workflow.ServiceAccount("siem"), workflow.CodeForbidden},
	} {
		if got := workflow.ErrorCode(review.CheckReviews(pol, tc.who)); got != tc.code {
			t.Errorf("reviews for %s: %s, want %s", tc.who.Name(), got, tc.code)
		}
	}
	open := &review.Review{ID: "r1", Scope: all, State: review.StateOpen}
	done := &review.Review{ID: "r2", Scope: all, State: review.StateSignedOff, SignedOffBy: "ann@example.com"}
	rep := &review.Report{Grants: []review.Grant{{RequestID: "q1", Person: "alice@example.com", Resource: "crm-notes", Approvers: []string{"root@example.com"}}}}
	other := &review.Report{Grants: []review.Grant{{RequestID: "q2", Person: "bob@example.com", Resource: "crm-notes", Approvers: []string{"carol@example.com"}}}}
	for _, tc := range []struct {
		name string
		who  string
		rev  *review.Review
		code workflow.Code
	}{
		{"a reviewer signs", "ann@example.com", open, ""},
		{"not what you approved", "root@example.com", open, workflow.CodeForbidden}, // separation of duties
		{"not twice", "ann@example.com", done, workflow.CodeInvalidState},
		{"not your own access", "alice@example.com", open, workflow.CodeForbidden}, // alice is a reviewer, and a grantee
		{"not a reader", "carol@example.com", open, workflow.CodeForbidden},
	} {
		if got := workflow.ErrorCode(review.CheckSignOff(pol, workflow.User(tc.who), tc.rev, rep)); got != tc.code {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.code)
		}
	}
	// An admin who approved none of it signs.
	if err := review.CheckSignOff(pol, workflow.User("root@example.com"), open, other); err != nil {
		t.Errorf("an admin signs another's approvals: %v", err)
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		p  review.Period
		ok bool
	}{
		{review.Period{mon, mon.Add(time.Hour)}, true},
		{review.Period{mon, mon}, false},
		{review.Period{mon, mon.Add(-time.Hour)}, false},
		{review.Period{time.Time{}, mon}, false},
		{review.Period{mon, mon.Add(401 * 24 * time.Hour)}, false},
	} {
		if err := review.CheckPeriod(tc.p); (err == nil) != tc.ok {
			t.Errorf("%v: %v", tc.p, err)
		}
	}
	for _, tc := range []struct {
		kind, ref string
		ok        bool
	}{
		{"request", "x", true}, {"flag", "rubber_stamp:x", true}, {"person", " Bob@Example.com ", true},
		{"team", "x", false}, {"request", "", false}, {"request", strings.Repeat("x", 201), false},
	} {
		_, _, err := review.ParseItem(tc.kind, tc.ref)
		if (err == nil) != tc.ok || (err != nil && workflow.ErrorCode(err) != workflow.CodeInvalid) {
			t.Errorf("%s %q: %v", tc.kind, tc.ref, err)
		}
	}
	if s, err := review.CheckScope(review.Scope{Kind: "everything"}); err == nil {
		t.Errorf("bad scope accepted: %v", s)
	}
}

func TestDashboard(t *testing.T) {
	p := review.Period{Start: mon, End: mon.Add(24 * time.Hour)}
	reqs := []*workflow.Request{
		req("alice@example.com", "crm-notes", workflow.TierMedium, mon.Add(time.Hour), approved(30*time.Second, "carol@example.com")),
		req("alice@example.com", "crm-notes", workflow.TierMedium, mon.Add(2*time.Hour), approved(10*time.Minute, "carol@example.com")),
		req("bob@example.com", "crm-payments", workflow.TierHigh, mon.Add(3*time.Hour), approved(time.Hour, "carol@example.com", "dave@example.com")),
		req("bob@example.com", "crm-notes", workflow.TierMedium, mon.Add(4*time.Hour), denied("carol@example.com", 30*time.Hour)), // decided after the period
		req("bob@example.com", "kb", workflow.TierLow, mon.Add(5*time.Hour), autoApproved()),
	}
	d := review.BuildDashboard(p, mon.Add(48*time.Hour), reqs, []review.Flag{{Kind: review.FlagRubberStamp}, {Kind: review.FlagRubberStamp}})
	if d.Decided != 3 || d.Approved != 3 || d.Denied != 0 {
		t.Errorf("decided %d approved %d denied %d", d.Decided, d.Approved, d.Denied)
	}
	counts := map[string]int{}
	for _, b := range d.Decisions {
		counts[b.Label] = b.Count
	}
	if counts["< 1m"] != 1 || counts["5-15m"] != 1 || counts["1-4h"] != 1 {
		t.Errorf("buckets %v", d.Decisions)
	}
	if d.MedianDecision != 10*time.Minute || d.P90Decision != 2*time.Hour {
		t.Errorf("median %s p90 %s", d.MedianDecision, d.P90Decision)
	}
	if len(d.Volume) != 3 || d.Volume[0].Resource != "crm-notes" || d.Volume[0].Count != 3 || d.Volume[0].Granted != 2 {
		t.Errorf("volume %+v", d.Volume)
	}
	peak := 0
	for _, pt := range d.LiveGrants {
		peak = max(peak, pt.Total)
	}
	if len(d.LiveGrants) != 49 || peak != 2 {
		t.Errorf("%d live points, peak %d", len(d.LiveGrants), peak)
	}
	if d.Flags[slices.IndexFunc(d.Flags, func(f review.FlagCount) bool { return f.Kind == review.FlagRubberStamp })].Count != 2 {
		t.Errorf("flag counts %+v", d.Flags)
	}
}
