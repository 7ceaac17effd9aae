package app

import "github.com/jitaccess/jitaccess/scim"

// wireSCIM mounts the SCIM 2.0 directory at /scim/v2 (docs/directory.md),
// behind the bearer-token middleware; only service tokens with scope
// "scim" get through.
func (a *App) wireSCIM() error {
	h, err := scim.New(a.Service, a.Logger)
	if err != nil {
		return err
	}
	h.Register(a.Web.Echo(), a.Web.Authenticate)
	return nil
}
