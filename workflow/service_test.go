package workflow_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func TestTwoPersonLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)

		req := submit(t, svc, alice, "crm-payments", 2*time.Hour)
		if req.State != workflow.StatePending || req.RequiredApprovals != 2 {
			t.Fatalf("submitted: state %s, required %d", req.State, req.RequiredApprovals)
		}
		c.Advance(time.Minute)
		r, err := svc.Approve(ctx, carol, req.ID, "ok")
		if err != nil {
			t.Fatal(err)
		}
		if r.State != workflow.StatePending || len(r.Approvals) != 1 {
			t.Fatalf("after one approval: state %s, %d approvals", r.State, len(r.Approvals))
		}
		_, err = svc.Approve(ctx, carol, req.ID, "again")
		wantCode(t, err, workflow.CodeDuplicate)

		c.Advance(time.Minute)
		r, err = svc.Approve(ctx, dave, req.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.State != workflow.StateApproved {
			t.Fatalf("after two approvals: state %s", r.State)
		}
		approvedAt := c.Now()
		if !r.ApprovedAt.Equal(approvedAt) || !r.ExpiresAt.Equal(approvedAt.Add(2*time.Hour)) {
			t.Fatalf("approved_at %v expires_at %v, want %v and +2h", r.ApprovedAt, r.ExpiresAt, approvedAt)
		}

		got, err := svc.Get(ctx, alice, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != workflow.StateApproved || len(got.Approvals) != 2 || got.Approvals[0].Approver != carol.Email {
			t.Fatalf("stored request: %+v", got.Request)
		}
		check, err := svc.Check(ctx, checker, "alice@example.com", "crm-payments")
		if err != nil || !check.Allowed || check.RequestID != req.ID {
			t.Fatalf("check while live = %+v, %v", check, err)
		}

		// The sweeper ends it at expires_at, not before.
		c.Advance(2*time.Hour - time.Second)
		if res, err := svc.Sweep(ctx); err != nil || res.Expired != 0 {
			t.Fatalf("early sweep: %+v %v", res, err)
		}
		c.Advance(time.Second)
		check, _ = svc.Check(ctx, checker, "alice@example.com", "crm-payments")
		if check.Allowed {
			t.Fatal("check allowed at expires_at, before the sweep")
		}
		if res, err := svc.Sweep(ctx); err != nil || res.Expired != 1 {
			t.Fatalf("sweep: %+v %v", res, err)
		}
		if res, err := svc.Sweep(ctx); err != nil || res.Expired != 0 {
			t.Fatalf("second sweep: %+v %v", res, err)
		}
		got, _ = svc.Get(ctx, alice, req.ID)
		if got.State != workflow.StateExpired || !got.EndedAt.Equal(*got.ExpiresAt) || got.EndedBy != "system" {
			t.Fatalf("after sweep: state %s ended_at %v by %q", got.State, got.EndedAt, got.EndedBy)
		}
		want := []string{"submit:>pending", "approve:pending>pending", "approve:pending>approved", "check:>", "expire:approved>expired"}
		if acts := auditActions(t, db, req.ID); !slices.Equal(acts, want) {
			t.Fatalf("audit = %v, want %v", acts, want)
		}
		for _, h := range got.History {
			if h.RequestID != req.ID || h.Resource != "crm-payments" || h.Subject != "alice@example.com" || h.At.IsZero() {
				t.Fatalf("audit record incomplete: %+v", h)
			}
		}
		if got.History[3].Actor != "service:helpdesk" || !strings.HasPrefix(got.History[3].Reason, "allowed until") {
			t.Fatalf("check audit: %+v", got.History[3])
		}
		if got.History[1].Actor != "carol@example.com" || got.History[1].Reason != "ok" {
			t.Fatalf("approval audit: %+v", got.History[1])
		}
	})
}

func TestSubmitRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newService(t, db, newClock())
		cases := []struct {
			name string
			who  workflow.Principal
			in   workflow.SubmitInput
			code workflow.Code
			msg  string
		}{
			{"unknown resource", alice, workflow.SubmitInput{Resource: "nope", Duration: time.Hour, Reason: "x"}, workflow.CodePolicy, `unknown resource "nope"`},
			{"missing resource", alice, workflow.SubmitInput{Duration: time.Hour, Reason: "x"}, workflow.CodePolicy, "resource is required"},
			{"too long", alice, workflow.SubmitInput{Resource: "crm-payments", Duration: 2*time.Hour + time.Second, Reason: "x"}, workflow.CodePolicy, "longer than the maximum of 2h"},
			{"zero duration", alice, workflow.SubmitInput{Resource: "crm-payments", Reason: "x"}, workflow.CodePolicy, "positive"},
			{"negative duration", alice, workflow.SubmitInput{Resource: "crm-payments", Duration: -time.Hour, Reason: "x"}, workflow.CodePolicy, "positive"},
			{"fractional seconds", alice, workflow.SubmitInput{Resource: "crm-payments", Duration: 1500 * time.Millisecond, Reason: "x"}, workflow.CodePolicy, "whole number of seconds"},
			{"no reason", alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour}, workflow.CodePolicy, "reason is required"},
			{"blank reason", alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: " \n\t "}, workflow.CodePolicy, "reason is required"},
			{"reason too long", alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: strings.Repeat("x", 1001)}, workflow.CodePolicy, "limit is 1000"},
			{"control chars", alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "a\x00b"}, workflow.CodeInvalid, "control characters"},
			{"not a requester", carol, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "x"}, workflow.CodeForbidden, "may not request"},
			{"not in policy", nobody, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "x"}, workflow.CodeForbidden, "not in the access policy"},
			{"service", checker, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "x"}, workflow.CodeForbidden, "only people"},
		}
		for _, tc := range cases {
			_, err := svc.Submit(ctx, tc.who, tc.in)
			if workflow.ErrorCode(err) != tc.code || !strings.Contains(workflow.ErrorMessage(err), tc.msg) {
				t.Errorf("%s: got %v, want %s containing %q", tc.name, err, tc.code, tc.msg)
			}
		}
		page, _, err := db.ListRequests(ctx, workflow.RequestQuery{All: true, Limit: 10})
		if err != nil || len(page) != 0 {
			t.Fatalf("refused submissions stored something: %d rows, %v", len(page), err)
		}

		// Reason and ticket are trimmed; the exact max duration is fine.
		r, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: 2 * time.Hour, Reason: "  case 42  ", Ticket: " SUP-1 "})
		if err != nil || r.Reason != "case 42" || r.Ticket != "SUP-1" {
			t.Fatalf("trim: %+v %v", r, err)
		}
		// One open request per person and resource.
		_, err = svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "again"})
		wantCode(t, err, workflow.CodeInvalidState)
	})
}

func TestApprovalRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)

		// Low tier with auto_approve is approved at once, by the system.
		kb := submit(t, svc, alice, "kb-drafts", 4*time.Hour)
		if kb.State != workflow.StateApproved || kb.ExpiresAt == nil || !kb.ExpiresAt.Equal(c.Now().Add(4*time.Hour)) {
			t.Fatalf("auto-approved: %+v", kb)
		}
		if acts := auditActions(t, db, kb.ID); !slices.Equal(acts, []string{"submit:>pending", "auto_approve:pending>approved"}) {
			t.Fatalf("auto-approve audit = %v", acts)
		}
		// Low tier without auto_approve needs one approval.
		ac := submit(t, svc, alice, "admin-console", time.Hour)
		if ac.State != workflow.StatePending || ac.RequiredApprovals != 1 {
			t.Fatalf("low without auto_approve: %+v", ac)
		}
		if r, err := svc.Approve(ctx, erin, ac.ID, ""); err != nil || r.State != workflow.StateApproved {
			t.Fatalf("one approval of low tier: %v %v", r, err)
		}

		pay := submit(t, svc, alice, "crm-payments", time.Hour)
		_, err := svc.Approve(ctx, alice, pay.ID, "")
		wantCode(t, err, workflow.CodeForbidden) // own request
		_, err = svc.Approve(ctx, bob, pay.ID, "")
		wantCode(t, err, workflow.CodeNotFound) // another agent cannot even see it
		_, err = svc.Approve(ctx, frank, pay.ID, "")
		wantCode(t, err, workflow.CodeNotFound) // approver of another resource
		_, err = svc.Approve(ctx, root, pay.ID, "")
		wantCode(t, err, workflow.CodeForbidden) // admins are not approvers
		_, err = svc.Approve(ctx, carol, "not-a-uuid", "")
		wantCode(t, err, workflow.CodeNotFound)
		_, err = svc.Approve(ctx, carol, "0190a0a0-0000-7000-8000-000000000000", "")
		wantCode(t, err, workflow.CodeNotFound)

		// Self-approval is refused even for someone in the approver group.
		self, err := svc.Submit(ctx, carol, workflow.SubmitInput{Resource: "self-serve", Duration: time.Hour, Reason: "x"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Approve(ctx, carol, self.ID, "")
		wantCode(t, err, workflow.CodeForbidden)
		if _, err := svc.Approve(ctx, alice, self.ID, ""); err != nil {
			t.Fatalf("another member approves: %v", err)
		}

		// A resource may require more than its tier's minimum.
		db3 := submit(t, svc, alice, "prod-db", time.Hour)
		if db3.RequiredApprovals != 3 {
			t.Fatalf("prod-db required = %d", db3.RequiredApprovals)
		}
		// prod-db is critical: an approval without a comment is refused.
		if _, err := svc.Approve(ctx, stepped(svc, frank), db3.ID, " "); workflow.ErrorCode(err) != workflow.CodePolicy {
			t.Fatalf("critical approval without a comment: err = %v, want %s", err, workflow.CodePolicy)
		}
		for i, who := range []workflow.Principal{frank, carol, dave} {
			r, err := svc.Approve(ctx, stepped(svc, who), db3.ID, "checked the change ticket")
			if err != nil {
				t.Fatal(err)
			}
			if want := i == 2; (r.State == workflow.StateApproved) != want {
				t.Fatalf("after %d approvals state = %s", i+1, r.State)
			}
		}

		// One deny ends it; deny needs a reason; nobody decides twice.
		notes := submit(t, svc, bob, "crm-notes", time.Hour)
		_, err = svc.Deny(ctx, carol, notes.ID, "  ")
		wantCode(t, err, workflow.CodePolicy)
		_, err = svc.Deny(ctx, bob, notes.ID, "no")
		wantCode(t, err, workflow.CodeForbidden)
		r, err := svc.Deny(ctx, carol, notes.ID, "use the redacted view")
		if err != nil || r.State != workflow.StateDenied || r.EndReason != "use the redacted view" || r.EndedBy != carol.Email {
			t.Fatalf("deny: %+v %v", r, err)
		}
		_, err = svc.Approve(ctx, dave, notes.ID, "")
		wantCode(t, err, workflow.CodeInvalidState)
		if !strings.Contains(workflow.ErrorMessage(err), "request is denied") {
			t.Fatalf("invalid state message does not name the state: %q", workflow.ErrorMessage(err))
		}
	})
}

func TestCancelRevokeRelinquish(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)

		p := submit(t, svc, alice, "crm-notes", time.Hour)
		_, err := svc.Cancel(ctx, carol, p.ID, "")
		wantCode(t, err, workflow.CodeForbidden)
		_, err = svc.Revoke(ctx, carol, p.ID, "stop")
		wantCode(t, err, workflow.CodeInvalidState)
		r, err := svc.Cancel(ctx, alice, p.ID, "solved it")
		if err != nil || r.State != workflow.StateCancelled {
			t.Fatalf("cancel: %+v %v", r, err)
		}
		_, err = svc.Cancel(ctx, alice, p.ID, "")
		wantCode(t, err, workflow.CodeInvalidState)

		// The requester relinquishes live access, no reason needed.
		live := submit(t, svc, alice, "crm-notes", time.Hour)
		if _, err := svc.Approve(ctx, carol, live.ID, ""); err != nil {
			t.Fatal(err)
		}
		_, err = svc.Cancel(ctx, alice, live.ID, "")
		wantCode(t, err, workflow.CodeInvalidState)
		r, err = svc.Revoke(ctx, alice, live.ID, "")
		if err != nil || r.State != workflow.StateRevoked || r.EndedBy != alice.Email {
			t.Fatalf("relinquish: %+v %v", r, err)
		}
		if acts := auditActions(t, db, live.ID); acts[len(acts)-1] != "relinquish:approved>revoked" {
			t.Fatalf("relinquish audit = %v", acts)
		}

		// An approver or an admin revokes, with a reason; others cannot.
		for _, who := range []workflow.Principal{dave, root} {
			g := submit(t, svc, bob, "crm-notes", time.Hour)
			if _, err := svc.Approve(ctx, carol, g.ID, ""); err != nil {
				t.Fatal(err)
			}
			_, err = svc.Revoke(ctx, who, g.ID, "")
			wantCode(t, err, workflow.CodePolicy)
			_, err = svc.Revoke(ctx, alice, g.ID, "mine now")
			wantCode(t, err, workflow.CodeNotFound)
			_, err = svc.Revoke(ctx, frank, g.ID, "dba says no")
			wantCode(t, err, workflow.CodeNotFound)
			c.Advance(time.Minute)
			r, err := svc.Revoke(ctx, who, g.ID, "case closed")
			if err != nil || r.State != workflow.StateRevoked || !r.EndedAt.Equal(c.Now()) {
				t.Fatalf("revoke by %s: %+v %v", who.Email, r, err)
			}
			chk, _ := svc.Check(ctx, root, bob.Email, "crm-notes")
			if chk.Allowed {
				t.Fatal("revoked access still checks as allowed")
			}
		}

		// Revoking after expiry (before the sweeper) is refused: it has lapsed.
		g := submit(t, svc, bob, "crm-notes", time.Minute)
		if _, err := svc.Approve(ctx, carol, g.ID, ""); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Minute)
		_, err = svc.Revoke(ctx, carol, g.ID, "late")
		wantCode(t, err, workflow.CodeInvalidState)
		if !strings.Contains(workflow.ErrorMessage(err), "expired") {
			t.Fatalf("lapsed revoke message: %q", workflow.ErrorMessage(err))
		}
		// A new request for the same resource ends the lapsed one first.
		if _, err := svc.Submit(ctx, bob, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "again"}); err != nil {
			t.Fatalf("resubmit after lapse: %v", err)
		}
		old, _ := svc.Get(ctx, bob, g.ID)
		if old.State != workflow.StateExpired {
			t.Fatalf("lapsed request state = %s", old.State)
		}
	})
}

func TestTimeout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		p := submit(t, svc, alice, "crm-payments", time.Hour)
		if _, err := svc.Approve(ctx, carol, p.ID, ""); err != nil {
			t.Fatal(err)
		}
		c.Advance(24 * time.Hour)
		_, err := svc.Approve(ctx, dave, p.ID, "")
		wantCode(t, err, workflow.CodeInvalidState)
		res, err := svc.Sweep(ctx)
		if err != nil || res.TimedOut != 1 || res.Expired != 0 {
			t.Fatalf("sweep: %+v %v", res, err)
		}
		got, _ := svc.Get(ctx, alice, p.ID)
		if got.State != workflow.StateTimedOut || !got.EndedAt.Equal(got.ReviewDeadline) {
			t.Fatalf("timed out: %+v", got.Request)
		}
	})
}

func TestVisibility(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newService(t, db, newClock())
		a := submit(t, svc, alice, "crm-payments", time.Hour)
		b := submit(t, svc, bob, "crm-notes", time.Hour)
		d := submit(t, svc, carol, "prod-db", time.Hour)

		ids := func(who workflow.Principal, q workflow.RequestQuery) []string {
			t.Helper()
			reqs, _, err := svc.List(ctx, who, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range reqs {
				out = append(out, r.ID)
			}
			slices.Sort(out)
			return out
		}
		sorted := func(s ...string) []string { slices.Sort(s); return s }
		for _, tc := range []struct {
			who  workflow.Principal
			want []string
		}{
			{alice, sorted(a.ID)},
			{bob, sorted(b.ID)},
			{carol, sorted(a.ID, b.ID, d.ID)}, // approves crm-*, requested prod-db
			{frank, sorted(d.ID)},             // approves prod-db only
			{root, sorted(a.ID, b.ID, d.ID)},
			{ann, sorted(a.ID, b.ID, d.ID)}, // a reviewer
			{nobody, nil},
		} {
			if got := ids(tc.who, workflow.RequestQuery{}); !slices.Equal(got, tc.want) {
				t.Errorf("%s sees %v, want %v", tc.who.Email, got, tc.want)
			}
		}
		// A filter cannot widen what one sees.
		if got := ids(alice, workflow.RequestQuery{Requester: "bob@example.com"}); len(got) != 0 {
			t.Errorf("alice filtering by bob sees %v", got)
		}
		if _, err := svc.Get(ctx, bob, a.ID); workflow.ErrorCode(err) != workflow.CodeNotFound {
			t.Errorf("bob reading alice's request: %v", err)
		}
		if _, err := svc.Get(ctx, carol, a.ID); err != nil {
			t.Errorf("approver reading: %v", err)
		}
		// People outside the policy may read only their own requests.
		if _, err := svc.Resources(ctx, nobody); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Errorf("nobody lists resources: %v", err)
		}
		if _, _, err := svc.Audit(ctx, nobody, workflow.AuditQuery{}); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Errorf("nobody reads audit: %v", err)
		}
		// Non-admins see audit records of their own requests only.
		recs, _, err := svc.Audit(ctx, alice, workflow.AuditQuery{})
		if err != nil || len(recs) != 1 || recs[0].RequestID != a.ID {
			t.Fatalf("alice's audit: %d records, %v", len(recs), err)
		}
		if _, _, err := svc.Audit(ctx, alice, workflow.AuditQuery{Subject: "bob@example.com"}); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Errorf("alice reads bob's audit: %v", err)
		}
		recs, _, _ = svc.Audit(ctx, root, workflow.AuditQuery{})
		if len(recs) != 3 {
			t.Fatalf("admin sees %d audit records, want 3", len(recs))
		}
		// Reviewers read every request and the whole log, and may do
		// nothing to a request.
		if recs, _, _ := svc.Audit(ctx, ann, workflow.AuditQuery{}); len(recs) != 3 {
			t.Fatalf("reviewer sees %d audit records, want 3", len(recs))
		}
		if _, err := svc.Get(ctx, ann, a.ID); err != nil {
			t.Errorf("reviewer reading a request: %v", err)
		}
		if _, err := svc.Approve(ctx, ann, a.ID, ""); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Errorf("reviewer approving: %v", err)
		}
		// An export is narrowed like a read, and recorded before it starts.
		q, err := svc.AuditExport(ctx, alice, workflow.AuditQuery{Person: "Bob@Example.com", Cursor: "x", Limit: 3}, "csv")
		if err != nil || q.Subject != "alice@example.com" || q.Person != "bob@example.com" || q.Cursor != "" || q.Limit != 0 || !q.Ascending {
			t.Fatalf("alice's export: %+v %v", q, err)
		}
		recs, _, _ = svc.Audit(ctx, root, workflow.AuditQuery{Action: workflow.ActionAuditExport})
		if len(recs) != 1 || recs[0].Actor != "alice@example.com" || recs[0].Reason != "export csv (person bob@example.com, subject alice@example.com)" {
			t.Fatalf("export record: %+v", recs)
		}
		if q, err := svc.AuditExport(ctx, ann, workflow.AuditQuery{}, "jsonl"); err != nil || q.Subject != "" {
			t.Errorf("reviewer's export: %+v %v", q, err)
		}
		for _, tc := range []struct {
			who workflow.Principal
			q   workflow.AuditQuery
		}{
			{alice, workflow.AuditQuery{Subject: "bob@example.com"}},
			{nobody, workflow.AuditQuery{}},
		} {
			if _, err := svc.AuditExport(ctx, tc.who, tc.q, "csv"); workflow.ErrorCode(err) != workflow.CodeForbidden {
				t.Errorf("export by %s of %+v: %v", tc.who.Email, tc.q, err)
			}
		}
		if recs, _, _ = svc.Audit(ctx, root, workflow.AuditQuery{Action: workflow.ActionAuditExport}); len(recs) != 2 {
			t.Fatalf("refused exports were recorded: %d records", len(recs))
		}
		// Check is for admins and check-scoped services only.
		if _, err := svc.Check(ctx, carol, "alice@example.com", "crm-payments"); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Errorf("approver calls check: %v", err)
		}
		if _, err := svc.Check(ctx, workflow.ServiceAccount("x"), "alice@example.com", "crm-payments"); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Errorf("unscoped service calls check: %v", err)
		}
		if _, err := svc.Check(ctx, checker, "alice@example.com", "nope"); workflow.ErrorCode(err) != workflow.CodeNotFound {
			t.Errorf("check unknown resource: %v", err)
		}
	})
}

func TestPagination(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		var want []string
		for i := 0; i < 7; i++ {
			r := submit(t, svc, alice, "kb-drafts", time.Minute) // auto-approved
			if _, err := svc.Revoke(ctx, alice, r.ID, ""); err != nil {
				t.Fatal(err)
			}
			want = append([]string{r.ID}, want...) // newest first
			if i%2 == 0 {
				c.Advance(time.Millisecond)
			}
		}
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			page, next, err := svc.List(ctx, alice, workflow.RequestQuery{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				got = append(got, r.ID)
			}
			if next == "" {
				break
			}
			cursor = next
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged = %v\nwant %v", got, want)
		}
		_, _, err := svc.List(ctx, alice, workflow.RequestQuery{Cursor: "!!"})
		wantCode(t, err, workflow.CodeInvalid)
		_, _, err = svc.List(ctx, alice, workflow.RequestQuery{State: "bogus"})
		wantCode(t, err, workflow.CodeInvalid)
	})
}
