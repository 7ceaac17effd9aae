// Package web is jitaccess's HTTP surface: the JSON API under /api/v1 and
// the health endpoints. Handlers are thin: decode, authenticate, call one
// workflow.Service method, encode. Rules live in workflow, so that the API,
// the web UI and Slack cannot disagree; errors go up to one handler with
// the one code-to-status map (errors.go).
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// Tokens looks up API tokens (implemented by store.DB).
type Tokens = identity.TokenLookup

// Config is what the server needs.
type Config struct {
	Service *workflow.Service
	Tokens  Tokens
	// Ready reports whether the server can take traffic (database
	// reachable, migrations applied). /readyz shows callers the message
	// of a CodeUnavailable workflow.Error, and "database unreachable" for
	// any other error; the error itself is only logged.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// BodyLimit caps request bodies; default 64 KiB.
	BodyLimit string
	// OwnBodyLimits are path prefixes whose handlers limit bodies
	// themselves, in their own protocol's error shape (SCIM's /scim/v2/).
	OwnBodyLimits []string
	// Edge sets trusted proxies and per-client rate limits (security.go).
	Edge EdgeConfig
	// UI, when set, serves the web UI for people (ui_server.go).
	UI *UIConfig
	// Idempotency keeps the answers to POSTs sent with an Idempotency-Key
	// (idempotency.go); nil ignores the header (tests of other things).
	Idempotency IdempotencyKeys
}

// Server is the HTTP handler.
type Server struct {
	echo    *echo.Echo
	svc     *workflow.Service
	tokens  Tokens
	ready   func(ctx context.Context) error
	log     *slog.Logger
	touched *touchThrottle
	edge    EdgeConfig
	limits  apiLimits
	ui      *ui // nil without the web UI
	idem    IdempotencyKeys
	// auth turns secrets into principals judged against the directory.
	auth *identity.Authenticator

	// Check/mask and provisioning status: see UseAccess (api_mask.go).
	access, defaultAccess *access.Checker
	provisioning          Provisioning

	openapi openAPIDoc
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "64K"
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{echo: e, svc: cfg.Service, tokens: cfg.Tokens, ready: cfg.Ready, log: cfg.Logger, touched: newTouchThrottle(time.Minute), edge: cfg.Edge,
		idem: cfg.Idempotency, defaultAccess: newDefaultAccess(cfg.Service)}
	e.IPExtractor = cfg.Edge.ipExtractor()
	s.limits = newAPILimits(cfg.Edge)
	s.auth = &identity.Authenticator{Tokens: cfg.Tokens, Directory: cfg.Service}
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic in handler", "path", c.Path(), "err", err, "stack", string(stack))
			return err
		},
	}))
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: cfg.BodyLimit, Skipper: func(c echo.Context) bool {
		for _, p := range cfg.OwnBodyLimits {
			if strings.HasPrefix(c.Request().URL.Path, p) {
				return true
			}
		}
		return false
	}}))
	e.Use(s.logRequests)
	e.Use(checkInput(cfg.OwnBodyLimits))
	e.Use(securityHeaders)
	s.routes()
	s.Describe(coreOperations()...)
	if cfg.UI != nil {
		s.mountUI(*cfg.UI)
	}
	return s
}

// Echo returns the router, so that other surfaces (Slack, the web UI)
// can add their routes.
func (s *Server) Echo() *echo.Echo { return s.echo }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	// Authentication is per route rather than group middleware: echo adds
	// a catch-all route for group middleware, which would turn a wrong
	// method into 404 instead of 405. authenticateAPI honours
	// Idempotency-Key on POST; mask and detokenize take plain authenticate:
	// they change nothing, so a retry is already safe, and their answers
	// hold personal data in clear, which must not be written to the
	// idempotency table.
	api := e.Group("/api/v1")
	auth := s.authenticateAPI
	api.GET("/openapi.json", s.serveOpenAPI)
	api.GET("/me", s.me, auth)
	api.POST("/requests", s.createRequest, auth)
	api.GET("/requests", s.listRequests, auth)
	api.GET("/requests/:id", s.getRequest, auth)
	api.GET("/decisions", s.listDecisions, auth)
	api.GET("/grants", s.listGrants, auth)
	api.POST("/requests/:id/approve", s.decision(s.svc.Approve), auth)
	api.POST("/requests/:id/deny", s.decision(s.svc.Deny), auth)
	api.POST("/requests/:id/cancel", s.decision(s.svc.Cancel), auth)
	api.POST("/requests/:id/revoke", s.decision(s.svc.Revoke), auth)
	api.POST("/requests/:id/review", s.decision(s.svc.SignOffReview), auth)
	api.POST("/requests/:id/extend", s.extendRequest, auth)
	api.GET("/resources", s.listResources, auth)
	api.GET("/grants/check", s.checkGrant, auth)
	api.POST("/mask", s.maskRecord, s.authenticate)
	api.POST("/detokenize", s.detokenize, s.authenticate)
	api.GET("/provisioning", s.listProvisioning, auth)
	api.GET("/audit", s.listAudit, auth)
	api.GET("/policy/versions", s.listPolicyVersions, auth)
	api.GET("/policy/explain", s.explainPolicy, auth)
}

func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(c.Request().Context(), level, "http request", "method", c.Request().Method, "path", c.Path(),
			"status", status, "duration", time.Since(start))
		return nil
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, StatusJSON{"ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		// The endpoint is public: the detail (a driver's error names
		// hosts, users, databases) goes to the log only. A reason meant to
		// be shown comes as a CodeUnavailable workflow.Error.
		s.log.Warn("not ready", "err", err)
		reason := "database unreachable"
		var we *workflow.Error
		if errors.As(err, &we) && we.Code == workflow.CodeUnavailable {
			reason = we.Message
		}
		// The one error shape, plus status and reason for load balancers
		// and people reading probes (handleError would hide the reason as
		// it hides every CodeUnavailable message).
		var body NotReadyJSON
		body.Status, body.Reason = "unavailable", reason
		body.Error.Code, body.Error.Message = workflow.CodeUnavailable, "not ready: "+reason
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	return c.JSON(http.StatusOK, StatusJSON{"ready"})
}
