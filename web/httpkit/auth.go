package httpkit

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// Bearer is the API's authentication: bearer tokens, judged against the
// directory, under the API rate limits. Every surface that takes tokens
// (the JSON API, MCP, Slack's admin endpoints) uses the one Bearer.
type Bearer struct {
	auth    *identity.Authenticator
	tokens  identity.TokenLookup
	clock   func() time.Time
	log     *slog.Logger
	limits  apiLimits
	touched *touchThrottle
}

// NewBearer returns the bearer authentication for tokens looked up in
// tokens and judged by auth, with edge's rate limits.
func NewBearer(auth *identity.Authenticator, tokens identity.TokenLookup, clock func() time.Time, edge EdgeConfig, log *slog.Logger) *Bearer {
	return &Bearer{auth: auth, tokens: tokens, clock: clock, log: log, limits: newAPILimits(edge), touched: newTouchThrottle(time.Minute)}
}

// Authenticate resolves the bearer token to a principal and puts it in the
// request's context. It fails closed: no token, an unknown, revoked or
// expired token, and a user token of a person the directory has
// deactivated, are all 401. The principal is judged once against the
// directory (identity.Authenticator.Token), so that every use case of the
// request decides with that one snapshot. It also applies the API rate limits
// (ratelimit.go): failed authentications per address, calls per person or
// service.
func (s *Bearer) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		addr := ClientKey(c)
		if s.limits.failures.spent(addr) {
			return s.limits.failures.refuse(c, "too many failed authentications from your address; wait a moment and try again")
		}
		who, err := s.lookupBearer(c)
		if err != nil {
			if workflow.ErrorCode(err) == workflow.CodeUnauthenticated {
				s.limits.failures.allow(addr)
			}
			return err
		}
		lim := s.limits.people
		if !who.IsUser() {
			lim = s.limits.services
		}
		if !lim.allow(CallerKey(who)) {
			return lim.refuse(c, "too many API calls as %s; wait a moment and try again", who.Name())
		}
		c.SetRequest(c.Request().WithContext(workflow.WithSource(workflow.WithPrincipal(c.Request().Context(), who), apiSource(c))))
		return next(c)
	}
}

// lookupBearer returns the principal of the request's bearer token.
func (s *Bearer) lookupBearer(c echo.Context) (workflow.Principal, error) {
	h := c.Request().Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" {
		return workflow.Principal{}, workflow.Errorf(workflow.CodeUnauthenticated, "missing Authorization header; send Authorization: Bearer TOKEN")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return workflow.Principal{}, workflow.Errorf(workflow.CodeUnauthenticated, "Authorization header must be Bearer TOKEN")
	}
	ctx := c.Request().Context()
	now := s.clock()
	tok, who, err := s.auth.Token(ctx, strings.TrimSpace(secret), now)
	if err != nil {
		return workflow.Principal{}, err
	}
	if s.touched.due(tok.ID, now) {
		if err := s.tokens.TouchToken(ctx, tok.ID, now); err != nil {
			s.log.Warn("record token use", "token", tok.ID, "err", err)
		}
	}
	return who, nil
}

// Principal returns the authenticated caller.
func Principal(c echo.Context) workflow.Principal {
	p, _ := workflow.PrincipalFrom(c.Request().Context())
	return p
}

// touchThrottle limits last_used_at writes to one per token per interval,
// so that a busy integration does not turn every read into a write.
type touchThrottle struct {
	mu    sync.Mutex
	every time.Duration
	last  map[string]time.Time
}

func newTouchThrottle(every time.Duration) *touchThrottle {
	return &touchThrottle{every: every, last: map[string]time.Time{}}
}

func (t *touchThrottle) due(id string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[id]; ok && now.Sub(last) < t.every {
		return false
	}
	if len(t.last) > 10000 { // bound memory; worst case is one extra write
		clear(t.last)
	}
	t.last[id] = now
	return true
}

// CLIUserAgent starts the User-Agent of jitaccess's own command-line
// client (package client), whose calls the audit log records as source
// cli rather than api.
const CLIUserAgent = "jitaccess-cli/"

// apiSource is the audit source of an API call: cli for the command-line
// client, api for anything else.
func apiSource(c echo.Context) string {
	if strings.HasPrefix(c.Request().UserAgent(), CLIUserAgent) {
		return workflow.SourceCLI
	}
	return workflow.SourceAPI
}

// CallerKey names an authenticated caller, the person or the service:
// what rate limits count per, and whose Idempotency-Keys a key is among.
func CallerKey(p workflow.Principal) string {
	if p.IsUser() {
		return "user:" + p.Email
	}
	return "service:" + p.Service
}
