package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

type createRequestBody struct {
	Resource string `json:"resource"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
	Ticket   string `json:"ticket"`
	Purpose  string `json:"purpose"`
	// Emergency asks for break-glass access (docs/api.md).
	Emergency bool `json:"emergency"`
	// StartAt (RFC 3339), when set, schedules the access to start then.
	StartAt string `json:"start_at"`
}

// POST /api/v1/requests
func (s *API) createRequest(c echo.Context) error {
	var body createRequestBody
	if err := httpkit.DecodeJSON(c, &body, false); err != nil {
		return err
	}
	d, err := httpkit.ParseDuration(body.Duration)
	if err != nil {
		return err
	}
	startAt, err := httpkit.ParseStartAt(body.StartAt)
	if err != nil {
		return err
	}
	req, err := s.svc.Submit(c.Request().Context(), httpkit.Principal(c), workflow.SubmitInput{
		Resource: body.Resource, Duration: d, Reason: body.Reason, Ticket: body.Ticket, Purpose: body.Purpose, StartAt: startAt,
		Emergency: body.Emergency,
	})
	if err != nil {
		return err
	}
	return s.created(c, req)
}

// created answers a request just filed: 201 with its Location.
func (s *API) created(c echo.Context, req *workflow.Request) error {
	c.Response().Header().Set("Location", "/api/v1/requests/"+req.ID)
	return s.writeRequest(c, http.StatusCreated, req)
}

// writeRequest answers with one request and its provisioning status.
func (s *API) writeRequest(c echo.Context, status int, req *workflow.Request) error {
	out := requestJSON(req)
	s.attachProvisioning(c.Request().Context(), httpkit.Principal(c), &out)
	return c.JSON(status, out)
}

type extendRequestBody struct {
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

// POST /api/v1/requests/:id/extend
func (s *API) extendRequest(c echo.Context) error {
	var body extendRequestBody
	if err := httpkit.DecodeJSON(c, &body, false); err != nil {
		return err
	}
	d, err := httpkit.ParseDuration(body.Duration)
	if err != nil {
		return err
	}
	req, err := s.svc.Extend(c.Request().Context(), httpkit.Principal(c), c.Param("id"), workflow.ExtendInput{Duration: d, Reason: body.Reason})
	if err != nil {
		return err
	}
	return s.created(c, req)
}

// GET /api/v1/requests
func (s *API) listRequests(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "state", "requester", "resource", "limit", "cursor", "order"); err != nil {
		return err
	}
	limit, err := httpkit.QueryLimit(c)
	if err != nil {
		return err
	}
	state, err := workflow.ParseState(c.QueryParam("state"))
	if err != nil {
		return err
	}
	q := workflow.RequestQuery{
		State: state, Requester: c.QueryParam("requester"), Resource: c.QueryParam("resource"),
		Limit: limit, Cursor: c.QueryParam("cursor"),
	}
	switch c.QueryParam("order") {
	case "", "newest":
	case "oldest":
		q.Oldest = true
	default:
		return workflow.Errorf(workflow.CodeInvalid, "order must be newest or oldest")
	}
	reqs, next, err := s.svc.List(c.Request().Context(), httpkit.Principal(c), q)
	if err != nil {
		return err
	}
	return s.requestPage(c, reqs, next)
}

// GET /api/v1/requests/:id
func (s *API) getRequest(c echo.Context) error {
	d, err := s.svc.Get(c.Request().Context(), httpkit.Principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	out := requestJSON(d.Request)
	out.History = make([]AuditJSON, len(d.History))
	for i, h := range d.History {
		out.History[i] = auditJSON(h)
	}
	s.attachProvisioning(c.Request().Context(), httpkit.Principal(c), &out)
	return c.JSON(http.StatusOK, out)
}

// decisionBody is the body of approve, deny, cancel and revoke. "reason" is
// accepted as another name for "comment".
type decisionBody struct {
	Comment string `json:"comment"`
	Reason  string `json:"reason"`
}

func (b decisionBody) text() (string, error) {
	if b.Comment != "" && b.Reason != "" && b.Comment != b.Reason {
		return "", workflow.Errorf(workflow.CodeInvalid, "send comment or reason, not both")
	}
	if b.Comment != "" {
		return b.Comment, nil
	}
	return b.Reason, nil
}

// decision serves approve, deny, cancel and revoke: the same body, one
// service method each.
func (s *API) decision(do func(ctx context.Context, who workflow.Principal, id, comment string) (*workflow.Request, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		var body decisionBody
		if err := httpkit.DecodeJSON(c, &body, true); err != nil {
			return err
		}
		text, err := body.text()
		if err != nil {
			return err
		}
		req, err := do(c.Request().Context(), httpkit.Principal(c), c.Param("id"), text)
		if err != nil {
			return err
		}
		return s.writeRequest(c, http.StatusOK, req)
	}
}

// GET /api/v1/decisions: the pending requests the caller may decide
// ("Needs my decision" in the web UI), oldest first.
func (s *API) listDecisions(c echo.Context) error {
	return s.listPage(c, s.svc.Decisions)
}

// GET /api/v1/grants: the access live now that the caller may see (the
// web UI's live grants), newest first.
func (s *API) listGrants(c echo.Context) error {
	return s.listPage(c, s.svc.LiveGrants)
}

// listPage serves a paged listing of requests that takes only limit and
// cursor.
func (s *API) listPage(c echo.Context, list func(ctx context.Context, who workflow.Principal, limit int, cursor string) ([]*workflow.Request, string, error)) error {
	if err := httpkit.CheckQuery(c, "limit", "cursor"); err != nil {
		return err
	}
	limit, err := httpkit.QueryLimit(c)
	if err != nil {
		return err
	}
	reqs, next, err := list(c.Request().Context(), httpkit.Principal(c), limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	return s.requestPage(c, reqs, next)
}

// requestPage writes a page of requests with their provisioning status.
func (s *API) requestPage(c echo.Context, reqs []*workflow.Request, next string) error {
	out := RequestPageJSON{Requests: make([]RequestJSON, len(reqs)), NextCursor: next}
	ptrs := make([]*RequestJSON, len(reqs))
	for i, r := range reqs {
		out.Requests[i] = requestJSON(r)
		ptrs[i] = &out.Requests[i]
	}
	s.attachProvisioning(c.Request().Context(), httpkit.Principal(c), ptrs...)
	return c.JSON(http.StatusOK, out)
}
