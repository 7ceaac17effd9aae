package slackapp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestSlackCannotSkipMFA: on a request whose resource needs MFA to
// approve and deny (kyc-vault: require_mfa [approve, deny]), the approvers'
// message has no Approve or Deny button, only a link button to the
// request's page in the web UI; a crafted click on Approve or Deny (the
// action ids Slack would send) is refused, opens no form and records no
// decision (only the refusal, mfa.refused); a web decision without a
// step-up is refused too, and with one it is recorded, and the Slack
// message follows it as for any decision.
func TestSlackCannotSkipMFA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{Policy: slacktest.MFAPolicy})
		ctx := context.Background()
		req, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "kyc-vault", Duration: time.Hour, Reason: "case 12"})
		if err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		msg := e.ChannelMessage("#security-approvals", req.ID)
		blocks := string(msg.Blocks)
		for _, banned := range []string{`"action_id":"approve"`, `"action_id":"deny"`} {
			if strings.Contains(blocks, banned) {
				t.Errorf("the message of an MFA-protected request has a decide button (%s):\n%s", banned, blocks)
			}
		}
		contains(t, "the message", blocks, `"action_id":"open_web"`, `"url":"`+e.Server.URL+`/requests/`+req.ID+`"`,
			"Approve or deny in jitaccess", "a Slack click cannot prove one")

		// Crafted clicks: refused, nothing decided, no form opened.
		contains(t, "a forged approve click", answered(t, e, e.Click("erin", msg.Channel, "approve", req.ID)),
			"needs a second factor", "which Slack cannot prove", "/requests/"+req.ID)
		contains(t, "a forged deny click", answered(t, e, e.Click("erin", msg.Channel, "deny", req.ID)),
			"Denying a request for kyc-vault needs a second factor")
		if n := len(e.Slack.Calls("views.open")); n != 0 {
			t.Fatalf("a forged deny click opened %d forms", n)
		}
		// The link button's own click does nothing.
		if got := answered(t, e, e.Click("erin", msg.Channel, "open_web", req.ID)); got != "" {
			t.Fatalf("the link button's click answered %q", got)
		}
		d, err := e.Svc.Get(ctx, workflow.User("root@example.com"), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != workflow.StatePending || len(d.Approvals) != 0 {
			t.Fatalf("after forged clicks: %s, %+v", d.State, d.Approvals)
		}
		refused := 0
		for _, r := range d.History {
			switch r.Action {
			case string(workflow.EventApprove), string(workflow.EventDeny):
				t.Errorf("a forged click recorded a decision: %+v", r)
			case workflow.ActionMFARefused:
				refused++
				if r.Auth != workflow.AuthSlack || r.MFA != workflow.MFANone || r.Actor != "erin@example.com" {
					t.Errorf("refusal record %+v", r)
				}
			}
		}
		if refused != 2 {
			t.Fatalf("%d refusals audited, want 2 (approve, deny)", refused)
		}

		// The web UI without a step-up: refused (403); with one: recorded.
		if status, _ := e.WebDecide("carol", "approve", req.ID, "checked the KYC case"); status != http.StatusForbidden {
			t.Fatalf("a web approval without a step-up: %d", status)
		}
		if status, loc := e.WebDecideStepped("carol", "approve", req.ID, "checked the KYC case"); status != http.StatusSeeOther || !strings.HasSuffix(loc, req.ID) {
			t.Fatalf("a web approval after a step-up: %d %s", status, loc)
		}
		if status, _ := e.WebDecideStepped("dave", "approve", req.ID, "checked it too"); status != http.StatusSeeOther {
			t.Fatalf("dave's web approval: %d", status)
		}
		e.Deliver()
		after := string(e.ChannelMessage("#security-approvals", req.ID).Blocks)
		contains(t, "the message after the web decisions", after, "Approved*", "carol@example.com", "dave@example.com", `"action_id":"revoke"`)
		d, _ = e.Svc.Get(ctx, workflow.User("root@example.com"), req.ID)
		for _, r := range d.History {
			if r.Action == string(workflow.EventApprove) && (r.Auth != workflow.AuthSession || r.MFA != workflow.MFAWebAuthn) {
				t.Errorf("web approval record %+v", r)
			}
		}
	})
}
