package ui

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// standardDurations are the choices the form offers, up to each resource's
// maximum (which is always offered too).
var standardDurations = []time.Duration{
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

type newRequestData struct {
	Resources []resourceChoice
	Selected  *resourceChoice
	Durations []durationChoice
	// EmergencyDurations are the choices of the emergency form, up to
	// break_glass.max_duration; Emergency says the refusal was about it.
	EmergencyDurations []durationChoice
	Emergency          bool
	Reason             string
	Ticket             string
	Purpose            string
	StartAt            string // the optional start time, as typed
}

type resourceChoice struct {
	workflow.ResourceView
	Open *workflow.Request // my pending request or live grant for it
}

type durationChoice struct {
	Value    string // as the API takes it: 30m, 2h
	Label    string
	Selected bool
}

// durationChoices lists what may be asked for r: the standard durations up
// to its maximum, and the maximum. chosen (or 1h, or the maximum when
// shorter) is preselected.
func durationChoices(max time.Duration, chosen string) []durationChoice {
	var list []time.Duration
	for _, d := range standardDurations {
		if d < max {
			list = append(list, d)
		}
	}
	list = append(list, max)
	if chosen == "" {
		chosen = workflow.FormatDuration(min(time.Hour, max))
	}
	out := make([]durationChoice, len(list))
	for i, d := range list {
		v := workflow.FormatDuration(d)
		label := humanDuration(d)
		if d == max {
			label += " (maximum)"
		}
		out[i] = durationChoice{Value: v, Label: label, Selected: v == chosen}
	}
	return out
}

// GET /requests/new[?resource=ID]: pick a resource, then say for how long
// and why. Only resources the viewer may request are offered.
func (u *UI) newRequest(c echo.Context) error {
	if err := httpkit.CheckQuery(c, "resource"); err != nil {
		return err
	}
	return u.renderNewRequest(c, http.StatusOK, c.QueryParam("resource"), "", submitted{}, "")
}

// submitted is what the form sent back, shown again after a refusal.
type submitted struct {
	reason, ticket, purpose, start string
	emergency                      bool
}

func (u *UI) renderNewRequest(c echo.Context, status int, resource, duration string, sent submitted, refusal string) error {
	ctx := c.Request().Context()
	v := u.newView(c, "New request", "requests")
	who := v.Me.Principal
	views, err := u.svc.Resources(ctx, who)
	if err != nil {
		return err
	}
	open, _, err := u.svc.List(ctx, who, workflow.RequestQuery{Requester: who.Email, OpenAt: v.Now, Limit: workflow.MaxPageSize})
	if err != nil {
		return err
	}
	d := newRequestData{Reason: sent.reason, Ticket: sent.ticket, Purpose: sent.purpose, Emergency: sent.emergency, StartAt: sent.start}
	for _, rv := range views {
		if !rv.CanRequest && !rv.CanBreakGlass {
			continue
		}
		ch := resourceChoice{ResourceView: rv}
		for _, r := range open {
			if r.Resource == rv.ID {
				ch.Open = r
			}
		}
		d.Resources = append(d.Resources, ch)
	}
	if resource != "" {
		for i := range d.Resources {
			if d.Resources[i].ID == resource {
				d.Selected = &d.Resources[i]
				d.Durations = durationChoices(d.Selected.MaxDuration, duration)
				if bg := d.Selected.BreakGlass; bg != nil && d.Selected.CanBreakGlass {
					d.EmergencyDurations = durationChoices(bg.MaxDuration, duration)
				}
			}
		}
		if d.Selected == nil && refusal == "" {
			refusal = workflow.ErrorMessage(workflow.Errorf(workflow.CodeForbidden, "%s may not request %q", who.Email, resource))
			status = http.StatusForbidden
		}
	}
	v.Error, v.Data = refusal, d
	return u.render(c, status, "new", v)
}

// confirmEmergency is the value of the emergency form's confirmation
// checkbox; without it an emergency submission is refused.
const confirmEmergency = "i-understand"

// POST /requests: the same validation as the API and Slack, because it is
// the same call. The emergency form (emergency=1) must also carry the
// explicit confirmation, checked here, not only in the browser.
func (u *UI) submitRequest(c echo.Context) error {
	resource, duration := c.FormValue("resource"), c.FormValue("duration")
	reason, ticket, purpose := c.FormValue("reason"), c.FormValue("ticket"), c.FormValue("purpose")
	emergency := c.FormValue("emergency") == "1"
	start := c.FormValue("start_at")
	d, err := httpkit.ParseDuration(duration)
	if err == nil && emergency && c.FormValue("confirm_emergency") != confirmEmergency {
		err = workflow.Errorf(workflow.CodePolicy, "confirm that this is an emergency: tick the box that says access is taken without approval and will be reviewed")
	}
	var startAt *time.Time
	loc := u.zoneOf(c)
	short := func(t time.Time) string { return formatShortIn(t, loc) }
	if err == nil {
		startAt, err = parseFormStart(start, loc)
	}
	if err == nil {
		var req *workflow.Request
		req, err = u.svc.Submit(c.Request().Context(), u.viewerOf(c).Principal, workflow.SubmitInput{
			Resource: resource, Duration: d, Reason: reason, Ticket: ticket, Purpose: purpose, StartAt: startAt, Emergency: emergency})
		if err == nil {
			msg := "Request sent: it needs " + plural(req.RequiredApprovals, "approval", "approvals") + "."
			switch {
			case req.Emergency && req.Review != nil:
				msg = "Emergency access is live until " + short(derefTime(req.ExpiresAt)) + ". The security channel has been alerted; " +
					plural(req.Review.Required, "reviewer", "reviewers") + " must sign it off by " + short(req.Review.DueAt) + "."
			case req.State == workflow.StateApproved:
				msg = "Approved automatically: your access is live until " + short(derefTime(req.ExpiresAt)) + "."
			case req.State == workflow.StateScheduled:
				msg = "Approved automatically: your access starts at " + short(derefTime(req.StartAt)) + "."
			case req.StartAt != nil:
				msg += " Access starts at " + short(*req.StartAt) + " once approved."
			}
			u.setFlash(c, "success", withNote(msg, req.Notices))
			return c.Redirect(http.StatusSeeOther, "/requests/"+req.ID)
		}
	}
	code := workflow.ErrorCode(err)
	if httpkit.Status(code) >= 500 {
		return err
	}
	return u.renderNewRequest(c, httpkit.Status(code), resource, duration, submitted{reason, ticket, purpose, start, emergency}, workflow.ErrorMessage(err))
}

// parseFormStart reads the form's optional start time: the browser's
// datetime-local value (2026-12-03T09:00), taken in the viewer's zone loc
// (the one the pages show times in), or an RFC 3339 time.
func parseFormStart(s string, loc *time.Location) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return &t, nil
		}
	}
	return httpkit.ParseStartAt(s)
}
