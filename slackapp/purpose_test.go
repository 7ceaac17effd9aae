package slackapp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestApproveOpensCommentModal: on a resource whose approvals need a
// comment (identity-docs is critical), Approve opens a comment modal, as
// Deny opens its reason modal; elsewhere it approves at once.
func TestApproveOpensCommentModal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		ctx := context.Background()
		docs, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "identity-docs", Duration: time.Hour, Reason: "case 9"})
		if err != nil {
			t.Fatal(err)
		}
		notes, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "case 9"})
		if err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		sec := e.ChannelMessage("#security-approvals", docs.ID).Channel

		if got := answered(t, e, e.Click("erin", sec, "approve", docs.ID)); got != "" {
			t.Fatalf("approve click answered %q instead of opening the comment form", got)
		}
		opens := e.Slack.Calls("views.open")
		if len(opens) != 1 {
			t.Fatalf("%d views.open", len(opens))
		}
		contains(t, "comment form", string(opens[0].JSON), `"callback_id":"jitaccess.reason"`, "Approve request", docs.ID)
		if d, _ := e.Svc.Get(ctx, alice, docs.ID); len(d.Approvals) != 0 {
			t.Fatalf("the click approved before the comment: %+v", d.Approvals)
		}

		meta := slacktest.ReasonMeta("approve", docs.ID)
		resp := e.Send(e.Submit("erin", "jitaccess.reason", meta, slacktest.ReasonForm(""))).JSON(t)
		if resp["response_action"] != "errors" {
			t.Fatalf("empty comment: %v", resp)
		}
		contains(t, "comment error", fmt.Sprint(resp["errors"]), "comment is required to approve")
		resp = e.Send(e.Submit("erin", "jitaccess.reason", meta, slacktest.ReasonForm("checked the KYC case"))).JSON(t)
		if resp["response_action"] != "clear" {
			t.Fatalf("approve with a comment: %v", resp)
		}
		d, err := e.Svc.Get(ctx, alice, docs.ID)
		if err != nil || len(d.Approvals) != 1 || d.Approvals[0].Approver != "erin@example.com" || d.Approvals[0].Comment != "checked the KYC case" {
			t.Fatalf("after the modal: %+v %v", d, err)
		}

		// A resource that needs no comment is approved by the click.
		ch := e.ChannelMessage("#access-requests", notes.ID).Channel
		contains(t, "notes approval", answered(t, e, e.Click("erin", ch, "approve", notes.ID)), "You approved request")
		if n := len(e.Slack.Calls("views.open")); n != 1 {
			t.Fatalf("the crm-notes approval opened a form (%d views.open)", n)
		}
	})
}

// purposeSlackPolicy adds purposes to the environment's policy.
var purposeSlackPolicy = strings.Replace(slacktest.Policy, "  - id: crm-notes\n", "  - id: crm-notes\n    purposes: [refund, chargeback]\n", 1)

// TestRequestPurposeInSlack: a resource with purposes gets a purpose
// select in the request form, the /access command takes purpose:NAME, a
// missing or unknown purpose is refused naming the allowed ones, and the
// approvers' message shows the purpose.
func TestRequestPurposeInSlack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{Policy: purposeSlackPolicy})
		ctx := context.Background()
		answered(t, e, e.SelectResource("alice", "crm-notes"))
		updates := e.Slack.Calls("views.update")
		if len(updates) == 0 {
			t.Fatal("choosing a resource did not update the form")
		}
		contains(t, "form for crm-notes", string(updates[len(updates)-1].JSON), `"block_id":"purpose"`, `"value":"refund"`, `"value":"chargeback"`)

		form := slacktest.RequestForm("crm-notes", "1h0m0s", "case 5", "")
		resp := e.Send(e.Submit("alice", "jitaccess.request", "", form)).JSON(t)
		contains(t, "no purpose", fmt.Sprint(resp["errors"]), "A purpose is required for crm-notes: one of refund, chargeback")
		form["purpose"] = map[string]any{"purpose": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "refund"}}}
		resp = e.Send(e.Submit("alice", "jitaccess.request", "", form)).JSON(t)
		if resp["response_action"] != "update" {
			t.Fatalf("with a purpose: %v", resp)
		}

		contains(t, "unknown purpose", answered(t, e, e.Command("bob", "crm-notes 1h case 6 purpose:curiosity")),
			`Unknown purpose "curiosity" for crm-notes; allowed: refund, chargeback`)
		answered(t, e, e.Command("bob", "crm-notes 1h case 6 purpose:chargeback"))
		reqs, _, err := e.Svc.List(ctx, slacktest.Person("bob"), workflow.RequestQuery{Requester: "bob@example.com", Limit: 10})
		if err != nil || len(reqs) != 1 || reqs[0].Purpose != "chargeback" || reqs[0].Reason != "case 6" {
			t.Fatalf("bob's requests: %+v %v", reqs, err)
		}
		e.Deliver()
		contains(t, "approvers' message", string(e.ChannelMessage("#access-requests", reqs[0].ID).Blocks), "*Purpose*\\nchargeback")
	})
}
