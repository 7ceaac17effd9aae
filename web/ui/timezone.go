package ui

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
)

// POST /account/time-zone (zone=Europe/Paris, csrf_token)
//
// app.js sends the browser's time zone when the page was not drawn in it;
// the session remembers it, and later pages show times in it from the
// server. A name the zone database does not know is 400.
func (u *UI) setTimeZone(c echo.Context) error {
	loc, err := identity.SessionTimeZone(c.FormValue("zone"))
	if err != nil {
		return err
	}
	v := u.viewerOf(c)
	if err := u.cfg.Sessions.SetSessionTimeZone(c.Request().Context(), v.Session.ID, loc.String()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// zoneOf is the viewer's time zone as their session remembers it, or UTC.
func (u *UI) zoneOf(c echo.Context) *time.Location {
	if v := u.viewerOf(c); v != nil {
		if loc, err := identity.SessionTimeZone(v.Session.TimeZone); err == nil {
			return loc
		}
	}
	return time.UTC
}
