package ui

import (
	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// GET /audit/export?format=csv|jsonl&FILTERS: every record of the filtered
// view (not just one page), oldest first, in package audit's export format
// (the API's and the command line's: hashes included, so the file verifies
// with `jitaccess audit verify --file EXPORT --partial`). The service
// narrows the filter to what the viewer may read and records the export in
// the audit log before the first record is sent.
func (u *UI) auditExport(c echo.Context) error {
	if err := httpkit.CheckQuery(c, append(auditFilterParams, "format")...); err != nil {
		return err
	}
	if u.cfg.Audit == nil {
		return workflow.Errorf(workflow.CodeNotFound, "audit export is not available on this server")
	}
	format := c.QueryParam("format")
	if format == "" {
		format = audit.FormatCSV
	}
	if err := audit.CheckFormat(format); err != nil {
		return err
	}
	q, err := readAuditFilter(c).query()
	if err != nil {
		return err
	}
	q, err = u.svc.AuditExport(c.Request().Context(), u.viewerOf(c).Principal, q, format)
	if err != nil {
		return err
	}
	return httpkit.StreamAudit(c, u.log, u.cfg.Audit, store.AuditFilterOf(q), format, u.now())
}
