package ui

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/chart"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// dashChart is one chart of the dashboard: inline SVG from package chart,
// which draws with presentation attributes only (no script, no style
// attribute), so the page's content security policy holds.
type dashChart struct {
	Name string
	SVG  template.HTML
	Link string // where the numbers behind it are
}

type dashboardData struct {
	*review.Dashboard
	Charts   []dashChart
	Requests int // filed in the period
	Granted  int
	LiveNow  int // live at the end of the period
	Flags    int
	// EmergencyUses counts break-glass requests in the period.
	EmergencyUses int
	Period        periodForm
	Label         string
	Presets       []preset
	Query         url.Values // the period, for links to the flags and the report
	// Campaigns are the review campaigns' runs and where each stands.
	Campaigns []api.CampaignRunJSON
}

// GET /dashboard?since=&until=: what a manager looks at, for a period
// (default the last 30 days): time to decision, volume by resource and
// tier, live grants, flags. Admins and reviewers (package review decides).
func (u *UI) dashboard(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "since", "until"); err != nil {
		return err
	}
	v := u.newView(c, "Dashboard", "dashboard")
	p, pf, err := u.readPeriod(c.QueryParam, 30)
	var d *review.Dashboard
	if err == nil {
		d, err = u.over.Reviews.Dashboard(c.Request().Context(), v.Me.Principal, p)
	}
	data := dashboardData{Period: pf, Label: periodLabel(p), Presets: u.presets(c, "/dashboard", pf), Query: pf.values()}
	if err != nil {
		if workflow.ErrorCode(err) != workflow.CodeInvalid {
			return err
		}
		v.Error, v.Data = workflow.ErrorMessage(err), data
		return u.render(c, http.StatusBadRequest, "dashboard", v)
	}
	data.Dashboard = d
	for _, x := range d.Volume {
		data.Requests += x.Count
		data.Granted += x.Granted
	}
	if n := len(d.LiveGrants); n > 0 {
		data.LiveNow = d.LiveGrants[n-1].Total
	}
	for _, f := range d.Flags {
		data.Flags += f.Count
	}
	for _, e := range d.Emergency {
		data.EmergencyUses += e.Count
	}
	q := pf.values().Encode()
	links := map[string]string{"decisions": "/reviews/report?" + q, "volume": "/reviews/report?" + q, "live": "/grants", "flags": "/flags?" + q, "emergency": "/flags?" + q}
	for _, name := range chart.Names {
		svg, _ := chart.Dashboard(name, d)
		data.Charts = append(data.Charts, dashChart{Name: name, SVG: template.HTML(svg), Link: links[name]}) // #nosec: chart escapes all text
	}
	runs, err := u.over.Reviews.CampaignStatus(c.Request().Context(), v.Me.Principal)
	if err != nil {
		return err
	}
	for _, r := range runs {
		data.Campaigns = append(data.Campaigns, api.CampaignRunJSONOf(r, v.Now))
	}
	v.Data = data
	return u.render(c, http.StatusOK, "dashboard", v)
}
