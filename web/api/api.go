// Package api is jitaccess's JSON API under /api/v1: its route table, its
// handlers and the OpenAPI document generated from their types. Handlers
// are thin: decode, authenticate (httpkit.Bearer), call one
// workflow.Service method, encode. Rules live in workflow, so that the
// API, the web UI, Slack, the CLI and MCP cannot disagree; errors go up
// to the one code-to-status map (httpkit).
package api

import (
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// Config is what the API needs.
type Config struct {
	Service *workflow.Service
	Bearer  *httpkit.Bearer
	Logger  *slog.Logger
	// Idempotency keeps the answers to POSTs sent with an Idempotency-Key
	// (idempotency.go); nil ignores the header (tests of other things).
	Idempotency IdempotencyKeys
}

// API serves the JSON API.
type API struct {
	svc    *workflow.Service
	bearer *httpkit.Bearer
	log    *slog.Logger
	idem   IdempotencyKeys

	// Check/mask and provisioning status: see UseAccess (mask.go).
	access, defaultAccess *access.Checker
	provisioning          Provisioning

	openapi openAPIDoc
}

// New returns the API; Routes adds it to a router.
func New(cfg Config) *API {
	s := &API{svc: cfg.Service, bearer: cfg.Bearer, log: cfg.Logger, idem: cfg.Idempotency, defaultAccess: newDefaultAccess(cfg.Service)}
	s.Describe(coreOperations()...)
	return s
}

// Routes is the API's route table (MountOversight adds the oversight
// routes).
//
// Authentication is per route rather than group middleware: echo adds a
// catch-all route for group middleware, which would turn a wrong method
// into 404 instead of 405. authenticateAPI honours Idempotency-Key on
// POST; mask and detokenize take plain authentication: they change
// nothing, so a retry is already safe, and their answers hold personal
// data in clear, which must not be written to the idempotency table.
func (s *API) Routes(e *echo.Echo) {
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
	api.POST("/mask", s.maskRecord, s.bearer.Authenticate)
	api.POST("/detokenize", s.detokenize, s.bearer.Authenticate)
	api.GET("/provisioning", s.listProvisioning, auth)
	api.GET("/audit", s.listAudit, auth)
	api.GET("/policy/versions", s.listPolicyVersions, auth)
	api.GET("/policy/explain", s.explainPolicy, auth)
}
