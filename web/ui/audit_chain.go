package ui

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

// chainStatus is the audit chain's state as the audit page shows it to
// those package review lets verify the log (admins and reviewers): the
// last scheduled verification, if one has run.
type chainStatus struct {
	Last *audit.Result
}

// chainStatusFor returns the status for the viewer, or nil when they may
// not see it (or this server has no oversight).
func (u *UI) chainStatusFor(ctx context.Context, who workflow.Principal) *chainStatus {
	if u.over == nil || u.over.Reviews.AuthorizeAuditRead(ctx, who, review.ActionAuditVerify, "") != nil {
		return nil
	}
	st := &chainStatus{}
	if u.over.Status != nil {
		st.Last = u.over.Status()
	}
	return st
}

// POST /audit/verify: verify the whole chain now (admins and reviewers),
// and say what was found.
func (u *UI) verifyAudit(c echo.Context) error {
	ctx := c.Request().Context()
	if err := u.over.Reviews.AuthorizeAuditRead(ctx, u.viewerOf(c).Principal, review.ActionAuditVerify, ""); err != nil {
		return err
	}
	verify := u.over.Verify
	if verify == nil {
		verify = func(ctx context.Context) (audit.Result, error) { return audit.Verify(ctx, u.over.Audit) }
	}
	res, err := verify(ctx)
	switch {
	case err != nil:
		u.log.Error("audit verify from the web UI could not read the log", "err", err)
		u.setFlash(c, "error", "The audit log could not be read to verify it: "+workflow.ErrorMessage(workflow.Internal(err, "read the audit log")))
	case res.OK:
		u.setFlash(c, "success", fmt.Sprintf("Audit chain verified: %s checked in %s (head %s).", plural(int(res.Records), "record", "records"),
			time.Duration(res.Took).Round(time.Millisecond), shortHead(res.Head)))
	default:
		u.log.Error("audit chain BROKEN (verified from the web UI)", "record", res.Break.ID, "kind", res.Break.Kind, "message", res.Break.Message)
		u.setFlash(c, "error", fmt.Sprintf("Audit chain BROKEN at record %d (%s): %s", res.Break.ID, res.Break.Kind, res.Break.Message))
	}
	return c.Redirect(http.StatusSeeOther, "/audit")
}

// shortHead is a checkpoint with its hash cut short: 1234:4be1c0ffee12….
func shortHead(cp audit.Checkpoint) string {
	if cp.ID == 0 {
		return "none"
	}
	h := cp.Hash
	if len(h) > 12 {
		h = h[:12] + "…"
	}
	return fmt.Sprintf("%d:%s", cp.ID, h)
}
