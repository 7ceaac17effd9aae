package httpkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// AuditExporter streams the audit records a filter selects, oldest first,
// with their hashes. store.DB implements it.
type AuditExporter interface {
	ExportAudit(ctx context.Context, f store.AuditFilter, fn func(*audit.Record) error) error
}

// ExportWriteTimeout is how long one write of an audit export may take.
// An export runs as long as the log is large and the client reads: it
// clears the server's WriteTimeout for its response and instead gives each
// write (64 KiB, see audit.NewWriter) this long, so that a client that
// stops reading is still cut off.
const ExportWriteTimeout = 30 * time.Second

// writeDeadlines renews the connection's write deadline before each write.
type writeDeadlines struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *writeDeadlines) Write(p []byte) (int, error) {
	if err := d.rc.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return d.w.Write(p)
}

// StreamAudit sends every record f selects as a download in format
// (audit.FormatCSV or audit.FormatJSONL), written by package audit's one
// exporter: hashes included, spreadsheet formulas defused, verifiable
// offline with `jitaccess audit verify --file`. The API and the UI both
// use it, after the domain has allowed (and recorded) the export.
func StreamAudit(c echo.Context, log *slog.Logger, x AuditExporter, f store.AuditFilter, format string, now time.Time) error {
	resp := c.Response()
	// Before the first byte: from here on each write has its own deadline
	// rather than the server's, which counts from the request.
	rc := http.NewResponseController(resp)
	if err := rc.SetWriteDeadline(time.Now().Add(ExportWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return workflow.Internal(err, "set the export's write deadline")
	}
	w, err := audit.NewWriter(&writeDeadlines{w: resp, rc: rc, timeout: ExportWriteTimeout}, format)
	if err != nil {
		return err
	}
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
