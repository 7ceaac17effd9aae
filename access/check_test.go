package access_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestCheckJudgesThePersonAsTheyAreNow: a live grant stops allowing as
// soon as the person may no longer request the resource (a policy reload,
// a directory deactivation), before any reconcile ends it; the cached
// decision does not outlive the change.
func TestCheckJudgesThePersonAsTheyAreNow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range []struct {
			name   string
			change func(t *testing.T, e *env)
		}{
			{"policy no longer lists them", func(t *testing.T, e *env) {
				pol, err := workflow.ParsePolicy("p.yaml", []byte(strings.Replace(policy, "agents: [alice@example.com, bob@example.com]", "agents: [bob@example.com]", 1)))
				if err != nil {
					t.Fatal(err)
				}
				e.svc.SetPolicy(pol)
			}},
			{"directory deactivated them", func(t *testing.T, e *env) {
				now := workflow.Now()
				if err := e.db.Gorm().Exec(`INSERT INTO directory_people (id, user_name, active, created_at, updated_at, version)
					VALUES ('p1', 'alice@example.com', false, ?, ?, 1)`, now, now).Error; err != nil {
					t.Fatal(err)
				}
				e.chk.DropUsers([]string{"Alice@Example.com"}) // what OnDirectoryChange runs
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, storetest.Open(t, db.Kind()), access.Options{TokenKey: tokenKey, CacheTTL: time.Hour})
				ctx := context.Background()
				req := e.grant(t)
				waitReleased(t, e.chk)
				r, err := e.chk.Check(ctx, helpdesk, "alice@example.com", "crm-payments")
				if err != nil || !r.Allowed || r.Provisioning != workflow.ProvisioningNone {
					t.Fatalf("before: %+v %v", r, err)
				}
				tc.change(t, e)
				r, err = e.chk.Check(ctx, helpdesk, "alice@example.com", "crm-payments")
				if err != nil || r.Allowed || r.Outcome != workflow.OutcomeIneligible || r.RequestID != req.ID {
					t.Fatalf("after: %+v %v", r, err)
				}
				m, err := e.chk.Mask(ctx, helpdesk, "alice@example.com", "crm-payments", record(t))
				if err != nil || m.Allowed || len(m.Masked) == 0 {
					t.Fatalf("mask after: %+v %v", m, err)
				}
				// The service's uncached check says the same.
				if r, err := e.svc.Check(ctx, helpdesk, "alice@example.com", "crm-payments"); err != nil || r.Allowed || r.Outcome != workflow.OutcomeIneligible {
					t.Fatalf("service check after: %+v %v", r, err)
				}
				audit, _, err := e.db.ListAudit(ctx, workflow.AuditQuery{Action: workflow.ActionCheck, Limit: 1})
				if err != nil || len(audit) != 1 || audit[0].Reason != workflow.OutcomeIneligible {
					t.Fatalf("audit: %+v %v", audit, err)
				}
				maskAudit, _, err := e.db.ListAudit(ctx, workflow.AuditQuery{Action: access.ActionMask, Limit: 1})
				if err != nil || len(maskAudit) != 1 || !strings.HasPrefix(maskAudit[0].Reason, "no longer eligible; masked") {
					t.Fatalf("mask audit: %+v %v", maskAudit, err)
				}
			})
		}
	})
}

// TestCacheDrops: the invalidations other parts call drop what they name
// and nothing else.
func TestCacheDrops(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, access.Options{TokenKey: tokenKey, CacheTTL: time.Hour, AuditMode: workflow.AuditNoChecks})
		ctx := context.Background()
		req := e.grant(t)
		waitReleased(t, e.chk)
		check := func(resource string) bool {
			t.Helper()
			r, err := e.chk.Check(ctx, helpdesk, "alice@example.com", resource)
			if err != nil {
				t.Fatal(err)
			}
			return r.Allowed
		}
		// Cache both keys, then end the grant behind the checker's back.
		if !check("crm-payments") || check("crm-notes") {
			t.Fatal("setup")
		}
		if err := db.Gorm().Exec(`UPDATE requests SET state = 'revoked', version = version + 1 WHERE id = ?`, req.ID).Error; err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			drop  func()
			stale bool // the crm-payments entry is still served
		}{
			{"unrelated resource", func() { e.chk.Invalidate("alice@example.com", "crm-notes") }, true},
			{"unrelated person", func() { e.chk.DropUsers([]string{"bob@example.com"}) }, true},
			{"unrelated notice", func() {
				e.chk.Apply(access.Notice{Kind: access.NoticeGrant, User: "bob@example.com", Resource: "crm-payments"})
			}, true},
			// Token notices are the token cache's: decisions stay.
			{"token notice", func() { e.chk.Apply(access.Notice{Kind: access.NoticeToken, Token: "01a2"}) }, true},
			{"token notice, every token", func() { e.chk.Apply(access.Notice{Kind: access.NoticeToken}) }, true},
			{"grant notice", func() {
				e.chk.Apply(access.Notice{Kind: access.NoticeGrant, User: "alice@example.com", Resource: "crm-payments"})
			}, false},
			{"provisioning notice", func() {
				e.chk.Apply(access.Notice{Kind: access.NoticeProvisioning, User: "alice@example.com", Resource: "crm-payments"})
			}, false},
			{"person notice", func() { e.chk.Apply(access.Notice{Kind: access.NoticePerson, User: "alice@example.com"}) }, false},
			{"all notice", func() { e.chk.Apply(access.Notice{Kind: access.NoticeAll}) }, false},
			{"unknown notice", func() { e.chk.Apply(access.Notice{Kind: "martian"}) }, false},
			{"invalidate", func() { e.chk.Invalidate("Alice@example.com", "crm-payments") }, false},
			{"drop users", func() { e.chk.DropUsers([]string{"alice@example.com"}) }, false},
			{"reset", e.chk.Reset, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// Refill the stale entry: allowed, as cached before the revoke.
				if err := db.Gorm().Exec(`UPDATE requests SET state = 'approved', version = version + 1 WHERE id = ?`, req.ID).Error; err != nil {
					t.Fatal(err)
				}
				e.chk.Reset()
				if !check("crm-payments") {
					t.Fatal("refill")
				}
				if err := db.Gorm().Exec(`UPDATE requests SET state = 'revoked', version = version + 1 WHERE id = ?`, req.ID).Error; err != nil {
					t.Fatal(err)
				}
				tc.drop()
				if got := check("crm-payments"); got != tc.stale {
					t.Fatalf("after %s: allowed %v, want %v", tc.name, got, tc.stale)
				}
			})
		}
	})
}

// TestNotices: a transaction's changes become one notice per person and
// resource whose access starts or ends, or one "all" when there are many;
// expiries send none.
func TestNotices(t *testing.T) {
	req := func(user string) *workflow.Request {
		return &workflow.Request{Requester: user, Resource: "crm-payments"}
	}
	ch := func(user string, from, to workflow.State, ev workflow.Event) workflow.Change {
		return workflow.Change{Request: req(user), From: from, To: to, Event: ev}
	}
	many := make([]workflow.Change, 101)
	for i := range many {
		many[i] = ch(strings.Repeat("x", i+1)+"@example.com", workflow.StateApproved, workflow.StateRevoked, workflow.EventRevoke)
	}
	for _, tc := range []struct {
		name    string
		changes []workflow.Change
		want    []access.Notice
	}{
		{"approve", []workflow.Change{ch("a@example.com", workflow.StatePending, workflow.StateApproved, workflow.EventApprove)},
			[]access.Notice{{Kind: access.NoticeGrant, User: "a@example.com", Resource: "crm-payments"}}},
		{"revoke twice, one notice", []workflow.Change{
			ch("a@example.com", workflow.StateApproved, workflow.StateRevoked, workflow.EventRevoke),
			ch("a@example.com", workflow.StateApproved, workflow.StateRevoked, workflow.EventRevoke)},
			[]access.Notice{{Kind: access.NoticeGrant, User: "a@example.com", Resource: "crm-payments"}}},
		{"expiry", []workflow.Change{ch("a@example.com", workflow.StateApproved, workflow.StateExpired, workflow.EventExpire)}, nil},
		{"pending only", []workflow.Change{ch("a@example.com", workflow.StatePending, workflow.StateDenied, workflow.EventDeny)}, nil},
		{"many", many, []access.Notice{{Kind: access.NoticeAll}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := access.Notices(tc.changes)
			if len(got) != len(tc.want) {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("%+v, want %+v", got, tc.want)
				}
			}
		})
	}
	if n := access.PersonNotices(make([]string, 101)); len(n) != 1 || !strings.Contains(n[0], `"all"`) {
		t.Fatalf("person notices of many: %v", n)
	}
	if n := access.PersonNotices([]string{"A@Example.com"}); len(n) != 1 || n[0] != `{"kind":"person","user":"a@example.com"}` {
		t.Fatalf("person notice: %v", n)
	}
	if n, err := access.ParseNotice(`{"kind":"grant","user":"a@example.com","resource":"r"}`); err != nil || n.Resource != "r" {
		t.Fatalf("parse: %+v %v", n, err)
	}
	if n := access.TokenNotice("01a2"); n != `{"kind":"token","token":"01a2"}` {
		t.Fatalf("token notice: %s", n)
	}
	if n := access.TokenNotices([]string{"a", "b"}); len(n) != 2 || n[1] != access.TokenNotice("b") {
		t.Fatalf("token notices: %v", n)
	}
	if n := access.TokenNotices(make([]string, 101)); len(n) != 1 || n[0] != `{"kind":"token"}` {
		t.Fatalf("token notices of many: %v", n)
	}
	if _, err := access.ParseNotice(`{"kind":`); err == nil {
		t.Fatal("a broken payload parsed")
	}
}
