package ui

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// decisionsPageSize is how many requests one page of the queue shows.
const decisionsPageSize = 50

// decisionRow is one request waiting for the viewer.
type decisionRow struct {
	*workflow.Request
	ResourceName string
	CanApprove   bool
}

type decisionsData struct {
	Rows  []decisionRow
	Total int
	Pager pager
}

// GET /decisions: pending requests this person may decide, oldest first.
func (u *UI) decisions(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "cursor"); err != nil {
		return err
	}
	ctx := c.Request().Context()
	v := u.newView(c, "Needs my decision", "decisions")
	who := v.Me.Principal
	reqs, next, err := u.svc.Decisions(ctx, who, decisionsPageSize, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	pol := u.svc.Policy()
	d := decisionsData{Pager: pagerFor(c, next)}
	for _, link := range v.Nav {
		if link.Key == "decisions" {
			d.Total = link.Badge
		}
	}
	for _, r := range reqs {
		d.Rows = append(d.Rows, decisionRow{Request: r, ResourceName: resourceName(pol, r.Resource),
			// A one-click approval has no comment: where one is required,
			// the request's page (Review) takes it.
			CanApprove: u.svc.AllowedActions(ctx, who, r, v.Now).Approve && !pol.ApprovalNeedsComment(r.Resource)})
	}
	v.Data, v.Refresh = d, u.refreshSeconds()
	return u.render(c, http.StatusOK, "decisions", v)
}

func (u *UI) refreshSeconds() int { return int(u.cfg.RefreshEvery.Seconds()) }

// resourceName is a resource's display name ("" when it has left the
// policy).
func resourceName(pol *workflow.Policy, id string) string {
	if r, ok := pol.Resource(id); ok && r.Name != "" && r.Name != id {
		return r.Name
	}
	return ""
}
