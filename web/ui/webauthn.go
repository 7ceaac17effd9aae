package ui

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// Passkeys (WebAuthn), through go-webauthn: it makes the challenges and
// verifies attestations and assertions (origin, relying party, signature,
// user verification, sign count); jitaccess keeps the ceremony of each
// session server-side (identity.Ceremony, used once) and the credentials
// (identity.Passkey).

// passkeyUser is a person as go-webauthn sees them. The user handle is the
// SHA-256 of the email, not the email itself: authenticators keep it.
type passkeyUser struct {
	email string
	keys  []identity.Passkey
	creds []webauthn.Credential
}

func newPasskeyUser(email string, keys []identity.Passkey) (*passkeyUser, error) {
	u := &passkeyUser{email: email, keys: keys}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Credential, &c); err != nil {
			return nil, workflow.Internal(err, "read a stored passkey")
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

func (p *passkeyUser) WebAuthnID() []byte {
	h := sha256.Sum256([]byte(workflow.NormalizeEmail(p.email)))
	return h[:]
}
func (p *passkeyUser) WebAuthnName() string                       { return p.email }
func (p *passkeyUser) WebAuthnDisplayName() string                { return p.email }
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// passkeyOf returns the stored passkey of credential id, if it is p's.
func (p *passkeyUser) passkeyOf(id []byte) (identity.Passkey, bool) {
	enc := base64.RawURLEncoding.EncodeToString(id)
	for _, k := range p.keys {
		if k.ID == enc {
			return k, true
		}
	}
	return identity.Passkey{}, false
}

// relyingParty is the WebAuthn relying party for this request: the public
// URL's host and origin (--public-url), or without one the request's own
// (as for CSRF, see originAllowed). Browsers refuse an IP address as a
// relying party id, so that is refused here with what to do instead.
func (u *UI) relyingParty(c echo.Context) (*webauthn.WebAuthn, error) {
	origin := u.cfg.PublicURL
	if origin == "" {
		origin = c.Scheme() + "://" + c.Request().Host
	}
	o, err := url.Parse(origin)
	if err != nil || o.Hostname() == "" {
		return nil, workflow.Errorf(workflow.CodeInvalid, "cannot tell this site's address for passkeys")
	}
	if net.ParseIP(o.Hostname()) != nil {
		return nil, workflow.Errorf(workflow.CodeInvalidState,
			"passkeys need a host name, not the IP address %s: open jitaccess at %s://localhost:%s or its public URL", o.Hostname(), o.Scheme, o.Port())
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID: o.Hostname(), RPDisplayName: "jitaccess", RPOrigins: []string{o.Scheme + "://" + o.Host},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationRequired},
	})
	if err != nil {
		return nil, workflow.Internal(err, "set up passkeys")
	}
	return w, nil
}

// ceremonyData encodes go-webauthn's session data for the session row.
func ceremonyData(kind string, sd *webauthn.SessionData) (identity.Ceremony, error) {
	b, err := json.Marshal(sd)
	if err != nil {
		return identity.Ceremony{}, workflow.Internal(err, "encode a passkey challenge")
	}
	return identity.Ceremony{Kind: kind, Data: b}, nil
}

// takeCeremony takes this session's ceremony of kind; none, or one of
// another kind, is refused (a challenge used twice, or never asked for).
func (u *UI) takeCeremony(c echo.Context, kind string) (webauthn.SessionData, error) {
	v := u.viewerOf(c)
	cer, ok, err := u.passkeys().TakeCeremony(c.Request().Context(), v.Session.ID)
	if err != nil {
		return webauthn.SessionData{}, err
	}
	if !ok || cer.Kind != kind {
		return webauthn.SessionData{}, workflow.Errorf(workflow.CodeInvalidState,
			"no passkey check is in progress in this session, or its challenge was used already; try again")
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(cer.Data, &sd); err != nil {
		return webauthn.SessionData{}, workflow.Internal(err, "read a passkey challenge")
	}
	return sd, nil
}

// webauthnRefusal turns go-webauthn's refusal into what the person is
// told: its short details, never its debugging information.
func webauthnRefusal(err error, what string) error {
	msg := what
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		msg += ": " + strings.TrimSuffix(pe.Details, ".")
	}
	return &workflow.Error{Code: workflow.CodeForbidden, Message: msg, Err: err}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, workflow.Internal(err, "encode a passkey")
	}
	return b, nil
}
