package identity

import (
	"context"
	"errors"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Resolver judges a principal against the directory: with its directory
// groups, or disabled when the directory has deactivated or deleted the
// person (workflow.Service.Resolve).
type Resolver interface {
	Resolve(ctx context.Context, who workflow.Principal) (workflow.Principal, error)
}

// ErrDeactivated is the cause of CheckActive's refusals (errors.Is).
var ErrDeactivated = errors.New("deactivated in the directory")

// CheckActive is the rule that a person the directory has deactivated or
// deleted may not hold a session or use a token: it returns
// CodeUnauthenticated (wrapping ErrDeactivated) for them, nil for everyone
// else (services, people the directory does not know or has active).
func CheckActive(who workflow.Principal) error {
	if who.IsUser() && !who.Active() {
		return &workflow.Error{Code: workflow.CodeUnauthenticated, Message: who.Email + " is deactivated in the directory", Err: ErrDeactivated}
	}
	return nil
}

// Authenticator turns secrets into principals, judged once, at the start
// of a request, against the directory: the principal it returns is the
// snapshot of the person every use case of that request decides with.
type Authenticator struct {
	Sessions  SessionStore // nil without the web UI
	Tokens    TokenLookup
	Directory Resolver
	// Idle ends a session unused for this long; 0: no idle timeout.
	Idle time.Duration
	// GroupsMaxAge is how long a session's groups claim counts (0: for
	// the whole session).
	GroupsMaxAge time.Duration
}

// Token returns the token of secret and who it acts as. An unknown,
// revoked or expired token, and a user token of a person the directory
// has deactivated, are CodeUnauthenticated.
func (a *Authenticator) Token(ctx context.Context, secret string, now time.Time) (Token, workflow.Principal, error) {
	tok, err := a.Tokens.LookupToken(ctx, secret, now)
	if err != nil {
		return Token{}, workflow.Principal{}, err
	}
	who, err := a.Directory.Resolve(ctx, tok.Principal())
	if err != nil {
		return Token{}, workflow.Principal{}, err
	}
	if err := CheckActive(who); err != nil {
		return Token{}, workflow.Principal{}, err
	}
	return tok, who, nil
}

// Session returns the live session of secret and who it acts as at now:
// its claim groups only while they are at most GroupsMaxAge old, joined
// with the directory's. When the directory has deactivated the person,
// every session of theirs is ended (ActionSessionRevoke by system, with
// the reason) and the error (CodeUnauthenticated) says why.
func (a *Authenticator) Session(ctx context.Context, secret string, now time.Time) (Session, workflow.Principal, error) {
	s, err := a.Sessions.LookupSession(ctx, secret, now, a.Idle)
	if err != nil {
		return Session{}, workflow.Principal{}, err
	}
	who, err := a.Directory.Resolve(ctx, s.PrincipalAt(now, a.GroupsMaxAge))
	if err != nil {
		return Session{}, workflow.Principal{}, err
	}
	if refusal := CheckActive(who); refusal != nil {
		if _, err := a.Sessions.RevokeSessions(ctx, s.Email, workflow.System.Name(), workflow.ErrorMessage(refusal), now); err != nil {
			return Session{}, workflow.Principal{}, err
		}
		return Session{}, workflow.Principal{}, refusal
	}
	return s, who, nil
}

// SignIn starts a session for a verified identity, unless the directory
// has deactivated the person (CodeUnauthenticated, nothing stored). The
// claim groups in ns are recorded as read at now.
func (a *Authenticator) SignIn(ctx context.Context, ns NewSession, now time.Time) (string, Session, error) {
	if err := ns.Validate(); err != nil {
		return "", Session{}, err
	}
	who := workflow.User(ns.Email)
	who.Groups = ns.Groups
	who, err := a.Directory.Resolve(ctx, who)
	if err != nil {
		return "", Session{}, err
	}
	if err := CheckActive(who); err != nil {
		return "", Session{}, err
	}
	return a.Sessions.CreateSession(ctx, ns, now, a.Idle)
}
