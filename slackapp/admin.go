package slackapp

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/workflow"
)

// FailureJSON is a notification that could not be delivered, as admins
// see it.
type FailureJSON struct {
	ID        int64          `json:"id"`
	Kind      string         `json:"kind"` // channel, dm or expiry_warning
	RequestID string         `json:"request_id"`
	Event     workflow.Event `json:"event"`
	Resource  string         `json:"resource"`
	Requester string         `json:"requester"`
	Attempts  int            `json:"attempts"`
	Error     string         `json:"error"`
	CreatedAt time.Time      `json:"created_at"`
	FailedAt  *time.Time     `json:"failed_at"`
}

func (h *Handler) requireAdmin(c echo.Context) (workflow.Principal, error) {
	who, _ := workflow.PrincipalFrom(c.Request().Context())
	if !h.svc.Policy().IsAdmin(who) {
		return who, workflow.Errorf(workflow.CodeForbidden, "only admins may see and retry failed Slack deliveries")
	}
	return who, nil
}

// GET /api/v1/slack/failures?limit=N&cursor=C lists the notifications
// that failed for good (a deleted channel, a revoked token, an unknown
// requester), newest first, with the reason.
func (h *Handler) listFailures(c echo.Context) error {
	if _, err := h.requireAdmin(c); err != nil {
		return err
	}
	limit, before := 50, int64(0)
	for name, vals := range c.QueryParams() {
		v := vals[0]
		switch name {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > workflow.MaxPageSize {
				return workflow.Errorf(workflow.CodeInvalid, "limit must be a whole number from 1 to %d, not %q", workflow.MaxPageSize, v)
			}
			limit = n
		case "cursor":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return workflow.Errorf(workflow.CodeInvalid, "cursor is not valid; pass the next_cursor of a previous page")
			}
			before = n
		default:
			return workflow.Errorf(workflow.CodeInvalid, "unknown query parameter %q (known: limit, cursor)", name)
		}
	}
	jobs, err := h.cfg.Store.FailedJobsOf(c.Request().Context(), notifier.Queue, limit+1, before)
	if err != nil {
		return err
	}
	next := ""
	if len(jobs) > limit {
		jobs = jobs[:limit]
		next = strconv.FormatInt(jobs[len(jobs)-1].ID, 10)
	}
	out := FailurePageJSON{Failures: make([]FailureJSON, len(jobs)), NextCursor: next}
	for i, j := range jobs {
		var d notifier.Delivery
		_ = json.Unmarshal(j.Payload, &d) // a payload that does not decode still lists, with its error
		out.Failures[i] = FailureJSON{ID: j.ID, Kind: d.Kind, RequestID: d.Event.RequestID, Event: d.Event.Event,
			Resource: d.Event.Resource, Requester: d.Event.Requester, Attempts: j.Attempts, Error: j.LastError,
			CreatedAt: j.CreatedAt, FailedAt: j.FinishedAt}
	}
	return c.JSON(http.StatusOK, out)
}

// POST /api/v1/slack/failures/:id/retry puts a failed notification back in
// the queue (after the channel was fixed, say). The retry is audited.
func (h *Handler) retryFailure(c echo.Context) error {
	who, err := h.requireAdmin(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return workflow.Errorf(workflow.CodeNotFound, "no failed notification %q", c.Param("id"))
	}
	if err := h.cfg.Store.RetryFailedJob(c.Request().Context(), notifier.Queue, id, who.Name(), h.now()); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, RetryJSON{ID: id, State: "pending"})
}

// FailurePageJSON is a page of GET /api/v1/slack/failures.
type FailurePageJSON struct {
	Failures   []FailureJSON `json:"failures"`
	NextCursor string        `json:"next_cursor"`
}

// RetryJSON answers POST /api/v1/slack/failures/ID/retry.
type RetryJSON struct {
	ID    int64  `json:"id"`
	State string `json:"state"`
}

// Operations describe the admin endpoints for the OpenAPI document.
func Operations() []api.Operation {
	return []api.Operation{
		{Method: "GET", Path: FailuresPath, Summary: "Slack notifications that failed for good (admins)", Tag: "slack",
			Query: []api.Param{{Name: "limit", Type: "integer"}, {Name: "cursor"}}, Status: 200, Out: FailurePageJSON{}},
		{Method: "POST", Path: FailuresPath + "/{id}/retry", Summary: "Queue a failed notification again (admins; audited)", Tag: "slack",
			Status: 202, Out: RetryJSON{}, Errors: []int{404, 409}, Idempotent: true},
	}
}
