package ui

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

const requestsPageSize = 25

type requestsData struct {
	Rows   []requestItem
	State  workflow.State
	States []workflow.State
	Pager  pager
}

// requestItem is a request in a listing, with what the viewer may do.
type requestItem struct {
	*workflow.Request
	ResourceName string
	Actions      workflow.Actions
}

// GET /requests: my requests, newest first.
func (u *UI) myRequests(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "state", "cursor"); err != nil {
		return err
	}
	state, err := workflow.ParseState(c.QueryParam("state"))
	if err != nil {
		return err
	}
	v := u.newView(c, "My requests", "requests")
	reqs, next, err := u.svc.List(c.Request().Context(), v.Me.Principal, workflow.RequestQuery{
		Requester: v.Me.Email, State: state, Limit: requestsPageSize, Cursor: c.QueryParam("cursor")})
	if err != nil {
		return err
	}
	d := requestsData{State: state, States: workflow.States, Pager: pagerFor(c, next)}
	d.Rows = u.requestItems(c.Request().Context(), v, reqs)
	v.Data = d
	return u.render(c, http.StatusOK, "requests", v)
}

func (u *UI) requestItems(ctx context.Context, v *view, reqs []*workflow.Request) []requestItem {
	pol := u.svc.Policy()
	rows := make([]requestItem, len(reqs))
	for i, r := range reqs {
		rows[i] = requestItem{Request: r, ResourceName: resourceName(pol, r.Resource),
			Actions: u.svc.AllowedActions(ctx, v.Me.Principal, r, v.Now)}
	}
	return rows
}
