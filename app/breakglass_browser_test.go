package app_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestBrowserBreakGlass is break-glass in a real browser, on the demo:
// grace (oncall) opens the Emergency access form on prod-db, which will
// not send without the confirmation ticked; ticked, access is live at once
// with the red Emergency badge and the review countdown; frank and root
// sign the review off from the request page.
func TestBrowserBreakGlass(t *testing.T) {
	chromiumPath(t)
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		_, base := boot(t, app.Config{Demo: true, DatabaseURL: storetest.NewURL(t, kind)})
		b := newBrowser(t, base, screenshotDir(t, "breakglass-"+string(kind)))

		b.signInAs("grace@example.com")
		b.open("/requests/new?resource=prod-db")
		b.wantText("#emergency-form", "Emergency access")
		b.wantText("#emergency-form", "2 reviewers must sign off your use within 24h")
		b.do(chromedp.SetValue(chromedp.ID("emergency-duration"), "30m"),
			chromedp.SendKeys(chromedp.ID("emergency-reason"), "INC-7: payments are down"))
		// Unticked, the browser keeps the form (the server refuses it too:
		// TestEmergencyAccessForm in web).
		ctx, cancel := b.timeout()
		valid, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#emergency-form form").checkValidity()`))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if valid {
			t.Fatal("the emergency form is valid without the confirmation")
		}
		b.shot("emergency-form")
		b.do(chromedp.Click(chromedp.ID("confirm-emergency"), chromedp.NodeVisible))
		b.submit("#submit-emergency")
		b.wantText(".flash", "Emergency access is live until")
		m := requestPath.FindStringSubmatch(b.location())
		if m == nil {
			t.Fatalf("after submitting, at %s", b.location())
		}
		id := m[1]
		b.wantText(".title-line", "Emergency")
		b.wantText("#review-countdown", "review due in 23 h")
		b.wantText("#review-countdown", "0 of 2 sign-offs")
		b.shot("emergency-live")
		b.open("/grants")
		b.wantText("#grant-"+id, "Emergency")
		b.wantText("#grant-"+id, "nobody (break-glass)")
		b.shot("emergency-grants")
		b.signOut()

		for i, who := range []string{"frank@example.com", "root@example.com"} {
			b.signInAs(who)
			b.open("/requests/" + id)
			b.do(chromedp.SendKeys(chromedp.ID("review-comment"), "Checked INC-7 with "+strings.Split(who, "@")[0]))
			b.submit("#sign-off")
			if i == 0 {
				b.wantText(".flash", "Your sign-off is recorded: 1 of 2 sign-offs.")
			} else {
				b.wantText(".flash", "is signed off")
				b.wantText("#review-state", "signed off")
				b.shot("review-signed-off")
			}
			b.signOut()
		}
	})
}
