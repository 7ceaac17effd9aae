package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// addAuthenticator turns on Chromium's virtual authenticator (the DevTools
// WebAuthn domain): a platform passkey provider that verifies its user
// and needs no touch.
func (b *browser) addAuthenticator() cdpwebauthn.AuthenticatorID {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	id, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (cdpwebauthn.AuthenticatorID, error) {
		if _, err := cdp.Call(ctx, t, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return "", err
		}
		r, err := cdp.Call(ctx, t, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
		return r.AuthenticatorID, err
	})
	if err != nil {
		b.t.Fatalf("virtual authenticator: %v", err)
	}
	return id
}

// bogusSignatures makes the authenticator sign with zeros (on) or for real.
func (b *browser) bogusSignatures(id cdpwebauthn.AuthenticatorID, on bool) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdpwebauthn.SetResponseOverrideBits, cdpwebauthn.SetResponseOverrideBitsParams{AuthenticatorID: id, IsBogusSignature: &on})
		return err
	}))
}

// clickThen clicks sel and waits until the element want shows text,
// however many round trips and page loads (a step-up, then the form)
// come between.
func (b *browser) clickThen(sel, want, text string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	b.waitFor(want, text)
}

// waitFor waits until the element want shows text, across page loads.
func (b *browser) waitFor(want, text string) {
	b.t.Helper()
	cond := fmt.Sprintf(`(function(){var e=document.querySelector(%q);return !!e && !e.hidden && e.textContent.indexOf(%q)>=0;})()`, want, text)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
	}
	b.shot("unexpected")
	b.t.Fatalf("%s never said %q (at %s); main says %q", want, text, b.location(), b.textNow("main"))
}

func (b *browser) textNow(sel string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel)))
	return s
}

// stepUpJS runs a step-up by hand, as a script on the page could: it asks
// for a challenge, has the authenticator answer it (with allow, when set,
// as the only credential allowed: another person's), posts the answer to
// /mfa/verify (twice when replay is set), and returns what the last post
// answered: "ok", or the server's message.
func (b *browser) stepUpJS(allow string, replay bool) string {
	b.t.Helper()
	js := fmt.Sprintf(`(async function(){
  var csrf = document.querySelector('input[name=csrf_token]').value;
  var h = {'Content-Type':'application/json','X-CSRF-Token':csrf};
  var d = function(s){s=s.replace(/-/g,'+').replace(/_/g,'/');while(s.length%%4)s+='=';return Uint8Array.from(atob(s),function(c){return c.charCodeAt(0);}).buffer;};
  var e = function(b){return btoa(String.fromCharCode.apply(null,new Uint8Array(b))).replace(/\+/g,'-').replace(/\//g,'_').replace(/=+$/,'');};
  var o = await (await fetch('/mfa/options',{method:'POST',headers:h,body:'{}'})).json();
  if (!o.publicKey) return 'no challenge: ' + JSON.stringify(o);
  var pk = o.publicKey; pk.challenge = d(pk.challenge);
  pk.allowCredentials = %q ? [{type:'public-key', id: d(%q)}] : (pk.allowCredentials||[]).map(function(c){c.id=d(c.id);return c;});
  var c = await navigator.credentials.get({publicKey: pk});
  var body = JSON.stringify({id:c.id,rawId:e(c.rawId),type:c.type,response:{authenticatorData:e(c.response.authenticatorData),
    clientDataJSON:e(c.response.clientDataJSON),signature:e(c.response.signature),userHandle:c.response.userHandle?e(c.response.userHandle):undefined}});
  var r = await fetch('/mfa/verify',{method:'POST',headers:h,body:body});
  if (%v) r = await fetch('/mfa/verify',{method:'POST',headers:h,body:body});
  var j = await r.json();
  return r.ok ? 'ok' : (r.status + ' ' + j.error.code + ': ' + j.error.message);
})()`, allow, allow, replay)
	ctx, cancel := b.timeout()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("step-up script: %v", err)
	}
	return s
}

// TestBrowserPasskeyStepUp is step-up MFA in a real browser, on localhost
// (WebAuthn refuses an IP address), with Chromium's virtual authenticator:
// passkeys are registered on the account page; approving a critical
// request (identity-docs: require_mfa [approve, deny]) takes one click that
// runs the passkey check and then sends the approval; a check older than
// --mfa-max-age is refused; another person's passkey, a replayed answer
// and a forged signature are refused and audited; the last passkey is
// removed after a fresh check.
func TestBrowserPasskeyStepUp(t *testing.T) {
	chromiumPath(t)
	const maxAge = 5 * time.Second
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, base := boot(t, app.Config{Demo: true, DatabaseURL: storetest.NewURL(t, kind), Web: app.WebConfig{MFAMaxAge: maxAge}})
		base = strings.Replace(base, "127.0.0.1", "localhost", 1)
		ctx := context.Background()
		b := newBrowser(t, base, screenshotDir(t, "mfa-"+string(kind)))
		auth := b.addAuthenticator()

		req, err := a.Service.Submit(ctx, workflow.User("alice@example.com"), workflow.SubmitInput{Resource: "identity-docs", Duration: time.Hour, Reason: "KYC check for account 4411"})
		if err != nil {
			t.Fatal(err)
		}
		page := "/requests/" + req.ID

		// dave registers a passkey.
		b.signInAs("dave@example.com")
		b.open("/account")
		b.wantText("main", "You have no passkey yet")
		b.do(chromedp.SendKeys(chromedp.ID("passkey-name"), "Dave's laptop"))
		b.clickThen("#add-passkey", ".flash", `Passkey "Dave's laptop" registered.`)
		b.wantText("#passkey-list", "Dave's laptop")
		b.shot("dave-passkey")
		b.signOut()
		daves, err := a.DB.Passkeys(ctx, "dave@example.com")
		if err != nil || len(daves) != 1 {
			t.Fatalf("dave's passkeys: %v %v", daves, err)
		}

		// carol has none yet: the Approve button says what to do, and
		// nothing is approved.
		b.signInAs("carol@example.com")
		b.open(page)
		b.do(chromedp.SendKeys(chromedp.ID("approve-comment"), "Checked the KYC case"))
		b.clickThen("#approve", "#step-up-error", "you have no passkey")
		if r, _ := a.Service.Get(ctx, workflow.User("root@example.com"), req.ID); len(r.Approvals) != 0 {
			t.Fatalf("approved without a second factor: %+v", r.Approvals)
		}
		b.open("/account")
		b.do(chromedp.SendKeys(chromedp.ID("passkey-name"), "Carol's laptop"))
		b.clickThen("#add-passkey", ".flash", `Passkey "Carol's laptop" registered.`)

		// One click: the passkey check, then the approval.
		b.open(page)
		b.do(chromedp.SendKeys(chromedp.ID("approve-comment"), "Checked the KYC case"))
		b.clickThen("#approve", ".flash", "Your approval is recorded: 1 of 2")
		b.shot("carol-approved-with-step-up")
		recs, _, err := a.DB.ListAudit(ctx, workflow.AuditQuery{RequestID: req.ID, Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		var approval *workflow.AuditRecord
		for _, r := range recs {
			if r.Action == string(workflow.EventApprove) {
				approval = r
			}
		}
		if approval == nil || approval.Actor != "carol@example.com" || approval.Auth != workflow.AuthSession || approval.MFA != workflow.MFAWebAuthn {
			t.Fatalf("carol's approval record: %+v", approval)
		}
		b.wantText("#history", "carol@example.com (session · mfa webauthn)")
		b.signOut()

		// dave proves his passkey, waits past --mfa-max-age and sends the
		// form without a new check: refused, nothing recorded.
		b.signInAs("dave@example.com")
		b.open(page)
		if got := b.stepUpJS("", false); got != "ok" {
			t.Fatalf("dave's step-up: %s", got)
		}
		time.Sleep(maxAge + time.Second)
		b.do(chromedp.SendKeys(chromedp.ID("approve-comment"), "Checked it too"))
		ctx2, cancel := b.timeout()
		_, err = chromedp.RunResponse(ctx2, chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action$="/approve"]').submit()`))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		b.wantText("#refusal", "needs a second factor proved within the last 5s")
		b.shot("dave-stale")
		if r, _ := a.Service.Get(ctx, workflow.User("root@example.com"), req.ID); len(r.Approvals) != 1 {
			t.Fatalf("a stale check approved: %+v", r.Approvals)
		}
		// The same click, with the script: a fresh check, then approved.
		b.clickThen("#approve", ".flash", "Approved. alice@example.com has access to identity-docs")
		b.signOut()

		// carol's step-up with dave's passkey (the authenticator holds
		// both): refused. So are a replayed answer and a forged signature.
		b.signInAs("carol@example.com")
		b.open("/account")
		if got := b.stepUpJS(daves[0].ID, false); !strings.Contains(got, "403 forbidden: that passkey is not one of yours") {
			t.Fatalf("carol with dave's passkey: %s", got)
		}
		b.bogusSignatures(auth, true)
		if got := b.stepUpJS("", false); !strings.Contains(got, "403 forbidden: the passkey check failed") {
			t.Fatalf("a forged signature: %s", got)
		}
		b.bogusSignatures(auth, false)
		if got := b.stepUpJS("", true); !strings.Contains(got, "409 invalid_state: no passkey check is in progress in this session, or its challenge was used already") {
			t.Fatalf("a replayed answer: %s", got)
		}
		failed, _, err := a.DB.ListAudit(ctx, workflow.AuditQuery{Actor: "carol@example.com", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range failed {
			if r.Action == identity.ActionStepUpFailed {
				n++
			}
		}
		if n != 3 {
			t.Fatalf("%d failed step-ups audited for carol, want 3", n)
		}

		// Removing her last passkey asks for a fresh check first (one
		// click); then it is gone, and audited.
		time.Sleep(maxAge)
		b.open("/account")
		b.clickThen(".passkey-remove", ".flash", "Passkey removed.")
		b.wantText("main", "You have no passkey yet")
		b.shot("carol-removed")
		all, _, err := a.DB.ListAudit(ctx, workflow.AuditQuery{Subject: "carol@example.com", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, r := range all {
			actions = append(actions, r.Action)
		}
		got, _ := json.Marshal(actions)
		for _, want := range []string{identity.ActionPasskeyRegister, identity.ActionStepUp, identity.ActionPasskeyRemove} {
			if !strings.Contains(string(got), want) {
				t.Errorf("carol's audit records %s lack %s", got, want)
			}
		}
		b.signOut()

		// The audit log shows how each decision's person was verified.
		b.signInAs("root@example.com")
		b.open("/audit?request=" + req.ID)
		b.wantText("#audit-records", "session · webauthn")
		b.shot("audit-auth-mfa")
	})
}
