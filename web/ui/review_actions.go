package ui

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// The review actions: each is one review.Service call. A refusal shows
// the review again with the API's message and status, keeping what was
// typed; success redirects with a message.

// POST /reviews (since, until, resource | person): open a review of the
// report the form describes.
func (u *UI) openReview(c echo.Context) error {
	p, _, err := u.readPeriod(c.FormValue, 30)
	if err != nil {
		return err
	}
	scope, err := scopeForm{Resource: c.FormValue("resource"), Person: c.FormValue("person")}.scope()
	if err != nil {
		return err
	}
	rev, err := u.over.Reviews.Open(c.Request().Context(), u.viewerOf(c).Principal, scope, p)
	if err != nil {
		return err
	}
	u.setFlash(c, "success", "Review opened. Go through the report, mark what needs a closer look, then sign it off.")
	return c.Redirect(http.StatusSeeOther, "/reviews/"+rev.ID)
}

// refused shows review id again after a refused action, or the error page
// when there is no review to show.
func (u *UI) refused(c echo.Context, id string, err error, form, text string) error {
	code := workflow.ErrorCode(err)
	if code == workflow.CodeNotFound || httpkit.Status(code) >= 500 || id == "" {
		return err
	}
	return u.renderReview(c, id, httpkit.Status(code), workflow.ErrorMessage(err), form, text)
}

// POST /reviews/:id/signoff (notes)
func (u *UI) signOffReview(c echo.Context) error {
	notes := c.FormValue("notes")
	rev, err := u.over.Reviews.SignOff(c.Request().Context(), u.viewerOf(c).Principal, c.Param("id"), notes)
	if err != nil {
		return u.refused(c, c.Param("id"), err, "signoff", notes)
	}
	u.setFlash(c, "success", withNote("Review signed off. The sign-off is in the audit log.", rev.Notices))
	return c.Redirect(http.StatusSeeOther, "/reviews/"+rev.ID)
}

// POST /reviews/:id/followups (kind, ref, note)
func (u *UI) markFollowUp(c echo.Context) error {
	kind, ref, note := c.FormValue("kind"), c.FormValue("ref"), c.FormValue("note")
	f, err := u.over.Reviews.MarkFollowUp(c.Request().Context(), u.viewerOf(c).Principal, c.Param("id"), kind, ref, note)
	if err != nil {
		return u.refused(c, c.Param("id"), err, "followup "+kind+" "+ref, note)
	}
	item := f.ItemKind + " " + f.ItemRef
	if f.ItemKind == review.ItemRequest || f.ItemKind == review.ItemFlag {
		item = f.ItemKind
	}
	u.setFlash(c, "success", withNote(fmt.Sprintf("Marked %s for follow-up.", item), f.Notices))
	return c.Redirect(http.StatusSeeOther, "/reviews/"+f.ReviewID+"#followups")
}

// POST /followups/:id/resolve (resolution, review): the review field only
// says which page to show again after a refusal.
func (u *UI) resolveFollowUp(c echo.Context) error {
	resolution := c.FormValue("resolution")
	f, err := u.over.Reviews.ResolveFollowUp(c.Request().Context(), u.viewerOf(c).Principal, c.Param("id"), resolution)
	if err != nil {
		return u.refused(c, c.FormValue("review"), err, "resolve "+c.Param("id"), resolution)
	}
	u.setFlash(c, "success", withNote("Follow-up resolved.", f.Notices))
	return c.Redirect(http.StatusSeeOther, "/reviews/"+f.ReviewID+"#followups")
}
