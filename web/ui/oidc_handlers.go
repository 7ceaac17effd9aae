package ui

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// loginFlowTTL is how long a person has to finish signing in at the
// provider.
const loginFlowTTL = identity.LoginFlowTTL

// GET /sign-in/oidc?next=PATH starts a sign-in: it stores state, nonce and
// PKCE verifier server-side under a fresh cookie, then sends the browser
// to the provider.
func (u *UI) oidcStart(c echo.Context) error {
	ctx := c.Request().Context()
	state, err := randomToken()
	if err != nil {
		return err
	}
	nonce, err := randomToken()
	if err != nil {
		return err
	}
	verifier := oauth2.GenerateVerifier()
	target, err := u.oidc.authURL(ctx, state, nonce, verifier, c.QueryParam("step_up") == "1")
	if err != nil {
		return u.signInFailed(c, err)
	}
	now := u.now()
	secret, err := u.cfg.Sessions.StartLoginFlow(ctx, identity.LoginFlow{State: state, Nonce: nonce, PKCEVerifier: verifier,
		ReturnTo: localPath(c.QueryParam("next"), "/"), ExpiresAt: now.Add(loginFlowTTL)}, now)
	if err != nil {
		return err
	}
	setCookie(c, flowCookie, secret, loginFlowTTL)
	return c.Redirect(http.StatusFound, target)
}

// GET /auth/callback?code=...&state=... finishes it. The flow is taken
// (and deleted) first, so that a callback works at most once, and only in
// the browser that started it.
func (u *UI) oidcCallback(c echo.Context) error {
	ctx := c.Request().Context()
	secret := cookieValue(c, flowCookie)
	clearCookie(c, flowCookie)
	flow, err := u.cfg.Sessions.TakeLoginFlow(ctx, secret, u.now())
	if err != nil {
		return u.signInFailed(c, err)
	}
	if e := c.QueryParam("error"); e != "" {
		desc := c.QueryParam("error_description")
		desc = workflow.Clip(desc, 200)
		return u.signInFailed(c, refused(nil, "the identity provider said %s %s", e, desc))
	}
	if !tokensEqual(c.QueryParam("state"), flow.State) {
		return u.signInFailed(c, refused(nil, "the answer does not match this sign-in (state mismatch); start again"))
	}
	code := c.QueryParam("code")
	if code == "" {
		return u.signInFailed(c, refused(nil, "the identity provider sent no code"))
	}
	id, err := u.oidc.finish(ctx, code, flow.Nonce, flow.PKCEVerifier)
	if err != nil {
		return u.signInFailed(c, err)
	}
	return u.signIn(c, identity.NewSession{Email: id.Email, Groups: id.Groups, AMR: id.AMR, ACR: id.ACR, AuthTime: id.AuthTime, Method: identity.SessionOIDC}, flow.ReturnTo)
}

// signInFailed shows the sign-in page with why, and logs the cause. The
// messages are jitaccess's own; for an unreachable or misconfigured
// provider they say so (the generic "unavailable" would not help anyone).
func (u *UI) signInFailed(c echo.Context, err error) error {
	code := workflow.ErrorCode(err)
	status := httpkit.Status(code)
	msg := workflow.ErrorMessage(err)
	var we *workflow.Error
	switch {
	case code == workflow.CodeUnauthenticated:
		status = http.StatusBadRequest
	case code == workflow.CodeUnavailable && errors.As(err, &we):
		msg = we.Message
	}
	u.log.Warn("sign-in failed", "client", c.RealIP(), "err", err)
	return u.renderSignIn(c, status, "/", msg)
}
