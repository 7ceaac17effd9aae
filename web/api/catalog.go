package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// GET /api/v1/me
func (s *API) me(c echo.Context) error {
	who := httpkit.Principal(c)
	pol := s.svc.Policy()
	out := MeJSON{Name: who.Name(), Email: who.Email, Service: who.Service, Scopes: who.Scopes, Admin: pol.IsAdmin(who), Known: pol.Knows(who)}
	return c.JSON(http.StatusOK, out)
}

// GET /api/v1/resources
func (s *API) listResources(c echo.Context) error {
	if err := httpkit.CheckQuery(c); err != nil {
		return err
	}
	views, err := s.svc.Resources(c.Request().Context(), httpkit.Principal(c))
	if err != nil {
		return err
	}
	out := ResourceListJSON{Resources: make([]ResourceJSON, len(views))}
	for i, v := range views {
		out.Resources[i] = resourceJSON(v)
	}
	return c.JSON(http.StatusOK, out)
}

// GET /api/v1/grants/check?user=EMAIL&resource=ID
func (s *API) checkGrant(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "user", "resource"); err != nil {
		return err
	}
	if c.QueryParam("resource") == "" {
		return workflow.Errorf(workflow.CodeInvalid, "query parameter resource is required")
	}
	res, err := s.check(c.Request().Context(), httpkit.Principal(c), c.QueryParam("user"), c.QueryParam("resource"))
	if err != nil {
		return err
	}
	out := CheckJSON{Allowed: res.Allowed, Provisioning: res.Provisioning}
	if res.Allowed {
		out.RequestID, out.ExpiresAt = &res.RequestID, res.ExpiresAt
	}
	return c.JSON(http.StatusOK, out)
}

// GET /api/v1/audit
func (s *API) listAudit(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "request", "actor", "subject", "person", "resource", "action", "since", "until", "limit", "cursor"); err != nil {
		return err
	}
	limit, err := httpkit.QueryLimit(c)
	if err != nil {
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
	recs, next, err := s.svc.Audit(c.Request().Context(), httpkit.Principal(c), workflow.AuditQuery{
		RequestID: c.QueryParam("request"), Actor: c.QueryParam("actor"), Subject: c.QueryParam("subject"),
		Person: c.QueryParam("person"), Resource: c.QueryParam("resource"), Action: c.QueryParam("action"),
		Since: since, Until: until, Limit: limit, Cursor: c.QueryParam("cursor"),
	})
	if err != nil {
		return err
	}
	out := AuditPageJSON{Records: make([]AuditJSON, len(recs)), NextCursor: next}
	for i, r := range recs {
		out.Records[i] = auditJSON(r)
	}
	return c.JSON(http.StatusOK, out)
}
