package ui

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

const auditPageSize = 100

// auditFilter is the audit page's filter form, as typed.
type auditFilter struct {
	Person, Resource, Request, Action, Since, Until string
}

var auditFilterParams = []string{"person", "resource", "request", "action", "since", "until"}

func readAuditFilter(c echo.Context) auditFilter {
	return auditFilter{
		Person: strings.TrimSpace(c.QueryParam("person")), Resource: strings.TrimSpace(c.QueryParam("resource")),
		Request: strings.TrimSpace(c.QueryParam("request")), Action: strings.TrimSpace(c.QueryParam("action")),
		Since: strings.TrimSpace(c.QueryParam("since")), Until: strings.TrimSpace(c.QueryParam("until")),
	}
}

// query turns the filter into the service's query.
func (f auditFilter) query() (workflow.AuditQuery, error) {
	since, err := parseFormTime("since", f.Since)
	if err != nil {
		return workflow.AuditQuery{}, err
	}
	until, err := parseFormTime("until", f.Until)
	if err != nil {
		return workflow.AuditQuery{}, err
	}
	return workflow.AuditQuery{Person: f.Person, Resource: f.Resource, RequestID: f.Request, Action: f.Action, Since: since, Until: until}, nil
}

// values is the filter as query parameters (empty ones left out).
func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"person": f.Person, "resource": f.Resource, "request": f.Request, "action": f.Action, "since": f.Since, "until": f.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// exportURL is the link to the export of f's view in format.
func exportURL(f auditFilter, format string) string {
	v := f.values()
	v.Set("format", format)
	return "/audit/export?" + v.Encode()
}

// parseFormTime reads a time from the filter form: the browser's
// datetime-local (taken as UTC), a date, or RFC 3339.
func parseFormTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, workflow.Errorf(workflow.CodeInvalid, "%s %q is not a time; use 2026-01-02 or 2026-01-02T15:04 (UTC)", name, s)
}

type auditData struct {
	Filter    auditFilter
	Records   []*workflow.AuditRecord
	Pager     pager
	Actions   []string
	Resources []string
	AllOfIt   bool // the viewer sees every record (admins, reviewers)
	// ExportCSV and ExportJSONL link to the export of this view. Built
	// here, whole: in the template, a query after "?" would have its "="
	// escaped as data.
	ExportCSV, ExportJSONL string
	CanExport              bool
	Chain                  *chainStatus // nil unless the viewer may verify the chain
}

// auditActions lists the actions the filter offers.
func auditActions() []string {
	out := make([]string, 0, len(workflow.Events)+6)
	for _, e := range workflow.Events {
		out = append(out, string(e))
	}
	return append(out, workflow.ActionCheck, workflow.ActionTokenCreate, workflow.ActionTokenRevoke,
		identity.ActionSignIn, identity.ActionSignOut, identity.ActionSessionRevoke,
		review.ActionReviewOpen, review.ActionReviewSignOff, review.ActionFollowUp, review.ActionFollowUpDone, workflow.ActionAuditExport,
		workflow.ActionPolicyLoaded, workflow.ActionPolicyLoadRefused,
		workflow.ActionDirectoryUserCreate, workflow.ActionDirectoryUserUpdate, workflow.ActionDirectoryUserDeactivate,
		workflow.ActionDirectoryUserReactivate, workflow.ActionDirectoryUserDelete, workflow.ActionDirectoryGroupCreate,
		workflow.ActionDirectoryGroupUpdate, workflow.ActionDirectoryGroupDelete)
}

// GET /audit: the audit log, filtered; admins see all of it, everyone else
// the records about their own requests (the service decides).
func (u *UI) audit(c echo.Context) error {
	if err := httpkit.CheckQuery(c, append(auditFilterParams, "cursor")...); err != nil {
		return err
	}
	v := u.newView(c, "Audit log", "audit")
	f := readAuditFilter(c)
	d := auditData{Filter: f, Actions: auditActions(), AllOfIt: workflow.CanReadAllAudit(u.svc.Policy(), v.Me.Principal),
		ExportCSV: exportURL(f, audit.FormatCSV), ExportJSONL: exportURL(f, audit.FormatJSONL),
		CanExport: u.cfg.Audit != nil, Chain: u.chainStatusFor(c.Request().Context(), v.Me.Principal)}
	for _, r := range u.svc.Policy().Resources {
		d.Resources = append(d.Resources, r.ID)
	}
	q, err := f.query()
	if err == nil {
		q.Limit, q.Cursor = auditPageSize, c.QueryParam("cursor")
		var next string
		d.Records, next, err = u.svc.Audit(c.Request().Context(), v.Me.Principal, q)
		d.Pager = pagerFor(c, next)
	}
	status := http.StatusOK
	if err != nil {
		code := workflow.ErrorCode(err)
		if httpkit.Status(code) >= 500 {
			return err
		}
		status, v.Error = httpkit.Status(code), workflow.ErrorMessage(err)
	}
	v.Data = d
	return u.render(c, status, "audit", v)
}
