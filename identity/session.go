package identity

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Web UI sessions live in the database, not in the cookie: the browser
// holds a random 256-bit secret, the store keeps its SHA-256 and who it
// belongs to. Deleting the session signs the person out on their next
// click, wherever they are.

// Session sign-in methods.
const (
	SessionOIDC = "oidc"
	SessionDemo = "demo"
)

// Limits on what a session keeps of the browser and the provider.
const (
	maxACR       = 200
	maxClientIP  = 64
	maxUserAgent = 300
)

// Session is a signed-in browser.
type Session struct {
	ID     string // public id, safe to show to admins
	Email  string
	Groups []string // groups asserted by the identity provider at sign-in
	// GroupsAt is when Groups were read from the provider (sign-in).
	GroupsAt   time.Time
	AMR        []string
	ACR        string
	Method     string
	CSRFToken  string
	ClientIP   string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
	// MFAAt is when a passkey was last proved in this session (zero for
	// never); AuthTime the provider's auth_time at an OpenID Connect
	// sign-in (zero when it sent none). See MFA.
	MFAAt    time.Time
	AuthTime time.Time
	// TimeZone is the viewer's IANA time zone as their browser reported
	// it (SessionTimeZone checks it), "" until it has; pages show times
	// in it.
	TimeZone string
}

// SessionTimeZone returns the zone named name (IANA, such as
// Europe/Paris), for a session to remember. Names the zone database does
// not know, and "Local" (the server's own zone, not the viewer's), are
// refused.
func SessionTimeZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > 64 {
		return nil, workflow.Errorf(workflow.CodeInvalid, "time zone %q is not an IANA time zone name such as Europe/Paris", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, workflow.Errorf(workflow.CodeInvalid, "time zone %q is not an IANA time zone name such as Europe/Paris", name)
	}
	return loc, nil
}

// Principal is who the session acts as, with the identity provider's
// groups as they were read at sign-in, however old. Decisions use
// PrincipalAt, which drops them once they are stale.
func (s Session) Principal() workflow.Principal {
	p := workflow.User(s.Email)
	p.Groups, p.AMR, p.ACR = slices.Clone(s.Groups), s.AMR, s.ACR
	p.Auth = workflow.AuthSession
	p.MFA, p.MFAAt = s.MFA()
	return p
}

// StrongAMR are the OpenID Connect amr values (RFC 8176) that count as a
// second factor: a multi-factor sign-in, a hardware key, a one-time
// password, a software key, a fingerprint.
var StrongAMR = []string{"mfa", "hwk", "otp", "swk", "fpt"}

// StrongAMR reports whether amr names a strong method.
func strongAMR(amr []string) bool {
	for _, m := range amr {
		if slices.Contains(StrongAMR, strings.ToLower(m)) {
			return true
		}
	}
	return false
}

// MFA is how this session proved a second factor, and when: the latest of
// a passkey assertion in it (MFAWebAuthn) and an OpenID Connect sign-in
// whose amr names a strong method, at its auth_time (MFAOIDC); MFANone
// and the zero time otherwise. Whether it is fresh enough is the
// service's rule (workflow.Service, --mfa-max-age).
func (s Session) MFA() (string, time.Time) {
	how, at := workflow.MFANone, time.Time{}
	if s.Method == SessionOIDC && !s.AuthTime.IsZero() && strongAMR(s.AMR) {
		how, at = workflow.MFAOIDC, s.AuthTime
	}
	if !s.MFAAt.IsZero() && s.MFAAt.After(at) {
		how, at = workflow.MFAWebAuthn, s.MFAAt
	}
	return how, at
}

// GroupsStale reports whether the session's groups claim is older than
// maxAge at now, so that those groups no longer count. A session without
// claim groups, or maxAge 0 (no limit), is never stale.
func (s Session) GroupsStale(now time.Time, maxAge time.Duration) bool {
	return len(s.Groups) > 0 && maxAge > 0 && now.Sub(s.GroupsAt) > maxAge
}

// PrincipalAt is who the session acts as at now: its claim groups count
// for this session alone and only while they are at most maxAge old; after
// that the principal carries no claim groups (the policy file's and the
// directory's groups still apply) until the person signs in again.
func (s Session) PrincipalAt(now time.Time, maxAge time.Duration) workflow.Principal {
	p := s.Principal()
	if s.GroupsStale(now, maxAge) {
		p.Groups = nil
	}
	return p
}

// IdleExpiry is when the session ends if it is not used again.
func (s Session) IdleExpiry(idle time.Duration) time.Time {
	if idle <= 0 {
		return s.ExpiresAt
	}
	if t := s.LastSeenAt.Add(idle); t.Before(s.ExpiresAt) {
		return t
	}
	return s.ExpiresAt
}

// LiveAt reports whether the session is still live at now: before its
// absolute expiry and used within idle.
func (s Session) LiveAt(now time.Time, idle time.Duration) bool {
	return now.Before(s.IdleExpiry(idle))
}

// PurgeCutoffs says what is over at now: sessions whose absolute expiry is
// at or before expiredBy, sessions last used at or before idleBy (zero
// when there is no idle timeout), and sign-ins in flight whose expiry is
// at or before expiredBy. A session is live exactly when it is past
// neither cutoff.
func PurgeCutoffs(now time.Time, idle time.Duration) (expiredBy, idleBy time.Time) {
	if idle > 0 {
		idleBy = now.Add(-idle)
	}
	return now, idleBy
}

// NewSession describes a session to create.
type NewSession struct {
	Email     string
	Groups    []string
	AMR       []string
	ACR       string
	Method    string
	ClientIP  string
	UserAgent string
	TTL       time.Duration // absolute lifetime
	// AuthTime is the provider's auth_time claim (zero when absent).
	AuthTime time.Time
}

// Validate normalizes ns (email, lengths) and checks it: an email address,
// a known method, a positive lifetime. Errors are CodeInvalid.
func (ns *NewSession) Validate() error {
	ns.Email = workflow.NormalizeEmail(ns.Email)
	if !strings.Contains(ns.Email, "@") {
		return workflow.Errorf(workflow.CodeInvalid, "%q is not an email address", ns.Email)
	}
	if ns.Method != SessionOIDC && ns.Method != SessionDemo {
		return workflow.Errorf(workflow.CodeInvalid, "unknown sign-in method %q", ns.Method)
	}
	if ns.TTL <= 0 {
		return workflow.Errorf(workflow.CodeInvalid, "a session needs a positive lifetime")
	}
	ns.ACR, ns.ClientIP, ns.UserAgent = workflow.Clip(ns.ACR, maxACR), workflow.Clip(ns.ClientIP, maxClientIP), workflow.Clip(ns.UserAgent, maxUserAgent)
	return nil
}

// SignInReason is the audit reason of the sign-in ns describes.
func (ns NewSession) SignInReason() string {
	how := ns.Method + " sign-in"
	if len(ns.AMR) > 0 {
		how += " (amr " + strings.Join(ns.AMR, ",") + ")"
	}
	if ns.ACR != "" {
		how += " (acr " + workflow.Clip(ns.ACR, maxACR) + ")"
	}
	return how + " from " + workflow.Clip(ns.ClientIP, maxClientIP)
}

// RevokeReason is the audit reason of an admin signing someone out.
func RevokeReason(n int, actor string) string {
	return fmt.Sprintf("signed out of %d session(s) by %s", n, actor)
}

// ErrNoSession is what every failed session lookup says, whatever the
// reason (CodeUnauthenticated).
func ErrNoSession() error {
	return workflow.Errorf(workflow.CodeUnauthenticated, "you are not signed in, or your session has ended")
}

// PlausibleSecret reports whether secret could be a session or sign-in
// secret at all (it is then looked up).
func PlausibleSecret(secret string) bool { return secret != "" && len(secret) <= 100 }

// LoginFlow is an OpenID Connect sign-in in flight.
type LoginFlow struct {
	State        string
	Nonce        string
	PKCEVerifier string
	ReturnTo     string
	ExpiresAt    time.Time
}

// LoginFlowTTL is how long a person has to finish signing in at the
// provider.
const LoginFlowTTL = 10 * time.Minute

// ErrFlowGone is what finishing an unknown, used or expired sign-in says
// (CodeUnauthenticated).
func ErrFlowGone() error {
	return workflow.Errorf(workflow.CodeUnauthenticated, "this sign-in has expired or was already used; start again")
}
