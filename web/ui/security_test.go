package ui_test

import (
	"context"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/web/ui"
	"github.com/jitaccess/jitaccess/workflow"
)

func TestCSRF(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		req := e.submit(t, alice, "crm-notes", time.Hour)
		path := "/requests/" + req.ID + "/approve"
		carol := e.signIn(t, "carol@example.com")
		dave := e.signIn(t, "dave@example.com")
		for _, tc := range []struct {
			name   string
			token  string
			header []string
		}{
			{"no token", "", []string{"Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"}},
			{"wrong token", flipFirst(carol.csrf), []string{"Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"}},
			{"another session's token", dave.csrf, []string{"Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"}},
			{"cross-site, with the token", carol.csrf, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
			{"other origin, with the token", carol.csrf, []string{"Origin", "https://evil.example"}},
			{"same-site but not same-origin", carol.csrf, []string{"Sec-Fetch-Site", "same-site"}},
			{"null origin", carol.csrf, []string{"Origin", "null"}},
		} {
			form := url.Values{"csrf_token": {tc.token}}
			p := carol.postRaw(t, path, form, tc.header...)
			if p.status != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", tc.name, p.status)
			}
			if st, n := e.state(t, req.ID); st != workflow.StatePending || n != 0 {
				t.Fatalf("%s: the approval went through (%s, %d)", tc.name, st, n)
			}
		}
		// The token in a header works too, and a client that sends no
		// Origin (not a browser) still needs the token.
		p := carol.postRaw(t, path, url.Values{}, "X-CSRF-Token", carol.csrf)
		if p.status != http.StatusSeeOther {
			t.Fatalf("token in header: %d %s", p.status, excerpt(p.body))
		}
		if _, n := e.state(t, req.ID); n != 1 {
			t.Fatalf("approvals: %d", n)
		}
		// Every form of every page carries the token.
		for _, c := range []*client{carol, e.signIn(t, "alice@example.com"), e.signIn(t, "root@example.com")} {
			for _, path := range []string{"/decisions", "/requests", "/requests/new?resource=crm-payments", "/requests/" + req.ID, "/grants", "/audit", "/policy", "/sessions"} {
				p := c.get(t, path)
				forms := regexp.MustCompile(`(?s)<form[^>]*method="post".*?</form>`).FindAllString(p.body, -1)
				for _, f := range forms {
					if !strings.Contains(f, `name="csrf_token" value="`+c.csrf+`"`) {
						t.Errorf("%s as %s: a form without the CSRF token: %s", path, c.who, f)
					}
				}
			}
		}
	})
}

// TestSecurityHeaders checks every kind of response: pages, errors,
// assets, the API, and unknown paths.
func TestSecurityHeaders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		c := e.signIn(t, "carol@example.com")
		anon := e.anonymous()
		for _, tc := range []struct {
			c    *client
			path string
		}{
			{c, "/decisions"}, {anon, "/sign-in"}, {anon, "/decisions"}, {c, "/nope"}, {c, "/policy"},
			{anon, "/static/app.css"}, {anon, "/api/v1/me"}, {anon, "/api/v1/nope"}, {anon, "/healthz"},
		} {
			p := tc.c.get(t, tc.path)
			h := p.header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "script-src 'self'", "default-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: CSP %q lacks %s", tc.path, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("%s: CSP allows inline code: %s", tc.path, csp)
			}
			if !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") || h.Get("X-Content-Type-Options") != "nosniff" ||
				h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: headers %v", tc.path, h)
			}
		}
		// Unknown paths: a page in the UI, JSON under the API.
		if p := c.get(t, "/nope"); p.status != 404 || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("unknown page: %d %s", p.status, p.header.Get("Content-Type"))
		}
		if p := c.get(t, "/api/v1/nope"); p.status != 404 || !strings.Contains(p.body, `"not_found"`) {
			t.Errorf("unknown API path: %d %s", p.status, p.body)
		}
		// No page has inline script, inline event handlers or inline
		// styles (the CSP would block them anyway).
		req := e.submit(t, alice, "crm-payments", time.Hour)
		e.approve(t, carol, req.ID)
		e.approve(t, dave, req.ID) // a rubber stamp: flags and charts have data
		root := e.signIn(t, "root@example.com")
		rev, err := e.reviews.Open(context.Background(), root.principal(), review.Scope{Kind: review.ScopeAll}, theDay)
		if err != nil {
			t.Fatal(err)
		}
		scripts := regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`)
		handlers := regexp.MustCompile(`\s(on[a-z]+|style)=`)
		for _, tc := range []struct {
			c    *client
			path string
		}{
			{c, "/decisions"}, {c, "/requests/" + req.ID}, {c, "/grants"}, {c, "/audit"}, {root, "/policy"}, {root, "/sessions"},
			{e.signIn(t, "alice@example.com"), "/requests/new?resource=crm-payments"}, {anon, "/sign-in"}, {c, "/nope"},
			{root, "/audit"}, {root, "/dashboard"}, {root, "/flags"}, {root, "/reviews"}, {root, "/reviews/report?" + dayPeriod},
			{root, "/reviews/" + rev.ID}, {root, "/reviews/" + rev.ID + "?view=grants"}, {root, "/reviews/" + rev.ID + "?view=person"},
		} {
			p := tc.c.get(t, tc.path)
			for _, m := range scripts.FindAllStringSubmatch(p.body, -1) {
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("%s has an inline script: %q", tc.path, m[0])
				}
			}
			if !strings.Contains(p.body, "<script src=") {
				t.Errorf("%s: no script found; the check checks nothing", tc.path)
			}
			if m := handlers.FindString(p.body); m != "" {
				t.Errorf("%s has an inline handler or style: %q", tc.path, m)
			}
		}
		// Assets are cached for good (their URLs carry a hash); pages never.
		if p := anon.get(t, "/static/app.js"); p.status != 200 || !strings.Contains(p.header.Get("Cache-Control"), "immutable") ||
			!strings.HasPrefix(p.header.Get("Content-Type"), "text/javascript") {
			t.Errorf("asset: %d %v", p.status, p.header)
		}
		if p := c.get(t, "/decisions"); p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("page Cache-Control %q", p.header.Get("Cache-Control"))
		}
		if p := anon.get(t, "/static/../server.go"); p.status != 404 {
			t.Errorf("asset path traversal: %d", p.status)
		}
	})
}

// TestSessionCookie checks the cookie a real sign-in sets.
func TestSessionCookie(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db, func(_ *uiEnv, c *web.Config) {
			c.UI.DemoUsers = []ui.DemoUser{{Email: "carol@example.com", Role: "managers"}}
		})
		c := e.anonymous()
		p := c.get(t, "/sign-in?next=/grants")
		token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(p.body)
		if token == nil {
			t.Fatalf("sign-in page: %s", p.body)
		}
		p = c.postRaw(t, "/sign-in/demo", url.Values{"csrf_token": {token[1]}, "email": {"carol@example.com"}, "next": {"/grants"}},
			"Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
		if p.status != http.StatusSeeOther || p.location != "/grants" {
			t.Fatalf("demo sign-in: %d %q %s", p.status, p.location, excerpt(p.body))
		}
		var cookie string
		for _, sc := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(sc, "__Host-jitaccess-session=") {
				cookie = sc
			}
		}
		for _, want := range []string{"; Path=/", "; HttpOnly", "; Secure", "; SameSite=Lax", "; Max-Age=28800"} {
			if !strings.Contains(cookie, want) {
				t.Errorf("session cookie %q lacks %s", cookie, want)
			}
		}
		if strings.Contains(strings.ToLower(cookie), "domain=") {
			t.Errorf("session cookie has a Domain: %q", cookie)
		}
		if p := c.get(t, "/grants"); p.status != 200 || !strings.Contains(p.body, "carol@example.com") {
			t.Fatalf("after sign-in: %d", p.status)
		}
		// A redirect target off the site is ignored.
		for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example"} {
			c2 := e.anonymous()
			p := c2.get(t, "/sign-in")
			tok := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(p.body)[1]
			p = c2.postRaw(t, "/sign-in/demo", url.Values{"csrf_token": {tok}, "email": {"carol@example.com"}, "next": {next}}, "Origin", e.srv.URL)
			if p.status != http.StatusSeeOther || p.location != "/" {
				t.Errorf("next=%q: redirected to %q", next, p.location)
			}
		}
		// The demo sign-in form needs its token (login CSRF), and refuses
		// people who are not demo users.
		c3 := e.anonymous()
		if p := c3.postRaw(t, "/sign-in/demo", url.Values{"email": {"carol@example.com"}}, "Origin", e.srv.URL); p.status != http.StatusForbidden {
			t.Errorf("demo sign-in without token: %d", p.status)
		}
		p = c3.get(t, "/sign-in")
		tok := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(p.body)[1]
		if p := c3.postRaw(t, "/sign-in/demo", url.Values{"csrf_token": {tok}, "email": {"root@example.com"}}, "Origin", e.srv.URL); p.status != http.StatusBadRequest {
			t.Errorf("demo sign-in as a non-demo user: %d", p.status)
		}
		if p := c3.postRaw(t, "/sign-in/demo", url.Values{"csrf_token": {tok}, "email": {"carol@example.com"}}, "Origin", "https://evil.example"); p.status != http.StatusForbidden {
			t.Errorf("cross-site demo sign-in: %d", p.status)
		}
	})
}

func TestNoDemoSignInOutsideDemo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		c := e.anonymous()
		p := c.get(t, "/sign-in")
		if p.status != 200 || strings.Contains(p.body, "/sign-in/demo") || strings.Contains(p.body, "Demo mode") || !strings.Contains(p.body, "No sign-in method is configured") {
			t.Fatalf("sign-in page outside demo mode: %d", p.status)
		}
		if p := c.postRaw(t, "/sign-in/demo", url.Values{"email": {"root@example.com"}}); p.status != http.StatusNotFound {
			t.Fatalf("demo sign-in outside demo mode: %d", p.status)
		}
	})
}

func TestSessionExpiryAndRevocation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		ctx := context.Background()
		req := e.submit(t, alice, "crm-payments", time.Hour)

		// Idle: the auto-refresh of an open tab does not count as use.
		c := e.signIn(t, "carol@example.com")
		e.advance(50 * time.Minute)
		if p := c.get(t, "/decisions", "X-Jitaccess-Refresh", "1"); p.status != 200 {
			t.Fatalf("refresh: %d", p.status)
		}
		e.advance(15 * time.Minute)
		p := c.get(t, "/decisions")
		if p.status != http.StatusSeeOther || p.location != "/sign-in?next=%2Fdecisions" {
			t.Fatalf("idle session: %d %q", p.status, p.location)
		}
		// A click does count.
		c = e.signIn(t, "carol@example.com")
		e.advance(50 * time.Minute)
		if p := c.get(t, "/decisions"); p.status != 200 {
			t.Fatalf("click: %d", p.status)
		}
		e.advance(15 * time.Minute)
		if p := c.get(t, "/decisions"); p.status != 200 {
			t.Fatalf("used 15 minutes ago: %d", p.status)
		}
		// Absolute: 8 hours after sign-in, however busy.
		for i := 0; i < 16; i++ {
			e.advance(30 * time.Minute)
			p := c.get(t, "/decisions")
			if elapsed := time.Duration(i+1)*30*time.Minute + 65*time.Minute; elapsed < 8*time.Hour && p.status != 200 {
				t.Fatalf("busy session ended at %s: %d", elapsed, p.status)
			} else if elapsed >= 8*time.Hour {
				if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/sign-in") {
					t.Fatalf("session outlived 8 h (%s): %d", elapsed, p.status)
				}
				break
			}
		}
		// An expired session cannot act either: POST goes to sign-in.
		if p := c.post(t, "/requests/"+req.ID+"/approve", nil); p.status != http.StatusSeeOther || p.location != "/sign-in" {
			t.Fatalf("approve with an ended session: %d %q", p.status, p.location)
		}
		req, _ = e.db.GetRequest(ctx, req.ID)

		// Signed out by an admin: the next click needs a new sign-in.
		d := e.signIn(t, "dave@example.com")
		if p := d.get(t, "/requests/"+req.ID); p.status != 200 {
			t.Fatalf("dave: %d", p.status)
		}
		root := e.signIn(t, "root@example.com")
		if p := root.post(t, "/sessions/end", url.Values{"email": {"dave@example.com"}}); p.status != http.StatusSeeOther {
			t.Fatalf("end dave's sessions: %d", p.status)
		}
		if p := d.get(t, "/requests/"+req.ID); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/sign-in") {
			t.Fatalf("dave after being signed out: %d", p.status)
		}

		// Removed from the approver group: the next click no longer shows
		// the request, and the next action is refused.
		d = e.signIn(t, "dave@example.com")
		e.svc.SetPolicy(mustParse(t, strings.Replace(uiPolicy, "managers: [carol@example.com, dave@example.com]", "managers: [carol@example.com, erin@example.com]\n  observers: [dave@example.com]", 1)))
		if p := d.get(t, "/requests/"+req.ID); p.status != http.StatusNotFound {
			t.Fatalf("dave after leaving managers: %d", p.status)
		}
		if p := d.post(t, "/requests/"+req.ID+"/approve", nil); p.status != http.StatusNotFound {
			t.Fatalf("dave approving after leaving managers: %d", p.status)
		}
		// Gone from the policy altogether: refused everywhere.
		e.svc.SetPolicy(mustParse(t, strings.Replace(uiPolicy, "managers: [carol@example.com, dave@example.com]", "managers: [carol@example.com, erin@example.com]", 1)))
		if p := d.get(t, "/grants"); p.status != http.StatusForbidden || !strings.Contains(p.body, "not in the access policy") {
			t.Fatalf("dave outside the policy: %d", p.status)
		}
		// ... but may still sign out.
		if p := d.post(t, "/sign-out", nil); p.status != http.StatusSeeOther || p.location != "/sign-in" {
			t.Fatalf("dave signing out from outside the policy: %d %q", p.status, p.location)
		}
		// Identity-provider groups count: a session whose groups include
		// managers may decide.
		g := e.signIn(t, "gina@example.com", "managers")
		if p := g.get(t, "/requests/"+req.ID); p.status != 200 || !strings.Contains(p.body, "/approve\"") {
			t.Fatalf("gina (managers by her provider): %d", p.status)
		}
	})
}

func TestRateLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		demo := func(_ *uiEnv, c *web.Config) { c.UI.DemoUsers = []ui.DemoUser{{Email: "carol@example.com"}} }
		signIns := func(e *uiEnv, n int, xff func(i int) string) int {
			limited := 0
			for i := 0; i < n; i++ {
				p := e.anonymous().postRaw(t, "/sign-in/demo", url.Values{"email": {"carol@example.com"}}, "X-Forwarded-For", xff(i))
				if p.status == http.StatusTooManyRequests {
					limited++
					if p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "too many sign-in attempts") {
						t.Errorf("429 without Retry-After or message: %v", p.header)
					}
				}
			}
			return limited
		}
		spoof := func(i int) string { return "198.51.100." + string(rune('1'+i%9)) }

		// No trusted proxy: X-Forwarded-For cannot dodge the limit.
		e := newUIEnv(t, db, demo, func(_ *uiEnv, c *web.Config) { c.Edge.SignInPerMinute = 5 })
		if n := signIns(e, 8, spoof); n != 3 {
			t.Errorf("without a trusted proxy: %d of 8 limited, want 3", n)
		}
		// Behind a trusted proxy, each forwarded client has its own bucket...
		e = newUIEnv(t, db, demo, func(_ *uiEnv, c *web.Config) {
			c.Edge.SignInPerMinute = 5
			c.Edge.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		})
		if n := signIns(e, 8, func(i int) string { return "198.51.100." + string(rune('1'+i)) }); n != 0 {
			t.Errorf("distinct clients behind a trusted proxy: %d limited", n)
		}
		// ... and one client is still one client, whatever it prepends.
		if n := signIns(e, 8, func(i int) string { return "10.9.9." + string(rune('1'+i)) + ", 203.0.113.9" }); n != 3 {
			t.Errorf("one client behind a trusted proxy: %d of 8 limited, want 3", n)
		}

		// The API is limited per person, whatever address or forwarded
		// address the calls come from, with the JSON error shape.
		e = newUIEnv(t, db, func(_ *uiEnv, c *web.Config) {
			c.Edge.APIPerMinute, c.Edge.ServicePerMinute, c.Edge.AuthFailuresPerMinute = 10, 30, 5
		})
		ctx := context.Background()
		carolToken, _, _ := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "carol@example.com", Actor: "test"}, e.clock())
		daveToken, _, _ := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "dave@example.com", Actor: "test"}, e.clock())
		svcToken, _, _ := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "crm", Scopes: []string{"check"}, Actor: "test"}, e.clock())
		api := func(token string, i int) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/me", nil)
			req.Header.Set("X-Forwarded-For", spoof(i))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			decodeBody(t, resp, &body)
			if resp.StatusCode == http.StatusTooManyRequests && (body.Error.Code != "rate_limited" || resp.Header.Get("Retry-After") == "") {
				t.Errorf("API 429: %+v %v", body, resp.Header)
			}
			return resp.StatusCode, body.Error.Message
		}
		count := func(token string, n int) (limited int) {
			for i := 0; i < n; i++ {
				if code, _ := api(token, i); code == http.StatusTooManyRequests {
					limited++
				}
			}
			return limited
		}
		if n := count(carolToken, 12); n != 2 {
			t.Errorf("a person: %d of 12 limited, want 2", n)
		}
		if n := count(daveToken, 10); n != 0 {
			t.Errorf("another person from the same address: %d of 10 limited, want 0", n)
		}
		if n := count(svcToken, 30); n != 0 {
			t.Errorf("a service token within its own limit: %d of 30 limited", n)
		}
		if n := count(svcToken, 2); n != 2 {
			t.Errorf("a service token past its limit: %d of 2 limited", n)
		}
		// Failed authentications spend the address's budget; then even a
		// good token from that address is refused until it refills.
		for i := 0; i < 5; i++ {
			if code, _ := api("jit_guessed"+string(rune('a'+i)), i); code != http.StatusUnauthorized {
				t.Fatalf("bad token %d: %d, want 401", i, code)
			}
		}
		if code, msg := api("jit_guessed", 0); code != http.StatusTooManyRequests || !strings.Contains(msg, "failed authentications") {
			t.Errorf("after 5 failures: %d %q", code, msg)
		}
		if code, _ := api(daveToken, 0); code != http.StatusTooManyRequests {
			t.Errorf("a good token from a blocked address: %d", code)
		}
		// Pages are not rate limited.
		c := e.signIn(t, "carol@example.com")
		for i := 0; i < 15; i++ {
			if p := c.get(t, "/grants"); p.status != 200 {
				t.Fatalf("page %d: %d", i, p.status)
			}
		}
	})
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := httpkit.ParseTrustedProxies(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,")
	if err != nil || len(got) != 3 || got[1].String() != "192.0.2.7/32" {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0"} {
		if _, err := httpkit.ParseTrustedProxies(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// flipFirst changes the first character of s.
func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// TestFormTextRefused: invalid text anywhere in a web UI form (a value or
// a field name, on any action) is a 400 naming the field, and nothing is
// changed.
func TestFormTextRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		req := e.submit(t, alice, "crm-notes", time.Hour)
		carol := e.signIn(t, "carol@example.com")
		bob := e.signIn(t, "bob@example.com")
		for _, tc := range []struct {
			name string
			who  *client
			path string
			form url.Values
			want string
		}{
			{"NUL in a deny reason", carol, "/requests/" + req.ID + "/deny", url.Values{"reason": {"no\x00pe"}}, `form field "reason"`},
			{"NUL in an approve comment", carol, "/requests/" + req.ID + "/approve", url.Values{"comment": {"ok\x00"}}, `form field "comment"`},
			{"invalid UTF-8 in a field name", carol, "/requests/" + req.ID + "/approve", url.Values{"co\xffmment": {"ok"}}, "form field name"},
			{"control character in a resource", bob, "/requests", url.Values{"resource": {"crm-\x01notes"}, "duration": {"1h"}, "reason": {"case 1"}}, `form field "resource"`},
			{"NUL in a new request's reason", bob, "/requests", url.Values{"resource": {"crm-notes"}, "duration": {"1h"}, "reason": {"case\x001"}}, `form field "reason"`},
		} {
			p := tc.who.post(t, tc.path, tc.form)
			if p.status != http.StatusBadRequest || !strings.Contains(strings.ToLower(p.body), strings.ToLower(html.EscapeString(tc.want))) {
				t.Errorf("%s: %d, want 400 naming %s: %s", tc.name, p.status, tc.want, excerpt(p.body))
			}
		}
		if st, n := e.state(t, req.ID); st != workflow.StatePending || n != 0 {
			t.Fatalf("the request changed: %s, %d approvals", st, n)
		}
		mine, _, err := e.svc.List(context.Background(), workflow.User("bob@example.com"), workflow.RequestQuery{Requester: "bob@example.com"})
		if err != nil || len(mine) != 0 {
			t.Fatalf("bob's requests: %d %v", len(mine), err)
		}
	})
}
