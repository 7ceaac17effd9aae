package app

import (
	"context"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/scim"
	"github.com/jitaccess/jitaccess/workflow"
)

// wireSCIM mounts the SCIM 2.0 directory at /scim/v2 (docs/directory.md),
// behind the bearer-token middleware; only service tokens with scope
// "scim" get through. A person the directory deactivates or deletes is
// signed out of every web session at once, not only on their next click.
func (a *App) wireSCIM() error {
	h, err := scim.New(a.Service, a.Logger)
	if err != nil {
		return err
	}
	h.Register(a.Web.Echo(), a.Web.Authenticate)
	a.Service.OnDirectoryChange(a.endSessionsOfDisabled)
	return nil
}

// endSessionsOfDisabled ends the web sessions of the people among emails
// whom the directory now disables, audited as the system's session.revoke.
func (a *App) endSessionsOfDisabled(emails []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, email := range emails {
		who, err := a.Service.Resolve(ctx, workflow.User(email))
		if err != nil {
			a.Logger.Warn("directory change: resolve", "email", email, "err", err)
			continue
		}
		if identity.CheckActive(who) == nil {
			continue
		}
		reason := workflow.ErrorMessage(identity.CheckActive(who))
		if _, err := a.DB.RevokeSessions(ctx, email, workflow.System.Name(), reason, time.Now().UTC()); err != nil {
			a.Logger.Warn("directory change: end the sessions of a deactivated person", "email", email, "err", err)
		}
	}
}
