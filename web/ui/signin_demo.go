package ui

import (
	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// POST /sign-in/demo: only registered with serve --demo. Anyone may sign
// in as any demo user, which is the point of the demo and the reason it
// never runs otherwise.
func (u *UI) demoSignIn(c echo.Context) error {
	if err := u.checkPreSessionCSRF(c); err != nil {
		return err
	}
	email := workflow.NormalizeEmail(c.FormValue("email"))
	for _, d := range u.cfg.DemoUsers {
		if workflow.NormalizeEmail(d.Email) == email {
			return u.signIn(c, identity.NewSession{Email: email, Method: identity.SessionDemo}, c.FormValue("next"))
		}
	}
	return workflow.Errorf(workflow.CodeInvalid, "%q is not one of the demo users", email)
}
