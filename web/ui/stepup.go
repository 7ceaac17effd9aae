package ui

import (
	"io"
	"net/http"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// Step-up. A form whose action needs a second factor carries
// data-step-up; static/mfa.js stops it, asks POST /mfa/options what to
// do, proves a passkey (navigator.credentials.get, then POST /mfa/verify)
// or signs in again at the provider, and then sends the very form, so
// that one click does it. Which actions need it, and how fresh, are the
// service's rules (workflow.Service, require_mfa, --mfa-max-age); these
// handlers only prove the factor, and the service judges the form.

// stepUpOptions is what POST /mfa/options answers: Fresh when this
// session's second factor is fresh enough already; else PublicKey (the
// assertion options of the person's passkeys), or OIDC, where to sign in
// again when they have none and single sign-on is on.
type stepUpOptions struct {
	Fresh     bool                                        `json:"fresh,omitempty"`
	PublicKey *protocol.PublicKeyCredentialRequestOptions `json:"publicKey,omitempty"`
	OIDC      string                                      `json:"oidc,omitempty"`
}

// POST /mfa/options (JSON, ?next=PATH for a sign-in step-up)
func (u *UI) stepUpOptions(c echo.Context) error {
	ctx := c.Request().Context()
	v := u.viewerOf(c)
	maxAge := u.svc.MFAMaxAge()
	// Fresh for a while yet: the form is sent before the factor lapses.
	if workflow.MFAFresh(v.Principal, u.now().Add(min(maxAge/4, 30e9)), maxAge) {
		return c.JSON(http.StatusOK, stepUpOptions{Fresh: true})
	}
	var keys []identity.Passkey
	if u.passkeys() != nil {
		var err error
		if keys, err = u.passkeys().Passkeys(ctx, v.Email); err != nil {
			return err
		}
	}
	if len(keys) == 0 {
		if u.oidc != nil {
			return c.JSON(http.StatusOK, stepUpOptions{OIDC: "/sign-in/oidc?step_up=1&next=" + url.QueryEscape(localPath(c.QueryParam("next"), "/"))})
		}
		return workflow.Errorf(workflow.CodeInvalidState, "this needs a second factor, and you have no passkey: register one on your account page (/account) first")
	}
	rp, err := u.relyingParty(c)
	if err != nil {
		return err
	}
	user, err := newPasskeyUser(v.Email, keys)
	if err != nil {
		return err
	}
	assertion, sd, err := rp.BeginLogin(user, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return workflow.Internal(err, "start a passkey check")
	}
	cer, err := ceremonyData(identity.CeremonyStepUp, sd)
	if err != nil {
		return err
	}
	if err := u.passkeys().SetCeremony(ctx, v.Session.ID, cer); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, stepUpOptions{PublicKey: &assertion.Response})
}

// POST /mfa/verify (JSON: the browser's PublicKeyCredential): proves one
// of the person's own passkeys against this session's challenge, which is
// used up whatever the outcome. A refusal (no challenge, a challenge used
// twice, a forged or replayed assertion, a wrong origin, another person's
// passkey) is audited as a failed step-up.
func (u *UI) stepUpVerify(c echo.Context) error {
	ctx := c.Request().Context()
	v := u.viewerOf(c)
	err := u.verifyAssertion(c, v)
	if err != nil && workflow.ErrorCode(err) != workflow.CodeInternal && workflow.ErrorCode(err) != workflow.CodeUnavailable {
		if aerr := u.passkeys().AuditStepUpFailed(ctx, v.Email, workflow.ErrorMessage(err), u.now()); aerr != nil {
			return aerr
		}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"ok": true})
}

func (u *UI) verifyAssertion(c echo.Context, v *viewer) error {
	ctx := c.Request().Context()
	if u.passkeys() == nil {
		return workflow.Errorf(workflow.CodeInvalidState, "passkeys are not set up on this server")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 64<<10))
	if err != nil {
		return workflow.Errorf(workflow.CodeInvalid, "the request body could not be read")
	}
	sd, err := u.takeCeremony(c, identity.CeremonyStepUp)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return &workflow.Error{Code: workflow.CodeInvalid, Message: "the browser's answer is not a passkey assertion", Err: err}
	}
	keys, err := u.passkeys().Passkeys(ctx, v.Email)
	if err != nil {
		return err
	}
	user, err := newPasskeyUser(v.Email, keys)
	if err != nil {
		return err
	}
	if _, ok := user.passkeyOf(parsed.RawID); !ok {
		return workflow.Errorf(workflow.CodeForbidden, "that passkey is not one of yours (%s): use your own", v.Email)
	}
	rp, err := u.relyingParty(c)
	if err != nil {
		return err
	}
	cred, err := rp.ValidateLogin(user, sd, parsed)
	if err != nil {
		return webauthnRefusal(err, "the passkey check failed")
	}
	if cred.Authenticator.CloneWarning {
		return workflow.Errorf(workflow.CodeForbidden, "the passkey check failed: its signature counter went backwards, so the passkey may have been copied")
	}
	pk, _ := user.passkeyOf(cred.ID)
	raw, err := jsonMarshal(cred)
	if err != nil {
		return err
	}
	pk.SignCount, pk.Credential = cred.Authenticator.SignCount, raw
	return u.passkeys().UsePasskey(ctx, v.Session.ID, pk, u.now())
}

// mfaRoutes are the account page and the step-up endpoints. The JSON
// ones answer errors in the API's shape (no htmlErrors) and take the
// CSRF token in the X-CSRF-Token header.
func (u *UI) mfaRoutes(e *echo.Echo, page, action []echo.MiddlewareFunc) {
	jsonAction := []echo.MiddlewareFunc{u.requireSession, u.requireKnown, u.checkCSRF}
	e.POST("/mfa/options", u.stepUpOptions, jsonAction...)
	if u.passkeys() == nil {
		return
	}
	e.POST("/mfa/verify", u.stepUpVerify, jsonAction...)
	e.GET("/account", u.account, page...)
	e.POST("/account/passkeys/options", u.passkeyOptions, jsonAction...)
	e.POST("/account/passkeys", u.registerPasskey, jsonAction...)
	e.POST("/account/passkeys/:id/rename", u.renamePasskey, action...)
	e.POST("/account/passkeys/:id/remove", u.removePasskey, action...)
}
