// Package slacktest is Slack for tests and benchmarks, as httptest is
// HTTP: Server (server.go) is a local stand-in for Slack's Web API, an
// httptest server that answers the methods jitaccess calls
// (chat.postMessage, chat.update, chat.postEphemeral, conversations.open,
// users.info, users.lookupByEmail, views.open, views.update, auth.test)
// the way Slack does, keeps the messages it was sent so that tests can
// read them back, receives response_url posts, and can be told to fail
// (HTTP 500, 429 with Retry-After, or a Slack error code) to test outages
// (SetFail). Env (env.go) boots jitaccess with its Slack side against a
// Server on a real database, and signs inbound requests as Slack does.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Token is the bot token the fake accepts.
const Token = "xoxb-test-token"

// Message is a message as the fake holds it.
type Message struct {
	Channel string
	TS      string
	Text    string
	Blocks  json.RawMessage
	// Updates counts the chat.update calls that edited it; Texts is its
	// text after the post and after each update.
	Updates int
	Texts   []string
	// Sent holds when it was posted and when each update came.
	Sent []time.Time
}

// Call is one Web API call the fake received.
type Call struct {
	Method string
	Form   url.Values      // form-encoded calls
	JSON   json.RawMessage // JSON calls (views.*)
}

// Fault is a failure to answer with instead of doing the call.
type Fault struct {
	Status     int    // HTTP status, e.g. 500 or 429
	RetryAfter int    // seconds, sent as Retry-After with a 429
	Error      string // a Slack error code, answered with HTTP 200 and ok:false
}

// Server is the fake.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	fail      func(method string) *Fault
	latency   time.Duration
	users     map[string]slack.User
	channels  map[string]string // "#name" → ID
	known     map[string]bool   // channel IDs that exist
	messages  map[string]*Message
	order     []string // message keys in post order
	calls     []Call
	responses map[string][]json.RawMessage
	seq       int64
	faults    int
}

// NewServer starts a fake Slack; it is closed when the test ends.
func NewServer(t interface{ Cleanup(func()) }) *Server {
	s := &Server{
		users: map[string]slack.User{}, channels: map[string]string{}, known: map[string]bool{},
		messages: map[string]*Message{}, responses: map[string][]json.RawMessage{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the base URL to give slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.URL + "/api/" }

// Client returns a slack-go client that talks to the fake.
func (s *Server) Client() *slack.Client {
	return slack.New(Token, slack.OptionAPIURL(s.APIURL()))
}

// ResponseURL returns a response_url that the fake receives, named id.
func (s *Server) ResponseURL(id string) string { return s.URL + "/response/" + id }

// AddUser adds a workspace member.
func (s *Server) AddUser(u slack.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// AddPerson adds a plain member with an email.
func (s *Server) AddPerson(id, email string) {
	s.AddUser(slack.User{ID: id, Name: strings.Split(email, "@")[0], Profile: slack.UserProfile{Email: email}})
}

// AddChannel creates a channel and returns its ID.
func (s *Server) AddChannel(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("C%08d", len(s.channels)+1)
	s.channels["#"+strings.TrimPrefix(name, "#")] = id
	s.known[id] = true
	return id
}

// RemoveChannel deletes a channel: posts to it fail with channel_not_found.
func (s *Server) RemoveChannel(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.known, s.channels[name])
	delete(s.channels, name)
}

// DeleteMessage deletes a message, as a person with the rights can in
// Slack: updating it then fails with message_not_found.
func (s *Server) DeleteMessage(channel, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.messages, channel+"/"+ts)
	for i, k := range s.order {
		if k == channel+"/"+ts {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}

// SetFail sets a function asked before each Web API call; a non-nil
// Fault is answered instead of doing the call. nil: no failures.
func (s *Server) SetFail(f func(method string) *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// SetLatency adds d to every Web API call.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Faults returns how many calls were answered with a fault.
func (s *Server) Faults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// DMChannel is the direct-message channel the fake opens with a user.
func DMChannel(userID string) string { return "D" + userID }

// Messages returns the messages of a channel (an ID), in post order.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, k := range s.order {
		if m := s.messages[k]; m.Channel == channel {
			c := *m
			c.Texts = append([]string(nil), m.Texts...)
			c.Sent = append([]time.Time(nil), m.Sent...)
			out = append(out, c)
		}
	}
	return out
}

// AllMessages returns every message, in post order.
func (s *Server) AllMessages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.order))
	for _, k := range s.order {
		c := *s.messages[k]
		c.Texts = append([]string(nil), s.messages[k].Texts...)
		c.Sent = append([]time.Time(nil), s.messages[k].Sent...)
		out = append(out, c)
	}
	return out
}

// Calls returns the calls of one method ("" for all), in order.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Responses returns what was posted to the response_url named id.
func (s *Server) Responses(id string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.responses[id]...)
}

// Reset forgets messages, calls and responses (users and channels stay).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages, s.order, s.calls, s.responses = map[string]*Message{}, nil, nil, map[string][]json.RawMessage{}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if id, ok := strings.CutPrefix(r.URL.Path, "/response/"); ok {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.responses[id] = append(s.responses[id], body)
		s.mu.Unlock()
		w.Write([]byte("ok"))
		return
	}
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	fail, latency := s.fail, s.latency
	s.mu.Unlock()
	time.Sleep(latency)
	if fail != nil {
		if f := fail(method); f != nil {
			s.mu.Lock()
			s.faults++
			s.mu.Unlock()
			s.fault(w, f)
			return
		}
	}
	call := Call{Method: method}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		body, _ := io.ReadAll(r.Body)
		call.JSON = body
	} else {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		call.Form = r.PostForm
	}
	// Slack takes the token as a bearer header or as a form field.
	if r.Header.Get("Authorization") != "Bearer "+Token && (call.Form == nil || call.Form.Get("token") != Token) {
		reply(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	reply(w, s.do(call))
}

func (s *Server) fault(w http.ResponseWriter, f *Fault) {
	switch {
	case f.Error != "":
		reply(w, map[string]any{"ok": false, "error": f.Error})
	case f.Status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", fmt.Sprint(f.RetryAfter))
		w.WriteHeader(f.Status)
	default:
		w.WriteHeader(f.Status)
		w.Write([]byte("<html>Slack is having trouble</html>"))
	}
}

func reply(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func fail(code string) map[string]any { return map[string]any{"ok": false, "error": code} }

func (s *Server) do(c Call) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := c.Form
	switch c.Method {
	case "auth.test":
		return map[string]any{"ok": true, "user_id": "UBOT", "user": "jitaccess", "team_id": "T0001", "team": "Test"}
	case "chat.postMessage":
		ch, ok := s.resolve(f.Get("channel"))
		if !ok {
			return fail("channel_not_found")
		}
		if f.Get("text") == "" && f.Get("blocks") == "" {
			return fail("no_text")
		}
		s.seq++
		ts := fmt.Sprintf("1700000000.%06d", s.seq)
		m := &Message{Channel: ch, TS: ts, Text: f.Get("text"), Blocks: json.RawMessage(f.Get("blocks")), Texts: []string{f.Get("text")},
			Sent: []time.Time{time.Now()}}
		s.messages[ch+"/"+ts] = m
		s.order = append(s.order, ch+"/"+ts)
		return map[string]any{"ok": true, "channel": ch, "ts": ts, "message": map[string]any{"text": m.Text, "ts": ts}}
	case "chat.update":
		m, ok := s.messages[f.Get("channel")+"/"+f.Get("ts")]
		if !ok {
			return fail("message_not_found")
		}
		m.Text, m.Blocks = f.Get("text"), json.RawMessage(f.Get("blocks"))
		m.Updates++
		m.Texts = append(m.Texts, m.Text)
		m.Sent = append(m.Sent, time.Now())
		return map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "text": m.Text}
	case "chat.postEphemeral":
		if _, ok := s.resolve(f.Get("channel")); !ok {
			return fail("channel_not_found")
		}
		return map[string]any{"ok": true, "message_ts": "1700000000.999999"}
	case "conversations.open":
		id := f.Get("users")
		if _, ok := s.users[id]; !ok {
			return fail("user_not_found")
		}
		s.known[DMChannel(id)] = true
		return map[string]any{"ok": true, "channel": map[string]any{"id": DMChannel(id)}}
	case "users.info":
		u, ok := s.users[f.Get("user")]
		if !ok {
			return fail("user_not_found")
		}
		return map[string]any{"ok": true, "user": u}
	case "users.lookupByEmail":
		for _, u := range s.users {
			if strings.EqualFold(u.Profile.Email, f.Get("email")) {
				return map[string]any{"ok": true, "user": u}
			}
		}
		return fail("users_not_found")
	case "views.open", "views.update":
		var req struct {
			TriggerID string          `json:"trigger_id"`
			ViewID    string          `json:"view_id"`
			View      json.RawMessage `json:"view"`
		}
		if json.Unmarshal(c.JSON, &req) != nil || len(req.View) == 0 {
			return fail("invalid_arguments")
		}
		if c.Method == "views.open" && req.TriggerID == "" {
			return fail("invalid_trigger_id")
		}
		s.seq++
		return map[string]any{"ok": true, "view": map[string]any{"id": fmt.Sprintf("V%06d", s.seq), "hash": "h"}}
	}
	return fail("unknown_method")
}

// resolve turns a channel argument into a channel ID the fake knows.
func (s *Server) resolve(ch string) (string, bool) {
	if id, ok := s.channels[ch]; ok {
		return id, true
	}
	return ch, s.known[ch]
}
