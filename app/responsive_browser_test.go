package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// box is an element's place on the page, in CSS pixels.
type box struct {
	Left, Right, Top, Bottom, Width float64
	Visible                         bool
}

func (b *browser) box(sel string) box {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	js := fmt.Sprintf(`(function(){var e=document.querySelector(%q); if(!e) return null;
		var r=e.getBoundingClientRect(), s=getComputedStyle(e);
		return {Left:r.left, Right:r.right, Top:r.top, Bottom:r.bottom, Width:r.width,
			Visible: r.width>0 && r.height>0 && s.visibility!=="hidden" && s.display!=="none"};})()`, sel)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[*box](js))
	if err != nil {
		b.t.Fatalf("box of %s: %v", sel, err)
	}
	if got == nil {
		b.shot("missing")
		b.t.Fatalf("no %s at %s", sel, b.location())
	}
	return *got
}

// noSidewaysScroll fails when the page is wider than the viewport.
func (b *browser) noSidewaysScroll(width int) {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	w, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)`))
	if err != nil {
		b.t.Fatal(err)
	}
	if w > float64(width)+0.5 {
		b.shot("too-wide")
		b.t.Fatalf("%s is %.0f px wide in a %d px viewport: it scrolls sideways", b.location(), w, width)
	}
}

// onScreen fails unless sel is visible and inside the viewport's width.
func (b *browser) onScreen(sel string, width int) {
	b.t.Helper()
	bx := b.box(sel)
	if !bx.Visible || bx.Left < 0 || bx.Right > float64(width)+0.5 {
		b.shot("off-screen")
		b.t.Fatalf("%s at %s is not on screen in %d px: %+v", sel, b.location(), width, bx)
	}
}

// TestBrowserPhoneAndDesktop: at 390×844 (a phone) and 1280×900 every
// role's pages work without sideways scrolling, the decision queue's
// Approve button and the live grants' Revoke button are on screen, and the
// navigation (a menu on the phone) reaches every page and Sign out. Times
// show in the browser's time zone, with UTC in their title.
func TestBrowserPhoneAndDesktop(t *testing.T) {
	chromiumPath(t)
	a, base := boot(t, app.Config{Demo: true, DatabaseURL: storetest.NewURL(t, store.SQLite)})
	ctx := context.Background()
	// A pending request for the managers' queue, and a live grant.
	alice, bob, carol := workflow.User("alice@example.com"), workflow.User("bob@example.com"), workflow.User("carol@example.com")
	if _, err := a.Service.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour,
		Reason: "Case 4471: the customer asks why their refund of last Tuesday has not arrived yet; check the notes of the call"}); err != nil {
		t.Fatal(err)
	}
	live, err := a.Service.Submit(ctx, bob, workflow.SubmitInput{Resource: "crm-notes", Duration: 2 * time.Hour, Reason: "Case 4472"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.Approve(ctx, carol, live.ID, ""); err != nil {
		t.Fatal(err)
	}

	for _, vp := range []struct {
		name          string
		width, height int
		phone         bool
	}{{"phone", 390, 844, true}, {"desktop", 1280, 900, false}} {
		t.Run(vp.name, func(t *testing.T) {
			b := newBrowser(t, base, screenshotDir(t, "responsive-"+vp.name))
			opts := []chromedp.EmulateViewportOption{}
			if vp.phone {
				opts = append(opts, chromedp.EmulateMobile)
			}
			b.do(chromedp.EmulateViewport(int64(vp.width), int64(vp.height), opts...),
				func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
					_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
					return chromedp.Void{}, err
				})
			// openNav makes the navigation usable: on the phone, open the menu.
			openNav := func() {
				t.Helper()
				switch {
				case vp.phone && !b.box("nav.nav").Visible:
					b.onScreen("#menu-button", vp.width)
					b.do(chromedp.Click(chromedp.ID("menu-button"), chromedp.NodeVisible))
				case !vp.phone && b.box("#menu-button").Visible:
					t.Fatal("the desktop shows the phone's menu button")
				}
				b.onScreen("nav.nav", vp.width)
				b.onScreen(`form[action="/sign-out"] button`, vp.width)
			}
			for _, role := range []struct {
				email string
				pages []string
			}{
				{"alice@example.com", []string{"/requests", "/requests/new", "/requests/new?resource=crm-payments", "/grants"}},
				{"carol@example.com", []string{"/decisions", "/grants", "/requests"}},
				{"heidi@example.com", []string{"/reviews", "/flags", "/dashboard", "/audit", "/grants"}},
				{"root@example.com", []string{"/policy", "/audit", "/grants", "/sessions"}},
			} {
				signIn(b, role.email)
				for _, p := range role.pages {
					b.open(p)
					b.noSidewaysScroll(vp.width)
					if bx := b.box("nav.nav"); vp.phone && bx.Visible {
						t.Fatalf("the phone's navigation is open before the menu is: %+v", bx)
					}
					openNav()
					for _, link := range []string{"nav.nav a:first-child", "nav.nav a:last-child"} {
						b.onScreen(link, vp.width)
					}
					b.shot(strings.Split(role.email, "@")[0] + strings.NewReplacer("/", "-", "?", "-", "=", "-").Replace(p))
				}
				switch role.email {
				case "alice@example.com":
					b.open("/requests/new?resource=crm-payments")
					b.onScreen("#submit-request", vp.width)
					b.onScreen("#reason", vp.width)
				case "carol@example.com":
					b.open("/decisions")
					b.onScreen(`#queue form[action$="/approve"] button`, vp.width)
					b.onScreen(`#queue a[href^="/requests/"]`, vp.width)
					b.open("/grants")
					b.onScreen(`form[action$="/revoke"] button`, vp.width)
				}
				openNav()
				b.signOut()
			}

			// Local time: the request page's times are in Tokyo's zone
			// (GMT+9), with UTC in the title.
			signIn(b, "bob@example.com")
			b.open("/requests/" + live.ID)
			el := `dd time[data-local]`
			ctx, cancel := b.timeout()
			defer cancel()
			text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(el), chromedp.NodeVisible))
			if err != nil {
				t.Fatal(err)
			}
			title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("dd time[data-local]").title`))
			if err != nil {
				t.Fatal(err)
			}
			// Drawn by the server in the zone the session remembers (JST),
			// or by app.js in the browser's (GMT+9) if the page came before
			// the session was told.
			if !(strings.Contains(text, "GMT+9") || strings.Contains(text, "JST")) || !strings.HasSuffix(title, " UTC") || strings.Contains(text, "UTC") {
				t.Fatalf("local time %q (title %q), want Tokyo's time with UTC in the title", text, title)
			}
			// The session remembers the zone: the page as the server sends
			// it (no script run) is drawn in Tokyo's time.
			served, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
  for (let i = 0; i < 50; i++) {
    const html = await (await fetch(location.href, {credentials: 'same-origin'})).text();
    if (html.includes('<body data-tz="Asia/Tokyo">')) return html;
    await new Promise(r => setTimeout(r, 100));
  }
  return 'the session never took the zone';
})()`, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(served, `<body data-tz="Asia/Tokyo">`) || !strings.Contains(served, ` JST</time>`) {
				t.Fatalf("the server does not draw the page in the remembered zone: %.300s", served)
			}
		})
	}
}

// signIn uses the demo sign-in page; the account shows in the menu,
// which may be folded away on a phone.
func signIn(b *browser, email string) {
	b.t.Helper()
	b.open("/sign-in")
	b.submit(`button[data-email="` + email + `"]`)
	ctx, cancel := b.timeout()
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(".me-email")||{}).textContent||""`))
	if err != nil || got != email {
		b.t.Fatalf("signed in as %q (%v), want %s", got, err, email)
	}
}
