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
	"github.com/jitaccess/jitaccess/workflow"
)

func withPasskeys(e *uiEnv, cfg *web.Config) { cfg.UI.Passkeys = e.db }

// postJSON posts body as static/mfa.js does, to host (the Host header and
// the Origin), with the X-CSRF-Token header unless csrf is "".
func (c *client) postJSON(t *testing.T, host, path, body, csrf, origin string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(body))
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	// The jar matches cookies by the Host, which is another name here.
	u, _ := url.Parse(c.e.srv.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	return c.do(t, req)
}

// TestStepUpRefusals: what the step-up and passkey endpoints refuse, each
// with a clear error and never a 500: an IP address as the relying party,
// a person with no passkey, a missing CSRF token, another origin, an
// answer that is not an assertion, a challenge used twice (each refused
// assertion audited as a failed step-up); removing the last passkey
// without a fresh check. Chromium's real ceremonies are in
// app/mfa_browser_test.go.
func TestStepUpRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newUIEnv(t, db, withPasskeys)
		carol := e.signIn(t, "carol@example.com")
		u, _ := url.Parse(e.base)
		local := "localhost:" + u.Port()
		origin := "http://" + local

		p := carol.postJSON(t, local, "/mfa/options", "{}", carol.csrf, origin)
		if p.status != http.StatusConflict || !strings.Contains(p.body, "you have no passkey: register one on your account page") {
			t.Fatalf("options without a passkey: %d %s", p.status, p.body)
		}
		for _, name := range []string{"one", "two"} {
			if err := db.AddPasskey(ctx, identity.Passkey{ID: "cred-" + name, Email: "carol@example.com", Name: name, PublicKey: "-", Credential: []byte("{}")}, e.clock()); err != nil {
				t.Fatal(err)
			}
		}
		if p := carol.postJSON(t, u.Host, "/mfa/options", "{}", carol.csrf, e.base); p.status != http.StatusConflict ||
			!strings.Contains(p.body, "passkeys need a host name, not the IP address 127.0.0.1") {
			t.Fatalf("options on an IP address: %d %s", p.status, p.body)
		}
		if p := carol.postJSON(t, local, "/mfa/options", "{}", "", origin); p.status != http.StatusForbidden || !strings.Contains(p.body, "did not come from jitaccess") {
			t.Fatalf("options without the CSRF token: %d %s", p.status, p.body)
		}
		if p := carol.postJSON(t, local, "/mfa/options", "{}", carol.csrf, "http://evil.example"); p.status != http.StatusForbidden || !strings.Contains(p.body, "cross-site request refused") {
			t.Fatalf("options from another origin: %d %s", p.status, p.body)
		}
		p = carol.postJSON(t, local, "/mfa/options", "{}", carol.csrf, origin)
		if p.status != http.StatusOK || !strings.Contains(p.body, `"challenge":"`) || !strings.Contains(p.body, `"rpId":"localhost"`) || !strings.Contains(p.body, `"userVerification":"required"`) {
			t.Fatalf("options: %d %s", p.status, p.body)
		}
		if p := carol.postJSON(t, local, "/mfa/verify", `{"id":"x","type":"public-key"}`, carol.csrf, origin); p.status != http.StatusBadRequest ||
			!strings.Contains(p.body, "not a passkey assertion") {
			t.Fatalf("a bogus assertion: %d %s", p.status, p.body)
		}
		if p := carol.postJSON(t, local, "/mfa/verify", `{"id":"x","type":"public-key"}`, carol.csrf, origin); p.status != http.StatusConflict ||
			!strings.Contains(p.body, "its challenge was used already") {
			t.Fatalf("the challenge again: %d %s", p.status, p.body)
		}
		if p := carol.postJSON(t, local, "/mfa/verify", `not json at all`, carol.csrf, origin); p.status != http.StatusConflict {
			t.Fatalf("no challenge, garbage: %d %s", p.status, p.body)
		}
		recs, _, err := db.ListAudit(ctx, auditQuery("carol@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, r := range recs {
			if r.Action == identity.ActionStepUpFailed {
				failed++
			}
		}
		if failed != 3 {
			t.Fatalf("%d failed step-ups audited, want 3", failed)
		}

		// Rename; remove one of two at once; the last only after a check.
		if p := carol.post(t, "/account/passkeys/cred-one/rename", url.Values{"name": {"Laptop"}}); p.status != http.StatusSeeOther {
			t.Fatalf("rename: %d %s", p.status, p.body)
		}
		if p := carol.post(t, "/account/passkeys/cred-one/rename", url.Values{"name": {strings.Repeat("x", 61)}}); p.status != http.StatusBadRequest {
			t.Fatalf("a long name: %d", p.status)
		}
		dave := e.signIn(t, "dave@example.com")
		if p := dave.post(t, "/account/passkeys/cred-one/remove", nil); p.status != http.StatusNotFound {
			t.Fatalf("dave removes carol's passkey: %d", p.status)
		}
		if p := carol.post(t, "/account/passkeys/cred-one/remove", nil); p.status != http.StatusSeeOther {
			t.Fatalf("remove one of two: %d %s", p.status, p.body)
		}
		p = carol.post(t, "/account/passkeys/cred-two/remove", nil)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "Removing your last passkey needs a passkey check within the last 5m") {
			t.Fatalf("remove the last without a check: %d %s", p.status, p.body)
		}
		keys, _ := db.Passkeys(ctx, "carol@example.com")
		if len(keys) != 1 || keys[0].Name != "two" {
			t.Fatalf("passkeys left: %+v", keys)
		}
		page := carol.get(t, "/account")
		if page.status != 200 || !strings.Contains(page.body, `action="/account/passkeys/cred-two/remove" data-step-up`) || !strings.Contains(page.body, "1 passkey") {
			t.Fatalf("account page: %d %s", page.status, page.body)
		}
	})
}

func auditQuery(actor string) workflow.AuditQuery {
	return workflow.AuditQuery{Actor: actor, Limit: 100}
}

// TestOIDCStepUp: without a passkey, the step-up is a sign-in again at the
// provider, with max_age=0, prompt=login and the configured acr_values;
// the session keeps the provider's auth_time, and an amr with a strong
// method within --mfa-max-age of it counts as MFA (oidc_amr) for the
// decision, audited as such. An amr without one does not.
func TestOIDCStepUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		idp := newTestOP(t, "jitaccess", "s3cret")
		e := newUIEnv(t, db, func(e *uiEnv, c *web.Config) {
			idp.store.redirect = e.base + "/auth/callback"
			c.UI.OIDC = &ui.OIDCConfig{Issuer: idp.issuer, ClientID: "jitaccess", ClientSecret: "s3cret",
				RedirectURL: e.base + "/auth/callback", GroupsClaim: "groups", Name: "Test IdP", ACRValues: "urn:okta:loa:2fa:any phr"}
		})
		e.svc.SetPolicy(mustParse(t, strings.Replace(uiPolicy, "    tier: high\n", "    tier: high\n    require_mfa: [approve]\n", 1)))
		req := e.submit(t, alice, "crm-payments", time.Hour)
		signIn := func(amr ...string) *client {
			idp.set(func(s *opStore) {
				defaultUser(s)
				s.user.AMR, s.authTime = amr, e.clock
			})
			c := e.anonymous()
			p, _ := c.oidcFlowFrom(t, "/sign-in/oidc?step_up=1&next=%2Frequests%2F"+req.ID, nil)
			if p.status != http.StatusSeeOther || p.location != "/requests/"+req.ID {
				t.Fatalf("step-up sign-in: %d %q", p.status, p.location)
			}
			c.who = "gina@example.com"
			g := c.get(t, "/requests/"+req.ID)
			if i := strings.Index(g.body, `name="csrf_token" value="`); i >= 0 {
				rest := g.body[i+len(`name="csrf_token" value="`):]
				c.csrf = rest[:strings.Index(rest, `"`)]
			}
			return c
		}

		weak := signIn("pwd")
		idp.store.mu.Lock()
		last := idp.store.last
		idp.store.mu.Unlock()
		if last.MaxAge == nil || *last.MaxAge != 0 || last.Prompt == nil || !slices.Contains(last.Prompt, "login") ||
			!slices.Equal(last.ACRValues, []string{"urn:okta:loa:2fa:any", "phr"}) {
			t.Fatalf("the step-up asked for max_age %v, prompt %v, acr_values %v", last.MaxAge, last.Prompt, last.ACRValues)
		}
		p := weak.post(t, "/requests/"+req.ID+"/approve", url.Values{"comment": {"checked"}})
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "needs a second factor") {
			t.Fatalf("approval after a password-only sign-in: %d %s", p.status, excerpt(p.body))
		}
		// Without a passkey, /mfa/options sends the browser to sign in again.
		u, _ := url.Parse(e.base)
		o := weak.postJSON(t, u.Host, "/mfa/options?next=%2Frequests%2F"+req.ID, "{}", weak.csrf, e.base)
		if o.status != http.StatusOK || !strings.Contains(o.body, `"oidc":"/sign-in/oidc?step_up=1\u0026next=%2Frequests%2F`+req.ID+`"`) {
			t.Fatalf("options without a passkey, with OIDC: %d %s", o.status, o.body)
		}

		strong := signIn("pwd", "mfa", "otp")
		if p := strong.post(t, "/requests/"+req.ID+"/approve", url.Values{"comment": {"checked"}}); p.status != http.StatusSeeOther {
			t.Fatalf("approval after an MFA sign-in: %d %s", p.status, excerpt(p.body))
		}
		recs, _, err := db.ListAudit(ctx, workflow.AuditQuery{RequestID: req.ID, Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		var ok bool
		for _, r := range recs {
			if r.Action == string(workflow.EventApprove) {
				ok = r.Actor == "gina@example.com" && r.Auth == workflow.AuthSession && r.MFA == workflow.MFAOIDC
			}
		}
		if !ok {
			t.Fatalf("no approve record by gina with session, oidc_amr: %+v", recs)
		}
		// Past --mfa-max-age, the same session no longer counts.
		e.advance(6 * time.Minute)
		other := e.submit(t, bob, "crm-payments", time.Hour)
		if p := strong.post(t, "/requests/"+other.ID+"/approve", url.Values{"comment": {"checked"}}); p.status != http.StatusForbidden {
			t.Fatalf("approval 6 minutes after the sign-in: %d", p.status)
		}
	})
}
