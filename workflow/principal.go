package workflow

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Principal is whoever is acting: a person (Email set) or a service token
// (Service set). Groups are groups asserted by an identity provider at
// sign-in (the OIDC groups claim; they count for that session alone), and
// DirectoryGroups those the directory (SCIM) puts the person in; both are
// merged with the policy file's groups.
type Principal struct {
	Email   string
	Service string
	Scopes  []string
	Groups  []string
	// Authentication context from the identity provider (OIDC amr/acr),
	// kept for step-up rules.
	AMR []string
	ACR string
	// Auth is how the person is signed in (AuthSession, AuthToken,
	// AuthSlack; "" for callers inside jitaccess), and MFA and MFAAt the
	// second factor they proved and when (MFAWebAuthn, MFAOIDC, MFANone):
	// actions a resource's require_mfa names need MFA within the
	// service's MFAMaxAge (mfa.go).
	Auth  string
	MFA   string
	MFAAt time.Time
	// InDirectory is set when the directory (SCIM) knows the person, and
	// Disabled when it has deactivated or deleted them: a disabled person
	// belongs to no group and holds no role (see resolve).
	InDirectory     bool
	Disabled        bool
	DirectoryGroups []string
	// Attributes are the person's directory attributes (Person.Attributes),
	// which conditions read; set by the directory read (resolve).
	Attributes map[string]string

	system bool
	// resolved is set once the directory has been consulted, so that a use
	// case judges one snapshot of the person.
	resolved bool
}

// System is jitaccess itself (the sweeper, auto-approval).
var System = Principal{system: true}

// User returns the principal for a person.
func User(email string) Principal { return Principal{Email: NormalizeEmail(email)} }

// ServiceAccount returns the principal for a service token.
func ServiceAccount(name string, scopes ...string) Principal {
	return Principal{Service: name, Scopes: scopes}
}

// Name is how the principal appears in the audit log.
func (p Principal) Name() string {
	switch {
	case p.system:
		return "system"
	case p.Email != "":
		return p.Email
	default:
		return "service:" + p.Service
	}
}

// IsUser reports whether the principal is a person.
func (p Principal) IsUser() bool { return !p.system && p.Email != "" }

// Active reports whether a person may act at all: not disabled by the
// directory. Service principals and the system are always active.
func (p Principal) Active() bool { return !p.Disabled }

// IsSystem reports whether the principal is jitaccess itself.
func (p Principal) IsSystem() bool { return p.system }

// HasScope reports whether a service principal holds scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Scopes a service token may hold.
const (
	ScopeCheck = "check" // the check and mask APIs
	ScopeSCIM  = "scim"  // the SCIM directory (/scim/v2), for the identity provider
	// ScopeDetokenize: POST /api/v1/detokenize, which opens encrypt-style
	// tokens for a user who holds a live grant.
	ScopeDetokenize = "detokenize"
)

// KnownScopes lists every scope a service token may be given.
var KnownScopes = []string{ScopeCheck, ScopeSCIM, ScopeDetokenize}

// NormalizeEmail lower-cases and trims an address so that one person is one
// identity however they type it.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
