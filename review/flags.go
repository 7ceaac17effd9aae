package review

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jitaccess/workflow"
)

// Thresholds tune the anomaly rules and standing exceptions.
type Thresholds struct {
	// FrequentCount and FrequentWindow: flag a person who asks for high or
	// critical access more than FrequentCount times within FrequentWindow.
	FrequentCount  int
	FrequentWindow time.Duration
	// RubberStamp: flag an approval of a high or critical request given
	// less than this after the request was filed.
	RubberStamp time.Duration
	// MutualWindow: flag two people who approved each other's requests
	// within this long of each other.
	MutualWindow time.Duration
	// StandingCount: grants of the same high or critical resource to the
	// same person in one report period that make a standing exception.
	StandingCount int
}

// DefaultThresholds are the documented defaults.
func DefaultThresholds() Thresholds {
	return Thresholds{FrequentCount: 5, FrequentWindow: 7 * 24 * time.Hour, RubberStamp: time.Minute,
		MutualWindow: 30 * 24 * time.Hour, StandingCount: 5}
}

// Lookback is how much history before a period the rules need to judge
// the requests in it.
func (th Thresholds) Lookback() time.Duration { return max(2*th.FrequentWindow, th.MutualWindow) }

// DetectInput is what the anomaly rules look at.
type DetectInput struct {
	Policy     *workflow.Policy
	Thresholds Thresholds
	// Period: only anomalies that happened in it are returned.
	Period Period
	// Requests from Period.Start - Thresholds.Lookback() on.
	Requests   []*workflow.Request
	FailedJobs []FailedJob
	// ProvisioningFailures in Period.
	ProvisioningFailures []ProvisioningFailure
	// MFARefusals in Period.
	MFARefusals []MFARefusal
}

// Detect applies every anomaly rule. It is a pure function of its input;
// a flag's key depends only on what it is about, so that scans over
// overlapping windows find the same flag under the same key.
func Detect(in DetectInput) []Flag {
	var out []Flag
	add := func(f Flag) {
		if !f.At.Before(in.Period.Start) && f.At.Before(in.Period.End) {
			out = append(out, f)
		}
	}
	byPerson := map[string][]*workflow.Request{}
	type pair struct{ approver, requester string }
	approvals := map[pair][]approvalAt{}
	for _, r := range in.Requests {
		outOfHours(in.Policy, r, add)
		forcedRevoke(r, add)
		rubberStamp(in.Thresholds, r, add)
		breakGlass(r, add)
		if tierRank(r.Tier) >= tierRank(workflow.TierHigh) {
			byPerson[r.Requester] = append(byPerson[r.Requester], r)
		}
		for _, a := range r.Approvals {
			p := pair{a.Approver, r.Requester}
			approvals[p] = append(approvals[p], approvalAt{a.At, r})
		}
	}
	for _, reqs := range byPerson {
		frequent(in.Thresholds, reqs, add)
	}
	for p, list := range approvals {
		back := approvals[pair{p.requester, p.approver}]
		for _, a := range list {
			mutual(in.Thresholds, p.approver, a, back, add)
		}
	}
	for _, j := range in.FailedJobs {
		add(provisioningFailed(j))
	}
	for _, f := range in.ProvisioningFailures {
		add(provisioningFailing(f))
	}
	for _, f := range mfaRefused(in.MFARefusals) {
		add(f)
	}
	slices.SortFunc(out, func(a, b Flag) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Key, b.Key)) })
	return out
}

type approvalAt struct {
	at  time.Time
	req *workflow.Request
}

func outOfHours(pol *workflow.Policy, r *workflow.Request, add func(Flag)) {
	w := pol.WorkingHoursOf(r.Requester)
	if w == nil {
		return
	}
	var why []string
	at := time.Time{}
	if !w.Contains(r.CreatedAt) {
		why = append(why, "requested "+w.Local(r.CreatedAt))
		at = r.CreatedAt
	}
	if r.ApprovedAt != nil && !w.Contains(*r.ApprovedAt) {
		why = append(why, "access began "+w.Local(*r.ApprovedAt))
		if at.IsZero() {
			at = *r.ApprovedAt
		}
	}
	if len(why) == 0 {
		return
	}
	add(Flag{Kind: FlagOutOfHours, Key: string(FlagOutOfHours) + ":" + r.ID, Person: r.Requester, People: []string{r.Requester},
		Resource: r.Resource, RequestIDs: []string{r.ID}, At: at,
		Reason: fmt.Sprintf("%s's %s request for %s outside working hours (%s): %s", r.Requester, r.Tier, r.Resource, w, strings.Join(why, "; "))})
}

func forcedRevoke(r *workflow.Request, add func(Flag)) {
	if r.State != workflow.StateRevoked || r.EndedBy == r.Requester || r.EndedAt == nil {
		return
	}
	early := ""
	if r.ExpiresAt != nil && r.ExpiresAt.After(*r.EndedAt) {
		early = " " + workflow.FormatDuration(r.ExpiresAt.Sub(*r.EndedAt).Round(time.Second)) + " before it would have expired"
	}
	reason := ""
	if r.EndReason != "" {
		reason = ": " + r.EndReason
	}
	add(Flag{Kind: FlagForcedRevoke, Key: string(FlagForcedRevoke) + ":" + r.ID, Person: r.Requester, People: []string{r.Requester, r.EndedBy},
		Resource: r.Resource, RequestIDs: []string{r.ID}, At: *r.EndedAt,
		Reason: fmt.Sprintf("%s revoked %s's access to %s%s%s", r.EndedBy, r.Requester, r.Resource, early, reason)})
}

func rubberStamp(th Thresholds, r *workflow.Request, add func(Flag)) {
	if th.RubberStamp <= 0 || tierRank(r.Tier) < tierRank(workflow.TierHigh) {
		return
	}
	for _, a := range r.Approvals {
		if d := a.At.Sub(r.CreatedAt); d < th.RubberStamp {
			add(Flag{Kind: FlagRubberStamp, Key: string(FlagRubberStamp) + ":" + r.ID + ":" + a.Approver, Person: a.Approver,
				People: []string{a.Approver, r.Requester}, Resource: r.Resource, RequestIDs: []string{r.ID}, At: a.At,
				Reason: fmt.Sprintf("%s approved %s's %s request for %s %s after it was filed (less than %s)",
					a.Approver, r.Requester, r.Tier, r.Resource, workflow.FormatDuration(d.Round(time.Second)), workflow.FormatDuration(th.RubberStamp))})
		}
	}
}

// frequent flags the request that takes a person over the limit, once per
// episode: a request is flagged when its window holds more than N
// requests and the window of the person's request before it did not.
func frequent(th Thresholds, reqs []*workflow.Request, add func(Flag)) {
	if th.FrequentCount <= 0 || th.FrequentWindow <= 0 {
		return
	}
	slices.SortFunc(reqs, func(a, b *workflow.Request) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	// window returns the index of the first request within D before reqs[i].
	window := func(i int) int {
		lo := i
		for lo > 0 && reqs[i].CreatedAt.Sub(reqs[lo-1].CreatedAt) < th.FrequentWindow {
			lo--
		}
		return lo
	}
	over := false
	for i := range reqs {
		lo := window(i)
		n := i - lo + 1
		if n > th.FrequentCount && !over {
			in := reqs[lo : i+1]
			ids := make([]string, len(in))
			count := map[string]int{}
			for k, r := range in {
				ids[k] = r.ID
				count[r.Resource]++
			}
			var parts []string
			for _, res := range sortedKeys(count) {
				parts = append(parts, fmt.Sprintf("%s ×%d", res, count[res]))
			}
			r := reqs[i]
			add(Flag{Kind: FlagFrequentHigh, Key: string(FlagFrequentHigh) + ":" + r.ID, Person: r.Requester, People: []string{r.Requester},
				Resource: r.Resource, RequestIDs: ids, At: r.CreatedAt,
				Reason: fmt.Sprintf("%s asked for high or critical access %d times within %s (more than %d): %s",
					r.Requester, n, workflow.FormatDuration(th.FrequentWindow), th.FrequentCount, strings.Join(parts, ", "))})
		}
		over = n > th.FrequentCount
	}
}

// mutual flags approver's approval a of someone's request when that
// someone approved one of approver's requests in the window before.
func mutual(th Thresholds, approver string, a approvalAt, back []approvalAt, add func(Flag)) {
	if th.MutualWindow <= 0 {
		return
	}
	var best *approvalAt
	for i := range back {
		b := &back[i]
		if b.at.Before(a.at) && a.at.Sub(b.at) <= th.MutualWindow && (best == nil || b.at.After(best.at)) {
			best = b
		}
	}
	if best == nil {
		return
	}
	other := a.req.Requester
	add(Flag{Kind: FlagMutualApproval, Key: string(FlagMutualApproval) + ":" + a.req.ID + ":" + approver, Person: approver,
		People: []string{approver, other}, Resource: a.req.Resource, RequestIDs: []string{best.req.ID, a.req.ID}, At: a.at,
		Reason: fmt.Sprintf("%s and %s approve each other's requests: %s approved %s's request for %s on %s, then %s approved %s's request for %s on %s",
			approver, other, other, approver, best.req.Resource, best.at.Format(time.RFC3339), approver, other, a.req.Resource, a.at.Format(time.RFC3339))})
}

func provisioningFailed(j FailedJob) Flag {
	var p struct {
		RequestID string `json:"request_id"`
		Requester string `json:"requester"`
		Resource  string `json:"resource"`
	}
	_ = json.Unmarshal(j.Payload, &p) // whatever the payload holds, the flag stands
	if p.RequestID == "" {
		if _, err := uuid.Parse(j.Key); err == nil {
			p.RequestID = j.Key
		}
	}
	f := Flag{Kind: FlagProvisioning, Key: string(FlagProvisioning) + ":" + strconv.FormatInt(j.ID, 10), Person: p.Requester,
		Resource: p.Resource, At: j.FinishedAt,
		Reason: fmt.Sprintf("job %d on queue %s failed for good after %d attempts: %s", j.ID, j.Queue, j.Attempts, firstLine(j.LastError))}
	if p.Requester != "" {
		f.People = []string{p.Requester}
	}
	if p.RequestID != "" {
		f.RequestIDs = []string{p.RequestID}
	}
	return f
}

// provisioningFailing flags a grant whose apply or removal keeps failing:
// access that should be gone may still be live at the target.
func provisioningFailing(f ProvisioningFailure) Flag {
	fl := Flag{Kind: FlagProvisioning, Key: string(FlagProvisioning) + ":audit:" + strconv.FormatInt(f.AuditID, 10),
		Person: f.Requester, Resource: f.Resource, At: f.At, Reason: "provisioning " + firstLine(f.Reason)}
	if f.Requester != "" {
		fl.People = []string{f.Requester}
	}
	if f.RequestID != "" {
		fl.RequestIDs = []string{f.RequestID}
	}
	return fl
}

// mfaRefused flags each person's refused approvals of one request (an
// approval that needed a second factor, tried without one): one flag per
// approver and request, at the first attempt, with how many there were
// and from where. Someone pressing a Slack button that cannot decide is
// often just unaware; many attempts, or tokens, are worth a look.
func mfaRefused(refusals []MFARefusal) []Flag {
	type key struct{ approver, request string }
	var order []key
	by := map[key][]MFARefusal{}
	for _, r := range refusals {
		k := key{r.Approver, r.RequestID}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	out := make([]Flag, 0, len(order))
	for _, k := range order {
		list := by[k]
		first := list[0]
		var via []string
		for _, r := range list {
			if r.Auth != "" && !slices.Contains(via, r.Auth) {
				via = append(via, r.Auth)
			}
		}
		f := Flag{Kind: FlagMFARefused, Key: string(FlagMFARefused) + ":" + k.approver + ":" + k.request, Person: k.approver,
			People: []string{k.approver}, Resource: first.Resource, At: first.At,
			Reason: fmt.Sprintf("%s tried to approve a request for %s without a second factor (require_mfa): refused %s, via %s",
				k.approver, first.Resource, workflow.Plural(len(list), "time", "times"), strings.Join(via, ", "))}
		if first.Requester != "" && first.Requester != k.approver {
			f.People = append(f.People, first.Requester)
			f.Reason += fmt.Sprintf(" (%s's request)", first.Requester)
		}
		if k.request != "" {
			f.RequestIDs = []string{k.request}
		}
		out = append(out, f)
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = workflow.Clip(s, 300) + "…"
	}
	if s == "" {
		return "no error recorded"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

// breakGlass lists the flags an emergency request raised: one when it was
// granted, and one per overdue alert of its review. Both are recorded when
// they happen (workflow/breakglass.go), under these keys, so that a scan
// finds them raised and never alerts twice.
func breakGlass(r *workflow.Request, add func(Flag)) {
	if !r.Emergency {
		return
	}
	add(Flag{Kind: FlagBreakGlass, Key: workflow.FlagBreakGlass + ":" + r.ID, Person: r.Requester, People: []string{r.Requester},
		Resource: r.Resource, RequestIDs: []string{r.ID}, At: r.CreatedAt,
		Reason: fmt.Sprintf("%s used emergency access to %s for %s with no approver: %q", r.Requester, r.Resource,
			workflow.FormatDuration(r.Duration), r.Reason)})
	rv := r.Review
	if rv == nil {
		return
	}
	for n := 1; n <= rv.Alerts; n++ {
		at := rv.DueAt.Add(time.Duration(n-1) * rv.Within)
		add(Flag{Kind: FlagBreakGlassOverdue, Key: fmt.Sprintf("%s:%s:%d", workflow.FlagBreakGlassReviewOverdue, r.ID, n),
			Person: r.Requester, People: []string{r.Requester}, Resource: r.Resource, RequestIDs: []string{r.ID}, At: at,
			Reason: fmt.Sprintf("the post-hoc review of %s's emergency access to %s was due %s and had %s (overdue alert %d)",
				r.Requester, r.Resource, rv.DueAt.Format(time.RFC3339), rv.Progress(), n)})
	}
}
