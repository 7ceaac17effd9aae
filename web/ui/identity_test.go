package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/ui"
	"github.com/jitaccess/jitaccess/workflow"
)

func seedPerson(t testing.TB, db *store.DB, p workflow.Person, now time.Time) {
	t.Helper()
	if _, err := db.SeedPerson(context.Background(), p, now); err != nil {
		t.Fatalf("seed %s: %v", p.UserName, err)
	}
}

// formToken returns the CSRF token of the first form on a page.
func formToken(t *testing.T, p page) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form token on the page: %s", excerpt(p.body))
	}
	return m[1]
}

// TestUIDeactivatedPerson: the web UI ends the sessions of a person the
// directory has deactivated, says why, and refuses their sign-in.
func TestUIDeactivatedPerson(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db, func(_ *uiEnv, c *web.Config) {
			c.UI.DemoUsers = []ui.DemoUser{{Email: "alice@example.com"}, {Email: "bob@example.com"}}
		})
		c := e.signIn(t, "alice@example.com")
		other := e.signIn(t, "alice@example.com") // a second browser
		if p := c.get(t, "/requests"); p.status != http.StatusOK {
			t.Fatalf("before deactivation: %d", p.status)
		}
		seedPerson(t, db, workflow.Person{UserName: "alice@example.com", Active: false}, e.clock())

		p := c.get(t, "/requests")
		if p.status != http.StatusSeeOther || p.location != "/sign-in?next=%2Frequests" {
			t.Fatalf("deactivated session: %d %q", p.status, p.location)
		}
		p = c.get(t, p.location)
		if p.status != http.StatusOK || !strings.Contains(p.body, "alice@example.com is deactivated in the directory") {
			t.Fatalf("sign-in page after the ending: %d %s", p.status, excerpt(p.body))
		}
		if n := e.sessionCount(t); n != 0 {
			t.Fatalf("%d sessions left", n)
		}
		if p := other.get(t, "/requests"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/sign-in") {
			t.Fatalf("the other browser: %d %q", p.status, p.location)
		}
		recs := auditOf(t, db, identity.ActionSessionRevoke)
		if len(recs) != 1 || recs[0].Actor != "system" || recs[0].Subject != "alice@example.com" ||
			recs[0].Reason != "signed out of 2 session(s): alice@example.com is deactivated in the directory" {
			t.Fatalf("revoke audit: %+v", recs)
		}

		// Signing in again is refused, with why; bob (active) still can.
		for _, tc := range []struct {
			email   string
			refused bool
		}{{"alice@example.com", true}, {"bob@example.com", false}} {
			b := e.anonymous()
			tok := formToken(t, b.get(t, "/sign-in"))
			p := b.postRaw(t, "/sign-in/demo", url.Values{"csrf_token": {tok}, "email": {tc.email}, "next": {"/requests"}},
				"Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
			if tc.refused {
				if p.status != http.StatusBadRequest || !strings.Contains(p.body, tc.email+" is deactivated in the directory") || setsSession(p) {
					t.Fatalf("demo sign-in of %s: %d %s", tc.email, p.status, excerpt(p.body))
				}
				continue
			}
			if p.status != http.StatusSeeOther || p.location != "/requests" || !setsSession(p) {
				t.Fatalf("demo sign-in of %s: %d %q", tc.email, p.status, p.location)
			}
		}
		// Two sign-ins of alice's before, bob's after; none of alice's since.
		if recs := auditOf(t, db, identity.ActionSignIn); len(recs) != 3 || recs[2].Subject != "bob@example.com" {
			t.Fatalf("%d sign-ins", len(recs))
		}
	})
}

// TestOIDCDeactivatedSignIn: a person the directory has deactivated cannot
// sign in with the identity provider either.
func TestOIDCDeactivatedSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, idp := newOIDCEnv(t, db, "")
		idp.set(defaultUser)
		seedPerson(t, db, workflow.Person{UserName: "gina@example.com", Active: false}, e.clock())
		p, _ := e.anonymous().oidcFlow(t, nil)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "gina@example.com is deactivated in the directory") || setsSession(p) {
			t.Fatalf("callback: %d %s", p.status, excerpt(p.body))
		}
		if n := e.sessionCount(t); n != 0 {
			t.Fatalf("%d sessions", n)
		}
	})
}

// TestGroupsMaxAge: groups from the OIDC claim count for
// --groups-max-age (15m by default), then no longer until the person signs
// in again; decisions taken meanwhile are judged without them.
func TestGroupsMaxAge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, idp := newOIDCEnv(t, db, "")
		// bob is an agent by the policy file and a manager only by his
		// provider's claim.
		for _, tc := range []struct {
			name     string
			age      time.Duration
			approves bool
		}{
			{"fresh", 10 * time.Minute, true},
			{"at the limit", 15 * time.Minute, true},
			{"stale", 16 * time.Minute, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req := e.submit(t, alice, "crm-notes", time.Hour)
				c := e.signIn(t, "bob@example.com", "managers")
				e.advance(tc.age)
				p := c.get(t, "/grants")
				if p.status != http.StatusOK || strings.Contains(p.body, `id="groups-stale"`) == tc.approves {
					t.Fatalf("request page: %d, notice shown %v", p.status, strings.Contains(p.body, `id="groups-stale"`))
				}
				if !tc.approves && !strings.Contains(p.body, "(managers) are more than 15 min old and no longer count") {
					t.Fatalf("notice: %s", excerpt(p.body))
				}
				p = c.post(t, "/requests/"+req.ID+"/approve", nil)
				st, n := e.state(t, req.ID)
				// Without the claim bob approves nothing: the request is
				// not even his to see.
				if tc.approves != (n == 1) || !tc.approves && (p.status != http.StatusNotFound || st != workflow.StatePending) {
					t.Fatalf("approve: %d, %s with %d approvals", p.status, st, n)
				}
				endRequest(t, e, req.ID, st)
			})
		}

		t.Run("sign in again", func(t *testing.T) {
			idp.set(defaultUser) // gina: a manager by the claim alone
			req := e.submit(t, alice, "crm-notes", time.Hour)
			c := e.anonymous()
			if p, _ := c.oidcFlow(t, nil); p.status != http.StatusSeeOther {
				t.Fatalf("sign-in: %d", p.status)
			}
			e.advance(20 * time.Minute)
			// gina is in no policy group without her claim: refused, and
			// told why, with a form that signs her in again.
			p := c.get(t, "/requests/"+req.ID)
			if p.status != http.StatusForbidden || !strings.Contains(p.body, `<form class="inline" method="get" action="/sign-in/oidc">`) ||
				!strings.Contains(p.body, `name="next" value="/requests/`+req.ID+`"`) {
				t.Fatalf("stale page: %d %s", p.status, excerpt(p.body))
			}
			if p := c.postRaw(t, "/requests/"+req.ID+"/approve", url.Values{}, "Origin", e.srv.URL); p.status != http.StatusForbidden {
				t.Fatalf("stale approval: %d", p.status)
			}
			if _, n := e.state(t, req.ID); n != 0 {
				t.Fatalf("%d approvals on a stale claim", n)
			}
			if p, _ := c.oidcFlow(t, nil); p.status != http.StatusSeeOther {
				t.Fatalf("sign-in again: %d", p.status)
			}
			p = c.get(t, "/requests/"+req.ID)
			if p.status != http.StatusOK || strings.Contains(p.body, `id="groups-stale"`) {
				t.Fatalf("fresh page: %d", p.status)
			}
			c.csrf = formToken(t, p)
			if p := c.post(t, "/requests/"+req.ID+"/approve", nil); p.status != http.StatusSeeOther {
				t.Fatalf("fresh approval: %d %s", p.status, excerpt(p.body))
			}
			if _, n := e.state(t, req.ID); n != 1 {
				t.Fatalf("%d approvals", n)
			}
		})
		t.Run("a fresh sign-in approves", func(t *testing.T) {
			req := e.submit(t, bob, "crm-notes", time.Hour)
			c := e.signIn(t, "alice@example.com", "managers")
			if p := c.post(t, "/requests/"+req.ID+"/approve", nil); p.status != http.StatusSeeOther {
				t.Fatalf("approval: %d %s", p.status, excerpt(p.body))
			}
		})
	})
}

func auditOf(t *testing.T, db *store.DB, action string) []*workflow.AuditRecord {
	t.Helper()
	recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{Action: action, Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// endRequest closes a test's request, so that its requester may ask again.
func endRequest(t *testing.T, e *uiEnv, id string, st workflow.State) {
	t.Helper()
	var err error
	switch st {
	case workflow.StatePending:
		_, err = e.svc.Cancel(context.Background(), alice, id, "")
	case workflow.StateApproved:
		_, err = e.svc.Revoke(context.Background(), carol, id, "test over")
	}
	if err != nil {
		t.Fatal(err)
	}
}
