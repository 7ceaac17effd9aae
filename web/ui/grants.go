package ui

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
)

type grantsData struct {
	Rows  []requestItem
	Pager pager
	// Scheduled is approved access that starts later (the first 100,
	// soonest first), which approvers may revoke before it starts.
	Scheduled []requestItem
}

// GET /grants: access that is live right now, as far as the viewer may see.
func (u *UI) grants(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "cursor"); err != nil {
		return err
	}
	v := u.newView(c, "Live grants", "grants")
	reqs, next, err := u.svc.LiveGrants(c.Request().Context(), v.Me.Principal, 100, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	scheduled, err := u.svc.ScheduledGrants(c.Request().Context(), v.Me.Principal, 100)
	if err != nil {
		return err
	}
	v.Data = grantsData{Rows: u.requestItems(c.Request().Context(), v, reqs), Pager: pagerFor(c, next),
		Scheduled: u.requestItems(c.Request().Context(), v, scheduled)}
	v.Refresh = u.refreshSeconds()
	return u.render(c, http.StatusOK, "grants", v)
}
