package review

import (
	"cmp"
	"slices"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Bucket counts decisions that took at most UpTo (the last bucket has no
// bound: UpTo 0).
type Bucket struct {
	Label string
	UpTo  time.Duration
	Count int
}

// Volume counts requests filed for one resource in a period.
type Volume struct {
	Resource string
	Tier     workflow.Tier
	Count    int
	Granted  int
}

// LivePoint is how many grants were live at one moment, by tier.
type LivePoint struct {
	At     time.Time
	ByTier map[workflow.Tier]int
	Total  int
}

// EmergencyUse counts one person's break-glass requests filed in a
// period.
type EmergencyUse struct {
	Person string
	Count  int
}

// FlagCount counts flags of one kind.
type FlagCount struct {
	Kind  FlagKind
	Count int
}

// Dashboard is what a manager looks at: how long decisions take, what is
// requested, how much access is live, what looks wrong.
type Dashboard struct {
	Period         Period
	GeneratedAt    time.Time
	Decisions      []Bucket
	Decided        int
	Approved       int
	Denied         int
	MedianDecision time.Duration
	P90Decision    time.Duration
	Volume         []Volume
	LiveGrants     []LivePoint
	Flags          []FlagCount
	// Emergency is break-glass use per person, most first.
	Emergency []EmergencyUse
	// ByTier is how each tier's decisions in the period went, in tier
	// order, tiers with decisions only.
	ByTier []TierRate
	// Refusals counts the refused attempts of the period by kind
	// (workflow.RefusalKinds, every kind listed); set by Service.Dashboard.
	Refusals []RefusalCount
}

// TierRate is how one tier's decisions went in a period.
type TierRate struct {
	Tier     workflow.Tier
	Decided  int
	Approved int
}

// Rate is the share of the tier's decisions that approved, 0 to 1.
func (r TierRate) Rate() float64 {
	if r.Decided == 0 {
		return 0
	}
	return float64(r.Approved) / float64(r.Decided)
}

// RefusalCount counts refused attempts of one kind.
type RefusalCount struct {
	Kind  string
	Count int
}

// decisionBuckets are the time-to-decision histogram's bounds.
var decisionBuckets = []Bucket{
	{"< 1m", time.Minute, 0}, {"1-5m", 5 * time.Minute, 0}, {"5-15m", 15 * time.Minute, 0}, {"15m-1h", time.Hour, 0},
	{"1-4h", 4 * time.Hour, 0}, {"4-24h", 24 * time.Hour, 0}, {"> 24h", 0, 0},
}

// DecisionBuckets are the histogram's bounds (UpTo), for the metrics too.
func DecisionBuckets() []time.Duration {
	var out []time.Duration
	for _, b := range decisionBuckets {
		if b.UpTo > 0 {
			out = append(out, b.UpTo)
		}
	}
	return out
}

// DecisionTime returns how long a request waited for a person's decision,
// and whether one was made (auto-approvals and timeouts are not).
func DecisionTime(r *workflow.Request) (time.Duration, bool) {
	switch {
	case r.ApprovedAt != nil && len(r.Approvals) > 0:
		return r.ApprovedAt.Sub(r.CreatedAt), true
	case r.State == workflow.StateDenied && r.EndedAt != nil:
		return r.EndedAt.Sub(r.CreatedAt), true
	}
	return 0, false
}

// livePoints is how many samples the live-grants series has.
const livePoints = 48

// BuildDashboard computes the dashboard. It is a pure function of its
// input.
func BuildDashboard(p Period, now time.Time, reqs []*workflow.Request, flags []Flag) *Dashboard {
	d := &Dashboard{Period: p, GeneratedAt: now, Decisions: slices.Clone(decisionBuckets)}
	var times []time.Duration
	volume := map[string]*Volume{}
	tiers := map[workflow.Tier]*TierRate{}
	for _, r := range reqs {
		if !r.CreatedAt.Before(p.Start) && r.CreatedAt.Before(p.End) {
			v := volume[r.Resource]
			if v == nil {
				v = &Volume{Resource: r.Resource, Tier: r.Tier}
				volume[r.Resource] = v
			}
			v.Count++
			if r.ApprovedAt != nil {
				v.Granted++
			}
		}
		dt, ok := DecisionTime(r)
		if !ok {
			continue
		}
		at := r.CreatedAt.Add(dt)
		if at.Before(p.Start) || !at.Before(p.End) {
			continue
		}
		times = append(times, dt)
		d.Decided++
		tier := tiers[r.Tier]
		if tier == nil {
			tier = &TierRate{Tier: r.Tier}
			tiers[r.Tier] = tier
		}
		tier.Decided++
		if r.ApprovedAt != nil {
			d.Approved++
			tier.Approved++
		} else {
			d.Denied++
		}
		for i := range d.Decisions {
			if b := &d.Decisions[i]; b.UpTo == 0 || dt < b.UpTo {
				b.Count++
				break
			}
		}
	}
	for _, t := range workflow.Tiers {
		if r := tiers[t]; r != nil {
			d.ByTier = append(d.ByTier, *r)
		}
	}
	if len(times) > 0 {
		slices.Sort(times)
		d.MedianDecision = times[(len(times)-1)/2]
		d.P90Decision = times[(len(times)*9+9)/10-1]
	}
	for _, id := range sortedKeys(volume) {
		d.Volume = append(d.Volume, *volume[id])
	}
	slices.SortStableFunc(d.Volume, func(a, b Volume) int { return cmp.Compare(b.Count, a.Count) })
	end := earlier(p.End, now)
	if end.After(p.Start) {
		step := end.Sub(p.Start) / livePoints
		for i := 0; i <= livePoints; i++ {
			t := p.Start.Add(step * time.Duration(i))
			if i == livePoints {
				t = end
			}
			pt := LivePoint{At: t, ByTier: map[workflow.Tier]int{}}
			for _, r := range reqs {
				if liveAt(r, t) {
					pt.ByTier[r.Tier]++
					pt.Total++
				}
			}
			d.LiveGrants = append(d.LiveGrants, pt)
		}
	}
	counts := map[FlagKind]int{}
	for _, f := range flags {
		counts[f.Kind]++
	}
	for _, k := range FlagKinds {
		d.Flags = append(d.Flags, FlagCount{Kind: k, Count: counts[k]})
	}
	emergency := map[string]int{}
	for _, r := range reqs {
		if r.Emergency && !r.CreatedAt.Before(p.Start) && r.CreatedAt.Before(p.End) {
			emergency[r.Requester]++
		}
	}
	for _, who := range sortedKeys(emergency) {
		d.Emergency = append(d.Emergency, EmergencyUse{Person: who, Count: emergency[who]})
	}
	slices.SortStableFunc(d.Emergency, func(a, b EmergencyUse) int { return cmp.Compare(b.Count, a.Count) })
	return d
}

// liveAt reports whether r granted access at t (as recorded, whether or
// not the sweeper had caught up).
func liveAt(r *workflow.Request, t time.Time) bool {
	if r.ApprovedAt == nil || r.ExpiresAt == nil || t.Before(*r.ApprovedAt) {
		return false
	}
	end := *r.ExpiresAt
	if r.EndedAt != nil && r.EndedAt.Before(end) {
		end = *r.EndedAt
	}
	return t.Before(end)
}
