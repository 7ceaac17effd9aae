package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/chart"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// AuditLog is the audit log as the oversight API reads it. store.DB
// implements it.
type AuditLog interface {
	audit.Log
	httpkit.AuditExporter
}

// Oversight is what the oversight endpoints need: audit export and
// verification, access reviews, flags, the dashboard and /metrics.
type Oversight struct {
	Reviews *review.Service
	Audit   AuditLog
	// Metrics serves /metrics; nil leaves it out. With MetricsToken set,
	// scrapes must send it as a bearer token.
	Metrics      http.Handler
	MetricsToken string
	// Status returns the last scheduled verification (nil before one).
	Status func() *audit.Result
	// Verify runs the scheduled verification now (the web UI's "Verify
	// now"), so that Status, the metrics and the alerts know of it; nil
	// verifies with audit.Verify alone.
	Verify func(ctx context.Context) (audit.Result, error)
}

// MountOversight adds the oversight routes. Who may do what is decided in
// package review; the handlers parse, call, and encode.
func (s *API) MountOversight(e *echo.Echo, o Oversight) {
	h := &oversightHandlers{s: s, o: o}
	auth := s.authenticateAPI
	ops := oversightOperations()
	if o.Metrics != nil {
		e.GET("/metrics", h.metrics)
	} else {
		ops = slices.DeleteFunc(ops, func(op Operation) bool { return op.Path == "/metrics" })
	}
	s.Describe(ops...)
	api := e.Group("/api/v1")
	api.GET("/audit/export", h.exportAudit, auth)
	api.GET("/audit/verify", h.verifyAudit, auth)
	api.GET("/audit/status", h.auditStatus, auth)
	api.GET("/reviews/report", h.report, auth)
	api.GET("/reviews", h.listReviews, auth)
	api.GET("/reviews/campaigns", h.campaigns, auth)
	api.POST("/reviews", h.openReview, auth)
	api.GET("/reviews/:id", h.getReview, auth)
	api.POST("/reviews/:id/signoff", h.signOff, auth)
	api.POST("/reviews/:id/followups", h.markFollowUp, auth)
	api.POST("/followups/:id/resolve", h.resolveFollowUp, auth)
	api.GET("/flags", h.flags, auth)
	api.GET("/dashboard", h.dashboard, auth)
	api.GET("/dashboard/charts/:name", h.dashboardChart, auth)
}

type oversightHandlers struct {
	s *API
	o Oversight
}

// GET /metrics
func (h *oversightHandlers) metrics(c echo.Context) error {
	if h.o.MetricsToken != "" {
		scheme, secret, _ := strings.Cut(c.Request().Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(secret)), []byte(h.o.MetricsToken)) != 1 {
			return workflow.Errorf(workflow.CodeUnauthenticated, "/metrics needs the metrics token: Authorization: Bearer TOKEN")
		}
	}
	h.o.Metrics.ServeHTTP(c.Response(), c.Request())
	return nil
}

// period reads since and until; when optional, a missing period is the
// last 30 days.
func (h *oversightHandlers) period(c echo.Context, optional bool) (review.Period, error) {
	since, err := httpkit.QueryTime(c, "since")
	if err != nil {
		return review.Period{}, err
	}
	until, err := httpkit.QueryTime(c, "until")
	if err != nil {
		return review.Period{}, err
	}
	if optional {
		if until.IsZero() {
			until = h.s.svc.Clock()()
		}
		if since.IsZero() {
			since = until.Add(-30 * 24 * time.Hour)
		}
	}
	return review.Period{Start: since, End: until}, nil
}

func ScopeOf(resource, person string) (review.Scope, error) {
	switch {
	case resource != "" && person != "":
		return review.Scope{}, workflow.Errorf(workflow.CodeInvalid, "pass resource or person, not both")
	case resource != "":
		return review.Scope{Kind: review.ScopeResource, Value: resource}, nil
	case person != "":
		return review.Scope{Kind: review.ScopePerson, Value: person}, nil
	}
	return review.Scope{Kind: review.ScopeAll}, nil
}

// GET /api/v1/audit/export?format=jsonl|csv&since=&until=&person=&resource=&request=
func (h *oversightHandlers) exportAudit(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "format", "since", "until", "person", "resource", "request"); err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format == "" {
		format = audit.FormatJSONL
	}
	if err := audit.CheckFormat(format); err != nil {
		return err
	}
	since, err := httpkit.QueryTime(c, "since")
	if err != nil {
		return err
	}
	until, err := httpkit.QueryTime(c, "until")
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return workflow.Errorf(workflow.CodeInvalid, "until must be after since")
	}
	q := workflow.AuditQuery{Since: since, Until: until, Person: workflow.NormalizeEmail(c.QueryParam("person")),
		Resource: c.QueryParam("resource"), RequestID: c.QueryParam("request")}
	what := "export " + format + " " + q.Describe()
	if err := h.o.Reviews.AuthorizeAuditRead(c.Request().Context(), httpkit.Principal(c), review.ActionAuditExport, what); err != nil {
		return err
	}
	return httpkit.StreamAudit(c, h.s.log, h.o.Audit, store.AuditFilterOf(q), format, h.s.svc.Clock()())
}

// GET /api/v1/audit/verify: verify the chain now.
func (h *oversightHandlers) verifyAudit(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "checkpoint"); err != nil {
		return err
	}
	var expect []audit.Checkpoint
	for _, s := range c.QueryParams()["checkpoint"] {
		cp, err := audit.ParseCheckpoint(s)
		if err != nil {
			return workflow.Errorf(workflow.CodeInvalid, "%s", err.Error())
		}
		expect = append(expect, cp)
	}
	ctx := c.Request().Context()
	if err := h.o.Reviews.AuthorizeAuditRead(ctx, httpkit.Principal(c), review.ActionAuditVerify, ""); err != nil {
		return err
	}
	res, err := audit.Verify(ctx, h.o.Audit, expect...)
	if err == nil {
		res.Unsealed, err = audit.ReadBacklog(ctx, h.o.Audit)
	}
	if err != nil {
		return workflow.Internal(err, "read the audit log")
	}
	return c.JSON(http.StatusOK, res)
}

// GET /api/v1/audit/status: the last scheduled verification.
func (h *oversightHandlers) auditStatus(c echo.Context) error {
	if err := httpkit.CheckQuery(c); err != nil {
		return err
	}
	if err := h.o.Reviews.AuthorizeAuditRead(c.Request().Context(), httpkit.Principal(c), review.ActionAuditVerify, ""); err != nil {
		return err
	}
	var last *audit.Result
	if h.o.Status != nil {
		last = h.o.Status()
	}
	return c.JSON(http.StatusOK, AuditStatusJSON{last})
}

// GET /api/v1/reviews/report?since=&until=&resource=|person=
func (h *oversightHandlers) report(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "since", "until", "resource", "person"); err != nil {
		return err
	}
	p, err := h.period(c, false)
	if err != nil {
		return err
	}
	scope, err := ScopeOf(c.QueryParam("resource"), c.QueryParam("person"))
	if err != nil {
		return err
	}
	rep, err := h.o.Reviews.Report(c.Request().Context(), httpkit.Principal(c), scope, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, reportJSON(rep))
}

// GET /api/v1/reviews/campaigns: the review campaigns' runs of the last
// year and where each stands.
func (h *oversightHandlers) campaigns(c echo.Context) error {
	if err := httpkit.CheckQuery(c); err != nil {
		return err
	}
	runs, err := h.o.Reviews.CampaignStatus(c.Request().Context(), httpkit.Principal(c))
	if err != nil {
		return err
	}
	now := h.s.svc.Clock()()
	out := CampaignsJSON{Campaigns: make([]CampaignRunJSON, len(runs))}
	for i, r := range runs {
		out.Campaigns[i] = CampaignRunJSONOf(r, now)
	}
	return c.JSON(http.StatusOK, out)
}

// GET /api/v1/reviews
func (h *oversightHandlers) listReviews(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "limit", "cursor"); err != nil {
		return err
	}
	limit, err := httpkit.QueryLimit(c)
	if err != nil {
		return err
	}
	revs, next, err := h.o.Reviews.List(c.Request().Context(), httpkit.Principal(c), limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	out := ReviewPageJSON{Reviews: make([]ReviewJSON, len(revs)), NextCursor: next}
	for i, r := range revs {
		out.Reviews[i] = reviewJSON(r)
	}
	return c.JSON(http.StatusOK, out)
}

type openReviewBody struct {
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	Resource string    `json:"resource"`
	Person   string    `json:"person"`
}

// POST /api/v1/reviews {since, until, resource | person}
func (h *oversightHandlers) openReview(c echo.Context) error {
	var body openReviewBody
	if err := httpkit.DecodeJSON(c, &body, false); err != nil {
		return err
	}
	scope, err := ScopeOf(body.Resource, body.Person)
	if err != nil {
		return err
	}
	rev, err := h.o.Reviews.Open(c.Request().Context(), httpkit.Principal(c), scope, review.Period{Start: body.Since.UTC(), End: body.Until.UTC()})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/api/v1/reviews/"+rev.ID)
	return c.JSON(http.StatusCreated, reviewJSON(rev))
}

// GET /api/v1/reviews/:id: the review, its follow-ups and its report.
func (h *oversightHandlers) getReview(c echo.Context) error {
	if err := httpkit.CheckQuery(c); err != nil {
		return err
	}
	d, err := h.o.Reviews.Get(c.Request().Context(), httpkit.Principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	out := reviewJSON(d.Review)
	rep := reportJSON(d.Report)
	out.Report, out.Changed = &rep, &d.Changed
	return c.JSON(http.StatusOK, out)
}

// POST /api/v1/reviews/:id/signoff {notes}
func (h *oversightHandlers) signOff(c echo.Context) error {
	var body signOffBody
	if err := httpkit.DecodeJSON(c, &body, true); err != nil {
		return err
	}
	rev, err := h.o.Reviews.SignOff(c.Request().Context(), httpkit.Principal(c), c.Param("id"), body.Notes)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, reviewJSON(rev))
}

// POST /api/v1/reviews/:id/followups {kind, ref, note}
func (h *oversightHandlers) markFollowUp(c echo.Context) error {
	var body followUpBody
	if err := httpkit.DecodeJSON(c, &body, false); err != nil {
		return err
	}
	f, err := h.o.Reviews.MarkFollowUp(c.Request().Context(), httpkit.Principal(c), c.Param("id"), body.Kind, body.Ref, body.Note)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, followUpJSON(*f))
}

// POST /api/v1/followups/:id/resolve {resolution}
func (h *oversightHandlers) resolveFollowUp(c echo.Context) error {
	var body resolveBody
	if err := httpkit.DecodeJSON(c, &body, false); err != nil {
		return err
	}
	f, err := h.o.Reviews.ResolveFollowUp(c.Request().Context(), httpkit.Principal(c), c.Param("id"), body.Resolution)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, followUpJSON(*f))
}

// GET /api/v1/flags?since=&until=&resource=|person=&kind=
func (h *oversightHandlers) flags(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "since", "until", "resource", "person", "kind"); err != nil {
		return err
	}
	p, err := h.period(c, true)
	if err != nil {
		return err
	}
	scope, err := ScopeOf(c.QueryParam("resource"), c.QueryParam("person"))
	if err != nil {
		return err
	}
	kind := review.FlagKind(c.QueryParam("kind"))
	if kind != "" && !ValidKind(kind) {
		return workflow.Errorf(workflow.CodeInvalid, "unknown flag kind %q", kind)
	}
	flags, err := h.o.Reviews.Flags(c.Request().Context(), httpkit.Principal(c), scope, p)
	if err != nil {
		return err
	}
	out := FlagsJSON{p.Start, p.End, []review.FlagJSON{}}
	for _, f := range flags {
		if kind == "" || f.Kind == kind {
			out.Flags = append(out.Flags, f.ToJSON())
		}
	}
	return c.JSON(http.StatusOK, out)
}

func ValidKind(k review.FlagKind) bool {
	for _, x := range review.FlagKinds {
		if x == k {
			return true
		}
	}
	return false
}

// GET /api/v1/dashboard?since=&until=
func (h *oversightHandlers) dashboard(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "since", "until"); err != nil {
		return err
	}
	p, err := h.period(c, true)
	if err != nil {
		return err
	}
	d, err := h.o.Reviews.Dashboard(c.Request().Context(), httpkit.Principal(c), p)
	if err != nil {
		return err
	}
	var charts []string
	for _, n := range chart.Names {
		charts = append(charts, "/api/v1/dashboard/charts/"+n)
	}
	return c.JSON(http.StatusOK, dashboardJSON(d, charts))
}

// GET /api/v1/dashboard/charts/:name?since=&until= (image/svg+xml)
func (h *oversightHandlers) dashboardChart(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "since", "until"); err != nil {
		return err
	}
	p, err := h.period(c, true)
	if err != nil {
		return err
	}
	name := c.Param("name")
	if !validChart(name) {
		return workflow.Errorf(workflow.CodeNotFound, "no chart %q; charts are %s", name, strings.Join(chart.Names, ", "))
	}
	d, err := h.o.Reviews.Dashboard(c.Request().Context(), httpkit.Principal(c), p)
	if err != nil {
		return err
	}
	svg, _ := chart.Dashboard(name, d)
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	return c.Blob(http.StatusOK, "image/svg+xml", []byte(svg))
}

func validChart(name string) bool {
	for _, n := range chart.Names {
		if n == name {
			return true
		}
	}
	return false
}
