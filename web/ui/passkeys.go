package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// The account page: a person's passkeys. Registering one runs the
// WebAuthn create ceremony from static/mfa.js (POST
// /account/passkeys/options, then POST /account/passkeys); renaming and
// removing are forms. Registering a further passkey, and removing the
// last one, need a fresh step-up (the forms carry data-step-up): a
// hijacked session must not be able to add its own passkey, or take the
// person's last one away, without the person's.

func (u *UI) passkeys() identity.PasskeyStore { return u.cfg.Passkeys }

type accountData struct {
	Passkeys []identity.Passkey
	MFA      string // how this session proved a second factor, if fresh
	MFAAt    time.Time
	MaxAge   string
	OIDC     bool
}

// GET /account
func (u *UI) account(c echo.Context) error {
	if err := httpkit.CheckQuery(c); err != nil {
		return err
	}
	v := u.newView(c, "Your account", "account")
	keys, err := u.passkeys().Passkeys(c.Request().Context(), v.Me.Email)
	if err != nil {
		return err
	}
	d := accountData{Passkeys: keys, MaxAge: workflow.FormatDuration(u.svc.MFAMaxAge()), OIDC: u.oidc != nil}
	if p := v.Me.Principal; workflow.MFAFresh(p, v.Now, u.svc.MFAMaxAge()) {
		d.MFA, d.MFAAt = p.MFA, p.MFAAt
	}
	v.Data = d
	return u.render(c, http.StatusOK, "account", v)
}

// requireFreshMFA refuses an account change that needs a second factor
// proved within --mfa-max-age (CodeMFARequired), as decisions do.
func (u *UI) requireFreshMFA(c echo.Context, what string) error {
	p := u.viewerOf(c).Principal
	if workflow.MFAFresh(p, u.now(), u.svc.MFAMaxAge()) {
		return nil
	}
	return workflow.Errorf(workflow.CodeMFARequired, "%s needs a passkey check within the last %s: confirm with your passkey", what, workflow.FormatDuration(u.svc.MFAMaxAge()))
}

// POST /account/passkeys/options (JSON): the options of a create
// ceremony, kept in the session.
func (u *UI) passkeyOptions(c echo.Context) error {
	ctx := c.Request().Context()
	v := u.viewerOf(c)
	rp, err := u.relyingParty(c)
	if err != nil {
		return err
	}
	keys, err := u.passkeys().Passkeys(ctx, v.Email)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		if err := u.requireFreshMFA(c, "adding another passkey"); err != nil {
			return err
		}
	}
	if len(keys) >= identity.MaxPasskeys {
		return workflow.Errorf(workflow.CodeInvalidState, "you have %d passkeys, the most one person may register; remove one first", len(keys))
	}
	user, err := newPasskeyUser(v.Email, keys)
	if err != nil {
		return err
	}
	creation, sd, err := rp.BeginRegistration(user, webauthn.WithExclusions(webauthn.Credentials(user.creds).CredentialDescriptors()))
	if err != nil {
		return workflow.Internal(err, "start a passkey registration")
	}
	cer, err := ceremonyData(identity.CeremonyRegister, sd)
	if err != nil {
		return err
	}
	if err := u.passkeys().SetCeremony(ctx, v.Session.ID, cer); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, creation)
}

// registration is what static/mfa.js sends back.
type registration struct {
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// POST /account/passkeys (JSON {name, credential}): finishes the create
// ceremony and keeps the passkey (audited).
func (u *UI) registerPasskey(c echo.Context) error {
	ctx := c.Request().Context()
	v := u.viewerOf(c)
	var in registration
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 64<<10))
	if err != nil || json.Unmarshal(body, &in) != nil || len(in.Credential) == 0 {
		return workflow.Errorf(workflow.CodeInvalid, "send {\"name\": ..., \"credential\": the browser's PublicKeyCredential}")
	}
	sd, err := u.takeCeremony(c, identity.CeremonyRegister)
	if err != nil {
		return err
	}
	keys, err := u.passkeys().Passkeys(ctx, v.Email)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		if err := u.requireFreshMFA(c, "adding another passkey"); err != nil {
			return err
		}
	}
	name, err := identity.CleanPasskeyName(in.Name, fmt.Sprintf("Passkey %d", len(keys)+1))
	if err != nil {
		return err
	}
	rp, err := u.relyingParty(c)
	if err != nil {
		return err
	}
	user, err := newPasskeyUser(v.Email, keys)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		return webauthnRefusal(err, "the browser's answer is not a passkey registration")
	}
	cred, err := rp.CreateCredential(user, sd, parsed)
	if err != nil {
		return webauthnRefusal(err, "the passkey could not be registered")
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return workflow.Internal(err, "encode a passkey")
	}
	pk := identity.Passkey{ID: b64(cred.ID), Email: v.Email, Name: name, PublicKey: b64(cred.PublicKey),
		SignCount: cred.Authenticator.SignCount, Credential: raw}
	if err := u.passkeys().AddPasskey(ctx, pk, u.now()); err != nil {
		return err
	}
	u.setFlash(c, "success", fmt.Sprintf("Passkey %q registered.", name))
	return c.JSON(http.StatusOK, map[string]string{"next": "/account"})
}

// POST /account/passkeys/:id/rename
func (u *UI) renamePasskey(c echo.Context) error {
	v := u.viewerOf(c)
	name, err := identity.CleanPasskeyName(c.FormValue("name"), "")
	if err == nil && name == "" {
		err = workflow.Errorf(workflow.CodeInvalid, "give the passkey a name")
	}
	if err != nil {
		return err
	}
	if err := u.passkeys().RenamePasskey(c.Request().Context(), v.Email, c.Param("id"), name, u.now()); err != nil {
		return err
	}
	u.setFlash(c, "success", fmt.Sprintf("Passkey renamed to %q.", name))
	return c.Redirect(http.StatusSeeOther, "/account")
}

// POST /account/passkeys/:id/remove. Removing the last passkey needs a
// fresh step-up with it.
func (u *UI) removePasskey(c echo.Context) error {
	ctx := c.Request().Context()
	v := u.viewerOf(c)
	keys, err := u.passkeys().Passkeys(ctx, v.Email)
	if err != nil {
		return err
	}
	if len(keys) == 1 && keys[0].ID == c.Param("id") {
		if err := u.requireFreshMFA(c, "removing your last passkey"); err != nil {
			return err
		}
	}
	if err := u.passkeys().RemovePasskey(ctx, v.Email, c.Param("id"), u.now()); err != nil {
		return err
	}
	u.setFlash(c, "success", "Passkey removed.")
	return c.Redirect(http.StatusSeeOther, "/account")
}
