package ui

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// requestAction is one of the buttons on a request: the service method it
// calls and what to say when it worked.
type requestAction struct {
	name string // the form's name: approve, deny, cancel, revoke
	do   func(*workflow.Service, context.Context, workflow.Principal, string, string) (*workflow.Request, error)
	done func(r *workflow.Request, short func(time.Time) string) string
}

var (
	actionApprove = requestAction{"approve", (*workflow.Service).Approve, func(r *workflow.Request, short func(time.Time) string) string {
		switch r.State {
		case workflow.StateExtended:
			return fmt.Sprintf("Approved. %s's access to %s is extended by %s, until %s.", r.Requester, r.Resource,
				workflow.FormatDuration(r.Duration), short(derefTime(r.ExpiresAt)))
		case workflow.StateScheduled:
			return fmt.Sprintf("Approved. %s's access to %s starts at %s and lasts until %s.", r.Requester, r.Resource,
				short(derefTime(r.StartAt)), short(derefTime(r.ExpiresAt)))
		}
		if r.State == workflow.StateApproved {
			return fmt.Sprintf("Approved. %s has access to %s until %s.", r.Requester, r.Resource, short(derefTime(r.ExpiresAt)))
		}
		return fmt.Sprintf("Your approval is recorded: %s; it %s.", progressText(r), needsText(r))
	}}
	actionDeny = requestAction{"deny", (*workflow.Service).Deny, func(r *workflow.Request, _ func(time.Time) string) string {
		return fmt.Sprintf("Denied %s's request for %s.", r.Requester, r.Resource)
	}}
	actionCancel = requestAction{"cancel", (*workflow.Service).Cancel, func(r *workflow.Request, _ func(time.Time) string) string {
		if r.ApprovedAt != nil {
			return "Scheduled access cancelled."
		}
		return "Request cancelled."
	}}
	actionReview = requestAction{"review", (*workflow.Service).SignOffReview, func(r *workflow.Request, _ func(time.Time) string) string {
		if r.Review != nil && r.Review.State == workflow.ReviewSignedOff {
			return fmt.Sprintf("Your sign-off is recorded; the review of %s's emergency access to %s is signed off.", r.Requester, r.Resource)
		}
		return fmt.Sprintf("Your sign-off is recorded: %s.", r.Review.Progress())
	}}
	actionRevoke = requestAction{"revoke", (*workflow.Service).Revoke, func(r *workflow.Request, _ func(time.Time) string) string {
		if r.EndedBy == r.Requester {
			return fmt.Sprintf("You gave up your access to %s.", r.Resource)
		}
		return fmt.Sprintf("Revoked %s's access to %s.", r.Requester, r.Resource)
	}}
)

// decide serves POST /requests/:id/{approve,deny,cancel,revoke,review}: one
// service call. A refusal shows the request again with the API's message
// and status, and keeps what was typed.
func (u *UI) decide(a requestAction) echo.HandlerFunc {
	return func(c echo.Context) error {
		comment := c.FormValue("comment")
		req, err := a.do(u.svc, c.Request().Context(), u.viewerOf(c).Principal, c.Param("id"), comment)
		if err != nil {
			code := workflow.ErrorCode(err)
			if code == workflow.CodeNotFound || httpkit.Status(code) >= 500 {
				return err
			}
			return u.renderDetail(c, httpkit.Status(code), workflow.ErrorMessage(err), a.name, comment)
		}
		loc := u.zoneOf(c)
		u.setFlash(c, "success", withNote(a.done(req, func(t time.Time) string { return formatShortIn(t, loc) }), req.Notices))
		return c.Redirect(http.StatusSeeOther, localPath(c.FormValue("next"), "/requests/"+req.ID))
	}
}

// POST /requests/:id/extend: the requester asks for more time on their
// live grant (duration, reason). A refusal shows the grant again with the
// API's message and status.
func (u *UI) extend(c echo.Context) error {
	duration, reason := c.FormValue("duration"), c.FormValue("reason")
	d, err := httpkit.ParseDuration(duration)
	var ext *workflow.Request
	if err == nil {
		ext, err = u.svc.Extend(c.Request().Context(), u.viewerOf(c).Principal, c.Param("id"), workflow.ExtendInput{Duration: d, Reason: reason})
	}
	if err != nil {
		code := workflow.ErrorCode(err)
		if code == workflow.CodeNotFound || httpkit.Status(code) >= 500 {
			return err
		}
		return u.renderDetail(c, httpkit.Status(code), workflow.ErrorMessage(err), "extend", reason)
	}
	msg := fmt.Sprintf("Extension by %s sent: it needs %s.", workflow.FormatDuration(ext.Duration), plural(ext.RequiredApprovals, "approval", "approvals"))
	if ext.State == workflow.StateExtended {
		msg = fmt.Sprintf("Extended automatically: your access is live until %s.", formatShortIn(derefTime(ext.ExpiresAt), u.zoneOf(c)))
	}
	u.setFlash(c, "success", withNote(msg, ext.Notices))
	return c.Redirect(http.StatusSeeOther, "/requests/"+ext.ID)
}
