package workflow

import (
	"context"
	"slices"
	"strings"
	"time"
)

// RequestDetail is a request with its history.
type RequestDetail struct {
	*Request
	History []*AuditRecord
	// Extensions are the requests that extend this grant, newest first
	// (pending, extended, denied...).
	Extensions []*Request
}

// Get returns one request with its approvals and history, if who may see
// it: its requester, an approver of its resource, or an admin.
//
// Errors: CodeNotFound (unknown or not visible).
func (s *Service) Get(ctx context.Context, who Principal, id string) (*RequestDetail, error) {
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return nil, err
	}
	req, err := s.store.GetRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if !CanView(s.Policy(), who, req) {
		return nil, Errorf(CodeNotFound, "request %s not found", id)
	}
	hist, _, err := s.store.ListAudit(ctx, AuditQuery{RequestID: id, Ascending: true, Limit: 1000})
	if err != nil {
		return nil, err
	}
	d := &RequestDetail{Request: req, History: hist}
	if !req.IsExtension() && req.ApprovedAt != nil {
		if d.Extensions, _, err = s.store.ListRequests(ctx, RequestQuery{All: true, Extends: req.ID, Limit: MaxPageSize}); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// MaxPageSize bounds every listing.
const MaxPageSize = 500

// List returns requests who may see, filtered by q, one page at a time.
// Admins and reviewers see all (as CanView lets them); others see their
// own and those for resources they approve. Its visibility fields are set
// here, whatever the caller passed.
//
// Errors: CodeForbidden (service principals), CodeInvalid (bad filter).
func (s *Service) List(ctx context.Context, who Principal, q RequestQuery) ([]*Request, string, error) {
	if !who.IsUser() {
		return nil, "", Errorf(CodeForbidden, "%s may not list requests", who.Name())
	}
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return nil, "", err
	}
	if q.State != "" && !q.State.Valid() {
		return nil, "", Errorf(CodeInvalid, "unknown state %q; use one of %s", q.State, joinStates())
	}
	q.Requester = NormalizeEmail(q.Requester)
	q.Limit = pageSize(q.Limit)
	pol := s.Policy()
	q.All, q.Viewer, q.ViewerResources = pol.IsAdmin(who) || pol.IsReviewer(who), who.Email, nil
	if !q.All {
		for _, r := range pol.Resources {
			if pol.CanApprove(who, r) {
				q.ViewerResources = append(q.ViewerResources, r.ID)
			}
		}
	}
	return s.store.ListRequests(ctx, q)
}

func pageSize(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}

func joinStates() string {
	names := make([]string, len(States))
	for i, st := range States {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// ResourceView is a resource as one principal may use it.
type ResourceView struct {
	*Resource
	CanRequest bool
	CanApprove bool
	// CanBreakGlass: who is in the resource's break_glass groups.
	CanBreakGlass bool
}

// Resources returns the catalog as who may use it: what they may request
// or approve; admins see everything.
//
// Errors: CodeForbidden (not in the policy).
func (s *Service) Resources(ctx context.Context, who Principal) ([]ResourceView, error) {
	pol := s.Policy()
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return nil, err
	}
	if err := requireKnown(pol, who); err != nil {
		return nil, err
	}
	var out []ResourceView
	for _, r := range pol.Resources {
		v := ResourceView{Resource: r, CanRequest: pol.CanRequest(who, r), CanApprove: pol.CanApprove(who, r), CanBreakGlass: pol.IsBreakGlassMember(who, r)}
		if v.CanRequest || v.CanApprove || v.CanBreakGlass || pol.IsAdmin(who) {
			out = append(out, v)
		}
	}
	return out, nil
}

func requireKnown(pol *Policy, who Principal) error {
	if !pol.Knows(who) {
		return Errorf(CodeForbidden, "%s is not in the access policy", who.Name())
	}
	return nil
}

// Audit returns audit records: all of them for admins and reviewers, and
// for everyone else only those about their own requests.
//
// Errors: CodeForbidden (not in the policy), CodeInvalid (bad filter).
func (s *Service) Audit(ctx context.Context, who Principal, q AuditQuery) ([]*AuditRecord, string, error) {
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return nil, "", err
	}
	q, err = s.auditScope(who, q)
	if err != nil {
		return nil, "", err
	}
	q.Limit = pageSize(q.Limit)
	return s.store.ListAudit(ctx, q)
}

// auditScope checks q and narrows it to what who may read.
func (s *Service) auditScope(who Principal, q AuditQuery) (AuditQuery, error) {
	pol := s.Policy()
	if err := requireKnown(pol, who); err != nil {
		return q, err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return q, Errorf(CodeInvalid, "until must be after since")
	}
	q.Actor, q.Subject, q.Person = NormalizeEmail(q.Actor), NormalizeEmail(q.Subject), NormalizeEmail(q.Person)
	if !CanReadAllAudit(pol, who) {
		if q.Subject != "" && q.Subject != who.Email {
			return q, Errorf(CodeForbidden, "only admins and reviewers may read the audit records of other people's requests")
		}
		q.Subject = who.Email
	}
	return q, nil
}

// AuditExport prepares an export of the audit records q selects: it
// checks q as Audit does, narrows it to what who may read, and records the
// export (ActionAuditExport: who, the format, the filter) in the audit log
// in its own transaction, before any record is sent. The caller then
// streams every record the returned query selects (Cursor and Limit are
// ignored), oldest first.
//
// Errors: CodeForbidden (not in the policy), CodeInvalid (bad filter).
func (s *Service) AuditExport(ctx context.Context, who Principal, q AuditQuery, format string) (AuditQuery, error) {
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return q, err
	}
	q, err = s.auditScope(who, q)
	if err != nil {
		return q, err
	}
	q.Cursor, q.Limit, q.Ascending = "", 0, true
	rec := &AuditRecord{At: s.now(), Actor: who.Name(), Action: ActionAuditExport, Reason: "export " + format + " " + q.Describe()}
	if err := s.store.InTx(ctx, func(tx Tx) error { return tx.AppendAudit(ctx, rec) }); err != nil {
		return q, err
	}
	return q, nil
}

// Describe says in words what q selects: "(since 2026-11-01T00:00:00Z,
// person alice@example.com)", or "(everything)".
func (q AuditQuery) Describe() string {
	var parts []string
	if !q.Since.IsZero() {
		parts = append(parts, "since "+q.Since.UTC().Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		parts = append(parts, "until "+q.Until.UTC().Format(time.RFC3339))
	}
	for _, kv := range [][2]string{{"person", q.Person}, {"actor", q.Actor}, {"subject", q.Subject}, {"resource", q.Resource},
		{"request", q.RequestID}, {"action", q.Action}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	if len(parts) == 0 {
		return "(everything)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// CheckResult answers "may this user use this resource now?".
type CheckResult struct {
	Allowed bool
	// RequestID and ExpiresAt are those of the live grant, when there is
	// one (allowed or not).
	RequestID string
	ExpiresAt *time.Time
	// Provisioning is where the live grant's apply stands at the target:
	// applied, pending, failed, or none (no provisioner, or no live grant).
	Provisioning ProvisioningState
	// Outcome says why, in the words of the audit log.
	Outcome string
}

// CheckCaller applies the rules the check and mask APIs share: who may
// ask (admins and service principals with the check scope), and about
// whom and what. It returns the resource and the normalized user.
//
// Errors: CodeForbidden, CodeInvalid (missing or overlong user),
// CodeNotFound (unknown resource).
func CheckCaller(pol *Policy, who Principal, user, resource string) (*Resource, string, error) {
	if !pol.CanCheck(who) {
		return nil, "", Errorf(CodeForbidden, "only admins and service tokens with the %q scope may check grants", ScopeCheck)
	}
	user = NormalizeEmail(user)
	if user == "" {
		return nil, "", Errorf(CodeInvalid, "user is required")
	}
	if len(user) > 320 {
		return nil, "", Errorf(CodeInvalid, "user is longer than 320 characters")
	}
	res, ok := pol.Resource(resource)
	if !ok {
		return nil, "", Errorf(CodeNotFound, "unknown resource %q", resource)
	}
	return res, user, nil
}

// Check reports whether user may use resource now (see JudgeCheck: a live
// grant, still eligible, applied at the target). Admins and service
// principals with the check scope may ask. Checks are audited as
// configured (Options.AuditChecks).
//
// Errors: CodeForbidden, CodeInvalid (missing user), CodeNotFound
// (unknown resource).
func (s *Service) Check(ctx context.Context, who Principal, user, resource string) (CheckResult, error) {
	pol := s.Policy()
	res, user, err := CheckCaller(pol, who, user, resource)
	if err != nil {
		return CheckResult{}, err
	}
	now := s.now()
	out, err := s.CheckDecision(ctx, pol, res, user, now)
	if err != nil {
		return CheckResult{}, err
	}
	if s.auditChecks == AuditAllChecks || s.auditChecks == AuditAllowedChecks && out.Allowed {
		rec := &AuditRecord{At: now, Actor: who.Name(), Action: ActionCheck, RequestID: out.RequestID, Resource: resource, Subject: user, Reason: out.Outcome}
		if err := s.store.InTx(ctx, func(tx Tx) error { return tx.AppendAudit(ctx, rec) }); err != nil {
			return CheckResult{}, err
		}
	}
	return out, nil
}

// ParseState parses a state name from a filter.
func ParseState(s string) (State, error) {
	st := State(strings.TrimSpace(s))
	if st == "" || slices.Contains(States, st) {
		return st, nil
	}
	return "", Errorf(CodeInvalid, "unknown state %q; use one of %s", s, joinStates())
}
