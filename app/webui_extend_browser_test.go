package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestBrowserExtendAndScheduled: in Chromium, bob extends his live grant
// with the Extend button and form (auto-approved, as the grant was), and
// files internal notes to start in two hours, which carol approves into a
// scheduled grant with its "starts in" badge.
func TestBrowserExtendAndScheduled(t *testing.T) {
	chromiumPath(t)
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		_, base := boot(t, app.Config{Demo: true, DatabaseURL: storetest.NewURL(t, kind)})
		b := newBrowser(t, base, screenshotDir(t, "extend-"+string(kind)))

		b.signInAs("bob@example.com")
		b.open("/requests/new?resource=kb-drafts")
		b.do(chromedp.SetValue(chromedp.ID("duration"), "1h"),
			chromedp.SendKeys(chromedp.ID("reason"), "Rewriting the refunds article"))
		b.submit("#submit-request")
		b.wantText(".flash", "Approved automatically")
		m := requestPath.FindStringSubmatch(b.location())
		if m == nil {
			t.Fatalf("after submitting, at %s", b.location())
		}
		grant := m[1]
		b.wantText("#remaining", "Access is live for")
		b.shot("extend-form")
		b.do(chromedp.SetValue(chromedp.ID("extend-duration"), "45m"),
			chromedp.SendKeys(chromedp.ID("extend-reason"), "The review takes longer"))
		b.submit("#extend")
		b.wantText(".flash", "Extended automatically: your access is live until")
		b.wantText("main", "extend by 45m")
		b.open("/requests/" + grant)
		b.wantText("#fact-extended", "(+45m by extensions)")
		b.wantText("#extensions", "extend by 45m")
		b.shot("extended")

		start := time.Now().UTC().Add(2*time.Hour + 5*time.Minute).Format("2006-01-02T15:04")
		b.open("/requests/new?resource=crm-notes")
		b.do(chromedp.SetValue(chromedp.ID("duration"), "1h"),
			chromedp.SetValue(chromedp.ID("start_at"), start),
			chromedp.SendKeys(chromedp.ID("reason"), "Maintenance window tonight"))
		b.submit("#submit-request")
		b.wantText(".flash", "Access starts at")
		m = requestPath.FindStringSubmatch(b.location())
		if m == nil {
			t.Fatalf("after submitting, at %s", b.location())
		}
		sched := m[1]
		b.signOut()

		b.signInAs("carol@example.com")
		b.submit("#req-" + sched + " button.btn-approve")
		b.wantText(".flash", "starts at")
		b.open("/requests/" + sched)
		b.wantText(".title-line", "Scheduled")
		b.wantText(".title-line", "starts in 2 h")
		b.open("/grants")
		b.wantText("#scheduled-"+sched, "bob@example.com")
		if txt := b.text("#scheduled-" + sched); !strings.Contains(txt, "Revoke") {
			t.Fatalf("an approver is not offered Revoke on the scheduled grant: %q", txt)
		}
		b.shot("scheduled")
	})
}
