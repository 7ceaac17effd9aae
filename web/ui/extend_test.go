package ui_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestUIExtendAndScheduled: a live grant's page offers Extend with the
// time left; the form files an extension that approvers decide with the
// usual buttons ("extend by 30m"); a scheduled grant shows "starts in"
// and the request form takes a start time.
func TestUIExtendAndScheduled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		ctx := context.Background()
		alice, carol := e.signIn(t, "alice@example.com"), e.signIn(t, "carol@example.com")
		g, err := e.svc.Submit(ctx, workflow.User("alice@example.com"), workflow.SubmitInput{Resource: "crm-notes", Duration: 2 * time.Hour, Reason: "case 5"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Approve(ctx, workflow.User("dave@example.com"), g.ID, ""); err != nil {
			t.Fatal(err)
		}
		e.advance(30 * time.Minute)
		p := alice.get(t, "/requests/"+g.ID)
		if !strings.Contains(p.body, `id="extend-form"`) || !strings.Contains(p.body, "Access is live for 1 h 30 min more.") {
			t.Fatalf("live grant page: %s", excerpt(p.body))
		}
		if p := carol.get(t, "/requests/"+g.ID); strings.Contains(p.body, `id="extend-form"`) {
			t.Fatal("an approver is offered Extend")
		}
		if p := alice.get(t, "/grants"); !strings.Contains(p.body, `id="extend-`+g.ID+`"`) {
			t.Fatalf("grants page: %s", excerpt(p.body))
		}
		p = alice.post(t, "/requests/"+g.ID+"/extend", url.Values{"duration": {"20h"}, "reason": {"longer"}})
		if p.status != 422 || !strings.Contains(p.body, "longer than the maximum") {
			t.Fatalf("over max_duration: %d %s", p.status, excerpt(p.body))
		}
		p = alice.post(t, "/requests/"+g.ID+"/extend", url.Values{"duration": {"30m"}, "reason": {"the call runs long"}})
		if p.status != 303 {
			t.Fatalf("extend: %d %s", p.status, excerpt(p.body))
		}
		ext := strings.TrimPrefix(p.location, "/requests/")
		if d := alice.get(t, p.location); !strings.Contains(d.body, "Extension by 30m sent: it needs 1 approval.") || !strings.Contains(d.body, `href="/requests/`+g.ID+`"`) {
			t.Fatalf("extension page: %s", excerpt(d.body))
		}
		if d := carol.get(t, "/decisions"); !strings.Contains(d.body, "extend by 30m") {
			t.Fatalf("decisions: %s", excerpt(d.body))
		}
		p = carol.post(t, "/requests/"+ext+"/approve", url.Values{})
		if p.status != 303 {
			t.Fatalf("approve extension: %d %s", p.status, excerpt(p.body))
		}
		if d := carol.get(t, p.location); !strings.Contains(d.body, "Approved. alice@example.com&#39;s access to crm-notes is extended by 30m") {
			t.Fatalf("after approval: %s", excerpt(d.body))
		}
		if d := alice.get(t, "/requests/"+g.ID); !strings.Contains(d.body, `id="extensions"`) || !strings.Contains(d.body, "(+30m by extensions)") ||
			!strings.Contains(d.body, "Access is live for 2 h more.") {
			t.Fatalf("grant after extension: %s", excerpt(d.body))
		}

		// Scheduled: the form's start time, then the badge.
		start := e.clock().Add(2 * time.Hour).Truncate(time.Minute)
		p = alice.post(t, "/requests", url.Values{"resource": {"kb-drafts"}, "duration": {"1h"}, "reason": {"tonight"},
			"start_at": {start.Format("2006-01-02T15:04")}})
		if p.status != 303 {
			t.Fatalf("scheduled submit: %d %s", p.status, excerpt(p.body))
		}
		d := alice.get(t, p.location)
		if !strings.Contains(d.body, "Approved automatically: your access starts at") || !strings.Contains(d.body, "starts in 2 h") {
			t.Fatalf("scheduled page: %s", excerpt(d.body))
		}
		if l := alice.get(t, "/requests"); !strings.Contains(l.body, "starts in 2 h") {
			t.Fatalf("requests list: %s", excerpt(l.body))
		}
		sched := strings.TrimPrefix(p.location, "/requests/")
		if g := alice.get(t, "/grants"); !strings.Contains(g.body, `id="scheduled-`+sched+`"`) || !strings.Contains(g.body, "Cancel…") {
			t.Fatalf("grants page without the scheduled grant: %s", excerpt(g.body))
		}
		if f := alice.get(t, "/requests/new?resource=crm-payments"); !strings.Contains(f.body, `name="start_at"`) {
			t.Fatalf("form has no start time: %s", excerpt(f.body))
		}
	})
}
