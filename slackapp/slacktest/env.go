package slacktest

// Env boots jitaccess with its Slack side against a fake Slack
// (Server), on a real database, for tests and benchmarks: the workflow
// service, the notification outbox and its worker sending to the fake, and
// the real HTTP server (API and Slack endpoints). It signs inbound
// requests exactly as Slack does, from Slack's documented scheme rather
// than from slack-go, so that the handlers are checked against Slack and
// not against the library they use.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/slackapp"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/web/ui"
	"github.com/jitaccess/jitaccess/workflow"
)

// Policy is the policy the environment runs under.
const Policy = `
admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com, frank@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
slack_channels:
  default: "#access-requests"
  critical: "#security-approvals"
resources:
  - id: crm-payments
    name: Payment details
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    slack_channel: "#payments-approvals"
  - id: crm-notes
    tier: medium
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
  - id: identity-docs
    name: Identity documents
    tier: critical
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    # Decided from Slack by the tests of buttons and modals; the
    # step-up tests use MFAPolicy.
    require_mfa: []
  - id: kb-drafts
    name: Knowledge base drafts
    tier: low
    max_duration: 24h
    requesters: [agents]
    auto_approve: true
  - id: mgr-reports
    tier: medium
    max_duration: 4h
    requesters: [managers]
    approvers: [managers]
`

// MFAPolicy is Policy with one more critical resource, kyc-vault, whose
// approvals need a second factor (the critical tier's default
// require_mfa: [approve]) and whose denials do too.
var MFAPolicy = strings.Replace(Policy, "  - id: kb-drafts\n", `  - id: kyc-vault
    name: KYC vault
    tier: critical
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    require_mfa: [approve, deny]
  - id: kb-drafts
`, 1)

// Secret is the signing secret of the environment's Slack app.
const Secret = "8f742231b10e8888abcd99yyyzzz85a5"

// People are the Slack users the fake knows: name → Slack user ID. Each
// has the email name@example.com, except as noted.
var People = map[string]string{
	"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dave": "U0DAVE", "erin": "U0ERIN", "root": "U0ROOT",
	"stranger": "U0STRANGER", // in Slack, not in the policy
	"guest":    "U0GUEST",    // a guest account, frank@example.com, who is in the policy
	"noemail":  "U0NOEMAIL",  // no email visible (users:read.email missing)
}

// Clock is wall time plus a settable offset: Slack's timestamps and the
// queue's retries run on real time, and tests can still jump ahead.
type Clock struct{ offset atomic.Int64 }

// Now returns the clock's time, in UTC, to the microsecond.
func (c *Clock) Now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load())).UTC().Truncate(time.Microsecond)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Options tune the environment.
type Options struct {
	Policy       string          // default: the Policy above
	Pacer        *notifier.Pacer // default: no pacing
	SubmitBudget time.Duration   // default 2s
	Workers      int             // default 64
	ExpiryLead   time.Duration   // default 15m; negative sends no expiry warnings
	Logger       *slog.Logger    // default: captured, see Env.Logs
}

// Env is a running environment.
type Env struct {
	T          testing.TB
	DB         *store.DB
	Clock      *Clock
	Svc        *workflow.Service
	Slack      *Server
	Directory  *slackapp.Directory
	Dispatcher *notifier.Dispatcher
	Runner     *queue.Runner
	Handler    *slackapp.Handler
	Server     *httptest.Server
	Channels   map[string]string // "#name" → channel ID
	Tokens     map[string]string // API bearer tokens by person

	logs    *syncBuffer
	seq     atomic.Int64
	httpCli *http.Client
}

// NewEnv boots an environment on db.
func NewEnv(t testing.TB, db *store.DB, opts Options) *Env {
	t.Helper()
	if opts.Policy == "" {
		opts.Policy = Policy
	}
	pol, err := workflow.ParsePolicy("slacktest.yaml", []byte(opts.Policy))
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{T: t, DB: db, Clock: &Clock{}, Channels: map[string]string{}, Tokens: map[string]string{}, logs: &syncBuffer{},
		httpCli: &http.Client{Timeout: 30 * time.Second}}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Pacer == nil {
		opts.Pacer = &notifier.Pacer{Interval: 0, MaxWait: time.Second}
	}
	if opts.ExpiryLead == 0 {
		opts.ExpiryLead = notifier.DefaultExpiryWarning
	}
	e.Svc = workflow.NewService(db, pol, workflow.Options{Now: e.Clock.Now})
	e.Slack = NewServer(t)
	for _, ch := range []string{"#payments-approvals", "#access-requests", "#security-approvals"} {
		e.Channels[ch] = e.Slack.AddChannel(ch)
	}
	for name, id := range People {
		u := slack.User{ID: id, Name: name, Profile: slack.UserProfile{Email: name + "@example.com", DisplayName: name}}
		switch name {
		case "guest":
			u.IsRestricted = true
			u.Profile.Email = "frank@example.com"
		case "noemail":
			u.Profile.Email = ""
		case "alice":
			u.Profile.Email = "Alice@Example.com" // case differs from the policy's
		}
		e.Slack.AddUser(u)
	}
	client := e.Slack.Client()
	e.Directory = &slackapp.Directory{Client: client, Now: e.Clock.Now}
	e.Dispatcher = &notifier.Dispatcher{
		Sender:   &notifier.SlackSender{Client: client, Messages: db, Users: e.Directory, Pacer: opts.Pacer, Now: e.Clock.Now, Logger: logger},
		Channel:  notifier.ChannelResolver(e.Svc.Policy, nil, ""),
		Requests: db, Now: e.Clock.Now, Logger: logger, Expand: db.ExpandJob, LoadRequests: db.GetRequests,
		Policy: e.Svc.Policy, WebURL: e.Svc.WebURL,
	}
	e.Svc.OnChange(notifier.Outbox{ExpiryWarning: max(opts.ExpiryLead, 0), Policy: e.Svc.Policy}.Hook)
	e.Runner = &queue.Runner{Store: db, Queue: notifier.Queue, Handler: e.Dispatcher.Deliver, Logger: logger, Now: e.Clock.Now,
		Concurrency: 8, MaxAttempts: 1 << 20, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond}
	e.Handler, err = slackapp.New(slackapp.Config{Service: e.Svc, Store: db, Client: client, Directory: e.Directory, SigningSecret: Secret,
		ResponseURLPrefixes: []string{e.Slack.URL + "/"}, SubmitBudget: opts.SubmitBudget, Workers: opts.Workers, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	// The web UI too, so that one environment decides through all three
	// surfaces (see WebDecide).
	srv := web.New(web.Config{Service: e.Svc, Tokens: db, Logger: logger, BodyLimit: "256K",
		Edge: httpkit.EdgeConfig{SignInPerMinute: -1, APIPerMinute: -1},
		UI:   &ui.Config{Sessions: db, Audit: db, Passkeys: db, Now: e.Clock.Now, SessionIdle: time.Hour, SessionMax: 8 * time.Hour}})
	e.Handler.Register(srv.Echo(), srv.Authenticate)
	e.Server = httptest.NewServer(srv)
	e.Svc.SetWebURL(e.Server.URL) // where a decision that needs MFA is sent
	t.Cleanup(func() {
		e.Server.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Handler.Shutdown(ctx)
	})
	for _, who := range []string{"alice", "bob", "carol", "dave", "root", "stranger"} {
		secret, _, err := db.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, e.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.Tokens[who] = secret
	}
	return e
}

// Person is the principal of a person of the policy.
func Person(name string) workflow.Principal { return workflow.User(name + "@example.com") }

// Logs returns everything logged so far.
func (e *Env) Logs() string { return e.logs.String() }

// Deliver runs every due notification job.
func (e *Env) Deliver() {
	e.T.Helper()
	if _, err := e.Runner.RunOnce(context.Background()); err != nil {
		e.T.Fatal(err)
	}
}

// Sign returns the headers Slack sends with body, signed at ts with
// secret: X-Slack-Request-Timestamp, and X-Slack-Signature =
// "v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)).
func Sign(body []byte, ts time.Time, secret string) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", stamp)
	mac.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// Response is an HTTP answer.
type Response struct {
	Status int
	Body   string
	Header http.Header
}

// JSON decodes the body.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("body is not JSON: %q", r.Body)
	}
	return m
}

// Post sends body to path with the given headers.
func (e *Env) Post(path string, body []byte, h http.Header) Response {
	e.T.Helper()
	req, err := http.NewRequest(http.MethodPost, e.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header = h
	return e.do(req)
}

// WebDecide signs who in to the web UI (a demo session, as the store would
// hold it) and presses a decision button on request id's page: action is
// approve, deny, cancel or revoke. It returns the HTTP status and where it
// redirected (the UI answers a form with a redirect, to the request page on
// success and to sign-in when the session has been ended).
func (e *Env) WebDecide(who, action, id, reason string) (int, string) {
	return e.webDecide(who, action, id, reason, false)
}

// WebDecideStepped is WebDecide in a session that has just proved a
// passkey (a step-up, as static/mfa.js runs it before sending the form).
func (e *Env) WebDecideStepped(who, action, id, reason string) (int, string) {
	return e.webDecide(who, action, id, reason, true)
}

func (e *Env) webDecide(who, action, id, reason string, stepped bool) (int, string) {
	e.T.Helper()
	ctx := context.Background()
	email := who + "@example.com"
	secret, s, err := e.DB.CreateSession(ctx, identity.NewSession{Email: email, Method: identity.SessionDemo, TTL: 8 * time.Hour},
		e.Clock.Now(), time.Hour)
	if err != nil {
		e.T.Fatal(err)
	}
	if stepped {
		pk := identity.Passkey{ID: "test-" + s.ID, Email: email, Name: "test", PublicKey: "-", Credential: []byte("{}")}
		if err := e.DB.AddPasskey(ctx, pk, e.Clock.Now()); err != nil {
			e.T.Fatal(err)
		}
		if err := e.DB.UsePasskey(ctx, s.ID, pk, e.Clock.Now()); err != nil {
			e.T.Fatal(err)
		}
	}
	form := url.Values{"csrf_token": {s.CSRFToken}, "reason": {reason}, "comment": {reason}}
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/requests/"+id+"/"+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.Server.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(&http.Cookie{Name: "__Host-jitaccess-session", Value: secret})
	cli := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cli.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location")
}

// API calls the JSON API as person who.
func (e *Env) API(method, path, who string, body any) Response {
	e.T.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.Server.URL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+e.Tokens[who])
	}
	return e.do(req)
}

func (e *Env) do(req *http.Request) Response {
	e.T.Helper()
	resp, err := e.httpCli.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Body: string(raw), Header: resp.Header}
}

// Delivery is one signed inbound request, ready to send (or to send
// again, as Slack retries).
type Delivery struct {
	Path        string
	Body        []byte
	ResponseURL string // "" for modal submissions
	responseID  string
}

// Send signs d now and posts it.
func (e *Env) Send(d Delivery) Response {
	e.T.Helper()
	return e.Post(d.Path, d.Body, Sign(d.Body, time.Now(), Secret))
}

// Responses returns what the handlers posted to d's response_url.
func (e *Env) Responses(d Delivery) []string {
	var out []string
	for _, r := range e.Slack.Responses(d.responseID) {
		var m struct {
			Text string `json:"text"`
		}
		json.Unmarshal(r, &m)
		out = append(out, m.Text)
	}
	return out
}

func (e *Env) responseURL() (string, string) {
	id := fmt.Sprintf("r%d", e.seq.Add(1))
	return e.Slack.ResponseURL(id), id
}

// Command builds the slash command /access TEXT typed by person who.
func (e *Env) Command(who, text string) Delivery {
	u, id := e.responseURL()
	form := url.Values{
		"token": {"legacy-verification-token"}, "team_id": {"T0001"}, "team_domain": {"example"},
		"channel_id": {"C0GENERAL"}, "channel_name": {"general"}, "user_id": {People[who]}, "user_name": {who},
		"command": {"/access"}, "text": {text}, "api_app_id": {"A0JITACCESS"}, "response_url": {u},
		"trigger_id": {fmt.Sprintf("trig.%d", e.seq.Add(1))},
	}
	return Delivery{Path: slackapp.CommandsPath, Body: []byte(form.Encode()), ResponseURL: u, responseID: id}
}

func (e *Env) interaction(payload map[string]any, responseURL, id string) Delivery {
	raw, err := json.Marshal(payload)
	if err != nil {
		e.T.Fatal(err)
	}
	form := url.Values{"payload": {string(raw)}}
	return Delivery{Path: slackapp.InteractionsPath, Body: []byte(form.Encode()), ResponseURL: responseURL, responseID: id}
}

// Click builds a click by person who on a button of the message about
// request id in channel.
func (e *Env) Click(who, channel, actionID, requestID string) Delivery {
	u, id := e.responseURL()
	n := e.seq.Add(1)
	return e.interaction(map[string]any{
		"type": "block_actions", "token": "legacy", "api_app_id": "A0JITACCESS", "trigger_id": fmt.Sprintf("trig.%d", n),
		"team": map[string]any{"id": "T0001"}, "user": map[string]any{"id": People[who], "username": who},
		"channel":      map[string]any{"id": channel},
		"container":    map[string]any{"type": "message", "channel_id": channel, "message_ts": "1700000000.000001"},
		"response_url": u,
		"actions": []map[string]any{{"type": "button", "action_id": actionID, "block_id": "decide", "value": requestID,
			"action_ts": fmt.Sprintf("1700000000.%06d", n)}},
	}, u, id)
}

// SelectResource builds the block action Slack sends when person who
// picks resource in the request form.
func (e *Env) SelectResource(who, resource string) Delivery {
	n := e.seq.Add(1)
	return e.interaction(map[string]any{
		"type": "block_actions", "api_app_id": "A0JITACCESS", "trigger_id": fmt.Sprintf("trig.%d", n),
		"user":      map[string]any{"id": People[who]},
		"container": map[string]any{"type": "view", "view_id": "V000001"},
		"view":      map[string]any{"id": "V000001", "hash": "h1", "callback_id": "jitaccess.request"},
		"actions": []map[string]any{{"type": "static_select", "action_id": "resource", "block_id": "resource",
			"selected_option": map[string]any{"value": resource}, "action_ts": fmt.Sprintf("1700000000.%06d", n)}},
	}, "", "")
}

// Form is what a person entered in a modal: block ID → action ID → value.
type Form map[string]map[string]any

// Submit builds a modal submission by person who.
func (e *Env) Submit(who, callbackID, privateMetadata string, form Form) Delivery {
	n := e.seq.Add(1)
	return e.interaction(map[string]any{
		"type": "view_submission", "api_app_id": "A0JITACCESS", "trigger_id": fmt.Sprintf("trig.%d", n),
		"team": map[string]any{"id": "T0001"}, "user": map[string]any{"id": People[who]},
		"view": map[string]any{"id": fmt.Sprintf("V%06d", n), "hash": "h", "callback_id": callbackID,
			"private_metadata": privateMetadata, "state": map[string]any{"values": form}},
	}, "", "")
}

// RequestForm is the request modal filled in.
func RequestForm(resource, duration, reason, ticket string) Form {
	return Form{
		"resource":             {"resource": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": resource}}},
		"duration/" + resource: {"duration": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": duration}}},
		"reason":               {"reason": map[string]any{"type": "plain_text_input", "value": reason}},
		"ticket":               {"ticket": map[string]any{"type": "plain_text_input", "value": ticket}},
	}
}

// ReasonForm is the deny or revoke modal filled in, with its metadata.
func ReasonForm(reason string) Form {
	return Form{"reason": {"reason": map[string]any{"type": "plain_text_input", "value": reason}}}
}

// ReasonMeta is the private metadata of a deny (action "deny") or revoke
// ("revoke") modal.
func ReasonMeta(action, requestID string) string {
	return fmt.Sprintf(`{"a":%q,"r":%q}`, action, requestID)
}

// ChannelMessage returns the one message about request id in channel
// (a "#name"), failing the test unless there is exactly one.
func (e *Env) ChannelMessage(channel, requestID string) Message {
	e.T.Helper()
	var found []Message
	for _, m := range e.Slack.Messages(e.Channels[channel]) {
		if strings.Contains(string(m.Blocks), requestID) {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		e.T.Fatalf("%d messages about %s in %s, want 1", len(found), requestID, channel)
	}
	return found[0]
}

// DMs returns the texts of the direct messages person who got.
func (e *Env) DMs(who string) []string {
	var out []string
	for _, m := range e.Slack.Messages(DMChannel(People[who])) {
		out = append(out, m.Text)
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
