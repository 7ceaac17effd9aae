package ui

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/httpkit"
)

const reviewsPageSize = 25

// reviewRow is one review in the list.
type reviewRow struct {
	*review.Review
	What string // the scope, in words
	When string // the period, in words
}

type reviewsData struct {
	Reviews   []reviewRow
	Pager     pager
	Period    periodForm
	Scope     scopeForm
	Resources []string // the scope picker's resources
	Overseer  bool     // may review everything and anyone
	Presets   []preset
}

// GET /reviews: the reviews the viewer may read, newest first, and the
// form that starts a report. Package review decides who may (admins,
// reviewers, approvers for their resources) and refuses everyone else.
func (u *UI) reviews(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "cursor"); err != nil {
		return err
	}
	v := u.newView(c, "Access reviews", "reviews")
	revs, next, err := u.over.Reviews.List(c.Request().Context(), v.Me.Principal, reviewsPageSize, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	_, pf, err := u.readPeriod(c.QueryParam, 30)
	if err != nil {
		return err
	}
	d := reviewsData{Pager: pagerFor(c, next), Period: pf, Scope: u.readScope(c.QueryParam, v.Me), Resources: u.scopeResources(v.Me),
		Overseer: v.Me.Overseer, Presets: u.presets(c, "/reviews/report", pf)}
	for _, r := range revs {
		d.Reviews = append(d.Reviews, reviewRow{Review: r, What: scopeLabel(r.Scope), When: periodLabel(r.Period)})
	}
	v.Data = d
	return u.render(c, http.StatusOK, "reviews", v)
}
