// Package identity is who is signed in and how: web sessions, OpenID
// Connect sign-ins in flight and API tokens, with their rules (scopes,
// expiry, idle timeout, what is purged when, who counts as active). It
// knows no SQL and no HTTP: store/ persists these types through the
// interfaces below, and web/ calls the Authenticator.
//
// Authorization is never stored with an identity: what a principal may do
// is decided by the policy in force and the directory, on every request.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Audit actions of sessions and tokens.
const (
	ActionSignIn        = "session.sign_in"
	ActionSignOut       = "session.sign_out"
	ActionSessionRevoke = "session.revoke"
	ActionTokenCreate   = workflow.ActionTokenCreate
	ActionTokenRevoke   = workflow.ActionTokenRevoke
)

// SessionStore persists web sessions and sign-ins in flight (store.DB).
// Each method that changes who is signed in audits it in the same
// transaction.
type SessionStore interface {
	// CreateSession stores a new session (ns is validated first, see
	// NewSession.Validate), purges what PurgeCutoffs says is over, audits
	// ActionSignIn, and returns the browser's secret, which is not kept.
	CreateSession(ctx context.Context, ns NewSession, now time.Time, idle time.Duration) (string, Session, error)
	// LookupSession returns the live session whose secret is given, or
	// ErrNoSession (a session found over is deleted).
	LookupSession(ctx context.Context, secret string, now time.Time, idle time.Duration) (Session, error)
	// TouchSession records that the session was used at now.
	TouchSession(ctx context.Context, id string, now time.Time) error
	// SetSessionTimeZone remembers the viewer's time zone (an IANA name
	// that SessionTimeZone accepted) in the session.
	SetSessionTimeZone(ctx context.Context, id, zone string) error
	// EndSession signs one session out (ActionSignOut by its owner);
	// ending a session that is gone is not an error.
	EndSession(ctx context.Context, s Session, now time.Time) error
	// EndSessionsOf signs a person out everywhere on an admin's request
	// (ActionSessionRevoke by actor) and returns how many sessions ended.
	EndSessionsOf(ctx context.Context, email, actor string, now time.Time) (int, error)
	// RevokeSessions is EndSessionsOf with the reason given, for endings
	// jitaccess decides itself (actor "system").
	RevokeSessions(ctx context.Context, email, actor, reason string, now time.Time) (int, error)
	// ListSessions returns one page of the sessions live at now, most
	// recently used first, at most limit (DefaultListLimit when 0), after
	// cursor ("" for the first page), and the next page's cursor ("" on
	// the last).
	ListSessions(ctx context.Context, now time.Time, idle time.Duration, limit int, cursor string) ([]Session, string, error)
	// StartLoginFlow stores a sign-in in flight and returns the secret for
	// the browser's cookie.
	StartLoginFlow(ctx context.Context, f LoginFlow, now time.Time) (string, error)
	// TakeLoginFlow returns and deletes the flow of the secret, so that it
	// is finished at most once; ErrFlowGone when unknown, used or expired.
	TakeLoginFlow(ctx context.Context, secret string, now time.Time) (LoginFlow, error)
}

// DefaultListLimit is the page size of the token and session listings
// when none is asked for; MaxListLimit the largest page.
const (
	DefaultListLimit = 100
	MaxListLimit     = 500
)

// TokenLookup finds API tokens by their secret (store.DB).
type TokenLookup interface {
	// LookupToken returns the live token whose secret is given, or
	// ErrBadToken.
	LookupToken(ctx context.Context, secret string, now time.Time) (Token, error)
	// TouchToken records that a token was used.
	TouchToken(ctx context.Context, id string, now time.Time) error
}

// TokenStore persists API tokens (store.DB).
type TokenStore interface {
	TokenLookup
	// CreateToken stores a new token (nt is validated first, see
	// NewToken.Validate), audits ActionTokenCreate and returns its secret,
	// shown once.
	CreateToken(ctx context.Context, nt NewToken, now time.Time) (string, Token, error)
	// ListTokens returns one page of the tokens, newest first, without
	// secrets: at most limit (DefaultListLimit when 0), after cursor (""
	// for the first page), and the next page's cursor ("" on the last).
	ListTokens(ctx context.Context, limit int, cursor string) ([]Token, string, error)
	// RevokeToken revokes a token by id and audits ActionTokenRevoke:
	// CodeNotFound for an unknown id, CodeInvalidState when it was already
	// revoked.
	RevokeToken(ctx context.Context, id, actor string, now time.Time) error
}

// NewSecret returns 256 random bits, base64url-encoded.
func NewSecret() (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", workflow.Internal(err, "cannot generate a secret")
	}
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// HashSecret is what is kept of a secret: its SHA-256. Secrets are 256
// random bits, so a fast hash is enough.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
