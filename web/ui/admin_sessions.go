package ui

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

type sessionsData struct {
	Sessions []identity.Session
	Pager    pager
	Idle     string
	Max      string
}

// GET /sessions?limit=&cursor= (admins): who is signed in to the web UI,
// one page at a time (limit 1..500, default 100).
func (u *UI) sessions(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "limit", "cursor"); err != nil {
		return err
	}
	limit, err := httpkit.QueryLimit(c)
	if err != nil {
		return err
	}
	v := u.newView(c, "Sessions", "sessions")
	list, next, err := u.cfg.Sessions.ListSessions(c.Request().Context(), v.Now, u.cfg.SessionIdle, limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	v.Data = sessionsData{Sessions: list, Pager: pagerFor(c, next), Idle: humanDuration(u.cfg.SessionIdle), Max: humanDuration(u.cfg.SessionMax)}
	return u.render(c, http.StatusOK, "sessions", v)
}

// POST /sessions/end (admins): sign a person out everywhere, at once.
func (u *UI) endSessions(c echo.Context) error {
	email := workflow.NormalizeEmail(c.FormValue("email"))
	if email == "" {
		return workflow.Errorf(workflow.CodeInvalid, "email is required")
	}
	n, err := u.cfg.Sessions.EndSessionsOf(c.Request().Context(), email, u.viewerOf(c).Email, u.now())
	if err != nil {
		return err
	}
	u.setFlash(c, "success", fmt.Sprintf("Signed %s out of %s.", email, plural(n, "session", "sessions")))
	return c.Redirect(http.StatusSeeOther, "/sessions")
}
