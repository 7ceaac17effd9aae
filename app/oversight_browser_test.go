package app_test

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// seedHistory writes four weeks of the demo's access program into the
// database at url, through the workflow service with a clock that walks
// from 27 days ago to now: requests decided after a minute or after hours,
// denials, a forced revoke, rubber stamps, two people approving each
// other, and a person asking for identity documents day after day (a
// standing exception). It returns the id of a grant that is live now.
func seedHistory(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	end := workflow.Now()
	now := end.Add(-27 * 24 * time.Hour).Truncate(24 * time.Hour).Add(8 * time.Hour)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	svc := workflow.NewService(db, app.DemoPolicy(), workflow.Options{Now: clock})
	// The demo's conditions read directory attributes, as serve --demo seeds them.
	if err := app.SeedDemoDirectory(ctx, svc, svc.Policy(), io.Discard); err != nil {
		t.Fatal(err)
	}
	must := func(r *workflow.Request, err error) *workflow.Request {
		t.Helper()
		if err != nil {
			t.Fatalf("seed at %s: %v", clock().Format(time.RFC3339), err)
		}
		return r
	}
	user := workflow.User
	submit := func(who, res string, d time.Duration, reason, ticket string) *workflow.Request {
		purpose := ""
		if res == "crm-payments" { // the demo's payment data names a purpose
			purpose = "refund"
		}
		return must(svc.Submit(ctx, user(who), workflow.SubmitInput{Resource: res, Duration: d, Reason: reason, Ticket: ticket, Purpose: purpose}))
	}
	// Approvers decide in the web UI with a fresh passkey check, as the
	// demo's identity-docs needs (require_mfa).
	approve := func(who string, r *workflow.Request) {
		p := user(who)
		p.Auth, p.MFA, p.MFAAt = workflow.AuthSession, workflow.MFAWebAuthn, clock()
		must(svc.Approve(ctx, p, r.ID, "checked the case"))
	}
	sweep := func() {
		if _, err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waits := []time.Duration{40 * time.Second, 3 * time.Minute, 9 * time.Minute, 25 * time.Minute, 2 * time.Hour, 70 * time.Minute, 6 * time.Minute}
	for day := 0; day < 25; day++ {
		start := clock()
		w := waits[day%len(waits)]
		// alice reads internal notes most days; carol or erin decides.
		if day%7 != 5 {
			r := submit("alice@example.com", "crm-notes", 2*time.Hour, "Case 31"+string(rune('0'+day%10))+": customer history", "")
			advance(w)
			approve([]string{"carol@example.com", "erin@example.com"}[day%2], r)
		}
		// bob needs payment details every third day: two approvals.
		if day%3 == 0 {
			advance(20 * time.Minute)
			r := submit("bob@example.com", "crm-payments", time.Hour, "Refund for order 88"+string(rune('0'+day%10)), "SUP-"+string(rune('A'+day)))
			advance(w / 2)
			approve("dave@example.com", r)
			advance(w / 3)
			approve("erin@example.com", r)
			if day == 18 {
				advance(10 * time.Minute)
				must(svc.Revoke(ctx, user("dave@example.com"), r.ID, "Refund done; closing access early"))
			}
		}
		// bob's admin console requests are usually denied.
		if day%5 == 2 {
			advance(time.Hour)
			r := submit("bob@example.com", "admin-console", time.Hour, "Check a setting", "")
			advance(35 * time.Minute)
			must(svc.Deny(ctx, user("carol@example.com"), r.ID, "Ask the admins to check it for you"))
		}
		// alice asks for identity documents six days running.
		if day >= 18 && day < 24 {
			advance(2 * time.Hour)
			r := submit("alice@example.com", "identity-docs", 30*time.Minute, "KYC check for account 52"+string(rune('0'+day%10)), "KYC-"+string(rune('0'+day%10)))
			advance(15 * time.Second)
			approve("carol@example.com", r)
			advance(20 * time.Second)
			approve("dave@example.com", r)
		}
		// frank and grace approve each other's production access.
		if day == 10 || day == 11 {
			asker, peer, other := "frank@example.com", "grace@example.com", "carol@example.com"
			if day == 11 {
				asker, peer, other = peer, asker, "dave@example.com"
			}
			advance(3 * time.Hour)
			r := submit(asker, "prod-db", time.Hour, "Slow query on orders", "OPS-1"+string(rune('0'+day%10)))
			advance(12 * time.Minute)
			approve(peer, r)
			advance(8 * time.Minute)
			approve(other, r)
		}
		advance(start.Add(24 * time.Hour).Sub(clock()))
		sweep()
	}
	// One grant is live now.
	mu.Lock()
	now = end.Add(-20 * time.Minute)
	mu.Unlock()
	sweep()
	live := submit("bob@example.com", "crm-notes", 2*time.Hour, "Customer called back about case 4410", "SUP-4410")
	advance(4 * time.Minute)
	approve("carol@example.com", live)
	return live.ID
}

// count is how many elements match sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// shotView saves what the window shows (the top of a long page).
func (b *browser) shotView(name string) {
	b.t.Helper()
	b.save(name, chromedp.CaptureScreenshot())
}

// TestBrowserOversight walks the oversight pages in a real browser over a
// month of history: the admin verifies the audit chain; a reviewer reads
// the dashboard and the flags, follows a flag to its request, builds the
// report of the last 30 days, opens a review, marks a grant for
// follow-up, resolves it and signs the review off; an approver sees only
// what package review lets approvers see.
func TestBrowserOversight(t *testing.T) {
	chromiumPath(t)
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		url := storetest.NewURL(t, kind)
		liveID := seedHistory(t, url)
		_, base := boot(t, app.Config{Demo: true, DatabaseURL: url})
		b := newBrowser(t, base, screenshotDir(t, "oversight-"+string(kind)))

		// The admin verifies the chain from the audit log page.
		b.signInAs("root@example.com")
		b.open("/audit")
		b.wantText("#chain-status", "not verified yet")
		b.submit("#verify-now")
		b.wantText(".flash", "Audit chain verified")
		b.wantText("#chain-status", "Audit chain verified")
		b.shotView("audit-chain")
		b.signOut()

		// heidi, a reviewer, starts on the reviews.
		b.signInAs("heidi@example.com")
		if !strings.HasSuffix(b.location(), "/reviews") {
			t.Fatalf("a reviewer starts at %s", b.location())
		}
		for _, nav := range []string{"Dashboard", "Reviews", "Flags", "Audit log"} {
			b.wantText("nav.nav", nav)
		}
		b.shot("reviews-empty")

		// The dashboard: five charts drawn on the server (emergency use
		// by person the fifth), and the numbers.
		b.open("/dashboard")
		if charts := b.count("#charts figure svg"); charts != 5 {
			t.Fatalf("%d charts on the dashboard", charts)
		}
		b.wantText("#live-now", "1")
		b.wantText("#chart-decisions", "Time to decision")
		b.shot("dashboard")

		// The flags: rubber stamps, mutual approval, a forced revoke,
		// frequent high-tier requests; each links to its requests.
		b.open("/flags")
		flags := b.text("#flag-list")
		for _, want := range []string{"Rubber stamp", "Mutual approval", "Forced revoke", "Frequent high tier", "frank@example.com", "grace@example.com"} {
			if !strings.Contains(flags, want) {
				t.Errorf("the flags lack %q:\n%s", want, flags)
			}
		}
		b.shot("flags")
		b.submit(`#flag-list tr:has(.kind-forced_revoke) a.req-link`)
		b.wantText(".title-line", "Revoked")
		b.wantText("#fact-end-reason", "Refund done; closing access early")
		if n := b.count("#decision form"); n != 0 {
			t.Errorf("a reviewer is offered %d actions on a request", n)
		}
		b.shot("flag-request")

		// The report of the last 30 days, then a review of it.
		b.open("/reviews")
		b.submit("#show-report")
		b.wantText("#report-stats", "standing exception")
		b.wantText("#standing", "alice@example.com")
		b.wantText("#by-resource", "identity-docs")
		b.shot("report")
		b.submit("#open-review")
		b.wantText(".flash", "Review opened")
		b.submit("#tab-grants")
		b.wantText("#grants-list", "bob@example.com")
		row := "#grant-" + liveID
		b.do(chromedp.Click(chromedp.CSS(row+" details.followup summary"), chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.CSS(row+` input[name="note"]`), "Still live: check it is closed after the call"))
		b.shotView("review-follow-up")
		b.submit(row + ` button[type="submit"]`)
		b.wantText(".flash", "Marked request for follow-up")
		b.wantText("#followups", "Still live: check it is closed after the call")
		b.do(chromedp.SendKeys(chromedp.CSS(`#followups input[name="resolution"]`), "Closed by the agent at 10:12"))
		b.submit(`#followups button[type="submit"]`)
		b.wantText(".flash", "Follow-up resolved")
		b.do(chromedp.SendKeys(chromedp.ID("signoff-notes-input"), "Checked every grant against its ticket. Identity documents: policy change requested."))
		b.submit("#sign-off")
		b.wantText(".flash", "Review signed off")
		b.wantText("#signed-off-by", "heidi@example.com")
		b.shot("review-signed-off")
		b.open("/audit?action=review.signoff")
		b.wantText("#audit-records", "heidi@example.com")
		b.signOut()

		// carol approves most resources: she sees their reviews and flags,
		// not the dashboard.
		b.signInAs("carol@example.com")
		nav := b.text("nav.nav")
		if strings.Contains(nav, "Dashboard") || !strings.Contains(nav, "Reviews") || !strings.Contains(nav, "Flags") {
			t.Fatalf("carol's navigation: %q", nav)
		}
		b.open("/flags")
		b.wantText("#f-resource", "crm-payments")
		b.shot("approver-flags")
		b.do(chromedp.Navigate(base + "/dashboard"))
		b.wantText("#error-message", "Only admins and reviewers may see the dashboard")
	})
}
