package ui

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// The web UI is server-rendered HTML (html/template, embedded) with one
// small script for auto-refresh, so that jitaccess stays one binary with no
// front-end build. Each page is one handler file (ui_NAME.go) and one
// template (templates/NAME.html); routes are the tables in routes and
// oversightRoutes.
//
// Adding a page:
//  1. templates/NAME.html: {{define "content"}}...{{end}}; it gets a *view
//     whose Data is the page's own struct.
//  2. ui_NAME.go: a handler that calls one workflow.Service method and
//     u.render(c, http.StatusOK, "NAME", v), after v := u.newView(c, ...).
//  3. One line in routes with the middleware chain it needs (page,
//     action, adminPage or adminAction), and one navItem if it belongs in
//     the top navigation.
//
// Handlers hold no rules: every action goes through workflow.Service, and
// a refused action shows workflow.ErrorMessage, the API's message.

// Config turns on the web UI.
type Config struct {
	// Sessions stores sessions and sign-ins in flight (store.DB).
	Sessions Sessions
	// OIDC configures sign-in with an OpenID Connect provider; nil
	// leaves it off.
	OIDC *OIDCConfig
	// DemoUsers, when set (serve --demo only), turns on a sign-in page
	// that lets anyone sign in as any of them. Never set it otherwise.
	DemoUsers []DemoUser
	// PublicURL is where people reach jitaccess (https://jit.example.com).
	// State-changing requests must come from its origin; empty accepts
	// the request's own Host.
	PublicURL string
	// SessionIdle ends a session unused for this long (default 1h);
	// SessionMax ends every session this long after sign-in (default 8h).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// GroupsMaxAge is how long the groups an OIDC groups claim asserted
	// at sign-in count (default 15m; negative: for the whole session).
	// Older claim groups no longer count until the person signs in again;
	// the policy file's and the directory's groups still do.
	GroupsMaxAge time.Duration
	// RefreshEvery is how often live pages refresh themselves (default 20s).
	RefreshEvery time.Duration
	// Now is the clock for sessions; default the service's clock.
	Now func() time.Time
	// Audit serves the audit page's CSV and JSON-lines export (store.DB);
	// nil leaves the export out.
	Audit httpkit.AuditExporter
	// Passkeys stores passkeys and WebAuthn ceremonies (store.DB); nil
	// leaves the account page and passkey step-ups out.
	Passkeys identity.PasskeyStore
}

// DemoUser is one person on the demo sign-in page.
type DemoUser struct {
	Email string
	Role  string // how the demo describes them ("managers", "admin")
}

// Defaults for Config.
const (
	DefaultSessionIdle = time.Hour
	DefaultSessionMax  = 8 * time.Hour
	// DefaultGroupsMaxAge is Config.GroupsMaxAge's default.
	DefaultGroupsMaxAge = 15 * time.Minute
)

// UI serves the web UI.
type UI struct {
	svc   *workflow.Service
	log   *slog.Logger
	cfg   Config
	now   func() time.Time
	pages *pages
	oidc  *oidcClient
	over  *api.Oversight // the oversight pages' services; nil until MountOversight
	auth  *identity.Authenticator
	prov  api.Provisioning // nil: requests show no provisioning status
	// signInPerMinute limits sign-in attempts per client address.
	signInPerMinute int
}

// New returns the web UI of svc; sessions and sign-ins are judged by auth,
// which New completes with the session settings. Routes adds it to a
// router.
func New(cfg Config, svc *workflow.Service, auth *identity.Authenticator, signInPerMinute int, log *slog.Logger) *UI {
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = DefaultSessionMax
	}
	switch {
	case cfg.GroupsMaxAge == 0:
		cfg.GroupsMaxAge = DefaultGroupsMaxAge
	case cfg.GroupsMaxAge < 0:
		cfg.GroupsMaxAge = 0 // identity: no limit
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = 20 * time.Second
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	u := &UI{svc: svc, log: log, cfg: cfg, now: cfg.Now, pages: mustLoadPages(), auth: auth, signInPerMinute: signInPerMinute}
	auth.Sessions, auth.Idle, auth.GroupsMaxAge = cfg.Sessions, cfg.SessionIdle, cfg.GroupsMaxAge
	if u.now == nil {
		u.now = svc.Clock()
	}
	if cfg.OIDC != nil {
		u.oidc = newOIDCClient(*cfg.OIDC, log)
	}
	return u
}

// UseProvisioning makes request pages show where provisioning stands, as
// the API does (api.ProvisioningFor).
func (u *UI) UseProvisioning(prov api.Provisioning) { u.prov = prov }

// MountOversight adds the pages of reviews, flags, the dashboard and the
// audit chain, served by o.
func (u *UI) MountOversight(e *echo.Echo, o *api.Oversight) {
	u.over = o
	u.oversightRoutes(e)
}

// Routes is the UI's route table. Middleware chains, outermost first:
//
//	page:        HTML errors, signed in (session, principal), named by the policy
//	action:      page + CSRF token and same-origin check
//	adminPage:   page + admins only
//	adminAction: action + admins only
func (u *UI) Routes(e *echo.Echo) {
	page, action, adminPage, adminAction := u.chains()
	signIn := []echo.MiddlewareFunc{u.htmlErrors, httpkit.CheckForm}
	if limit := httpkit.RateLimit(u.signInPerMinute, httpkit.DefaultSignInPerMinute, "sign-in attempts"); limit != nil {
		signIn = append(signIn, limit)
	}

	e.GET("/static/*", u.static)
	e.GET("/sign-in", u.signInPage, u.htmlErrors)
	// Anyone with a session may end it, even someone the policy dropped.
	e.POST("/sign-out", u.signOut, u.htmlErrors, httpkit.CheckForm, u.requireSession, u.checkCSRF)
	// So may anyone with a session tell it their time zone (app.js does).
	e.POST("/account/time-zone", u.setTimeZone, u.htmlErrors, httpkit.CheckForm, u.requireSession, u.checkCSRF)
	if u.oidc != nil {
		e.GET("/sign-in/oidc", u.oidcStart, signIn...)
		e.GET(u.oidc.callbackPath(), u.oidcCallback, signIn...)
	}
	if len(u.cfg.DemoUsers) > 0 {
		e.POST("/sign-in/demo", u.demoSignIn, signIn...)
	}

	e.GET("/", u.home, page...)
	e.GET("/decisions", u.decisions, page...)
	e.GET("/requests", u.myRequests, page...)
	e.GET("/requests/new", u.newRequest, page...)
	e.POST("/requests", u.submitRequest, action...)
	e.GET("/requests/:id", u.requestDetail, page...)
	e.POST("/requests/:id/approve", u.decide(actionApprove), action...)
	e.POST("/requests/:id/deny", u.decide(actionDeny), action...)
	e.POST("/requests/:id/cancel", u.decide(actionCancel), action...)
	e.POST("/requests/:id/extend", u.extend, action...)
	e.POST("/requests/:id/revoke", u.decide(actionRevoke), action...)
	e.POST("/requests/:id/review", u.decide(actionReview), action...)
	e.GET("/grants", u.grants, page...)
	e.GET("/audit", u.audit, page...)
	e.GET("/audit/export", u.auditExport, page...)
	e.GET("/policy", u.policy, adminPage...)
	e.GET("/sessions", u.sessions, adminPage...)
	e.POST("/sessions/end", u.endSessions, adminAction...)
	e.GET("/admin/people/:email", u.directoryPerson, adminPage...)
	u.mfaRoutes(e, page, action)

	e.RouteNotFound("/*", u.notFound)
}

// chains are the middleware chains of routes (see routes).
func (u *UI) chains() (page, action, adminPage, adminAction []echo.MiddlewareFunc) {
	page = []echo.MiddlewareFunc{u.htmlErrors, u.requireSession, u.requireKnown}
	action = append(page[:len(page):len(page)], httpkit.CheckForm, u.checkCSRF)
	adminPage = append(page[:len(page):len(page)], u.adminOnly)
	adminAction = append(action[:len(action):len(action)], u.adminOnly)
	return page, action, adminPage, adminAction
}

// oversightRoutes are the pages of access reviews, anomaly flags, the
// dashboard and the audit chain (ui_review*.go, ui_flags.go,
// ui_dashboard.go, ui_audit_chain.go), added by Server.MountOversight.
// Who may see and do what is decided by package review; the handlers only
// ask it.
func (u *UI) oversightRoutes(e *echo.Echo) {
	page, action, _, _ := u.chains()
	e.GET("/reviews", u.reviews, page...)
	e.GET("/reviews/report", u.reviewReport, page...)
	e.POST("/reviews", u.openReview, action...)
	e.GET("/reviews/:id", u.reviewDetail, page...)
	e.POST("/reviews/:id/signoff", u.signOffReview, action...)
	e.POST("/reviews/:id/followups", u.markFollowUp, action...)
	e.POST("/followups/:id/resolve", u.resolveFollowUp, action...)
	e.GET("/flags", u.flags, page...)
	e.GET("/dashboard", u.dashboard, page...)
	e.POST("/audit/verify", u.verifyAudit, action...)
}

// navItem is one entry of the top navigation.
type navItem struct {
	Key   string // matches view.Active
	Label string
	Path  string
	Show  func(*viewer) bool
	// Count, when set, shows a badge (the decisions waiting).
	Count bool
}

func always(*viewer) bool       { return true }
func approvers(v *viewer) bool  { return v.Approver }
func requesters(v *viewer) bool { return v.Requester }
func adminsOnly(v *viewer) bool { return v.Admin }
func reviewers(v *viewer) bool  { return v.Oversight && v.Reviews }
func overseers(v *viewer) bool  { return v.Oversight && v.Overseer }

// navItems is the top navigation, in order. A page appears for those its
// Show admits; its handler must still check (adminOnly does for admins).
var navItems = []navItem{
	{Key: "decisions", Label: "Needs my decision", Path: "/decisions", Show: approvers, Count: true},
	{Key: "requests", Label: "My requests", Path: "/requests", Show: requesters},
	{Key: "grants", Label: "Live grants", Path: "/grants", Show: always},
	{Key: "dashboard", Label: "Dashboard", Path: "/dashboard", Show: overseers},
	{Key: "reviews", Label: "Reviews", Path: "/reviews", Show: reviewers},
	{Key: "flags", Label: "Flags", Path: "/flags", Show: reviewers},
	{Key: "audit", Label: "Audit log", Path: "/audit", Show: always},
	{Key: "policy", Label: "Policy", Path: "/policy", Show: adminsOnly},
	{Key: "sessions", Label: "Sessions", Path: "/sessions", Show: adminsOnly},
}

// home sends people to where their work is.
func (u *UI) home(c echo.Context) error {
	v := u.viewerOf(c)
	switch {
	case v.Approver:
		return c.Redirect(http.StatusSeeOther, "/decisions")
	case v.Requester:
		return c.Redirect(http.StatusSeeOther, "/requests")
	case v.Oversight && v.Reviewer && !v.Admin:
		return c.Redirect(http.StatusSeeOther, "/reviews")
	}
	return c.Redirect(http.StatusSeeOther, "/grants")
}

// adminOnly refuses everyone but policy admins.
func (u *UI) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !u.viewerOf(c).Admin {
			return workflow.Errorf(workflow.CodeForbidden, "only admins can open this page")
		}
		return next(c)
	}
}

// notFound answers unknown paths: JSON under /api/, a page elsewhere.
func (u *UI) notFound(c echo.Context) error {
	if strings.HasPrefix(c.Request().URL.Path, "/api/") || len(httpkit.AllowedMethods(c.Echo(), c.Request().URL.Path)) > 0 {
		return echo.ErrNotFound // the JSON 404, or 405 with Allow (handleError)
	}
	return u.htmlErrors(func(echo.Context) error {
		return workflow.Errorf(workflow.CodeNotFound, "there is no page at %s", c.Request().URL.Path)
	})(c)
}
