package ui

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// kindCount is one kind of flag in the summary, a filter link.
type kindCount struct {
	Kind   review.FlagKind
	Label  string
	Count  int
	URL    string
	Active bool
}

type flagsData struct {
	Flags     []flagRow // this page of them, newest first
	Shown     int       // how many match the kind filter
	Pager     pager
	Kinds     []kindCount
	Kind      review.FlagKind
	AllKinds  []review.FlagKind
	Total     int // before the kind filter
	Period    periodForm
	Label     string
	Scope     scopeForm
	Resources []string
	Overseer  bool
	Presets   []preset
	Review    url.Values // opens a report of the same period and scope
}

// flagsPerPage is how many flags one page lists.
var flagsPerPage = 100

// GET /flags?since=&until=&resource=|person=&kind=: anomaly flags of a
// period (default the last 30 days), newest first, each with why and
// links to its requests. Package review decides who may read which scope.
func (u *UI) flags(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "since", "until", "resource", "person", "kind", "page"); err != nil {
		return err
	}
	v := u.newView(c, "Anomaly flags", "flags")
	d := flagsData{Kind: review.FlagKind(c.QueryParam("kind")), AllKinds: flagKinds(), Scope: u.readScope(c.QueryParam, v.Me),
		Resources: u.scopeResources(v.Me), Overseer: v.Me.Overseer}
	p, pf, err := u.readPeriod(c.QueryParam, 30)
	d.Period, d.Presets, d.Label = pf, u.presets(c, "/flags", pf), periodLabel(p)
	d.Review = pf.values()
	for k, vs := range d.Scope.values() {
		d.Review[k] = vs
	}
	if err == nil && d.Kind != "" && !api.ValidKind(d.Kind) {
		err = workflow.Errorf(workflow.CodeInvalid, "unknown flag kind %q", d.Kind)
	}
	var flags []review.Flag
	if err == nil {
		var scope review.Scope
		if scope, err = d.Scope.scope(); err == nil {
			flags, err = u.over.Reviews.Flags(c.Request().Context(), v.Me.Principal, scope, p)
		}
	}
	if err != nil {
		if workflow.ErrorCode(err) != workflow.CodeInvalid {
			return err
		}
		v.Error, v.Data = workflow.ErrorMessage(err), d
		return u.render(c, http.StatusBadRequest, "flags", v)
	}
	counts := map[review.FlagKind]int{}
	for _, f := range flags {
		counts[f.Kind]++
		if d.Kind == "" || f.Kind == d.Kind {
			d.Flags = append(d.Flags, newFlagRow(f))
		}
	}
	slices.Reverse(d.Flags)
	d.Total, d.Shown = len(flags), len(d.Flags)
	from, to, pg, err := pageOf(c, len(d.Flags), flagsPerPage)
	if err != nil {
		return err
	}
	d.Flags, d.Pager = d.Flags[from:to], pg
	for _, k := range review.FlagKinds {
		q := url.Values{}
		for key, vs := range c.QueryParams() {
			q[key] = vs
		}
		q.Del("page")
		if k == d.Kind {
			q.Del("kind")
		} else {
			q.Set("kind", string(k))
		}
		d.Kinds = append(d.Kinds, kindCount{Kind: k, Label: flagLabel(k), Count: counts[k], URL: "/flags?" + q.Encode(), Active: k == d.Kind})
	}
	v.Data = d
	return u.render(c, http.StatusOK, "flags", v)
}
