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

// TestSlackExtendAndStart: start:TIME schedules a request; the requester's
// live-grant DM and /access list carry an Extend button that opens the
// extension modal; its submission (or /access extend) files the extension,
// whose approvers' message says "extend by 30m: 1 of 2".
func TestSlackExtendAndStart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		ctx := context.Background()
		start := time.Now().UTC().Add(3 * time.Hour).Truncate(time.Minute)
		got := answered(t, e, e.Command("bob", "crm-notes 1h start:"+start.Format("2006-01-02T15:04Z")+" migration tonight"))
		contains(t, "scheduled filing", got, "is filed", "starting")
		reqs, _, err := db.ListRequests(ctx, workflow.RequestQuery{All: true, Requester: "bob@example.com", Limit: 5})
		if err != nil || len(reqs) != 1 || reqs[0].StartAt == nil || !reqs[0].StartAt.Equal(start) || reqs[0].Reason != "migration tonight" {
			t.Fatalf("scheduled request %+v %v", reqs, err)
		}
		contains(t, "bad start", answered(t, e, e.Command("alice", "crm-notes 1h start:tomorrow x")), "start:tomorrow is not a time")

		// A live grant: its approval DM has an Extend button.
		g, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "case 1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, who := range []workflow.Principal{carol, dave} {
			if _, err := e.Svc.Approve(ctx, who, g.ID, "ok"); err != nil {
				t.Fatal(err)
			}
		}
		e.Deliver()
		var dm string
		for _, m := range e.Slack.Messages(slacktest.DMChannel(slacktest.People["alice"])) {
			if strings.Contains(string(m.Blocks), `"action_id":"extend"`) {
				dm = string(m.Blocks)
			}
		}
		contains(t, "live-grant DM", dm, `"action_id":"extend","value":"`+g.ID)
		d := e.Command("alice", "list")
		answered(t, e, d)
		raw := string(e.Slack.Responses(strings.TrimPrefix(d.ResponseURL, e.Slack.URL+"/response/"))[0])
		contains(t, "list", raw, `"action_id":"extend","value":"`+g.ID)

		if got := answered(t, e, e.Click("alice", "D0ALICE", "extend", g.ID)); got != "" {
			t.Fatalf("the Extend click answered %q", got)
		}
		opens := e.Slack.Calls("views.open")
		if len(opens) != 1 {
			t.Fatalf("%d views.open calls", len(opens))
		}
		contains(t, "extend modal", string(opens[0].JSON), `"callback_id":"jitaccess.extend"`, `"private_metadata":"`+g.ID, `"initial_value":"30m"`)
		r := e.Send(e.Submit("alice", "jitaccess.extend", g.ID, slacktest.Form{
			"extend_by": {"extend_by": map[string]any{"type": "plain_text_input", "value": "30m"}},
			"reason":    {"reason": map[string]any{"type": "plain_text_input", "value": "the call runs long"}},
		}))
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "Extension filed") {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		e.Handler.Wait()
		exts, _, err := db.ListRequests(ctx, workflow.RequestQuery{All: true, Extends: g.ID, Limit: 5})
		if err != nil || len(exts) != 1 || exts[0].State != workflow.StatePending {
			t.Fatalf("extensions %+v %v", exts, err)
		}
		ext := exts[0]
		if _, err := e.Svc.Approve(ctx, carol, ext.ID, "ok"); err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		m := e.ChannelMessage("#payments-approvals", ext.ID)
		contains(t, "extension message", string(m.Blocks), "Extension request: Payment details", "extend by 30m: 1 of 2")

		// /access extend: a second extension waits for the first.
		contains(t, "extend command", answered(t, e, e.Command("alice", "extend "+g.ID+" 15m more")), "already has a pending extension")
		contains(t, "extend usage", answered(t, e, e.Command("alice", "extend "+g.ID)), "Usage: `/access extend REQUEST DURATION REASON")
		if _, err := e.Svc.Approve(ctx, dave, ext.ID, "ok"); err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		contains(t, "extension decided", string(e.ChannelMessage("#payments-approvals", ext.ID).Blocks), "Extended* by 30m")
		contains(t, "extended DM", strings.Join(e.DMs("alice"), "\n"), "Your extension of *Payment details* (`crm-payments`) by 30m was approved")
		contains(t, "extend command", answered(t, e, e.Command("alice", "extend "+g.ID+" 15m more")), "extension by 15m is filed", "needs 2 approvals")
	})
}
