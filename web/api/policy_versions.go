package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// PolicyVersionJSON is one entry of GET /api/v1/policy/versions.
type PolicyVersionJSON struct {
	Version  int                 `json:"version"`
	SHA256   string              `json:"sha256"`
	Trigger  string              `json:"trigger"`
	LoadedAt time.Time           `json:"loaded_at"`
	LoadedBy string              `json:"loaded_by"`
	Source   string              `json:"source"`
	Diff     workflow.PolicyDiff `json:"diff"`
	Summary  string              `json:"summary"` // the diff in one line
	Lowered  bool                `json:"lowered"`
}

// GET /api/v1/policy/versions: the policy history, newest first (admins
// and reviewers).
func (s *API) listPolicyVersions(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "limit", "cursor"); err != nil {
		return err
	}
	limit, err := httpkit.QueryLimit(c)
	if err != nil {
		return err
	}
	vs, next, err := s.svc.PolicyVersions(c.Request().Context(), httpkit.Principal(c), workflow.PolicyVersionQuery{Limit: limit, Cursor: c.QueryParam("cursor")})
	if err != nil {
		return err
	}
	out := PolicyVersionPageJSON{Versions: make([]PolicyVersionJSON, len(vs)), NextCursor: next}
	for i, v := range vs {
		out.Versions[i] = PolicyVersionJSON{Version: v.Version, SHA256: v.SHA256, Trigger: string(v.Trigger), LoadedAt: v.LoadedAt,
			LoadedBy: v.LoadedBy, Source: v.Source, Diff: v.Diff, Summary: v.Diff.String(), Lowered: v.Lowered}
	}
	return c.JSON(http.StatusOK, out)
}

// GET /api/v1/policy/explain?user=EMAIL&resource=ID: what would happen if
// user asked for resource now (admins and reviewers; workflow.Explain).
func (s *API) explainPolicy(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "user", "resource"); err != nil {
		return err
	}
	x, err := s.svc.Explain(c.Request().Context(), httpkit.Principal(c), c.QueryParam("user"), c.QueryParam("resource"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, x)
}
