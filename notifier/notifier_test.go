package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

func request(state workflow.State, required int) *workflow.Request {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	return &workflow.Request{ID: "01a2081c-0000-7000-8000-000000000001", Requester: "alice@example.com", Resource: "crm-notes",
		Tier: workflow.TierMedium, Reason: "r", Duration: time.Hour, State: state, RequiredApprovals: required, Version: 1,
		CreatedAt: now, ReviewDeadline: now.Add(24 * time.Hour)}
}

func kinds(t *testing.T, jobs []workflow.Job) []string {
	t.Helper()
	var out []string
	for _, j := range jobs {
		var d Delivery
		if err := json.Unmarshal(j.Payload, &d); err != nil {
			t.Fatal(err)
		}
		if j.Queue != Queue || !j.RunAt.Equal(d.Due) {
			t.Fatalf("job %+v does not match its delivery %+v", j, d)
		}
		out = append(out, fmt.Sprintf("%s/%s@%s", d.Kind, j.Key[:min(len(j.Key), 7)], j.RunAt.Format("15:04")))
	}
	return out
}

func TestPlan(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	approved := func(d time.Duration, required int) *workflow.Request {
		r := request(workflow.StateApproved, required)
		r.Duration = d
		exp := at.Add(d)
		r.ApprovedAt, r.ExpiresAt = &at, &exp
		return r
	}
	key := "01a2081"
	cases := []struct {
		name    string
		changes []workflow.Change
		lead    time.Duration
		want    []string
	}{
		{"submit", []workflow.Change{{Event: workflow.EventSubmit, From: workflow.StateNew, To: workflow.StatePending, At: at, Request: request(workflow.StatePending, 2)}},
			15 * time.Minute, []string{"channel/" + key + "@09:00"}},
		{"partial approval", []workflow.Change{{Event: workflow.EventApprove, From: workflow.StatePending, To: workflow.StatePending, At: at, Request: request(workflow.StatePending, 2)}},
			15 * time.Minute, []string{"channel/" + key + "@09:00"}},
		{"approval with a warning", []workflow.Change{{Event: workflow.EventApprove, From: workflow.StatePending, To: workflow.StateApproved, At: at, Request: approved(time.Hour, 1)}},
			15 * time.Minute, []string{"channel/" + key + "@09:00", "dm/" + key + "@09:00", "expiry_warning/expiry:@09:45"}},
		{"too short for a warning", []workflow.Change{{Event: workflow.EventApprove, From: workflow.StatePending, To: workflow.StateApproved, At: at, Request: approved(10*time.Minute, 1)}},
			15 * time.Minute, []string{"channel/" + key + "@09:00", "dm/" + key + "@09:00"}},
		{"warnings off", []workflow.Change{{Event: workflow.EventApprove, From: workflow.StatePending, To: workflow.StateApproved, At: at, Request: approved(time.Hour, 1)}},
			0, []string{"channel/" + key + "@09:00", "dm/" + key + "@09:00"}},
		{"auto-approved: one channel post", func() []workflow.Change {
			r := approved(2*time.Hour, 0)
			return []workflow.Change{
				{Event: workflow.EventSubmit, From: workflow.StateNew, To: workflow.StatePending, At: at, Request: r},
				{Event: workflow.EventAutoApprove, From: workflow.StatePending, To: workflow.StateApproved, At: at, Request: r},
			}
		}(), 15 * time.Minute, []string{"channel/" + key + "@09:00", "dm/" + key + "@09:00", "expiry_warning/expiry:@10:45"}},
		{"cancel", []workflow.Change{{Event: workflow.EventCancel, Actor: request(workflow.StateCancelled, 1).Requester, From: workflow.StatePending, To: workflow.StateCancelled, At: at, Request: request(workflow.StateCancelled, 1)}},
			15 * time.Minute, []string{"channel/" + key + "@09:00"}},
		{"cancel by the system tells the requester", []workflow.Change{{Event: workflow.EventCancel, Actor: "system", From: workflow.StatePending, To: workflow.StateCancelled, At: at, Request: request(workflow.StateCancelled, 1)}},
			15 * time.Minute, []string{"channel/" + key + "@09:00", "dm/" + key + "@09:00"}},
		{"withdrawn approval redraws the channel message only", []workflow.Change{{Event: workflow.EventWithdrawApproval, Actor: "system", From: workflow.StatePending, To: workflow.StatePending, At: at, Request: request(workflow.StatePending, 1)}},
			15 * time.Minute, []string{"channel/" + key + "@09:00"}},
		{"relinquish", []workflow.Change{{Event: workflow.EventRelinquish, From: workflow.StateApproved, To: workflow.StateRevoked, At: at, Request: request(workflow.StateRevoked, 1)}},
			15 * time.Minute, []string{"channel/" + key + "@09:00"}},
		{"revoke, deny, expire, timeout tell the requester", []workflow.Change{
			{Event: workflow.EventRevoke, From: workflow.StateApproved, To: workflow.StateRevoked, At: at, Request: request(workflow.StateRevoked, 1)},
			{Event: workflow.EventDeny, From: workflow.StatePending, To: workflow.StateDenied, At: at, Request: request(workflow.StateDenied, 1)},
			{Event: workflow.EventExpire, From: workflow.StateApproved, To: workflow.StateExpired, At: at, Request: request(workflow.StateExpired, 1)},
			{Event: workflow.EventTimeout, From: workflow.StatePending, To: workflow.StateTimedOut, At: at, Request: request(workflow.StateTimedOut, 1)},
		}, 15 * time.Minute, []string{"channel/" + key + "@09:00", "dm/" + key + "@09:00", "channel/" + key + "@09:00", "dm/" + key + "@09:00",
			"channel/" + key + "@09:00", "dm/" + key + "@09:00", "channel/" + key + "@09:00", "dm/" + key + "@09:00"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jobs, err := Plan(tc.changes, tc.lead, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(t, jobs); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("jobs %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPacer(t *testing.T) {
	p := &Pacer{Interval: time.Second, MaxWait: 2 * time.Second}
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i, want := range []time.Duration{0, time.Second, 2 * time.Second} {
		if wait, ok := p.Reserve("C1", now); !ok || wait != want {
			t.Fatalf("send %d: wait %s ok %v, want %s", i, wait, ok, want)
		}
	}
	if wait, ok := p.Reserve("C1", now); ok || wait != 3*time.Second {
		t.Fatalf("a fourth send at once: wait %s ok %v, want deferred by 3s", wait, ok)
	}
	if wait, ok := p.Reserve("C2", now); !ok || wait != 0 {
		t.Fatalf("another channel waited %s", wait)
	}
	if wait, ok := p.Reserve("C1", now.Add(10*time.Second)); !ok || wait != 0 {
		t.Fatalf("later: wait %s", wait)
	}
	p.Block("C2", now.Add(30*time.Second))
	if wait, ok := p.Reserve("C2", now); ok || wait != 30*time.Second {
		t.Fatalf("after a 429: wait %s ok %v", wait, ok)
	}
	// A slot given before a block is void inside it, not after it.
	if p.Blocked("C1", now.Add(10*time.Second)) || !p.Blocked("C2", now.Add(29*time.Second)) || p.Blocked("C2", now.Add(30*time.Second)) {
		t.Fatal("Blocked does not follow the 429's block")
	}
}

// TestExpiryWarningSaysHowLong: the warning says how long is left as it
// is, in seconds under two minutes, never rounded up to a minute.
func TestExpiryWarningSaysHowLong(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		left time.Duration
		want string
	}{
		{25 * time.Second, "(in 25s)"},
		{59 * time.Second, "(in 59s)"},
		{59*time.Second + 600*time.Millisecond, "(in 1m)"},
		{90 * time.Second, "(in 1m30s)"},
		{14*time.Minute + 59*time.Second + 900*time.Millisecond, "(in 15m)"},
		{time.Hour, "(in 1h)"},
		{90 * time.Minute, "(in 1h30m)"},
		{300 * time.Millisecond, "(in less than a second)"},
	} {
		m := ExpiryWarningMessage(Event{Resource: "crm-notes", RequestID: "r1"}, now.Add(tc.left), now)
		if !strings.Contains(m.Text, tc.want) {
			t.Errorf("%s left: %q, want %q", tc.left, m.Text, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		permanent  bool
		retryAfter time.Duration
	}{
		{"429 with Retry-After", &slack.RateLimitedError{RetryAfter: 7 * time.Second}, false, 7 * time.Second},
		{"429 without a delay", &slack.RateLimitedError{}, false, time.Second},
		{"500", slack.StatusCodeError{Code: http.StatusInternalServerError, Status: "500 Internal Server Error"}, false, 0},
		{"503", slack.StatusCodeError{Code: http.StatusServiceUnavailable}, false, 0},
		{"404: a wrong API URL", slack.StatusCodeError{Code: http.StatusNotFound}, true, 0},
		{"ratelimited", slack.SlackErrorResponse{Err: "ratelimited"}, false, 0},
		{"internal_error", slack.SlackErrorResponse{Err: "internal_error"}, false, 0},
		{"channel_not_found", slack.SlackErrorResponse{Err: "channel_not_found"}, true, 0},
		{"not_in_channel", slack.SlackErrorResponse{Err: "not_in_channel"}, true, 0},
		{"invalid_auth", slack.SlackErrorResponse{Err: "invalid_auth"}, true, 0},
		{"token_revoked", slack.SlackErrorResponse{Err: "token_revoked"}, true, 0},
		{"account_inactive", slack.SlackErrorResponse{Err: "account_inactive"}, true, 0},
		{"a network error", errors.New("dial tcp: connection refused"), false, 0},
		{"shutdown", context.Canceled, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.err)
			if got := errors.Is(err, ErrPermanent); got != tc.permanent {
				t.Fatalf("permanent = %v (%v)", got, err)
			}
			var later *RetryLater
			if errors.As(err, &later) != (tc.retryAfter > 0) || tc.retryAfter > 0 && later.After != tc.retryAfter {
				t.Fatalf("retry after: %v", err)
			}
			if code := SlackErrorCode(tc.err); code != "" && !strings.Contains(err.Error(), code) {
				t.Fatalf("the reason %q is lost: %v", code, err)
			}
		})
	}
}

// TestLogSender: without Slack, what would have been sent is logged.
func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	d := &Dispatcher{Sender: LogSender{Logger: slog.New(slog.NewTextHandler(&buf, nil))},
		Channel: func(string, workflow.Tier) string { return "#access-requests" }}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	r := request(workflow.StateDenied, 1)
	jobs, err := Plan([]workflow.Change{{Event: workflow.EventDeny, Actor: "carol@example.com", From: workflow.StatePending, To: workflow.StateDenied,
		Comment: "no", At: at, Request: r}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := d.Deliver(context.Background(), queueJob(j)); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	for _, want := range []string{"channel=#access-requests", "to=alice@example.com", "was denied by carol@example.com", "state=denied"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func queueJob(j workflow.Job) queue.Job {
	return queue.Job{ID: 1, Queue: j.Queue, Key: j.Key, Payload: j.Payload, Attempts: 1}
}

// TestReminderDelivery: a reminder job goes to its person as a direct
// message with its text, escaped for Slack.
func TestReminderDelivery(t *testing.T) {
	var buf bytes.Buffer
	d := &Dispatcher{Sender: LogSender{Logger: slog.New(slog.NewTextHandler(&buf, nil))}}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	j, err := ReminderJob(review.Reminder{To: "heidi@example.com", Key: "campaign:monthly", Text: "Review campaign monthly is open <soon>", At: at})
	if err != nil {
		t.Fatal(err)
	}
	if j.Queue != Queue || j.Key != "remind:campaign:monthly:heidi@example.com" || !j.RunAt.Equal(at) {
		t.Fatalf("job %+v", j)
	}
	if err := d.Deliver(context.Background(), queueJob(j)); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "to=heidi@example.com") || !strings.Contains(out, "Review campaign monthly is open") {
		t.Fatalf("log: %s", out)
	}
	m := ReminderMessage("a <b> & c")
	if len(m.Blocks) != 1 || m.Text != "a <b> & c" {
		t.Fatalf("message %+v", m)
	}
	if b, _ := json.Marshal(m.Blocks); !strings.Contains(string(b), "a \\u0026lt;b\\u0026gt; \\u0026amp; c") {
		t.Fatalf("block text not escaped: %s", b)
	}
}
