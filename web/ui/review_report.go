package ui

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// reportView is a report as templates/_report.html shows it, on the
// report page and on a review.
type reportView struct {
	*review.Report
	View string // the access tab shown: resource, person or grants
	Tabs []tab
	// GrantRows is the page of grants the grants tab shows.
	GrantRows []review.Grant
	Pager     pager
	Total     time.Duration // time with access in the period, all grants
	People    int
	Flags     []flagRow
	// Review is set on a review: its items can be marked for follow-up
	// (with CSRF), and those marked already say so.
	Review string
	CSRF   string
	Marked map[string]bool // "kind ref" of open follow-ups
}

// followUpControl is one "mark for follow-up" control
// (templates/_oversight.html, followUp).
type followUpControl struct {
	Review, CSRF, Kind, Ref string
	Marked                  bool
}

func followUpOf(rv reportView, kind, ref string) followUpControl {
	return followUpControl{Review: rv.Review, CSRF: rv.CSRF, Kind: kind, Ref: ref, Marked: rv.Marked[kind+" "+ref]}
}

// lineView is one line of access with its follow-up control.
type lineView struct {
	review.Line
	Follow followUpControl
}

type tab struct {
	Key, Label, URL string
	Count           int
	Active          bool
}

type flagRow struct {
	review.Flag
	Label  string
	Others []string // the people involved besides Person
}

func newFlagRow(f review.Flag) flagRow {
	r := flagRow{Flag: f, Label: flagLabel(f.Kind)}
	for _, p := range f.People {
		if p != f.Person && !slices.Contains(r.Others, p) {
			r.Others = append(r.Others, p)
		}
	}
	return r
}

// grantsPerPage is how many grants the grants tab shows at once.
var grantsPerPage = 200

var reportViews = []struct{ key, label string }{{"resource", "By resource"}, {"person", "By person"}, {"grants", "Every grant"}}

// newReportView prepares rep for the page at base (whose other query
// parameters are kept by the tabs).
func newReportView(c echo.Context, rep *review.Report, base string) (reportView, error) {
	view := c.QueryParam("view")
	if view == "" {
		view = "resource"
	}
	if !slices.ContainsFunc(reportViews, func(v struct{ key, label string }) bool { return v.key == view }) {
		return reportView{}, workflow.Errorf(workflow.CodeInvalid, "view must be resource, person or grants, not %q", view)
	}
	rv := reportView{Report: rep, View: view, People: len(rep.ByPerson), Marked: map[string]bool{}}
	if view == "grants" {
		from, to, p, err := pageOf(c, len(rep.Grants), grantsPerPage)
		if err != nil {
			return reportView{}, err
		}
		rv.GrantRows, rv.Pager = rep.Grants[from:to], p
	}
	for _, g := range rep.Grants {
		rv.Total += g.InPeriod
	}
	for _, f := range rep.Flags {
		rv.Flags = append(rv.Flags, newFlagRow(f))
	}
	counts := map[string]int{"resource": len(rep.ByResource), "person": len(rep.ByPerson), "grants": len(rep.Grants)}
	for _, v := range reportViews {
		q := url.Values{}
		for k, vs := range c.QueryParams() {
			q[k] = vs
		}
		q.Set("view", v.key)
		q.Del("page")
		rv.Tabs = append(rv.Tabs, tab{Key: v.key, Label: v.label, URL: base + "?" + q.Encode() + "#access", Count: counts[v.key], Active: v.key == view})
	}
	return rv, nil
}

type reportData struct {
	Report    reportView
	Period    periodForm
	Scope     scopeForm
	Resources []string
	Overseer  bool
	Presets   []preset
	Label     string // what and when, in words
}

// GET /reviews/report?since=&until=&resource=|person=&view=: the access
// review report of a period, before anyone opens a review of it. Package
// review decides who may read which scope.
func (u *UI) reviewReport(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "since", "until", "resource", "person", "view", "page"); err != nil {
		return err
	}
	v := u.newView(c, "Access report", "reviews")
	d := reportData{Scope: u.readScope(c.QueryParam, v.Me), Resources: u.scopeResources(v.Me), Overseer: v.Me.Overseer}
	p, pf, err := u.readPeriod(c.QueryParam, 30)
	d.Period, d.Presets = pf, u.presets(c, "/reviews/report", pf)
	var rep *review.Report
	if err == nil {
		var scope review.Scope
		if scope, err = d.Scope.scope(); err == nil {
			rep, err = u.over.Reviews.Report(c.Request().Context(), v.Me.Principal, scope, p)
		}
	}
	if err == nil {
		d.Report, err = newReportView(c, rep, "/reviews/report")
		d.Label = "Access to " + scopeLabel(rep.Scope) + ", " + periodLabel(rep.Period)
	}
	v.Data = d
	if err != nil {
		// A form mistake keeps the form, with the API's message; a refusal
		// is the error page.
		if workflow.ErrorCode(err) != workflow.CodeInvalid {
			return err
		}
		v.Error = workflow.ErrorMessage(err)
		return u.render(c, http.StatusBadRequest, "report", v)
	}
	return u.render(c, http.StatusOK, "report", v)
}
