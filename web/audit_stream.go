package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
)

// AuditExporter streams the audit records a filter selects, oldest first,
// with their hashes. store.DB implements it.
type AuditExporter interface {
	ExportAudit(ctx context.Context, f store.AuditFilter, fn func(*audit.Record) error) error
}

// streamAudit sends every record f selects as a download in format
// (audit.FormatCSV or audit.FormatJSONL), written by package audit's one
// exporter: hashes included, spreadsheet formulas defused, verifiable
// offline with `jitaccess audit verify --file`. The API and the UI both
// use it, after the domain has allowed (and recorded) the export.
func streamAudit(c echo.Context, log *slog.Logger, x AuditExporter, f store.AuditFilter, format string, now time.Time) error {
	w, err := audit.NewWriter(c.Response(), format)
	if err != nil {
		return err
	}
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, audit.ContentType(format))
	resp.Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="jitaccess-audit-%s.%s"`, now.UTC().Format("20060102T150405Z"), format))
	resp.WriteHeader(http.StatusOK)
	if err := x.ExportAudit(c.Request().Context(), f, w.Write); err != nil {
		// The status is sent; cut the body short so that the client sees
		// a broken transfer rather than a complete-looking file.
		log.Error("audit export failed midway", "err", err, "records", w.Count())
		panic(http.ErrAbortHandler)
	}
	if err := w.Flush(); err != nil {
		log.Warn("audit export interrupted", "records", w.Count(), "err", err)
	}
	return nil
}
