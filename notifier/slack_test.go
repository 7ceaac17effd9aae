package notifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

var (
	alice = slacktest.Person("alice")
	bob   = slacktest.Person("bob")
	carol = slacktest.Person("carol")
	dave  = slacktest.Person("dave")
)

func submit(t *testing.T, e *slacktest.Env, who workflow.Principal, resource string, d time.Duration, reason string) *workflow.Request {
	t.Helper()
	r, err := e.Svc.Submit(context.Background(), who, workflow.SubmitInput{Resource: resource, Duration: d, Reason: reason, Ticket: "ABC-1"})
	if err != nil {
		t.Fatalf("submit %s: %v", resource, err)
	}
	return r
}

// mustOK returns a checker for calls whose result is not needed.
func mustOK(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

func lacks(t *testing.T, what, s string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(s, w) {
			t.Errorf("%s contains %q:\n%s", what, w, s)
		}
	}
}

// TestChannelMessageLifecycle follows one two-approver request from
// submission to expiry: one channel message, edited in place (same channel
// and ts) at every step, and the requester's direct messages.
func TestChannelMessageLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		must := mustOK(t)
		ctx := context.Background()
		req := submit(t, e, alice, "crm-payments", time.Hour, "case 4711 <!channel> & <https://evil.example|refund>")
		e.Deliver()

		m := e.ChannelMessage("#payments-approvals", req.ID)
		blocks := string(m.Blocks)
		contains(t, "new message", blocks, "alice@example.com", "Payment details", "crm-payments", "high", "1h", "ABC-1",
			"0 of 2 approvals", `"action_id":"approve"`, `"action_id":"deny"`, `"value":"`+req.ID+`"`,
			"case 4711 \\u0026lt;!channel\\u0026gt; \\u0026amp; \\u0026lt;https://evil.example|refund\\u0026gt;")
		lacks(t, "new message", blocks, "<!channel>", "<https://evil")
		contains(t, "notification text", m.Text, "alice@example.com", "waiting for approval, 0 of 2 approvals")
		if len(e.DMs("alice")) != 0 {
			t.Fatalf("alice was messaged before any decision: %q", e.DMs("alice"))
		}

		must(e.Svc.Approve(ctx, carol, req.ID, ""))
		e.Deliver()
		m = e.ChannelMessage("#payments-approvals", req.ID)
		if m.Updates != 1 {
			t.Fatalf("updates = %d after the first approval", m.Updates)
		}
		contains(t, "after one approval", string(m.Blocks), "1 of 2 approvals (carol@example.com at \\u003c!date^", `"action_id":"approve"`)
		if len(e.DMs("alice")) != 0 {
			t.Fatalf("a partial approval was sent to alice: %q", e.DMs("alice"))
		}

		// A decision made through the API edits the same message.
		if r := e.API(http.MethodPost, "/api/v1/requests/"+req.ID+"/approve", "dave", nil); r.Status != http.StatusOK {
			t.Fatalf("API approve: %d %s", r.Status, r.Body)
		}
		e.Deliver()
		m = e.ChannelMessage("#payments-approvals", req.ID)
		contains(t, "approved message", string(m.Blocks), "Approved* by carol@example.com at \\u003c!date^", "\\u003e, dave@example.com at \\u003c!date^", "access until", `"action_id":"revoke"`)
		lacks(t, "approved message", string(m.Blocks), `"action_id":"approve"`, `"action_id":"deny"`)
		dms := e.DMs("alice")
		if len(dms) != 1 {
			t.Fatalf("alice's DMs after approval: %q", dms)
		}
		contains(t, "approval DM", dms[0], "was approved by carol@example.com, dave@example.com", "live until", "<!date^")

		// The expiry warning comes once, 15 minutes before the end.
		e.Clock.Advance(44 * time.Minute)
		e.Deliver()
		if n := len(e.DMs("alice")); n != 1 {
			t.Fatalf("warned too early: %q", e.DMs("alice"))
		}
		e.Clock.Advance(2 * time.Minute)
		e.Deliver()
		e.Deliver()
		dms = e.DMs("alice")
		if len(dms) != 2 {
			t.Fatalf("alice's DMs after the warning time: %q", dms)
		}
		contains(t, "warning", dms[1], "expires", "(in 14m)")

		e.Clock.Advance(15 * time.Minute)
		must(e.Svc.Sweep(ctx))
		e.Deliver()
		m = e.ChannelMessage("#payments-approvals", req.ID)
		contains(t, "expired message", string(m.Blocks), "Expired", "was approved by carol@example.com, dave@example.com")
		lacks(t, "expired message", string(m.Blocks), `"type":"actions"`)
		if m.Updates != 3 {
			t.Fatalf("updates = %d, want 3 (approve, approve, expire)", m.Updates)
		}
		dms = e.DMs("alice")
		if len(dms) != 3 {
			t.Fatalf("alice's DMs: %q", dms)
		}
		contains(t, "expiry DM", dms[2], "expired")

		// Every edit was of the same message.
		updates := e.Slack.Calls("chat.update")
		if len(updates) != 3 {
			t.Fatalf("%d chat.update calls", len(updates))
		}
		for _, c := range updates {
			if c.Form.Get("channel") != m.Channel || c.Form.Get("ts") != m.TS {
				t.Fatalf("update of %s/%s, message is %s/%s", c.Form.Get("channel"), c.Form.Get("ts"), m.Channel, m.TS)
			}
		}
		if n := len(e.Slack.Messages(e.Channels["#payments-approvals"])); n != 1 {
			t.Fatalf("%d messages in the channel, want 1", n)
		}
	})
}

// TestEndings covers the other ways a request ends, and where each is
// shown.
func TestEndings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		must := mustOK(t)
		ctx := context.Background()

		denied := submit(t, e, alice, "crm-notes", time.Hour, "case 1")
		cancelled := submit(t, e, bob, "crm-notes", time.Hour, "case 2")
		revoked := submit(t, e, alice, "identity-docs", time.Hour, "case 3")
		relinquished := submit(t, e, bob, "crm-payments", time.Hour, "case 4")
		timedOut := submit(t, e, alice, "crm-payments", time.Hour, "case 5")
		must(e.Svc.Deny(ctx, carol, denied.ID, "not for this case"))
		must(e.Svc.Cancel(ctx, bob, cancelled.ID, "solved it myself"))
		for _, who := range []workflow.Principal{carol, dave} {
			must(e.Svc.Approve(ctx, who, revoked.ID, "checked the case"))
			must(e.Svc.Approve(ctx, who, relinquished.ID, ""))
		}
		must(e.Svc.Revoke(ctx, carol, revoked.ID, "customer closed the case"))
		must(e.Svc.Revoke(ctx, bob, relinquished.ID, ""))
		e.Deliver()

		check := func(channel, id string, want ...string) {
			t.Helper()
			m := e.ChannelMessage(channel, id)
			contains(t, "message of "+id, string(m.Blocks), want...)
			lacks(t, "message of "+id, string(m.Blocks), `"type":"actions"`)
		}
		check("#access-requests", denied.ID, "Denied* by carol@example.com", "not for this case")
		check("#access-requests", cancelled.ID, "Cancelled* by the requester", "solved it myself")
		check("#security-approvals", revoked.ID, "Revoked* by carol@example.com", "customer closed the case")
		check("#payments-approvals", relinquished.ID, "Relinquished* by the requester")

		alicesDMs := strings.Join(e.DMs("alice"), "\n")
		contains(t, "alice's DMs", alicesDMs, "request for `crm-notes` was denied by carol@example.com", "> not for this case",
			"access to *Identity documents* (`identity-docs`) was revoked by carol@example.com", "> customer closed the case")
		bobsDMs := e.DMs("bob")
		if len(bobsDMs) != 1 || !strings.Contains(bobsDMs[0], "was approved") {
			t.Fatalf("bob cancelled and relinquished himself; his DMs should be the approval only: %q", bobsDMs)
		}

		// The revoked grant's expiry warning comes due, and is not sent.
		e.Clock.Advance(50 * time.Minute)
		e.Deliver()
		lacks(t, "alice's DMs", strings.Join(e.DMs("alice"), "\n"), "expires")

		e.Clock.Advance(24 * time.Hour)
		must(e.Svc.Sweep(ctx))
		e.Deliver()
		check("#payments-approvals", timedOut.ID, "Timed out", "with 0 of 2 approvals")
		contains(t, "alice's DMs", strings.Join(e.DMs("alice"), "\n"), "request for *Payment details* (`crm-payments`) timed out")
	})
}

// TestAutoApprovedPostsOnce: a submission the policy approves at once is
// posted once, already approved, with no buttons.
func TestAutoApprovedPostsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		req := submit(t, e, alice, "kb-drafts", 2*time.Hour, "update the refund article")
		e.Deliver()
		m := e.ChannelMessage("#access-requests", req.ID)
		if m.Updates != 0 {
			t.Fatalf("auto-approved message was edited %d times", m.Updates)
		}
		contains(t, "auto-approved message", string(m.Blocks), "Approved* automatically by policy")
		dms := e.DMs("alice")
		if len(dms) != 1 || !strings.Contains(dms[0], "approved automatically by policy") {
			t.Fatalf("DMs: %q", dms)
		}
	})
}

// failures summarizes failed jobs for messages.
func failures(jobs []store.FailedJob) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.Key + ": " + j.LastError
	}
	return out
}

func failedJobs(t *testing.T, db *store.DB) []store.FailedJob {
	t.Helper()
	jobs, err := db.FailedJobsOf(context.Background(), notifier.Queue, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// TestPermanentFailures: a message that can never be delivered fails for
// good with Slack's reason, is listed for admins, and is not retried.
func TestPermanentFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		must := mustOK(t)
		ctx := context.Background()

		e.Slack.RemoveChannel("#payments-approvals")
		req := submit(t, e, alice, "crm-payments", time.Hour, "case 1")
		e.Deliver()
		failed := failedJobs(t, db)
		if len(failed) != 1 || !strings.Contains(failed[0].LastError, "channel_not_found") || failed[0].Key != req.ID || failed[0].Attempts != 1 {
			t.Fatalf("failed jobs: %q", failures(failed))
		}
		calls := len(e.Slack.Calls("chat.postMessage"))
		e.Clock.Advance(time.Hour)
		e.Deliver()
		if n := len(e.Slack.Calls("chat.postMessage")); n != calls {
			t.Fatalf("a permanent failure was retried: %d posts, then %d", calls, n)
		}

		// An admin fixes the channel and sends the message again.
		e.Channels["#payments-approvals"] = e.Slack.AddChannel("#payments-approvals")
		if err := db.RetryFailedJob(ctx, notifier.Queue, failed[0].ID, "root@example.com", e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		e.ChannelMessage("#payments-approvals", req.ID)
		if n := len(failedJobs(t, db)); n != 0 {
			t.Fatalf("%d failed jobs after the retry", n)
		}
		recs, _, err := e.Svc.Audit(ctx, slacktest.Person("root"), workflow.AuditQuery{Action: store.ActionJobRetry})
		if err != nil || len(recs) != 1 || recs[0].Actor != "root@example.com" || recs[0].RequestID != req.ID {
			t.Fatalf("retry audit: %+v", recs)
		}

		// A revoked token: every delivery fails for good, with the reason.
		e.Slack.SetFail(func(string) *slacktest.Fault { return &slacktest.Fault{Error: "token_revoked"} })
		must(e.Svc.Deny(ctx, carol, req.ID, "no"))
		e.Deliver()
		failed = failedJobs(t, db)
		if len(failed) != 2 {
			t.Fatalf("failed jobs: %q", failures(failed))
		}
		for _, f := range failed {
			contains(t, "failure reason", f.LastError, "token_revoked")
		}
		e.Slack.SetFail(nil)

		// A requester Slack does not know: the DM fails, the channel
		// message does not.
		kb := submit(t, e, bob, "kb-drafts", time.Hour, "r")
		e.Slack.SetFail(func(method string) *slacktest.Fault {
			if method == "users.lookupByEmail" {
				return &slacktest.Fault{Error: "users_not_found"}
			}
			return nil
		})
		e.Deliver()
		e.ChannelMessage("#access-requests", kb.ID)
		failed = failedJobs(t, db)
		if len(failed) != 3 || !strings.Contains(failed[0].LastError, "users_not_found") {
			t.Fatalf("failed jobs: %q", failures(failed))
		}
	})
}

// TestDeletedMessageIsPostedAgain: someone deleted the approvers' message
// in Slack; the next change posts it anew and remembers the new ts.
func TestDeletedMessageIsPostedAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		must := mustOK(t)
		req := submit(t, e, alice, "crm-notes", time.Hour, "case 1")
		e.Deliver()
		old := e.ChannelMessage("#access-requests", req.ID)
		e.Slack.DeleteMessage(old.Channel, old.TS)
		must(e.Svc.Approve(context.Background(), carol, req.ID, ""))
		e.Deliver()
		m := e.ChannelMessage("#access-requests", req.ID)
		if m.TS == old.TS {
			t.Fatal("the deleted message was not posted again")
		}
		contains(t, "reposted message", string(m.Blocks), "Approved* by carol@example.com")
		stored, err := db.SlackMessage(context.Background(), req.ID)
		if err != nil || stored.TS != m.TS || stored.Channel != m.Channel {
			t.Fatalf("stored %+v, posted %s/%s", stored, m.Channel, m.TS)
		}
	})
}

// TestStaleDeliveryDoesNotGoBack: a delivery for an older version of the
// request (an admin's retry of an old failure) never overwrites a newer
// state.
func TestStaleDeliveryDoesNotGoBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		must := mustOK(t)
		ctx := context.Background()
		req := submit(t, e, alice, "crm-notes", time.Hour, "case 1")
		e.Deliver()
		must(e.Svc.Approve(ctx, carol, req.ID, ""))
		e.Deliver()
		old := notifier.EventOf(workflow.Change{Event: workflow.EventSubmit, To: workflow.StatePending, At: req.CreatedAt, Request: req})
		payload, _ := json.Marshal(notifier.Delivery{Kind: notifier.KindChannel, Event: old, Due: e.Clock.Now()})
		if err := db.InTx(ctx, func(tx workflow.Tx) error {
			return tx.Enqueue(ctx, workflow.Job{Queue: notifier.Queue, Key: req.ID, Payload: payload, RunAt: e.Clock.Now()})
		}); err != nil {
			t.Fatal(err)
		}
		e.Deliver()
		m := e.ChannelMessage("#access-requests", req.ID)
		if m.Updates != 1 {
			t.Fatalf("the stale delivery edited the message (%d updates)", m.Updates)
		}
		contains(t, "message", string(m.Blocks), "Approved*")
	})
}

// TestRateLimitedDeliveryWaitsRetryAfter: a 429 schedules the retry no
// sooner than Retry-After.
func TestRateLimitedDeliveryWaitsRetryAfter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		e.Slack.SetFail(func(string) *slacktest.Fault {
			return &slacktest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 30}
		})
		req := submit(t, e, alice, "crm-notes", time.Hour, "case 1")
		before := e.Clock.Now()
		e.Deliver()
		var runAt time.Time
		if err := db.Gorm().Raw("SELECT run_at FROM jobs WHERE order_key = ? AND state = 'pending' ORDER BY id LIMIT 1", req.ID).Row().Scan(&runAt); err != nil {
			t.Fatal(err)
		}
		if wait := runAt.Sub(before); wait < 30*time.Second || wait > 35*time.Second {
			t.Fatalf("retry in %s, want Retry-After's 30s", wait)
		}
		e.Slack.SetFail(nil)
		e.Clock.Advance(31 * time.Second)
		e.Deliver()
		e.ChannelMessage("#access-requests", req.ID)
	})
}

// TestSlackOutage: Slack answers 500, then 429 with Retry-After, while
// people keep deciding. No decision fails or waits; once Slack answers
// again every message arrives, exactly once, in order per request.
func TestSlackOutage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{ExpiryLead: -1})
		must := mustOK(t)
		ctx := context.Background()
		var phase atomic.Int32 // 0: 500s, 1: 429s, 2: healthy
		e.Slack.SetFail(func(method string) *slacktest.Fault {
			switch phase.Load() {
			case 0:
				return &slacktest.Fault{Status: http.StatusInternalServerError}
			case 1:
				return &slacktest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1}
			}
			return nil
		})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); e.Runner.Run(runCtx) }()
		defer func() { stop(); <-done }()

		var reqs []*workflow.Request
		var wants []string
		var channels []string
		for _, s := range []struct {
			who  workflow.Principal
			res  string
			ch   string
			want string
		}{
			{alice, "crm-notes", "#access-requests", "Approved* by carol@example.com at"},
			{bob, "crm-notes", "#access-requests", "Denied* by dave@example.com"},
			{alice, "crm-payments", "#payments-approvals", "Approved* by carol@example.com at"},
			{bob, "crm-payments", "#payments-approvals", "1 of 2 approvals (carol@example.com at"},
			{alice, "identity-docs", "#security-approvals", "Revoked* by carol@example.com"},
			{bob, "identity-docs", "#security-approvals", "Cancelled* by the requester"},
			{alice, "kb-drafts", "#access-requests", "Approved* automatically"},
		} {
			reqs = append(reqs, submit(t, e, s.who, s.res, time.Hour, "outage case"))
			wants, channels = append(wants, s.want), append(channels, s.ch)
		}
		time.Sleep(150 * time.Millisecond) // the worker meets the 500s
		must(e.Svc.Approve(ctx, carol, reqs[0].ID, ""))
		must(e.Svc.Deny(ctx, dave, reqs[1].ID, "not needed"))
		must(e.Svc.Approve(ctx, carol, reqs[2].ID, ""))
		phase.Store(1)
		time.Sleep(150 * time.Millisecond) // and then the 429s
		must(e.Svc.Approve(ctx, dave, reqs[2].ID, ""))
		must(e.Svc.Approve(ctx, carol, reqs[3].ID, ""))
		must(e.Svc.Approve(ctx, carol, reqs[4].ID, "checked the case"))
		must(e.Svc.Approve(ctx, dave, reqs[4].ID, "checked the case"))
		must(e.Svc.Revoke(ctx, carol, reqs[4].ID, "done"))
		must(e.Svc.Cancel(ctx, bob, reqs[5].ID, ""))
		time.Sleep(1200 * time.Millisecond)
		phase.Store(2)

		deadline := time.Now().Add(60 * time.Second)
		for {
			backlog, err := db.QueueBacklog(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if backlog[notifier.Queue] == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("notifications still pending a minute after Slack came back: %v", backlog)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if e.Slack.Faults() == 0 {
			t.Fatal("the fake never failed; the test tested nothing")
		}
		if f := failedJobs(t, db); len(f) != 0 {
			t.Fatalf("deliveries failed: %q", failures(f))
		}
		for i, r := range reqs {
			m := e.ChannelMessage(channels[i], r.ID) // exactly one message per request
			contains(t, "final message of "+r.Resource, string(m.Blocks), wants[i])
		}
		// Every DM exactly once: alice (crm-notes approved, crm-payments
		// approved, identity-docs approved then revoked, kb-drafts
		// approved) and bob (crm-notes denied).
		aliceDMs, bobDMs := e.DMs("alice"), e.DMs("bob")
		if len(aliceDMs) != 5 || len(bobDMs) != 1 {
			t.Fatalf("DMs: alice %q, bob %q", aliceDMs, bobDMs)
		}
		seen := map[string]bool{}
		for _, dm := range aliceDMs {
			if seen[dm] {
				t.Fatalf("DM delivered twice: %q", dm)
			}
			seen[dm] = true
		}
		// In order per request: identity-docs' approval came before its
		// revocation.
		var approvedAt, revokedAt int
		for i, dm := range aliceDMs {
			if strings.Contains(dm, "identity-docs") && strings.Contains(dm, "approved") {
				approvedAt = i
			}
			if strings.Contains(dm, "identity-docs") && strings.Contains(dm, "revoked") {
				revokedAt = i
			}
		}
		if approvedAt > revokedAt {
			t.Fatalf("out of order: %q", aliceDMs)
		}
	})
}

// TestChannelPacing: sends to one channel are spaced by the pacer's
// interval (Slack's one a second, scaled down here), however many are
// due at once; sends that would wait too long go back to the queue and
// still arrive.
func TestChannelPacing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const interval = 250 * time.Millisecond
		e := slacktest.NewEnv(t, db, slacktest.Options{Pacer: &notifier.Pacer{Interval: interval, MaxWait: 2 * interval}, ExpiryLead: -1})
		for _, who := range []workflow.Principal{alice, bob, slacktest.Person("frank")} {
			submit(t, e, who, "crm-notes", time.Hour, "case 1")
			submit(t, e, who, "kb-drafts", time.Hour, "case 2")
		}
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.Runner.Run(runCtx) }()
		defer func() { stop(); <-done }()
		ch := e.Channels["#access-requests"]
		for deadline := time.Now().Add(30 * time.Second); len(e.Slack.Messages(ch)) < 6; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of 6 messages arrived", len(e.Slack.Messages(ch)))
			}
		}
		var sent []time.Time
		for _, m := range e.Slack.Messages(ch) {
			sent = append(sent, m.Sent...)
		}
		slices.SortFunc(sent, func(a, b time.Time) int { return a.Compare(b) })
		// Sends leave at least interval apart; they arrive give or take
		// the scheduling of two HTTP requests on a busy machine.
		for i := 1; i < len(sent); i++ {
			if gap := sent[i].Sub(sent[i-1]); gap < interval/2 {
				t.Fatalf("two sends to one channel %s apart, pacing at %s", gap, interval)
			}
		}
		if span, want := sent[len(sent)-1].Sub(sent[0]), time.Duration(len(sent)-1)*interval*9/10; span < want {
			t.Fatalf("%d sends to one channel within %s, pacing at %s", len(sent), span, interval)
		}
	})
}

// TestSweepFansOut: a sweep that ends many grants enqueues one fan-out job
// in its transaction instead of two jobs per grant; expanded, every
// approvers' message is edited once and every requester told once, and a
// fan-out that is expanded again (its worker died before recording it)
// adds nothing.
func TestSweepFansOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var pol strings.Builder
		pol.WriteString("groups:\n  agents: [alice@example.com, bob@example.com]\nslack_channels:\n  default: \"#access-requests\"\nresources:\n")
		const resources = 40
		for i := 0; i < resources; i++ {
			fmt.Fprintf(&pol, "  - id: kb-%d\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n", i)
		}
		e := slacktest.NewEnv(t, db, slacktest.Options{Policy: pol.String(), ExpiryLead: -1})
		var ids []string
		for i := 0; i < resources; i++ {
			for _, who := range []workflow.Principal{alice, bob} {
				ids = append(ids, submit(t, e, who, fmt.Sprintf("kb-%d", i), time.Hour, "docs").ID)
			}
		}
		e.Deliver()
		e.Clock.Advance(time.Hour)
		res, err := e.Svc.Sweep(ctx)
		if err != nil || res.Expired != 2*resources {
			t.Fatalf("sweep: %+v %v", res, err)
		}
		var queued []struct{ Payload string }
		if err := db.Gorm().Raw(`SELECT payload FROM jobs WHERE state = 'pending'`).Scan(&queued).Error; err != nil {
			t.Fatal(err)
		}
		if len(queued) != 1 || !strings.Contains(queued[0].Payload, `"kind":"fanout"`) {
			t.Fatalf("the sweep enqueued %d jobs, want one fan-out", len(queued))
		}
		e.Deliver()
		for _, id := range ids {
			m := e.ChannelMessage("#access-requests", id)
			if m.Updates != 1 || !strings.Contains(string(m.Blocks), "Expired") {
				t.Fatalf("message about %s: %d updates\n%s", id, m.Updates, m.Blocks)
			}
		}
		for _, who := range []string{"alice", "bob"} {
			expired := 0
			for _, dm := range e.DMs(who) {
				if strings.Contains(dm, "expired") {
					expired++
				}
			}
			if expired != resources {
				t.Fatalf("%s got %d expiry messages, want %d: %q", who, expired, resources, e.DMs(who))
			}
		}
		// Expanding a done fan-out again, even with the token of the
		// claim that expanded it, adds nothing.
		var fan struct{ ID, LeaseToken int64 }
		db.Gorm().Raw(`SELECT id, lease_token FROM jobs WHERE payload LIKE '%"kind":"fanout"%'`).Scan(&fan)
		if err := db.ExpandJob(ctx, fan.ID, fan.LeaseToken, []workflow.Job{{Queue: notifier.Queue, Key: "x", Payload: []byte("{}")}}); !errors.Is(err, queue.ErrStaleLease) {
			t.Fatalf("second expansion: %v, want queue.ErrStaleLease", err)
		}
		if backlog, _ := db.QueueBacklog(ctx); backlog[notifier.Queue] != 0 {
			t.Fatalf("a second expansion enqueued jobs: %v", backlog)
		}
	})
}

// TestRetryAfterHoldsQueuedSends: a 429 blocks the channel for its
// Retry-After for every send to it, including those already waiting for
// their pacing slot when it came; after the block the sends are paced
// again. Several deliveries to one channel run at once, so that most of
// them are waiting in the pacer when the first one meets the 429.
func TestRetryAfterHoldsQueuedSends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const (
			interval   = 200 * time.Millisecond // small, so that a queued send would fall inside the block
			retryAfter = time.Second            // Slack's header is whole seconds
			sends      = 6
		)
		pol := "groups:\n  agents: [alice@example.com]\n  managers: [carol@example.com]\nslack_channels:\n  default: \"#access-requests\"\nresources:\n"
		for i := 0; i < sends; i++ {
			pol += fmt.Sprintf("  - id: notes-%d\n    tier: medium\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [managers]\n", i)
		}
		e := slacktest.NewEnv(t, db, slacktest.Options{Policy: pol, Pacer: &notifier.Pacer{Interval: interval, MaxWait: 2 * time.Second}, ExpiryLead: -1})
		var first atomic.Bool
		var limited atomic.Int64 // when the fake answered 429, in UnixNano; 0 until then
		e.Slack.SetFail(func(method string) *slacktest.Fault {
			if method == "chat.postMessage" && first.CompareAndSwap(false, true) {
				// Answer late enough that the other sends have taken their
				// slots and are waiting for them, and early enough that
				// none of those slots has come.
				time.Sleep(interval * 3 / 4)
				limited.Store(time.Now().UnixNano())
				return &slacktest.Fault{Status: http.StatusTooManyRequests, RetryAfter: int(retryAfter / time.Second)}
			}
			return nil
		})
		for i := 0; i < sends; i++ {
			submit(t, e, alice, fmt.Sprintf("notes-%d", i), time.Hour, "case 1")
		}
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.Runner.Run(runCtx) }()
		defer func() { stop(); <-done }()
		ch := e.Channels["#access-requests"]
		for deadline := time.Now().Add(30 * time.Second); len(e.Slack.Messages(ch)) < sends; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d messages arrived", len(e.Slack.Messages(ch)), sends)
			}
		}
		if limited.Load() == 0 {
			t.Fatal("the fake never answered 429; the test tested nothing")
		}
		blockEnds := time.Unix(0, limited.Load()).Add(retryAfter)
		var sent []time.Time
		for _, m := range e.Slack.Messages(ch) {
			sent = append(sent, m.Sent...)
		}
		slices.SortFunc(sent, func(a, b time.Time) int { return a.Compare(b) })
		for i, at := range sent {
			if at.Before(blockEnds) {
				t.Errorf("post %d came %s after the 429, within its Retry-After of %s", i, retryAfter-blockEnds.Sub(at), retryAfter)
			}
			// Paced as before once the block is over, give or take the
			// scheduling of two HTTP requests on a busy machine.
			if i > 0 && at.Sub(sent[i-1]) < interval/2 {
				t.Errorf("posts %d and %d %s apart, pacing at %s", i-1, i, at.Sub(sent[i-1]), interval)
			}
		}
	})
}
