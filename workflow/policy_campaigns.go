package workflow

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ReviewCampaign is one entry of the policy's review_campaigns: access
// reviews opened on a schedule, each period, for the period just ended,
// due some days later, with reminders to its reviewers.
type ReviewCampaign struct {
	Name string
	// Scope: every resource (All, one review of everything), or one review
	// per resource named or per resource of the tiers named.
	All       bool
	Resources []string
	Tiers     []Tier
	Every     CampaignEvery
	DueIn     time.Duration
	// Reviewers are the groups whose members are reminded and may read
	// and sign off the campaign's reviews (besides admins and the
	// policy's reviewers).
	Reviewers []string
	Line      int
}

// CampaignEvery is how often a campaign opens: every Months calendar
// months (monthly 1, quarterly 3) or every Days days.
type CampaignEvery struct {
	Months int
	Days   int
}

func (e CampaignEvery) String() string {
	switch {
	case e.Months == 1:
		return "monthly"
	case e.Months == 3:
		return "quarterly"
	case e.Months > 0:
		return fmt.Sprintf("every %d months", e.Months)
	}
	return fmt.Sprintf("%dd", e.Days)
}

// campaignEpoch anchors day-based periods, so that every replica and every
// restart cuts the same periods.
var campaignEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// PeriodAt returns the campaign's period that contains t: [start, end).
// Monthly periods start on the first of the month, quarterly ones on the
// first of January, April, July and October, UTC; day-based periods are
// counted from 2000-01-01 UTC.
func (c ReviewCampaign) PeriodAt(t time.Time) (start, end time.Time) {
	t = t.UTC()
	if c.Every.Months > 0 {
		m := (int(t.Month()) - 1) / c.Every.Months * c.Every.Months
		start = time.Date(t.Year(), time.Month(m+1), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, c.Every.Months, 0)
	}
	days := int(t.Sub(campaignEpoch) / (24 * time.Hour))
	if t.Before(campaignEpoch) {
		days--
	}
	n := days / c.Every.Days
	if days < 0 && days%c.Every.Days != 0 {
		n--
	}
	start = campaignEpoch.AddDate(0, 0, n*c.Every.Days)
	return start, start.AddDate(0, 0, c.Every.Days)
}

// Previous returns the period before the one that starts at start: what a
// campaign opened at start reviews.
func (c ReviewCampaign) Previous(start time.Time) (time.Time, time.Time) {
	return c.PeriodAt(start.Add(-time.Nanosecond))
}

// ScopeResources are the resources the campaign opens one review each
// for, in policy order; nil for a campaign of everything (All).
func (c ReviewCampaign) ScopeResources(pol *Policy) []string {
	if c.All {
		return nil
	}
	var out []string
	for _, r := range pol.Resources {
		if slices.Contains(c.Resources, r.ID) || slices.Contains(c.Tiers, r.Tier) {
			out = append(out, r.ID)
		}
	}
	return out
}

// ScopeWords says what the campaign covers: "all", "resources a, b",
// "tiers high, critical".
func (c ReviewCampaign) ScopeWords() string {
	switch {
	case c.All:
		return "all"
	case len(c.Resources) > 0:
		return "resources " + strings.Join(c.Resources, ", ")
	}
	tiers := make([]string, len(c.Tiers))
	for i, t := range c.Tiers {
		tiers[i] = string(t)
	}
	return "tiers " + strings.Join(tiers, ", ")
}

// Campaign returns the policy's campaign of that name.
func (p *Policy) Campaign(name string) (ReviewCampaign, bool) {
	for _, c := range p.ReviewCampaigns {
		if c.Name == name {
			return c, true
		}
	}
	return ReviewCampaign{}, false
}

// IsCampaignReviewer reports whether who is in one of the campaign's
// reviewer groups.
func (p *Policy) IsCampaignReviewer(who Principal, c ReviewCampaign) bool {
	return who.IsUser() && p.InAnyGroup(who, c.Reviewers)
}

// CampaignReviewers are the people in the campaign's reviewer groups (the
// policy file's), sorted.
func (p *Policy) CampaignReviewers(c ReviewCampaign) []string { return p.GroupMembers(c.Reviewers) }

var campaignNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// reviewCampaigns reads review_campaigns, a list of {name, scope, every,
// due_in, reviewers}.
func (d *policyDecoder) reviewCampaigns(v *yaml.Node) ([]ReviewCampaign, []groupRef) {
	if v.Kind != yaml.SequenceNode {
		d.errorf(v, "review_campaigns must be a list of campaigns (name, scope, every, due_in, reviewers), not %s", kindName(v))
		return nil, nil
	}
	var out []ReviewCampaign
	var refs []groupRef
	names := map[string]bool{}
	for _, n := range v.Content {
		c := ReviewCampaign{Line: n.Line}
		seen := d.fields(n, "a review campaign", map[string]func(*yaml.Node){
			"name": func(v *yaml.Node) {
				c.Name = d.str(v, "name")
				if c.Name != "" && !campaignNamePattern.MatchString(c.Name) {
					d.errorf(v, "campaign name %q must be lower-case letters, digits and . _ -", c.Name)
				}
				if names[c.Name] {
					d.errorf(v, "campaign %q is defined twice", c.Name)
				}
				names[c.Name] = true
			},
			"scope": func(v *yaml.Node) { d.campaignScope(v, &c) },
			"every": func(v *yaml.Node) { c.Every = d.campaignEvery(v) },
			"due_in": func(v *yaml.Node) {
				c.DueIn = d.dayDuration(v, "due_in")
			},
			"reviewers": func(v *yaml.Node) {
				var r []groupRef
				c.Reviewers, r = d.groupRefs(v, "reviewers")
				refs = append(refs, r...)
			},
		})
		for _, key := range []string{"name", "scope", "every", "due_in", "reviewers"} {
			if seen[key] == nil && n.Kind == yaml.MappingNode {
				d.errorf(n, "review campaign needs %s", key)
			}
		}
		if seen["reviewers"] != nil && len(c.Reviewers) == 0 {
			d.errorf(seen["reviewers"], "campaign %q needs at least one reviewer group", c.Name)
		}
		if c.DueIn > 0 && c.Every != (CampaignEvery{}) {
			if shortest := c.Every.shortest(); c.DueIn > shortest {
				d.errorf(seen["due_in"], "due_in %s is longer than the campaign's period (%s): the next campaign would open before this one is due", FormatDuration(c.DueIn), c.Every)
			}
		}
		out = append(out, c)
	}
	return out, refs
}

func (e CampaignEvery) shortest() time.Duration {
	if e.Months > 0 {
		return time.Duration(e.Months*28) * 24 * time.Hour
	}
	return time.Duration(e.Days) * 24 * time.Hour
}

// campaignScope reads scope: all, {resources: [...]} or {tiers: [...]}.
// The resources are checked once every resource is known
// (checkCampaigns).
func (d *policyDecoder) campaignScope(v *yaml.Node, c *ReviewCampaign) {
	if v.Kind == yaml.ScalarNode {
		if v.Value != "all" {
			d.errorf(v, "scope must be all, {resources: [...]} or {tiers: [...]}, not %q", v.Value)
		}
		c.All = true
		return
	}
	seen := d.fields(v, "a campaign scope", map[string]func(*yaml.Node){
		"resources": func(v *yaml.Node) { c.Resources = d.strList(v, "scope resources") },
		"tiers": func(v *yaml.Node) {
			for i, s := range d.strList(v, "scope tiers") {
				t := Tier(s)
				if !t.Valid() {
					d.errorf(v.Content[min(i, len(v.Content)-1)], "unknown tier %q (tiers are low, medium, high, critical)", s)
				}
				c.Tiers = append(c.Tiers, t)
			}
		},
	})
	switch {
	case len(seen) != 1:
		d.errorf(v, "scope takes resources or tiers, one of them")
	case len(c.Resources) == 0 && len(c.Tiers) == 0:
		d.errorf(v, "scope names no resource or tier")
	}
}

var daysPattern = regexp.MustCompile(`^([1-9][0-9]{0,3})d$`)

// campaignEvery reads every: monthly, quarterly or a number of days (90d).
func (d *policyDecoder) campaignEvery(v *yaml.Node) CampaignEvery {
	s := d.str(v, "every")
	switch s {
	case "":
		return CampaignEvery{}
	case "monthly":
		return CampaignEvery{Months: 1}
	case "quarterly":
		return CampaignEvery{Months: 3}
	}
	if m := daysPattern.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return CampaignEvery{Days: n}
	}
	d.errorf(v, "every must be monthly, quarterly or a number of days like \"90d\", not %q", s)
	return CampaignEvery{}
}

// days reads a duration written in days ("14d") or as a Go duration
// ("36h").
func (d *policyDecoder) dayDuration(v *yaml.Node, what string) time.Duration {
	s := d.str(v, what)
	if m := daysPattern.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return time.Duration(n) * 24 * time.Hour
	}
	if s == "" {
		return 0
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur <= 0 {
		d.errorf(v, "%s %q is not a positive duration; use days like 14d or Go durations like 36h", what, s)
		return 0
	}
	return dur
}

// checkCampaigns checks what needs the whole policy: the resources a
// campaign names exist.
func (d *policyDecoder) checkCampaigns(p *Policy) {
	for _, c := range p.ReviewCampaigns {
		for _, id := range c.Resources {
			if _, ok := p.Resource(id); !ok {
				d.errs = append(d.errs, PolicyError{File: d.file, Line: c.Line, Msg: fmt.Sprintf("campaign %q names resource %q, which is not defined under resources", c.Name, id)})
			}
		}
	}
}
