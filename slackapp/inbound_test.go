package slackapp_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

var (
	alice = slacktest.Person("alice")
	carol = slacktest.Person("carol")
	dave  = slacktest.Person("dave")
)

// requestsOf lists everyone's requests, as an admin sees them.
func requestsOf(t *testing.T, e *slacktest.Env) []*workflow.Request {
	t.Helper()
	reqs, _, err := e.Svc.List(context.Background(), slacktest.Person("root"), workflow.RequestQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// answered sends d, expects an empty 200 acknowledgement, waits for the
// work behind it and returns what the user was told.
func answered(t *testing.T, e *slacktest.Env, d slacktest.Delivery) string {
	t.Helper()
	r := e.Send(d)
	if r.Status != http.StatusOK || r.Body != "" {
		t.Fatalf("acknowledgement: %d %q", r.Status, r.Body)
	}
	e.Handler.Wait()
	return strings.Join(e.Responses(d), "\n---\n")
}

func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

// signature is the v0 signature of body at ts, computed here, to check
// that it never appears anywhere.
func signature(body []byte, ts time.Time, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:", ts.Unix())
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// TestSignatureChecks: a request is acted on only with a valid signature
// over its exact body and a timestamp within 5 minutes; everything else
// is 401, changes nothing and calls nothing. Neither the answer nor the
// log ever carries the signature the body should have had.
func TestSignatureChecks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		d := e.Command("alice", "crm-notes 1h case 4711")
		now := time.Now()
		tampered := []byte(strings.Replace(string(d.Body), "crm-notes", "crm-payments", 1))
		cases := []struct {
			name   string
			body   []byte
			header func() http.Header
		}{
			{"wrong secret", d.Body, func() http.Header { return slacktest.Sign(d.Body, now, "not-the-secret") }},
			{"tampered body", tampered, func() http.Header { return slacktest.Sign(d.Body, now, slacktest.Secret) }},
			{"stale timestamp", d.Body, func() http.Header {
				return slacktest.Sign(d.Body, now.Add(-5*time.Minute-2*time.Second), slacktest.Secret)
			}},
			{"future timestamp", d.Body, func() http.Header {
				return slacktest.Sign(d.Body, now.Add(5*time.Minute+2*time.Second), slacktest.Secret)
			}},
			{"no signature", d.Body, func() http.Header {
				h := slacktest.Sign(d.Body, now, slacktest.Secret)
				h.Del("X-Slack-Signature")
				return h
			}},
			{"no timestamp", d.Body, func() http.Header {
				h := slacktest.Sign(d.Body, now, slacktest.Secret)
				h.Del("X-Slack-Request-Timestamp")
				return h
			}},
			{"signature without v0=", d.Body, func() http.Header {
				h := slacktest.Sign(d.Body, now, slacktest.Secret)
				h.Set("X-Slack-Signature", strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0="))
				return h
			}},
			{"signature of another timestamp", d.Body, func() http.Header {
				h := slacktest.Sign(d.Body, now, slacktest.Secret)
				h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix()-1, 10))
				return h
			}},
			{"not a number", d.Body, func() http.Header {
				h := slacktest.Sign(d.Body, now, slacktest.Secret)
				h.Set("X-Slack-Request-Timestamp", "yesterday")
				return h
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := tc.header()
				r := e.Post(d.Path, tc.body, h)
				e.Handler.Wait()
				if r.Status != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401: %s", r.Status, r.Body)
				}
				if code := r.JSON(t)["error"].(map[string]any)["code"]; code != "unauthenticated" {
					t.Fatalf("error code %v", code)
				}
				ts, _ := strconv.ParseInt(h.Get("X-Slack-Request-Timestamp"), 10, 64)
				for _, body := range [][]byte{d.Body, tc.body} {
					for _, at := range []time.Time{now, time.Unix(ts, 0)} {
						good := signature(body, at, slacktest.Secret)
						if strings.Contains(r.Body, good) || strings.Contains(e.Logs(), good) {
							t.Fatal("the correct signature leaked into the answer or the log")
						}
					}
				}
				if strings.Contains(r.Body+e.Logs(), slacktest.Secret) {
					t.Fatal("the signing secret leaked")
				}
			})
		}
		if n := len(requestsOf(t, e)); n != 0 {
			t.Fatalf("%d requests were filed by refused deliveries", n)
		}
		if calls := e.Slack.Calls(""); len(calls) != 0 {
			t.Fatalf("refused deliveries called Slack: %v", calls)
		}
		contains(t, "log", e.Logs(), "check=\"signature does not match\"", "check=\"timestamp more than 5 minutes from now\"", "check=\"missing signature headers\"")

		// The same delivery, properly signed, is acted on: the refusals
		// above were not for some other reason.
		contains(t, "answer", answered(t, e, d), "is filed")
		if n := len(requestsOf(t, e)); n != 1 {
			t.Fatalf("%d requests after the signed delivery", n)
		}
	})
}

// TestMalformedButSigned: a signed body that is not what Slack sends is a
// 400 with an error body, never a 500.
func TestMalformedButSigned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		for _, tc := range []struct {
			path, body string
			status     int
		}{
			{"/slack/interactions", "payload=%7Bnot-json", http.StatusBadRequest},
			{"/slack/interactions", "payload=", http.StatusBadRequest},
			{"/slack/interactions", "%zz", http.StatusBadRequest},
			{"/slack/commands", "%zz", http.StatusBadRequest},
			{"/slack/interactions", `payload={"type":"shortcut"}`, http.StatusOK},
			{"/slack/interactions", `payload={"type":"block_actions","actions":[]}`, http.StatusOK},
			{"/slack/interactions", "payload=" + strings.Repeat("x", 300<<10), http.StatusRequestEntityTooLarge},
		} {
			r := e.Post(tc.path, []byte(tc.body), slacktest.Sign([]byte(tc.body), time.Now(), slacktest.Secret))
			if r.Status != tc.status {
				t.Errorf("%s %.40q: %d %s, want %d", tc.path, tc.body, r.Status, r.Body, tc.status)
			}
			if r.Status >= 400 && !strings.Contains(r.Body, `"error"`) {
				t.Errorf("%s %.40q: error without a body: %q", tc.path, tc.body, r.Body)
			}
		}
	})
}

// TestSlashCommandFilesDirectly: /access RESOURCE DURATION REASON files a
// request through the service; refusals come back in the service's words.
func TestSlashCommandFilesDirectly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		got := answered(t, e, e.Command("alice", "crm-notes 2h case 4711: refund  ticket:ABC-9 please"))
		contains(t, "answer", got, "Your request for `crm-notes` for 2h is filed", "It needs 1 approval;")
		reqs := requestsOf(t, e)
		if len(reqs) != 1 || reqs[0].Requester != "alice@example.com" || reqs[0].Duration != 2*time.Hour ||
			reqs[0].Ticket != "ABC-9" || reqs[0].Reason != "case 4711: refund please" {
			t.Fatalf("requests: %+v", *reqs[0])
		}
		e.Deliver()
		e.ChannelMessage("#access-requests", reqs[0].ID)

		for _, tc := range []struct{ who, text, want string }{
			{"alice", "crm-notes 1h again", "You already have a pending request for crm-notes"},
			{"alice", "crm-payments forever because", `"forever" is not a duration`},
			{"alice", "crm-payments 3h because", "Duration 3h is longer than the maximum of 2h for crm-payments"},
			{"alice", "crm-payments 1h", "A reason is required"},
			{"alice", "crm-payments", "Say how long you need access for"},
			{"alice", "no-such-thing 1h x", `Unknown resource "no-such-thing"`},
			{"alice", "mgr-reports 1h x", "alice@example.com may not request mgr-reports"},
			{"stranger", "crm-notes 1h x", "stranger@example.com is not in the access policy"},
			{"guest", "crm-notes 1h x", "Guest accounts cannot use jitaccess from Slack"},
			{"noemail", "crm-notes 1h x", "shows no email address"},
		} {
			contains(t, tc.who+" "+tc.text, answered(t, e, e.Command(tc.who, tc.text)), tc.want)
		}
		if n := len(requestsOf(t, e)); n != 1 {
			t.Fatalf("%d requests after refusals", n)
		}
		contains(t, "two approvals", answered(t, e, e.Command("bob", "crm-payments 1h case 4712")), "It needs 2 approvals;")
		// Auto-approved resources say so at once.
		contains(t, "auto-approval", answered(t, e, e.Command("alice", "kb-drafts 4h fix the refund article")),
			"approved automatically by policy", "live until")
	})
}

// TestHelpAndList: help is answered in the acknowledgement itself; list
// shows pending requests and live access with their buttons.
func TestHelpAndList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		r := e.Send(e.Command("alice", "help"))
		if r.Status != http.StatusOK {
			t.Fatalf("help: %d %s", r.Status, r.Body)
		}
		help := r.JSON(t)
		if help["response_type"] != "ephemeral" {
			t.Fatalf("help is not ephemeral: %v", help)
		}
		contains(t, "help", help["text"].(string), "/access list", "/access RESOURCE DURATION REASON")

		contains(t, "empty list", answered(t, e, e.Command("alice", "list")), "no pending requests and no live access")
		ctx := context.Background()
		pending, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "r"})
		if err != nil {
			t.Fatal(err)
		}
		live, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "kb-drafts", Duration: 3 * time.Hour, Reason: "r"})
		if err != nil {
			t.Fatal(err)
		}
		d := e.Command("alice", "list")
		contains(t, "list", answered(t, e, d), "Payment details", "0 of 2 approvals", "Knowledge base drafts", "3h left")
		raw := string(e.Slack.Responses(strings.TrimPrefix(d.ResponseURL, e.Slack.URL+"/response/"))[0])
		contains(t, "list blocks", raw, `"action_id":"cancel","value":"`+pending.ID, `"action_id":"relinquish","value":"`+live.ID)

		// The list's buttons work.
		contains(t, "cancel", answered(t, e, e.Click("alice", "D0ALICE", "cancel", pending.ID)), "You cancelled request")
		contains(t, "relinquish", answered(t, e, e.Click("alice", "D0ALICE", "relinquish", live.ID)), "You gave back request")
		contains(t, "list", answered(t, e, e.Command("alice", "list")), "no pending requests and no live access")
	})
}

// TestRequestForm: /access opens the modal with what the user may request;
// picking a resource bounds the durations by its max_duration; the
// service's refusals show inline, under the field they are about.
func TestRequestForm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		d := e.Command("alice", "")
		if got := answered(t, e, d); got != "" {
			t.Fatalf("opening the form answered %q", got)
		}
		opens := e.Slack.Calls("views.open")
		if len(opens) != 1 {
			t.Fatalf("%d views.open calls", len(opens))
		}
		view := string(opens[0].JSON)
		contains(t, "form", view, `"trigger_id":"trig.`, `"callback_id":"jitaccess.request"`, `"value":"crm-payments"`,
			`"value":"crm-notes"`, `"value":"identity-docs"`, `"value":"kb-drafts"`, `"dispatch_action":true`, `"value":"24h0m0s"`)
		if strings.Contains(view, "mgr-reports") {
			t.Fatal("the form offers a resource alice may not request")
		}

		answered(t, e, e.SelectResource("alice", "crm-payments"))
		updates := e.Slack.Calls("views.update")
		if len(updates) != 1 {
			t.Fatalf("%d views.update calls", len(updates))
		}
		upd := string(updates[0].JSON)
		contains(t, "updated form", upd, `"view_id":"V000001"`, `"hash":"h1"`, `"block_id":"duration/crm-payments"`, `"value":"2h0m0s"`)
		if strings.Contains(upd, `"value":"4h0m0s"`) {
			t.Fatal("the form offers more than crm-payments' max_duration")
		}

		submitForm := func(form slacktest.Form) map[string]any {
			t.Helper()
			r := e.Send(e.Submit("alice", "jitaccess.request", "", form))
			if r.Status != http.StatusOK {
				t.Fatalf("submission: %d %s", r.Status, r.Body)
			}
			return r.JSON(t)
		}
		errorsOf := func(resp map[string]any) map[string]any {
			t.Helper()
			if resp["response_action"] != "errors" {
				t.Fatalf("response %v, want errors", resp)
			}
			return resp["errors"].(map[string]any)
		}
		errs := errorsOf(submitForm(slacktest.RequestForm("crm-payments", "4h0m0s", "case 1", "")))
		contains(t, "duration error", fmt.Sprint(errs["duration/crm-payments"]), "longer than the maximum of 2h")
		errs = errorsOf(submitForm(slacktest.RequestForm("crm-payments", "1h0m0s", "   ", "")))
		contains(t, "reason error", fmt.Sprint(errs["reason"]), "A reason is required")
		errs = errorsOf(submitForm(slacktest.RequestForm("crm-payments", "", "case 1", "")))
		contains(t, "duration error", fmt.Sprint(errs["duration/crm-payments"]), "Choose a duration")
		if n := len(requestsOf(t, e)); n != 0 {
			t.Fatalf("refused submissions filed %d requests", n)
		}

		ok := e.Submit("alice", "jitaccess.request", "", slacktest.RequestForm("crm-payments", "1h0m0s", "case 4711", "ABC-1"))
		resp := e.Send(ok).JSON(t)
		if resp["response_action"] != "update" {
			t.Fatalf("response %v", resp)
		}
		contains(t, "confirmation", fmt.Sprint(resp["view"]), "Request filed", "needs 2 approval")
		reqs := requestsOf(t, e)
		if len(reqs) != 1 || reqs[0].Ticket != "ABC-1" || reqs[0].Duration != time.Hour {
			t.Fatalf("requests: %+v", reqs)
		}

		// Slack delivers the same submission again: applied once, and said.
		again := e.Post(ok.Path, ok.Body, retried(slacktest.Sign(ok.Body, time.Now(), slacktest.Secret)))
		contains(t, "repeated submission", again.Body, "already received and handled once")
		// A new submission for the same resource is refused by the
		// workflow, under the resource field.
		errs = errorsOf(submitForm(slacktest.RequestForm("crm-payments", "1h0m0s", "case 4712", "")))
		contains(t, "resource error", fmt.Sprint(errs["resource"]), "You already have a pending request for crm-payments")
		if n := len(requestsOf(t, e)); n != 1 {
			t.Fatalf("%d requests", n)
		}

		// Someone who may request nothing is told so instead of a form.
		contains(t, "stranger", answered(t, e, e.Command("stranger", "")), "not in the access policy")
	})
}

func retried(h http.Header) http.Header {
	h.Set("X-Slack-Retry-Num", "1")
	h.Set("X-Slack-Retry-Reason", "http_timeout")
	return h
}

// TestApproveButtons: clicks run the workflow's rules: no self-approval,
// approvers only, two distinct people for a high tier. A double click and
// a retried delivery are applied once, and the user is told.
func TestApproveButtons(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		ctx := context.Background()
		req, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "case 1"})
		if err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		ch := e.ChannelMessage("#payments-approvals", req.ID).Channel

		contains(t, "requester's click", answered(t, e, e.Click("alice", ch, "approve", req.ID)), "You cannot approve your own request")
		contains(t, "agent's click", answered(t, e, e.Click("bob", ch, "approve", req.ID)), "you are not one of the approvers")
		contains(t, "stranger's click", answered(t, e, e.Click("stranger", ch, "approve", req.ID)), "you are not one of the approvers")
		contains(t, "guest's click", answered(t, e, e.Click("guest", ch, "approve", req.ID)), "Guest accounts")

		first := e.Click("carol", ch, "approve", req.ID)
		contains(t, "carol's click", answered(t, e, first), "You approved request", "1 of 2 approvals so far")
		contains(t, "double click", answered(t, e, e.Click("carol", ch, "approve", req.ID)), "carol@example.com has already approved this request")
		r := e.Post(first.Path, first.Body, retried(slacktest.Sign(first.Body, time.Now(), slacktest.Secret)))
		if r.Status != http.StatusOK {
			t.Fatalf("retry: %d", r.Status)
		}
		e.Handler.Wait()
		contains(t, "retried delivery", strings.Join(e.Responses(first), "\n"), "already received and applied once")

		got, err := e.Svc.Get(ctx, carol, req.ID)
		if err != nil || len(got.Approvals) != 1 || got.State != workflow.StatePending {
			t.Fatalf("after carol's clicks: %+v %v", got, err)
		}
		contains(t, "dave's click", answered(t, e, e.Click("dave", ch, "approve", req.ID)), "You approved request", "live until")
		e.Deliver()
		m := e.ChannelMessage("#payments-approvals", req.ID)
		contains(t, "channel message", string(m.Blocks), "Approved* by carol@example.com at", "dave@example.com at")
		contains(t, "alice's DM", strings.Join(e.DMs("alice"), "\n"), "was approved")
		contains(t, "late click", answered(t, e, e.Click("erin", ch, "approve", req.ID)), "Request is approved; only a pending request can be approved")

		// Self-approval by someone who is also an approver.
		own, err := e.Svc.Submit(ctx, carol, workflow.SubmitInput{Resource: "mgr-reports", Duration: time.Hour, Reason: "r"})
		if err != nil {
			t.Fatal(err)
		}
		contains(t, "own request", answered(t, e, e.Click("carol", ch, "approve", own.ID)), "You cannot approve your own request")
	})
}

// A person the directory has deactivated is refused in Slack before
// anything else, with a message that says so, even where the policy file
// names them.
func TestDeactivatedPersonRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		ctx := context.Background()
		req, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "case 1"})
		if err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		ch := e.ChannelMessage("#payments-approvals", req.ID).Channel
		storetest.SeedPerson(t, db, "carol@example.com", false)
		contains(t, "deactivated approver's click", answered(t, e, e.Click("carol", ch, "approve", req.ID)), "carol@example.com is deactivated in the directory")
		got, err := e.Svc.Get(ctx, slacktest.Person("root"), req.ID)
		if err != nil || len(got.Approvals) != 0 {
			t.Fatalf("after the refused click: %+v %v", got, err)
		}
	})
}

// TestDenyAndRevokeModals: Deny and Revoke ask for a reason in a modal;
// the decision is the service's, with its refusals inline.
func TestDenyAndRevokeModals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		ctx := context.Background()
		req, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "case 1"})
		if err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		ch := e.ChannelMessage("#access-requests", req.ID).Channel

		contains(t, "agent's deny", answered(t, e, e.Click("bob", ch, "deny", req.ID)), "you are not one of the approvers")
		if n := len(e.Slack.Calls("views.open")); n != 0 {
			t.Fatalf("a non-approver got the deny form (%d views.open)", n)
		}
		if got := answered(t, e, e.Click("erin", ch, "deny", req.ID)); got != "" {
			t.Fatalf("deny click answered %q", got)
		}
		opens := e.Slack.Calls("views.open")
		if len(opens) != 1 {
			t.Fatalf("%d views.open", len(opens))
		}
		contains(t, "deny form", string(opens[0].JSON), `"callback_id":"jitaccess.reason"`, req.ID, "alice@example.com", "Deny request")

		meta := slacktest.ReasonMeta("deny", req.ID)
		resp := e.Send(e.Submit("erin", "jitaccess.reason", meta, slacktest.ReasonForm(""))).JSON(t)
		if resp["response_action"] != "errors" {
			t.Fatalf("empty reason: %v", resp)
		}
		contains(t, "reason error", fmt.Sprint(resp["errors"]), "A reason is required to deny")
		resp = e.Send(e.Submit("alice", "jitaccess.reason", meta, slacktest.ReasonForm("mine"))).JSON(t)
		contains(t, "self-deny", fmt.Sprint(resp["errors"]), "You cannot deny your own request")
		resp = e.Send(e.Submit("erin", "jitaccess.reason", meta, slacktest.ReasonForm("not for this case"))).JSON(t)
		if resp["response_action"] != "clear" {
			t.Fatalf("deny: %v", resp)
		}
		e.Deliver()
		contains(t, "denied message", string(e.ChannelMessage("#access-requests", req.ID).Blocks), "Denied* by erin@example.com", "not for this case")
		contains(t, "alice's DM", strings.Join(e.DMs("alice"), "\n"), "was denied by erin@example.com", "not for this case")

		// Revoke live access from its channel message.
		live, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "identity-docs", Duration: time.Hour, Reason: "case 2"})
		if err != nil {
			t.Fatal(err)
		}
		for _, who := range []workflow.Principal{carol, dave} {
			if _, err := e.Svc.Approve(ctx, who, live.ID, "checked the case"); err != nil {
				t.Fatal(err)
			}
		}
		e.Deliver()
		sec := e.ChannelMessage("#security-approvals", live.ID)
		contains(t, "approved message", string(sec.Blocks), `"action_id":"revoke"`)
		answered(t, e, e.Click("erin", sec.Channel, "revoke", live.ID))
		contains(t, "revoke form", string(e.Slack.Calls("views.open")[1].JSON), "Revoke access")
		resp = e.Send(e.Submit("erin", "jitaccess.reason", slacktest.ReasonMeta("revoke", live.ID), slacktest.ReasonForm("case closed"))).JSON(t)
		if resp["response_action"] != "clear" {
			t.Fatalf("revoke: %v", resp)
		}
		got, err := e.Svc.Get(ctx, alice, live.ID)
		if err != nil || got.State != workflow.StateRevoked || got.EndedBy != "erin@example.com" || got.EndReason != "case closed" {
			t.Fatalf("after revoke: %+v %v", got, err)
		}
		resp = e.Send(e.Submit("erin", "jitaccess.reason", `{"a":"deny"}`, slacktest.ReasonForm("x"))).JSON(t)
		contains(t, "damaged form", fmt.Sprint(resp["errors"]), "damaged")
	})
}

// TestReasonFormRefusedAtOnce: a Deny or Revoke click by someone the
// service would refuse on submission is refused at once, in the service's
// words, as a click on Approve is, and opens no form; the people it would
// accept get the form.
func TestReasonFormRefusedAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		ctx := context.Background()
		pay, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "case 1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.Approve(ctx, carol, pay.ID, ""); err != nil {
			t.Fatal(err)
		}
		notes, err := e.Svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "case 2"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.Deny(ctx, dave, notes.ID, "no"); err != nil {
			t.Fatal(err)
		}
		own, err := e.Svc.Submit(ctx, carol, workflow.SubmitInput{Resource: "mgr-reports", Duration: time.Hour, Reason: "case 3"})
		if err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		ch := e.ChannelMessage("#payments-approvals", pay.ID).Channel
		for _, tc := range []struct {
			who, action, id string
			refusal         string // "" when the form opens
		}{
			{"alice", "deny", pay.ID, "You cannot deny your own request"},
			{"carol", "deny", own.ID, "You cannot deny your own request"},
			{"bob", "deny", pay.ID, "you are not one of the approvers"},
			{"root", "deny", pay.ID, "root@example.com is not an approver of crm-payments"},
			{"erin", "deny", notes.ID, "Request is denied"},
			{"erin", "revoke", pay.ID, "Request is pending"},
			{"bob", "revoke", pay.ID, "you are not one of the approvers"},
			{"carol", "deny", pay.ID, ""}, // she approved; the service lets her deny
			{"dave", "deny", pay.ID, ""},
		} {
			opens := len(e.Slack.Calls("views.open"))
			got := answered(t, e, e.Click(tc.who, ch, tc.action, tc.id))
			opened := len(e.Slack.Calls("views.open")) - opens
			if tc.refusal == "" {
				if got != "" || opened != 1 {
					t.Errorf("%s's %s click: answered %q, %d forms opened; want the form", tc.who, tc.action, got, opened)
				}
				continue
			}
			contains(t, tc.who+"'s "+tc.action+" click", got, tc.refusal)
			if opened != 0 {
				t.Errorf("%s's %s click opened the form though it is refused", tc.who, tc.action)
			}
		}
	})
}

// TestDuplicateSlashCommand: Slack retries a slash command (the same
// body): one request is filed.
func TestDuplicateSlashCommand(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		d := e.Command("alice", "crm-notes 1h case 1")
		answered(t, e, d)
		r := e.Post(d.Path, d.Body, retried(slacktest.Sign(d.Body, time.Now(), slacktest.Secret)))
		if r.Status != http.StatusOK {
			t.Fatalf("retry: %d %s", r.Status, r.Body)
		}
		e.Handler.Wait()
		got := e.Responses(d)
		if len(got) != 2 || !strings.Contains(got[0], "is filed") || !strings.Contains(got[1], "already received and applied once") {
			t.Fatalf("answers: %q", got)
		}
		if n := len(requestsOf(t, e)); n != 1 {
			t.Fatalf("%d requests", n)
		}
	})
}

// TestSlowDatabaseAndSlack: while the database is stuck and Slack is slow,
// commands and clicks are still acknowledged at once; the work is done
// when they recover. A modal submission answers within its budget and the
// outcome follows as a direct message.
func TestSlowDatabaseAndSlack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{SubmitBudget: 300 * time.Millisecond})

		release := holdDatabase(t, db)
		e.Slack.SetLatency(1500 * time.Millisecond)

		cmd := e.Command("alice", "crm-notes 1h case 1")
		start := time.Now()
		r := e.Send(cmd)
		if took := time.Since(start); r.Status != http.StatusOK || took > time.Second {
			t.Fatalf("acknowledgement took %s (status %d)", took, r.Status)
		}
		sub := e.Submit("alice", "jitaccess.request", "", slacktest.RequestForm("crm-payments", "1h0m0s", "case 2", ""))
		start = time.Now()
		resp := e.Send(sub)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("submission answered after %s", took)
		}
		contains(t, "late submission", resp.Body, "taking longer than usual")

		release()
		e.Slack.SetLatency(0)
		e.Handler.Wait()
		contains(t, "command answer", strings.Join(e.Responses(cmd), "\n"), "is filed")
		contains(t, "submission DM", strings.Join(e.DMs("alice"), "\n"), "Your request for *Payment details* (`crm-payments`) for 1h is filed")
		if n := len(requestsOf(t, e)); n != 2 {
			t.Fatalf("%d requests", n)
		}
	})
}

// TestSubmissionsShareTheWorkerBound: a modal submission runs in the same
// bounded pool as clicks and commands. With the pool full (one worker,
// held by a command stuck on the database), a submission starts no work:
// the form stays open with a "busy" error at once, and nothing is filed
// from it; submitted again once the pool is free, it is.
func TestSubmissionsShareTheWorkerBound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{Workers: 1, SubmitBudget: 300 * time.Millisecond})
		release := holdDatabase(t, db)
		cmd := e.Command("alice", "crm-notes 1h case 1")
		if r := e.Send(cmd); r.Status != http.StatusOK || r.Body != "" {
			t.Fatalf("command: %d %q", r.Status, r.Body)
		}
		sub := e.Submit("bob", "jitaccess.request", "", slacktest.RequestForm("crm-payments", "1h0m0s", "case 2", ""))
		start := time.Now()
		resp := e.Send(sub).JSON(t)
		if took := time.Since(start); took > 250*time.Millisecond {
			t.Errorf("the refusal took %s", took)
		}
		if resp["response_action"] != "errors" {
			t.Fatalf("submission with the pool full: %v", resp)
		}
		contains(t, "busy refusal", fmt.Sprint(resp["errors"]), "very busy", "nothing was done")
		release()
		e.Handler.Wait()
		if reqs := requestsOf(t, e); len(reqs) != 1 || reqs[0].Requester != "alice@example.com" {
			t.Fatalf("requests after the refused submission: %d", len(reqs))
		}
		if dms := e.DMs("bob"); len(dms) != 0 {
			t.Fatalf("bob was messaged about a submission that was refused: %q", dms)
		}
		resp = e.Send(sub).JSON(t)
		if resp["response_action"] != "update" {
			t.Fatalf("the same submission, pool free: %v", resp)
		}
		e.Handler.Wait()
		if n := len(requestsOf(t, e)); n != 2 {
			t.Fatalf("%d requests after submitting again", n)
		}
	})
}

// holdDatabase makes the database stall until release is called: on
// PostgreSQL, a transaction holds an exclusive lock on requests; on SQLite,
// a transaction holds the only connection.
func holdDatabase(t *testing.T, db *store.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	var once sync.Once
	if db.Kind() == store.Postgres {
		conn, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"BEGIN", "LOCK TABLE requests IN ACCESS EXCLUSIVE MODE"} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		release = func() {
			once.Do(func() {
				conn.ExecContext(ctx, "ROLLBACK")
				conn.Close()
			})
		}
	} else {
		held, rel, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			db.InTx(ctx, func(workflow.Tx) error { close(held); <-rel; return nil })
		}()
		<-held
		release = func() { once.Do(func() { close(rel); <-done }) }
	}
	t.Cleanup(release)
	return release
}

// TestAdminFailures: deliveries that failed for good are listed for
// admins, with Slack's reason, and can be sent again.
func TestAdminFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		e.Slack.RemoveChannel("#access-requests")
		req, err := e.Svc.Submit(context.Background(), alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "r"})
		if err != nil {
			t.Fatal(err)
		}
		e.Deliver()

		r := e.API(http.MethodGet, "/api/v1/slack/failures", "root", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		var out struct {
			Failures []struct {
				ID        int64  `json:"id"`
				Kind      string `json:"kind"`
				RequestID string `json:"request_id"`
				Event     string `json:"event"`
				Error     string `json:"error"`
			} `json:"failures"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(r.Body), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Failures) != 1 || out.Failures[0].Kind != "channel" || out.Failures[0].RequestID != req.ID ||
			out.Failures[0].Event != "submit" || !strings.Contains(out.Failures[0].Error, "channel_not_found") {
			t.Fatalf("failures: %+v", out)
		}
		for _, tc := range []struct {
			method, path, who string
			status            int
		}{
			{http.MethodGet, "/api/v1/slack/failures", "alice", http.StatusForbidden},
			{http.MethodGet, "/api/v1/slack/failures", "", http.StatusUnauthorized},
			{http.MethodGet, "/api/v1/slack/failures?limit=0", "root", http.StatusBadRequest},
			{http.MethodGet, "/api/v1/slack/failures?cursor=x", "root", http.StatusBadRequest},
			{http.MethodGet, "/api/v1/slack/failures?color=red", "root", http.StatusBadRequest},
			{http.MethodPost, "/api/v1/slack/failures/999/retry", "root", http.StatusNotFound},
			{http.MethodPost, "/api/v1/slack/failures/abc/retry", "root", http.StatusNotFound},
			{http.MethodPost, fmt.Sprintf("/api/v1/slack/failures/%d/retry", out.Failures[0].ID), "carol", http.StatusForbidden},
		} {
			if r := e.API(tc.method, tc.path, tc.who, nil); r.Status != tc.status || !strings.Contains(r.Body, `"error"`) {
				t.Errorf("%s %s as %q: %d %s, want %d", tc.method, tc.path, tc.who, r.Status, r.Body, tc.status)
			}
		}

		e.Channels["#access-requests"] = e.Slack.AddChannel("#access-requests")
		if r := e.API(http.MethodPost, fmt.Sprintf("/api/v1/slack/failures/%d/retry", out.Failures[0].ID), "root", nil); r.Status != http.StatusAccepted {
			t.Fatalf("retry: %d %s", r.Status, r.Body)
		}
		e.Deliver()
		e.ChannelMessage("#access-requests", req.ID)
		if r := e.API(http.MethodGet, "/api/v1/slack/failures", "root", nil); !strings.Contains(r.Body, `"failures":[]`) {
			t.Fatalf("after the retry: %s", r.Body)
		}
	})
}

// TestSameAnswerEverywhere: the same person asking for the same decision
// gets the same answer from the web UI, the API and Slack, because all
// three ask the one service, which judges the person as the directory has
// them now. stranger@example.com is in no group of the policy file; the
// directory puts them in managers, then deactivates them.
func TestSameAnswerEverywhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		ctx := context.Background()
		storetest.SeedPerson(t, db, "stranger@example.com", true, "managers")
		// One request per surface, so that each decision is the first.
		open := func() (web, api, slackReq *workflow.Request) {
			var out [3]*workflow.Request
			for i, who := range []string{"alice", "bob", "frank"} {
				r, err := e.Svc.Submit(ctx, slacktest.Person(who), workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "case 5"})
				if err != nil {
					t.Fatal(err)
				}
				out[i] = r
			}
			e.Deliver()
			return out[0], out[1], out[2]
		}
		decide := func(who string) (webOK, apiOK, slackOK bool, slackText string) {
			w, a, s := open()
			status, loc := e.WebDecide(who, "approve", w.ID, "")
			webOK = status == http.StatusSeeOther && strings.HasPrefix(loc, "/requests/"+w.ID)
			r := e.API(http.MethodPost, "/api/v1/requests/"+a.ID+"/approve", who, map[string]string{})
			apiOK = r.Status == http.StatusOK
			ch := e.ChannelMessage("#access-requests", s.ID).Channel
			slackText = answered(t, e, e.Click(who, ch, "approve", s.ID))
			slackOK = strings.Contains(slackText, "You approved request")
			for _, r := range []*workflow.Request{w, a, s} {
				got, err := e.Svc.Get(ctx, slacktest.Person("root"), r.ID)
				if err != nil {
					t.Fatal(err)
				}
				if approved := got.State == workflow.StateApproved; approved != (r == w && webOK || r == a && apiOK || r == s && slackOK) {
					t.Fatalf("%s: request %s is %s but its surface said otherwise", who, r.ID, got.State)
				}
				if got.State == workflow.StatePending {
					if _, err := e.Svc.Cancel(ctx, slacktest.Person(got.Requester[:strings.Index(got.Requester, "@")]), r.ID, ""); err != nil {
						t.Fatal(err)
					}
				} else if _, err := e.Svc.Revoke(ctx, slacktest.Person("root"), r.ID, "next case"); err != nil {
					t.Fatal(err)
				}
			}
			return
		}
		for _, c := range []struct {
			name, who string
			before    func()
			want      bool
			slackSays string
		}{
			{"an approver only through the directory", "stranger", nil, true, "You approved request"},
			{"an agent, no approver anywhere", "bob", nil, false, "you are not one of the approvers"},
			{"the same approver, deactivated", "stranger", func() { storetest.SetPersonActive(t, db, "stranger@example.com", false) }, false, "deactivated in the directory"},
		} {
			if c.before != nil {
				c.before()
			}
			web, api, sl, text := decide(c.who)
			if web != c.want || api != c.want || sl != c.want {
				t.Fatalf("%s: web %v, API %v, Slack %v; want all %v (Slack said %q)", c.name, web, api, sl, c.want, text)
			}
			if !strings.Contains(text, c.slackSays) {
				t.Fatalf("%s: Slack said %q, want %q", c.name, text, c.slackSays)
			}
		}
	})
}
