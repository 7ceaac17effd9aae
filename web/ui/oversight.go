package ui

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/workflow"
)

// What the oversight pages share: the period and scope forms, and their
// labels. Nothing here decides who may see what: package review does,
// behind every call the handlers make.

const dateLayout = "2006-01-02"

// periodForm is a period as typed in a form: dates (the until date is
// included: 2026-11-01 to 2026-11-30 is all of November) or UTC times
// (2026-11-01T09:00; the until time is not included).
type periodForm struct {
	Since, Until string
}

// values is the period as query parameters.
func (f periodForm) values() url.Values {
	return url.Values{"since": {f.Since}, "until": {f.Until}}
}

// readPeriod reads since and until with get (c.QueryParam or c.FormValue).
// Left empty, the period is the last days days, today included.
//
// Errors: CodeInvalid (not a date or time).
func (u *UI) readPeriod(get func(string) string, days int) (review.Period, periodForm, error) {
	f := periodForm{Since: strings.TrimSpace(get("since")), Until: strings.TrimSpace(get("until"))}
	if f.Until == "" {
		f.Until = u.now().UTC().Format(dateLayout)
	}
	until, err := parseFormTime("until", f.Until)
	if err != nil {
		return review.Period{}, f, err
	}
	if isDate(f.Until) {
		until = until.AddDate(0, 0, 1)
	}
	if f.Since == "" {
		f.Since = until.AddDate(0, 0, -days).Format(dateLayout)
	}
	since, err := parseFormTime("since", f.Since)
	if err != nil {
		return review.Period{}, f, err
	}
	return review.Period{Start: since, End: until}, f, nil
}

func isDate(s string) bool {
	_, err := time.Parse(dateLayout, s)
	return err == nil
}

// formOfPeriod writes a period back as the form would have it: whole days
// as dates (the last one included), anything else as UTC times.
func formOfPeriod(p review.Period) periodForm {
	if midnight(p.Start) && midnight(p.End) {
		return periodForm{Since: p.Start.UTC().Format(dateLayout), Until: p.End.UTC().AddDate(0, 0, -1).Format(dateLayout)}
	}
	return periodForm{Since: p.Start.UTC().Format("2006-01-02T15:04"), Until: p.End.UTC().Format("2006-01-02T15:04")}
}

func midnight(t time.Time) bool { return t.UTC().Equal(t.UTC().Truncate(24 * time.Hour)) }

// periodLabel says a period for people: "1 Nov 2026 – 30 Nov 2026",
// "23 Nov 2026", or UTC times when it does not run whole days.
func periodLabel(p review.Period) string {
	if midnight(p.Start) && midnight(p.End) {
		first, last := p.Start.UTC(), p.End.UTC().AddDate(0, 0, -1)
		if !last.After(first) {
			return first.Format("2 Jan 2006")
		}
		return first.Format("2 Jan 2006") + " – " + last.Format("2 Jan 2006")
	}
	return p.Start.UTC().Format("2 Jan 2006 15:04") + " – " + p.End.UTC().Format("2 Jan 2006 15:04") + " UTC"
}

// preset is a period one click away.
type preset struct {
	Label  string
	URL    string
	Active bool
}

// presets are the usual periods (last 7, 30 and 90 days, last calendar
// month), linking to path with the other query parameters kept.
func (u *UI) presets(c echo.Context, path string, current periodForm) []preset {
	today := u.now().UTC().Truncate(24 * time.Hour)
	firstOfMonth := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, time.UTC)
	periods := []struct {
		label string
		f     periodForm
	}{
		{"Last 7 days", periodForm{today.AddDate(0, 0, -6).Format(dateLayout), today.Format(dateLayout)}},
		{"Last 30 days", periodForm{today.AddDate(0, 0, -29).Format(dateLayout), today.Format(dateLayout)}},
		{"Last 90 days", periodForm{today.AddDate(0, 0, -89).Format(dateLayout), today.Format(dateLayout)}},
		{firstOfMonth.AddDate(0, -1, 0).Format("January 2006"),
			periodForm{firstOfMonth.AddDate(0, -1, 0).Format(dateLayout), firstOfMonth.AddDate(0, 0, -1).Format(dateLayout)}},
	}
	out := make([]preset, len(periods))
	for i, p := range periods {
		q := url.Values{}
		for k, v := range c.QueryParams() {
			q[k] = v
		}
		q.Del("cursor")
		q.Set("since", p.f.Since)
		q.Set("until", p.f.Until)
		out[i] = preset{Label: p.label, URL: path + "?" + q.Encode(), Active: p.f == current}
	}
	return out
}

// scopeForm is a report's scope as typed: a resource or a person (or
// neither: everything).
type scopeForm struct {
	Resource, Person string
}

func (f scopeForm) scope() (review.Scope, error) { return api.ScopeOf(f.Resource, f.Person) }

func (f scopeForm) values() url.Values {
	v := url.Values{}
	if f.Resource != "" {
		v.Set("resource", f.Resource)
	}
	if f.Person != "" {
		v.Set("person", f.Person)
	}
	return v
}

// readScope reads resource and person with get. Someone who may not read
// everything (an approver) starts on the first resource they approve,
// rather than on a page the domain would refuse.
func (u *UI) readScope(get func(string) string, me *viewer) scopeForm {
	f := scopeForm{Resource: strings.TrimSpace(get("resource")), Person: workflow.NormalizeEmail(get("person"))}
	if f.Resource == "" && f.Person == "" && !me.Overseer {
		if rs := u.scopeResources(me); len(rs) > 0 {
			f.Resource = rs[0]
		}
	}
	return f
}

// scopeResources are the resources the scope picker offers: all of them
// to admins and reviewers, the ones they approve to approvers (the domain
// refuses the others anyway).
func (u *UI) scopeResources(me *viewer) []string {
	pol := u.svc.Policy()
	var out []string
	for _, r := range pol.Resources {
		if me.Overseer || pol.CanApprove(me.Principal, r) {
			out = append(out, r.ID)
		}
	}
	return out
}

// scopeLabel says what a scope covers: "everything", "crm-payments",
// "alice@example.com".
func scopeLabel(s review.Scope) string {
	if s.Kind == review.ScopeAll || s.Kind == "" {
		return "all resources and people"
	}
	return s.Value
}

// flagLabel names a flag kind for people.
func flagLabel(k review.FlagKind) string {
	switch k {
	case review.FlagOutOfHours:
		return "Out of hours"
	case review.FlagFrequentHigh:
		return "Frequent high tier"
	case review.FlagMutualApproval:
		return "Mutual approval"
	case review.FlagForcedRevoke:
		return "Forced revoke"
	case review.FlagRubberStamp:
		return "Rubber stamp"
	case review.FlagProvisioning:
		return "Provisioning failed"
	case review.FlagMFARefused:
		return "Approval without MFA"
	}
	return strings.ReplaceAll(string(k), "_", " ")
}

// flagKinds lists the kinds for filters.
func flagKinds() []review.FlagKind { return slices.Clone(review.FlagKinds) }

// pageOf pages a list of n items held in memory (a report's grants, a
// period's flags): ?page=N, from 1, per items a page. It returns the
// window and the links to the first and the next page.
//
// Errors: CodeInvalid (page is not a number from 1).
func pageOf(c echo.Context, n, per int) (from, to int, p pager, err error) {
	page := 1
	if s := c.QueryParam("page"); s != "" {
		if page, err = strconv.Atoi(s); err != nil || page < 1 {
			return 0, 0, pager{}, workflow.Errorf(workflow.CodeInvalid, "page must be a number from 1, not %q", s)
		}
	}
	from, to = min((page-1)*per, n), min(page*per, n)
	q := url.Values{}
	for k, v := range c.QueryParams() {
		q[k] = v
	}
	q.Del("page")
	base := c.Request().URL.Path
	if page > 1 {
		p.First = base
		if len(q) > 0 {
			p.First += "?" + q.Encode()
		}
	}
	if to < n {
		q.Set("page", strconv.Itoa(page+1))
		p.Next = base + "?" + q.Encode()
	}
	return from, to, p, nil
}
