// Package web builds jitaccess's HTTP server: one echo router with the
// shared edge (panic recovery, body limits, input checks, security
// headers, the one error map: package httpkit), the health endpoints, and
// the surfaces mounted on it: the JSON API (package api), the MCP endpoint
// for assistants (package mcpapi), the web UI (package ui) and, added by
// the wiring through Echo, Slack and SCIM.
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
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/web/mcpapi"
	"github.com/jitaccess/jitaccess/web/ui"
	"github.com/jitaccess/jitaccess/workflow"
)

// Config is what the server needs.
type Config struct {
	Service *workflow.Service
	Tokens  identity.TokenLookup
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
	// Edge sets trusted proxies and per-client rate limits.
	Edge httpkit.EdgeConfig
	// UI, when set, serves the web UI for people.
	UI *ui.Config
	// Idempotency keeps the answers to POSTs sent with an Idempotency-Key;
	// nil ignores the header (tests of other things).
	Idempotency api.IdempotencyKeys
	// Version is the server's version, which the MCP endpoint reports.
	Version string
}

// Server is the HTTP handler.
type Server struct {
	echo   *echo.Echo
	log    *slog.Logger
	ready  func(ctx context.Context) error
	bearer *httpkit.Bearer
	api    *api.API
	ui     *ui.UI // nil without the web UI
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
	s := &Server{echo: e, log: cfg.Logger, ready: cfg.Ready}
	e.IPExtractor = cfg.Edge.IPExtractor()
	// auth turns secrets into principals judged against the directory;
	// the UI adds its sessions to it.
	auth := &identity.Authenticator{Tokens: cfg.Tokens, Directory: cfg.Service}
	s.bearer = httpkit.NewBearer(auth, cfg.Tokens, cfg.Service.Clock(), cfg.Edge, cfg.Logger)
	e.HTTPErrorHandler = httpkit.ErrorHandler(cfg.Logger)
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
	e.Use(httpkit.CheckInput(cfg.OwnBodyLimits))
	e.Use(httpkit.SecurityHeaders)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	s.api = api.New(api.Config{Service: cfg.Service, Bearer: s.bearer, Logger: cfg.Logger, Idempotency: cfg.Idempotency})
	s.api.Routes(e)
	// The assistant endpoint (docs/api.md#assistant-endpoint-mcp): a
	// person's own token, the API's authentication and rate limits.
	mcpapi.New(cfg.Service, cfg.Version, cfg.Logger).Register(e, s.api.AuthenticateAPI)
	if cfg.UI != nil {
		s.ui = ui.New(*cfg.UI, cfg.Service, auth, cfg.Edge.SignInPerMinute, cfg.Logger)
		s.ui.Routes(e)
	}
	return s
}

// Echo returns the router, so that other surfaces (Slack, SCIM, MCP) can
// add their routes.
func (s *Server) Echo() *echo.Echo { return s.echo }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Authenticate is the bearer-token middleware, for routes that other
// packages add through Echo() with their own retry rules (SCIM, MCP).
func (s *Server) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return s.bearer.Authenticate(next)
}

// AuthenticateAPI is the REST API's chain (bearer token, then
// Idempotency-Key on POST), for REST routes that other packages add
// through Echo() (Slack's admin endpoints).
func (s *Server) AuthenticateAPI(next echo.HandlerFunc) echo.HandlerFunc {
	return s.api.AuthenticateAPI(next)
}

// UseAccess makes the server answer the check and mask APIs through chk
// and show provisioning status from prov, in the API and the UI alike.
// Call it before serving.
func (s *Server) UseAccess(chk *access.Checker, prov api.Provisioning) {
	s.api.UseAccess(chk, prov)
	if s.ui != nil {
		s.ui.UseProvisioning(prov)
	}
}

// MountOversight adds the oversight routes of the API and, with the UI,
// its pages. Who may do what is decided in package review.
func (s *Server) MountOversight(o api.Oversight) {
	s.api.MountOversight(s.echo, o)
	if s.ui != nil {
		s.ui.MountOversight(s.echo, &o)
	}
}

// Describe adds operations served by other surfaces (Slack's admin
// endpoints) to the OpenAPI document. Call it while wiring.
func (s *Server) Describe(ops ...api.Operation) { s.api.Describe(ops...) }

// OpenAPI returns the OpenAPI 3.1 document of the API this server serves.
func (s *Server) OpenAPI() ([]byte, error) { return s.api.OpenAPI() }

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
	return c.JSON(http.StatusOK, api.StatusJSON{Status: "ok"})
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
		// and people reading probes (the error handler would hide the
		// reason as it hides every CodeUnavailable message).
		var body api.NotReadyJSON
		body.Status, body.Reason = "unavailable", reason
		body.Error.Code, body.Error.Message = workflow.CodeUnavailable, "not ready: "+reason
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	return c.JSON(http.StatusOK, api.StatusJSON{Status: "ready"})
}
