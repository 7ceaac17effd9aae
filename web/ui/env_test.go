package ui_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/web/ui"
	"github.com/jitaccess/jitaccess/workflow"
)

// uiPolicy has a requester (alice), another requester (bob), approvers of
// the CRM (carol, dave), an approver of something else (frank), an admin
// (root) and a reviewer (ann).
const uiPolicy = `
admins: [root@example.com]
reviewers: [auditors]
groups:
  auditors: [ann@example.com]
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com]
  dbas: [frank@example.com]
resources:
  - id: crm-payments
    name: Payment details
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
  - id: crm-notes
    name: Internal notes
    tier: medium
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
  - id: prod-db
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [dbas]
  - id: kb-drafts
    tier: low
    max_duration: 24h
    requesters: [agents]
    auto_approve: true
`

func mustParse(t testing.TB, src string) *workflow.Policy {
	t.Helper()
	pol, err := workflow.ParsePolicy("ui.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// uiEnv is a real server (web.New with the UI) on a real database, with a
// settable clock.
type uiEnv struct {
	web     *web.Server
	srv     *httptest.Server
	base    string
	db      *store.DB
	svc     *workflow.Service
	reviews *review.Service
	mu      sync.Mutex
	now     time.Time
	last    *audit.Result // the "last scheduled verification" the audit page shows
}

func (e *uiEnv) setLastVerify(r *audit.Result) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.last = r
}

func (e *uiEnv) lastVerify() *audit.Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

func (e *uiEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *uiEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// uiOption adjusts the server's configuration; e.base is already known.
type uiOption func(e *uiEnv, c *web.Config)

func newUIEnv(t testing.TB, db *store.DB, opts ...uiOption) *uiEnv {
	t.Helper()
	e := &uiEnv{db: db, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	e.svc = workflow.NewService(db, mustParse(t, uiPolicy), workflow.Options{Now: e.clock})
	cfg := web.Config{Service: e.svc, Tokens: db, Logger: slog.New(slog.DiscardHandler),
		Edge: httpkit.EdgeConfig{SignInPerMinute: -1, APIPerMinute: -1},
		UI:   &ui.Config{Sessions: db, Audit: db, Now: e.clock, SessionIdle: time.Hour, SessionMax: 8 * time.Hour}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + l.Addr().String()
	for _, o := range opts {
		o(e, &cfg)
	}
	srv := web.New(cfg)
	e.web = srv
	e.reviews = review.New(db, e.svc.Policy, review.Options{Now: e.clock})
	srv.MountOversight(api.Oversight{Reviews: e.reviews, Audit: db, Status: e.lastVerify,
		Verify: func(ctx context.Context) (audit.Result, error) {
			res, err := audit.Verify(ctx, db)
			e.setLastVerify(&res)
			return res, err
		}})
	e.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: srv}}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// browser is an HTTP client that keeps cookies, does not follow
// redirects, and sends what a browser sends with a same-origin form.
type client struct {
	e    *uiEnv
	http *http.Client
	csrf string
	who  string
}

// principal is the signed-in person (without identity-provider groups).
func (c *client) principal() workflow.Principal { return workflow.User(c.who) }

func (e *uiEnv) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signIn starts a session for email directly in the store, as a
// successful sign-in would, and hands its cookie to a new client.
func (e *uiEnv) signIn(t testing.TB, email string, groups ...string) *client {
	t.Helper()
	secret, s, err := e.db.CreateSession(context.Background(), identity.NewSession{Email: email, Groups: groups, Method: identity.SessionDemo, TTL: 8 * time.Hour},
		e.clock(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := e.anonymous()
	u, _ := url.Parse(e.srv.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-jitaccess-session", Value: secret, Path: "/", Secure: true}})
	c.csrf, c.who = s.CSRFToken, email
	return c
}

type page struct {
	status   int
	header   http.Header
	body     string
	location string
}

func (c *client) do(t testing.TB, req *http.Request) page {
	t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, header: resp.Header, body: string(b), location: resp.Header.Get("Location")}
	if p.status == http.StatusInternalServerError {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, p.status, p.body)
	}
	return p
}

func (c *client) get(t testing.TB, path string, header ...string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(t, req)
}

// post sends a form as a same-origin page would: with the session's CSRF
// token and the Origin and Sec-Fetch-Site a browser adds.
func (c *client) post(t testing.TB, path string, form url.Values) page {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf_token"]; !ok {
		form.Set("csrf_token", c.csrf)
	}
	return c.postRaw(t, path, form, "Origin", c.e.srv.URL, "Sec-Fetch-Site", "same-origin")
}

func (c *client) postRaw(t testing.TB, path string, form url.Values, header ...string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(t, req)
}

func (e *uiEnv) submit(t testing.TB, who workflow.Principal, resource string, d time.Duration) *workflow.Request {
	t.Helper()
	r, err := e.svc.Submit(context.Background(), who, workflow.SubmitInput{Resource: resource, Duration: d, Reason: "case 1234"})
	if err != nil {
		t.Fatalf("submit %s by %s: %v", resource, who.Email, err)
	}
	return r
}

func (e *uiEnv) approve(t testing.TB, who workflow.Principal, id string) {
	t.Helper()
	if _, err := e.svc.Approve(context.Background(), who, id, ""); err != nil {
		t.Fatalf("approve by %s: %v", who.Email, err)
	}
}

func (e *uiEnv) state(t testing.TB, id string) (workflow.State, int) {
	t.Helper()
	r, err := e.db.GetRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.State, len(r.Approvals)
}

var (
	alice = workflow.User("alice@example.com")
	bob   = workflow.User("bob@example.com")
	carol = workflow.User("carol@example.com")
	dave  = workflow.User("dave@example.com")
	frank = workflow.User("frank@example.com")
	root  = workflow.User("root@example.com")
	ann   = workflow.User("ann@example.com")
)
