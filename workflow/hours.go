package workflow

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones for working hours, whatever the host has

	"gopkg.in/yaml.v3"
)

// WorkingHours says when a team normally works, in its time zone. Access
// requested or granted outside these hours is flagged for review.
type WorkingHours struct {
	// Groups the entry applies to; empty applies to everyone that no
	// earlier entry matched.
	Groups   []string
	TimeZone string
	Location *time.Location
	Days     [7]bool // by time.Weekday
	// Start and End are minutes after midnight. An End at or before Start
	// is a shift that runs past midnight (22:00-06:00); it belongs to the
	// day it starts on.
	Start, End int
	Line       int
}

// Contains reports whether t falls within these working hours.
func (w *WorkingHours) Contains(t time.Time) bool {
	l := t.In(w.Location)
	m := l.Hour()*60 + l.Minute()
	day := l.Weekday()
	if w.End > w.Start {
		return w.Days[day] && m >= w.Start && m < w.End
	}
	if m >= w.Start {
		return w.Days[day]
	}
	return m < w.End && w.Days[(day+6)%7]
}

// Local describes t in the team's time zone, for messages: "Sat 23:10
// Europe/Paris".
func (w *WorkingHours) Local(t time.Time) string {
	return t.In(w.Location).Format("Mon 15:04") + " " + w.TimeZone
}

// String describes the hours: "mon-fri 08:00-18:00 Europe/Paris".
func (w *WorkingHours) String() string {
	var days []string
	for i := 1; i <= 7; i++ {
		if d := time.Weekday(i % 7); w.Days[d] {
			days = append(days, dayNames[d])
		}
	}
	return fmt.Sprintf("%s %02d:%02d-%02d:%02d %s", strings.Join(days, ","), w.Start/60, w.Start%60, w.End/60, w.End%60, w.TimeZone)
}

// WorkingHoursOf returns the working hours that apply to a person: the
// first entry naming one of their groups, else the first entry without
// groups, else nil (no working hours: nothing is out of hours).
func (p *Policy) WorkingHoursOf(email string) *WorkingHours {
	email = NormalizeEmail(email)
	for i := range p.WorkingHours {
		w := &p.WorkingHours[i]
		if len(w.Groups) == 0 {
			return w
		}
		for _, g := range w.Groups {
			if p.members[g][email] {
				return w
			}
		}
	}
	return nil
}

// IsReviewer reports whether the principal is in a reviewers group: one of
// the people who read access reviews, flags and the audit log, and sign
// reviews off.
func (p *Policy) IsReviewer(who Principal) bool { return p.InAnyGroup(who, p.Reviewers) }

var dayNames = map[time.Weekday]string{time.Sunday: "sun", time.Monday: "mon", time.Tuesday: "tue", time.Wednesday: "wed",
	time.Thursday: "thu", time.Friday: "fri", time.Saturday: "sat"}

func parseDay(s string) (time.Weekday, bool) {
	for d, n := range dayNames {
		if strings.EqualFold(s, n) {
			return d, true
		}
	}
	return 0, false
}

// groupRefs reads a list of group names whose definitions are checked once
// the whole file is read.
func (d *policyDecoder) groupRefs(v *yaml.Node, what string) ([]string, []groupRef) {
	names := d.strList(v, what)
	refs := make([]groupRef, 0, len(names))
	for i, name := range names {
		refs = append(refs, groupRef{name, v.Content[min(i, len(v.Content)-1)]})
	}
	return names, refs
}

// workingHours reads the working_hours list.
func (d *policyDecoder) workingHours(v *yaml.Node) ([]WorkingHours, []groupRef) {
	if v.Kind != yaml.SequenceNode {
		d.errorf(v, "working_hours must be a list of entries (groups, timezone, days, hours), not %s", kindName(v))
		return nil, nil
	}
	var (
		out      []WorkingHours
		refs     []groupRef
		catchAll *yaml.Node
	)
	for _, n := range v.Content {
		w := WorkingHours{Line: n.Line, TimeZone: "UTC", Location: time.UTC}
		var hoursNode, daysNode *yaml.Node
		seen := d.fields(n, "a working_hours entry", map[string]func(*yaml.Node){
			"groups": func(v *yaml.Node) {
				var r []groupRef
				w.Groups, r = d.groupRefs(v, "groups")
				refs = append(refs, r...)
			},
			"timezone": func(v *yaml.Node) {
				tz := d.str(v, "timezone")
				loc, err := time.LoadLocation(tz)
				if tz == "" || err != nil || strings.EqualFold(tz, "local") {
					d.errorf(v, "timezone %q is not a time zone; use an IANA name like Europe/Paris or UTC", tz)
					return
				}
				w.TimeZone, w.Location = tz, loc
			},
			"days":  func(v *yaml.Node) { daysNode = v },
			"hours": func(v *yaml.Node) { hoursNode = v },
		})
		if n.Kind != yaml.MappingNode {
			continue
		}
		if catchAll != nil {
			d.errorf(n, "this working_hours entry can never apply: the entry at line %d has no groups and applies to everyone left", catchAll.Line)
		}
		if seen["groups"] == nil {
			catchAll = n
		} else if len(w.Groups) == 0 {
			d.errorf(seen["groups"], "groups is empty; leave it out to apply the entry to everyone else")
		}
		if daysNode == nil {
			d.errorf(n, "working_hours entry has no days (like mon-fri or [mon, tue, wed])")
		} else {
			w.Days = d.days(daysNode)
		}
		if hoursNode == nil {
			d.errorf(n, "working_hours entry has no hours (like \"08:00-18:00\")")
		} else {
			w.Start, w.End = d.hours(hoursNode)
		}
		out = append(out, w)
	}
	return out, refs
}

// days reads "mon-fri", "sat,sun" or a list of day names.
func (d *policyDecoder) days(v *yaml.Node) [7]bool {
	var set [7]bool
	var items []string
	if v.Kind == yaml.SequenceNode {
		items = d.strList(v, "days")
	} else {
		for _, s := range strings.Split(d.str(v, "days"), ",") {
			items = append(items, strings.TrimSpace(s))
		}
	}
	for _, it := range items {
		from, to, isRange := strings.Cut(it, "-")
		a, ok1 := parseDay(strings.TrimSpace(from))
		b, ok2 := a, true
		if isRange {
			b, ok2 = parseDay(strings.TrimSpace(to))
		}
		if !ok1 || !ok2 {
			d.errorf(v, "days: %q is not a day or a range of days; use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri", it)
			continue
		}
		for day := a; ; day = (day + 1) % 7 {
			set[day] = true
			if day == b {
				break
			}
		}
	}
	if !slices.Contains(set[:], true) && len(d.errs) == 0 {
		d.errorf(v, "days is empty")
	}
	return set
}

// hours reads "HH:MM-HH:MM".
func (d *policyDecoder) hours(v *yaml.Node) (int, int) {
	s := d.str(v, "hours")
	from, to, ok := strings.Cut(s, "-")
	a, okA := clock(strings.TrimSpace(from))
	b, okB := clock(strings.TrimSpace(to))
	if !ok || !okA || !okB {
		d.errorf(v, "hours %q must be a range of 24-hour times like \"08:00-18:00\"", s)
		return 0, 0
	}
	if a == b {
		d.errorf(v, "hours %q is empty: start and end are the same", s)
	}
	return a, b
}

func clock(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		if s == "24:00" {
			return 24 * 60, true
		}
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}
