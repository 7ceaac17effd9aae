package ui_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/workflow"
)

// uiBreakGlassPolicy is uiPolicy with a break_glass block on prod-db for
// bob (oncall), reviewed by frank (its approver) and root (admin).
var uiBreakGlassPolicy = strings.Replace(strings.Replace(uiPolicy,
	"  dbas: [frank@example.com]\n", "  dbas: [frank@example.com]\n  oncall: [bob@example.com]\n", 1),
	"    approvers: [dbas]\n", "    approvers: [dbas]\n    break_glass:\n      groups: [oncall]\n      max_duration: 30m\n      reviewers_required: 2\n      review_within: 24h\n", 1)

// TestEmergencyAccessForm: the web form's "Emergency access" needs the
// confirmation box ticked, checked by the server; with it, access is live
// at once with the Emergency badge and the review countdown, and the
// reviewers sign off on the request page, never the requester.
func TestEmergencyAccessForm(t *testing.T) {
	if !strings.Contains(uiBreakGlassPolicy, "break_glass:") || !strings.Contains(uiBreakGlassPolicy, "oncall: [bob@example.com]") {
		t.Fatal("policy edit did not apply")
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db, func(e *uiEnv, _ *web.Config) { e.svc.SetPolicy(mustParse(t, uiBreakGlassPolicy)) })
		bob, alice := e.signIn(t, "bob@example.com"), e.signIn(t, "alice@example.com")
		p := bob.get(t, "/requests/new?resource=prod-db")
		for _, want := range []string{`id="emergency-form"`, `name="confirm_emergency"`, `id="submit-emergency"`, "at most 30m", "2 reviewers must sign off"} {
			if !strings.Contains(p.body, want) {
				t.Fatalf("bob's form lacks %s: %s", want, excerpt(p.body))
			}
		}
		if p := alice.get(t, "/requests/new?resource=prod-db"); strings.Contains(p.body, `id="emergency-form"`) {
			t.Fatal("alice, who is not oncall, is offered emergency access")
		}
		form := url.Values{"resource": {"prod-db"}, "duration": {"30m"}, "reason": {"INC-7: prod is down"}, "emergency": {"1"}}
		// Without the confirmation: refused, nothing filed, reason kept.
		p = bob.post(t, "/requests", form)
		if p.status != 422 || !strings.Contains(p.body, "onfirm that this is an emergency") || !strings.Contains(p.body, "INC-7: prod is down</textarea>") {
			t.Fatalf("unconfirmed: %d %s", p.status, excerpt(p.body))
		}
		form.Set("confirm_emergency", "on") // not the value the box sends
		if p = bob.post(t, "/requests", form); p.status != 422 {
			t.Fatalf("wrong confirmation: %d", p.status)
		}
		if n, err := db.CountRequests(t.Context(), workflow.RequestQuery{All: true}); err != nil || n != 0 {
			t.Fatalf("%d requests filed without confirmation (%v)", n, err)
		}
		form.Set("confirm_emergency", "i-understand")
		form.Del("csrf_token") // each client sends its own
		if p := alice.post(t, "/requests", form); p.status != 403 || !strings.Contains(p.body, "may not use emergency access to prod-db") {
			t.Fatalf("alice: %d %s", p.status, excerpt(p.body))
		}
		form.Del("csrf_token")
		p = bob.post(t, "/requests", form)
		if p.status != 303 || !strings.HasPrefix(p.location, "/requests/") {
			t.Fatalf("confirmed: %d %s", p.status, excerpt(p.body))
		}
		id := strings.TrimPrefix(p.location, "/requests/")
		e.advance(30 * time.Minute)
		d := bob.get(t, p.location)
		for _, want := range []string{"Emergency access is live until", `class="badge emergency"`, "review due in 23 h · 0 of 2 sign-offs"} {
			if !strings.Contains(d.body, want) {
				t.Fatalf("detail lacks %q: %s", want, excerpt(d.body))
			}
		}
		if strings.Contains(d.body, `id="review-form"`) {
			t.Fatal("the requester is offered the sign-off")
		}
		if l := bob.get(t, "/requests"); !strings.Contains(l.body, `class="badge emergency"`) || !strings.Contains(l.body, "review due in 23 h") {
			t.Fatalf("my requests lack the badge: %s", excerpt(l.body))
		}
		// The requester's sign-off is refused by the server all the same.
		if p := bob.post(t, "/requests/"+id+"/review", url.Values{"comment": {"fine by me"}}); p.status != 403 || !strings.Contains(p.body, "your own emergency access") {
			t.Fatalf("requester sign-off: %d %s", p.status, excerpt(p.body))
		}
		frank, root := e.signIn(t, "frank@example.com"), e.signIn(t, "root@example.com")
		if d := frank.get(t, "/requests/"+id); !strings.Contains(d.body, `id="review-form"`) {
			t.Fatalf("frank is not offered the sign-off: %s", excerpt(d.body))
		}
		p = frank.post(t, "/requests/"+id+"/review", url.Values{"comment": {"checked INC-7"}})
		if f := frank.get(t, p.location); p.status != 303 || !strings.Contains(f.body, "Your sign-off is recorded: 1 of 2 sign-offs.") || strings.Contains(f.body, `id="review-form"`) {
			t.Fatalf("frank's sign-off: %d %s", p.status, excerpt(f.body))
		}
		p = root.post(t, "/requests/"+id+"/review", nil)
		if f := root.get(t, p.location); !strings.Contains(f.body, "is signed off") || !strings.Contains(f.body, "checked INC-7") {
			t.Fatalf("root's sign-off: %s", excerpt(f.body))
		}
		// The dashboard counts emergency use per person.
		dash := root.get(t, "/dashboard")
		for _, want := range []string{`id="emergency-count">1<`, `id="emergency-use"`, `bob@example.com</a></td><td data-label="Break-glass uses">1</td>`, `id="chart-emergency"`, "Emergency access by person (1 uses)"} {
			if !strings.Contains(dash.body, want) {
				t.Fatalf("dashboard lacks %s: %s", want, excerpt(dash.body))
			}
		}
	})
}
