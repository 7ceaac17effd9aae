package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// Browser tests drive the web UI of a whole `serve --demo` in headless
// Chromium (Debian's chromium package; .ci/run installs it). They fail
// when Chromium is missing; JITACCESS_TEST_BROWSER=off skips them on a
// developer's machine, never in CI. Screenshots go to
// artifacts/screenshots (JITACCESS_SCREENSHOTS overrides), which is not
// committed.

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JITACCESS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("JITACCESS_TEST_BROWSER") == "off" && os.Getenv("CI") == "" {
		t.Skip("browser tests are off (JITACCESS_TEST_BROWSER=off); CI runs them")
	}
	t.Fatal("the browser tests need Chromium: apt-get install -y chromium (or set JITACCESS_CHROMIUM, " +
		"or JITACCESS_TEST_BROWSER=off to skip them outside CI)")
	return ""
}

// screenshotDir is where a browser test keeps its screenshots: the test's
// artifact directory (go test -artifacts -outputdir DIR keeps them under
// DIR; without -artifacts they go when the test ends), or
// $JITACCESS_SCREENSHOTS/sub when that is set.
func screenshotDir(t *testing.T, sub string) string {
	t.Helper()
	dir := t.ArtifactDir()
	if root := os.Getenv("JITACCESS_SCREENSHOTS"); root != "" {
		dir = filepath.Join(root, sub)
		if err := os.RemoveAll(dir); err != nil { // last run's pictures
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	n     int
}

func newBrowser(t *testing.T, base, shots string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first action starts the browser, which lives as long as the
	// context it runs with: that must be ctx itself, not one with a
	// timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base, shots: shots}
}

func (b *browser) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 30*time.Second)
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

// open loads a page of the app and checks its status.
func (b *browser) open(path string) {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	if resp.Status >= 400 {
		b.t.Fatalf("open %s: status %d: %s", path, resp.Status, b.text("main"))
	}
}

// submit clicks a button that sends a form, waits for the page it leads
// to, and checks that it did not fail.
func (b *browser) submit(sel string) {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("click %s: %v (at %s)", sel, err, b.location())
	}
	if resp.Status >= 400 {
		b.shot("failed")
		b.t.Fatalf("click %s: status %d at %s: %s", sel, resp.Status, b.location(), b.text("main"))
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("text of %s: %v (at %s)", sel, err, b.location())
	}
	return s
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (b *browser) shot(name string) {
	b.t.Helper()
	b.save(name, chromedp.FullScreenshot(100))
}

// save takes a screenshot and writes it as the next numbered file.
func (b *browser) save(name string, take chromedp.Action[[]byte]) {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	png, err := chromedp.Run(ctx, take)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.n++
	file := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.shot("unexpected")
		b.t.Fatalf("%s at %s says %q; want it to contain %q", sel, b.location(), got, want)
	}
}

// signInAs uses the demo sign-in page.
func (b *browser) signInAs(email string) {
	b.t.Helper()
	b.open("/sign-in")
	b.submit(`button[data-email="` + email + `"]`)
	b.wantText(".me-email", email)
}

func (b *browser) signOut() {
	b.t.Helper()
	b.submit(`form[action="/sign-out"] button`)
	b.wantText("main", "You are signed out.")
}

var requestPath = regexp.MustCompile(`/requests/([0-9a-f-]{36})$`)

// TestBrowserTwoPersonApproval is the story of a high-tier request in a
// real browser: the requester asks, one approver approves ("1 of 2"), a
// second approver approves, the grant is live, it is revoked, and the audit
// log shows it all.
func TestBrowserTwoPersonApproval(t *testing.T) {
	chromiumPath(t)
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		_, base := boot(t, app.Config{Demo: true, DatabaseURL: storetest.NewURL(t, kind)})
		b := newBrowser(t, base, screenshotDir(t, string(kind)))

		// Signed out, every page leads to the sign-in page.
		b.open("/decisions")
		if loc := b.location(); !strings.Contains(loc, "/sign-in?next=%2Fdecisions") {
			t.Fatalf("signed out, /decisions went to %s", loc)
		}
		b.wantText("h1", "Sign in")
		b.shot("sign-in")

		// alice, an agent, asks for payment details (tier high).
		b.signInAs("alice@example.com")
		b.open("/requests/new")
		b.shot("new-request-pick")
		b.submit(`a[data-resource="crm-payments"]`)
		b.do(chromedp.SetValue(chromedp.ID("duration"), "1h"),
			chromedp.SetValue(chromedp.ID("purpose"), "refund"),
			chromedp.SendKeys(chromedp.ID("reason"), "Case 4411: refund failed, need to check the card on file"),
			chromedp.SendKeys(chromedp.ID("ticket"), "SUP-4411"))
		b.shot("new-request-form")
		b.submit("#submit-request")
		b.wantText(".flash", "Request sent: it needs 2 approvals.")
		m := requestPath.FindStringSubmatch(b.location())
		if m == nil {
			t.Fatalf("after submitting, at %s", b.location())
		}
		id := m[1]
		b.wantText("#progress", "0 of 2")
		b.wantText("#why-not", "You cannot approve your own request")
		b.shot("request-sent")
		b.open("/requests")
		b.wantText("main", "Payment details")
		b.shot("my-requests")
		b.signOut()

		// carol, a manager, sees it waiting and approves: 1 of 2.
		b.signInAs("carol@example.com")
		if !strings.HasSuffix(b.location(), "/decisions") {
			t.Fatalf("an approver starts at %s", b.location())
		}
		b.wantText("#req-"+id, "alice@example.com")
		b.wantText("#req-"+id, "0 of 2")
		b.wantText("#nav-count-decisions", "1")
		b.shot("carol-queue")
		b.submit("#req-" + id + ` a[href="/requests/` + id + `"]`)
		b.do(chromedp.SendKeys(chromedp.ID("approve-comment"), "Checked case 4411"))
		b.submit("#approve")
		b.wantText(".flash", "Your approval is recorded: 1 of 2")
		b.wantText("#progress", "1 of 2")
		b.wantText("#progress", "needs someone other than carol@example.com")
		b.wantText("#why-not", "You approved this request")
		b.shot("one-of-two")
		// Her queue is empty now: she cannot approve twice.
		b.open("/decisions")
		b.wantText("#queue", "Nothing waits for you")
		b.signOut()

		// dave, another manager, sees "1 of 2" and approves from his queue.
		b.signInAs("dave@example.com")
		b.wantText("#req-"+id, "1 of 2")
		b.wantText("#req-"+id, "needs someone other than carol@example.com")
		b.shot("dave-queue")
		b.submit("#req-" + id + " button.btn-approve")
		b.wantText(".flash", "Approved. alice@example.com has access to crm-payments")

		// The grant is live.
		b.open("/grants")
		b.wantText("#grant-"+id, "alice@example.com")
		b.wantText("#grant-"+id, "carol@example.com")
		b.wantText("#grant-"+id, "dave@example.com")
		b.wantText("#grant-"+id, "59 min")
		b.shot("live-grants")

		// Revoke needs a reason: the browser will not send the form
		// without one; the server refuses it too (tested in web).
		b.do(chromedp.SendKeys(chromedp.ID("reason-"+id), "Refund done, case closed"))
		b.submit("#grant-" + id + " button.btn-danger")
		b.wantText(".flash", "Revoked alice@example.com's access to crm-payments.")
		b.wantText("#grants", "No live access")
		b.open("/requests/" + id)
		b.wantText(".title-line", "Revoked")
		b.wantText("#fact-end-reason", "Refund done, case closed")
		b.shot("revoked")
		b.signOut()

		// The audit log has the whole story, in the admin's view.
		b.signInAs("root@example.com")
		b.open("/audit?request=" + id)
		log := b.text("#audit-records")
		for _, want := range []string{"submit", "approve", "revoke", "alice@example.com", "carol@example.com", "dave@example.com", "Refund done, case closed"} {
			if !strings.Contains(log, want) {
				t.Errorf("audit log for the request lacks %q:\n%s", want, log)
			}
		}
		b.shot("audit-log")
		b.open("/policy")
		b.wantText("#policy-resources", "crm-payments")
		b.shot("policy")
		b.open("/sessions")
		b.wantText("#session-list", "root@example.com")
		b.shot("sessions")
		// A page that is not there says so, in the same frame.
		b.do(chromedp.Navigate(base + "/requests/00000000-0000-0000-0000-000000000000"))
		b.wantText("#error-message", "not found")
		b.shot("not-found")
	})
}
