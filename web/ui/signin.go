package ui

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// signInData is the sign-in page.
type signInData struct {
	Next      string
	OIDC      bool
	OIDCName  string
	DemoUsers []DemoUser
	FormToken string
	Failure   string
}

// GET /sign-in
func (u *UI) signInPage(c echo.Context) error {
	next := localPath(c.QueryParam("next"), "/")
	// Already signed in: go on.
	if secret := cookieValue(c, sessionCookie); secret != "" {
		_, _, err := u.auth.Session(c.Request().Context(), secret, u.now())
		if err == nil {
			return c.Redirect(http.StatusSeeOther, next)
		}
		if errors.Is(err, identity.ErrDeactivated) {
			clearCookie(c, sessionCookie)
			return u.renderSignIn(c, http.StatusOK, next, workflow.ErrorMessage(err))
		}
	}
	return u.renderSignIn(c, http.StatusOK, next, "")
}

func (u *UI) renderSignIn(c echo.Context, status int, next, failure string) error {
	v := u.newView(c, "Sign in", "")
	d := signInData{Next: next, DemoUsers: u.cfg.DemoUsers, Failure: failure}
	if u.oidc != nil {
		d.OIDC, d.OIDCName = true, u.oidc.cfg.Name
	}
	if len(d.DemoUsers) > 0 {
		d.FormToken = u.preSessionToken(c)
	}
	v.Data = d
	return u.render(c, status, "signin", v)
}
