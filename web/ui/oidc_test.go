package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/ui"
)

// newOIDCEnv runs jitaccess with sign-in at a test provider. issuer is
// what jitaccess is told the issuer is ("" for the provider's own).
func newOIDCEnv(t *testing.T, db *store.DB, issuerSuffix string) (*uiEnv, *testOP) {
	t.Helper()
	idp := newTestOP(t, "jitaccess", "s3cret")
	e := newUIEnv(t, db, func(e *uiEnv, c *web.Config) {
		idp.store.redirect = e.base + "/auth/callback"
		c.UI.OIDC = &ui.OIDCConfig{Issuer: idp.issuer + issuerSuffix, ClientID: "jitaccess", ClientSecret: "s3cret",
			RedirectURL: e.base + "/auth/callback", GroupsClaim: "groups", Name: "Test IdP", DiscoveryRetry: time.Millisecond}
	})
	return e, idp
}

func defaultUser(s *opStore) {
	yes := true
	s.user = opUser{Subject: "u-42", Email: "Gina@Example.com", Verified: &yes, Groups: []string{"managers", "staff"},
		AMR: []string{"pwd", "otp"}, ACR: "urn:jitaccess:mfa"}
	s.audience, s.tokenClient, s.nonce, s.lifetime, s.claimsInToken, s.discoveryIssuer = nil, "", "", 5*time.Minute, true, ""
}

// oidcFlow walks a browser through a sign-in: jitaccess, the provider's
// authorize and login pages, and back to jitaccess's callback. tamper may
// change the callback URL, or return false to stop before calling it.
func (c *client) oidcFlow(t *testing.T, tamper func(u *url.URL) bool) (page, string) {
	t.Helper()
	return c.oidcFlowFrom(t, "/sign-in/oidc?next=%2Fgrants", tamper)
}

// oidcFlowFrom is oidcFlow from start (a path of jitaccess).
func (c *client) oidcFlowFrom(t *testing.T, start string, tamper func(u *url.URL) bool) (page, string) {
	t.Helper()
	next := c.e.base + start
	var callback string
	for i := 0; i < 12; i++ {
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		p := c.do(t, req)
		if next == callback || p.status != http.StatusFound && p.status != http.StatusSeeOther {
			return p, callback
		}
		base, _ := url.Parse(next)
		loc, err := base.Parse(p.location)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(loc.String(), c.e.base+"/auth/callback") {
			if tamper != nil && !tamper(loc) {
				return p, loc.String()
			}
			callback = loc.String()
		}
		next = loc.String()
	}
	t.Fatal("sign-in did not settle")
	return page{}, ""
}

func (e *uiEnv) sessionCount(t *testing.T) int {
	t.Helper()
	list, _, err := e.db.ListSessions(context.Background(), e.clock(), time.Hour, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func setsSession(p page) bool {
	for _, sc := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "__Host-jitaccess-session=") && !strings.Contains(sc, "Max-Age=0") {
			return true
		}
	}
	return false
}

func TestOIDCSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, idp := newOIDCEnv(t, db, "")
		// A pending request that managers decide; gina is a manager only
		// through her provider's groups claim.
		req := e.submit(t, alice, "crm-payments", time.Hour)

		// The sign-in page offers the provider.
		if p := e.anonymous().get(t, "/sign-in"); !strings.Contains(p.body, "Sign in with Test IdP") {
			t.Fatalf("sign-in page: %s", excerpt(p.body))
		}

		t.Run("happy path", func(t *testing.T) {
			idp.set(defaultUser)
			c := e.anonymous()
			p, callback := c.oidcFlow(t, nil)
			if p.status != http.StatusSeeOther || p.location != "/grants" || !setsSession(p) {
				t.Fatalf("callback: %d %q %s", p.status, p.location, excerpt(p.body))
			}
			if g := c.get(t, "/grants"); g.status != 200 || !strings.Contains(g.body, "gina@example.com") {
				t.Fatalf("after sign-in: %d", g.status)
			}
			// Groups from the provider merge with the policy's: gina decides.
			if d := c.get(t, "/decisions"); !strings.Contains(d.body, req.ID) {
				t.Fatalf("gina's queue lacks the request")
			}
			list, _, _ := e.db.ListSessions(context.Background(), e.clock(), time.Hour, 0, "")
			var s identity.Session
			for _, x := range list {
				if x.Email == "gina@example.com" {
					s = x
				}
			}
			if s.Method != identity.SessionOIDC || !slices.Equal(s.Groups, []string{"managers", "staff"}) ||
				!slices.Equal(s.AMR, []string{"pwd", "otp"}) || s.ACR != "urn:jitaccess:mfa" {
				t.Fatalf("session %+v", s)
			}
			// The callback works once.
			n := e.sessionCount(t)
			r, _ := http.NewRequest(http.MethodGet, callback, nil)
			if p := c.do(t, r); p.status != http.StatusBadRequest || !strings.Contains(p.body, "expired or was already used") || setsSession(p) {
				t.Fatalf("replayed callback: %d %s", p.status, excerpt(p.body))
			}
			if e.sessionCount(t) != n {
				t.Fatal("a replayed callback made a session")
			}
		})

		t.Run("email from userinfo", func(t *testing.T) {
			idp.set(func(s *opStore) { defaultUser(s); s.claimsInToken = false })
			c := e.anonymous()
			if p, _ := c.oidcFlow(t, nil); p.status != http.StatusSeeOther || !setsSession(p) {
				t.Fatalf("callback: %d %s", p.status, excerpt(p.body))
			}
			if g := c.get(t, "/grants"); !strings.Contains(g.body, "gina@example.com") {
				t.Fatal("not signed in as gina")
			}
		})

		refused := func(t *testing.T, c *client, tamper func(*url.URL) bool, want string) {
			t.Helper()
			n := e.sessionCount(t)
			p, _ := c.oidcFlow(t, tamper)
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, want) || setsSession(p) {
				t.Fatalf("want a refusal saying %q; got %d %q", want, p.status, excerpt(p.body))
			}
			if e.sessionCount(t) != n {
				t.Fatal("a refused sign-in made a session")
			}
		}
		for _, tc := range []struct {
			name string
			knob func(s *opStore)
			want string
		}{
			{"wrong audience", func(s *opStore) { s.tokenClient = "another-app" }, "issued for another application"},
			// Several audiences, ours among them, but authorized for another party.
			{"wrong authorized party", func(s *opStore) { s.tokenClient, s.audience = "another-app", []string{"jitaccess"} }, "issued for another application (azp)"},
			{"expired token", func(s *opStore) { s.lifetime = -time.Minute }, "the ID token has expired"},
			{"unverified email", func(s *opStore) { no := false; s.user.Verified = &no }, "has not verified the email address"},
			{"no email", func(s *opStore) { s.user.Email = "" }, "did not say who you are"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				idp.set(func(s *opStore) { defaultUser(s); tc.knob(s) })
				refused(t, e.anonymous(), nil, tc.want)
			})
		}

		t.Run("replayed nonce", func(t *testing.T) {
			// A token minted for an earlier sign-in (its nonce) cannot
			// finish a new one.
			idp.set(defaultUser)
			if p, _ := e.anonymous().oidcFlow(t, nil); !setsSession(p) {
				t.Fatalf("first sign-in: %d", p.status)
			}
			idp.set(func(s *opStore) { s.nonce = s.lastNonce })
			refused(t, e.anonymous(), nil, "nonce mismatch")
		})

		t.Run("state mismatch", func(t *testing.T) {
			idp.set(defaultUser)
			refused(t, e.anonymous(), func(u *url.URL) bool {
				q := u.Query()
				q.Set("state", q.Get("state")+"x")
				u.RawQuery = q.Encode()
				return true
			}, "state mismatch")
		})

		t.Run("callback in another browser", func(t *testing.T) {
			// Login CSRF: a victim's browser must not finish a sign-in
			// that an attacker's browser started.
			idp.set(defaultUser)
			var stolen string
			e.anonymous().oidcFlow(t, func(u *url.URL) bool { stolen = u.String(); return false })
			victim := e.anonymous()
			r, _ := http.NewRequest(http.MethodGet, stolen, nil)
			if p := victim.do(t, r); p.status != http.StatusBadRequest || setsSession(p) {
				t.Fatalf("stolen callback: %d %s", p.status, excerpt(p.body))
			}
		})

		t.Run("provider refuses", func(t *testing.T) {
			idp.set(defaultUser)
			refused(t, e.anonymous(), func(u *url.URL) bool {
				q := u.Query()
				q.Del("code")
				q.Set("error", "access_denied")
				q.Set("error_description", "<script>nope</script>")
				u.RawQuery = q.Encode()
				return true
			}, "the identity provider said access_denied &lt;script&gt;")
		})
	})
}

func TestOIDCWrongIssuer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// The discovery document names the issuer jitaccess expects, but
		// the tokens come from another: refused at the token.
		e, idp := newOIDCEnv(t, db, "/")
		idp.set(func(s *opStore) { defaultUser(s); s.discoveryIssuer = idp.issuer + "/" })
		n := e.sessionCount(t)
		p, _ := e.anonymous().oidcFlow(t, nil)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "issued by another provider") || setsSession(p) {
			t.Fatalf("token from another issuer: %d %s", p.status, excerpt(p.body))
		}
		// The discovery document names another issuer: refused at
		// discovery, and sign-in stays off.
		e2, idp2 := newOIDCEnv(t, db, "/")
		idp2.set(defaultUser)
		p, _ = e2.anonymous().oidcFlow(t, nil)
		if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "says its issuer is") || setsSession(p) {
			t.Fatalf("discovery with another issuer: %d %s", p.status, excerpt(p.body))
		}
		if e.sessionCount(t) != n {
			t.Fatal("a refused sign-in made a session")
		}
	})
}
