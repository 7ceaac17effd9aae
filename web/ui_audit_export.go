package web

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/workflow"
)

// auditEncoder writes audit records in one export format.
type auditEncoder interface {
	write(r *workflow.AuditRecord) error
	// incomplete marks a file that ends early, so that nobody mistakes it
	// for the whole log.
	incomplete(msg string) error
	flush() error
}

var auditCSVHeader = []string{"id", "at", "actor", "action", "request_id", "resource", "subject", "from_state", "to_state", "reason"}

type csvAudit struct{ w *csv.Writer }

func newCSVAudit(w io.Writer) (*csvAudit, error) {
	e := &csvAudit{w: csv.NewWriter(w)}
	return e, e.w.Write(auditCSVHeader)
}

func (e *csvAudit) write(r *workflow.AuditRecord) error {
	return e.w.Write([]string{
		strconv.FormatInt(r.ID, 10), r.At.UTC().Format(time.RFC3339Nano), csvCell(r.Actor), csvCell(r.Action), r.RequestID,
		csvCell(r.Resource), csvCell(r.Subject), string(r.FromState), string(r.ToState), csvCell(r.Reason),
	})
}

func (e *csvAudit) incomplete(msg string) error {
	return e.w.Write([]string{"", "", "", "export.incomplete", "", "", "", "", "", msg})
}

func (e *csvAudit) flush() error { e.w.Flush(); return e.w.Error() }

// csvCell defuses text that a spreadsheet would run as a formula: a cell
// starting with = + - @ (or a tab or carriage return) gets a leading
// apostrophe. Reasons are typed by requesters, so this matters.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

type jsonlAudit struct{ enc *json.Encoder }

func (e *jsonlAudit) write(r *workflow.AuditRecord) error { return e.enc.Encode(auditJSON(r)) }
func (e *jsonlAudit) flush() error                        { return nil }
func (e *jsonlAudit) incomplete(msg string) error {
	return e.enc.Encode(map[string]string{"action": "export.incomplete", "reason": msg})
}

// GET /audit/export?format=csv|jsonl&FILTERS: every record of the filtered
// view (not just one page), streamed.
func (u *ui) auditExport(c echo.Context) error {
	if err := checkQuery(c, append(auditFilterParams, "format")...); err != nil {
		return err
	}
	q, err := readAuditFilter(c).query()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	who := u.viewerOf(c).Principal
	q.Limit = workflow.MaxPageSize
	// The first page is read before anything is written, so that a refused
	// query still gets a proper error page.
	recs, next, err := u.svc.Audit(ctx, who, q)
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	ctype, ext := "text/csv; charset=utf-8", "csv"
	switch format {
	case "", "csv":
	case "jsonl":
		ctype, ext = "application/x-ndjson", "jsonl"
	default:
		return workflow.Errorf(workflow.CodeInvalid, "format must be csv or jsonl")
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, ctype)
	h.Set(echo.HeaderContentDisposition, `attachment; filename="jitaccess-audit-`+u.now().Format("20060102T150405Z")+`.`+ext+`"`)
	c.Response().WriteHeader(http.StatusOK)
	var enc auditEncoder
	if ext == "csv" {
		if enc, err = newCSVAudit(c.Response()); err != nil {
			return nil
		}
	} else {
		enc = &jsonlAudit{enc: json.NewEncoder(c.Response())}
	}
	n := 0
	for {
		for _, r := range recs {
			if err := enc.write(r); err != nil {
				u.srv.log.Warn("audit export interrupted", "records", n, "err", err)
				return nil
			}
			n++
		}
		if next == "" {
			break
		}
		q.Cursor = next
		if recs, next, err = u.svc.Audit(ctx, who, q); err != nil {
			// The status is sent: the file ends early, and the log says why.
			u.srv.log.Error("audit export failed part way", "records", n, "err", err)
			_ = enc.incomplete("the export stopped after " + strconv.Itoa(n) + " records: " + workflow.ErrorMessage(err))
			break
		}
	}
	if err := enc.flush(); err != nil {
		u.srv.log.Warn("audit export interrupted", "records", n, "err", err)
	}
	return nil
}
