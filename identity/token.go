package identity

import (
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Token kinds.
const (
	TokenUser    = "user"
	TokenService = "service"
)

// TokenPrefix marks jitaccess secrets so that secret scanners can find a
// leaked one.
const TokenPrefix = "jit_"

// Token is an API token as stored: the secret itself is never kept, only
// its hash (HashSecret).
type Token struct {
	ID          string
	Kind        string
	Subject     string // an email for user tokens, a name for service tokens
	Scopes      []string
	Description string
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	RevokedAt   *time.Time
	LastUsedAt  *time.Time
}

// Principal is who the token acts as.
func (t Token) Principal() workflow.Principal {
	if t.Kind == TokenService {
		p := workflow.ServiceAccount(t.Subject, t.Scopes...)
		p.Auth, p.MFA = workflow.AuthToken, workflow.MFANone
		return p
	}
	// A static token proves no second factor.
	p := workflow.User(t.Subject)
	p.Auth, p.MFA = workflow.AuthToken, workflow.MFANone
	return p
}

// LiveAt reports whether the token may be used at now: not revoked, not
// expired.
func (t Token) LiveAt(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// Summary describes the token in the audit log.
func (t Token) Summary() string {
	s := t.Kind + " token " + t.ID
	if len(t.Scopes) > 0 {
		s += " scopes=" + strings.Join(t.Scopes, ",")
	}
	if t.Description != "" {
		s += ": " + t.Description
	}
	return s
}

// NewToken describes a token to create.
type NewToken struct {
	Kind        string
	Subject     string
	Scopes      []string
	Description string
	TTL         time.Duration // 0: no expiry
	Actor       string        // who creates it, for the audit log
}

// Validate normalizes nt's subject and checks the rules: a user token
// names an email and has no scopes; a service token names one word and
// holds at least one scope, each of workflow.KnownScopes. Errors are
// CodeInvalid.
func (nt *NewToken) Validate() error {
	switch nt.Kind {
	case TokenUser:
		nt.Subject = workflow.NormalizeEmail(nt.Subject)
		if !strings.Contains(nt.Subject, "@") {
			return workflow.Errorf(workflow.CodeInvalid, "user %q is not an email address", nt.Subject)
		}
		if len(nt.Scopes) > 0 {
			return workflow.Errorf(workflow.CodeInvalid, "scopes are for service tokens only")
		}
	case TokenService:
		nt.Subject = strings.TrimSpace(nt.Subject)
		if nt.Subject == "" || strings.ContainsAny(nt.Subject, " \t@,") {
			return workflow.Errorf(workflow.CodeInvalid, "service name %q must be one word without @ or commas", nt.Subject)
		}
		if len(nt.Scopes) == 0 {
			return workflow.Errorf(workflow.CodeInvalid, "a service token needs at least one scope (%s)", strings.Join(workflow.KnownScopes, ", "))
		}
		for _, s := range nt.Scopes {
			if !slices.Contains(workflow.KnownScopes, s) {
				return workflow.Errorf(workflow.CodeInvalid, "unknown scope %q; known scopes: %s", s, strings.Join(workflow.KnownScopes, ", "))
			}
		}
	default:
		return workflow.Errorf(workflow.CodeInvalid, "unknown token kind %q", nt.Kind)
	}
	return nil
}

// NewTokenSecret returns a fresh token secret: TokenPrefix and 256 random
// bits.
func NewTokenSecret() (string, error) {
	s, err := NewSecret()
	if err != nil {
		return "", err
	}
	return TokenPrefix + s, nil
}

// PlausibleToken reports whether secret could be a token at all (it is
// then looked up).
func PlausibleToken(secret string) bool {
	return strings.HasPrefix(secret, TokenPrefix) && len(secret) <= 200
}

// ErrBadToken is what every failed token lookup says: unknown, revoked
// and expired tokens alike (CodeUnauthenticated).
func ErrBadToken() error {
	return workflow.Errorf(workflow.CodeUnauthenticated, "invalid or expired token")
}
