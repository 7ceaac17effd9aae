// Package slackapp is jitaccess's inbound Slack surface: the slash command
// (/access), and the interactivity endpoint for buttons (block actions)
// and modals (view submissions).
//
// Every handler is thin and in the same order: verify Slack's signature
// over the raw body before anything in it is parsed, acknowledge at once,
// map the Slack user to a jitaccess person by email, call the same
// workflow.Service method as the API, and answer. No rule lives here: a
// refusal is the service's, shown to the user in its own words.
//
// Slack wants an answer within 3 seconds, so slash commands and button
// clicks are acknowledged before any database or Slack call; the work
// runs after, in a bounded pool, and answers through the response_url (or
// a direct message once that has run out). Modal submissions must carry
// their validation errors in the answer itself, so they wait for the
// service, but never longer than a budget well inside 3 seconds; past it
// the modal says the request is on its way and the outcome follows as a
// direct message.
//
// Slack retries a delivery it thinks was lost, and people double-click.
// Each delivery is claimed once by a hash of its signed body (a retry has
// the same body), so it is applied once; a double click is two deliveries,
// and the second is refused by the workflow itself (already approved,
// already denied), which the user is told.
package slackapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// Store is the persistence the handlers use beyond the service: inbound
// deduplication and the admin view of failed deliveries. store.DB
// implements it.
type Store interface {
	ClaimSlackInbound(ctx context.Context, hash, kind string, now time.Time) (bool, error)
	ReleaseSlackInbound(ctx context.Context, hash string) error
	PruneSlackInbound(ctx context.Context, before time.Time) (int64, error)
	FailedJobsOf(ctx context.Context, queue string, limit int, before int64) ([]store.FailedJob, error)
	RetryFailedJob(ctx context.Context, queue string, id int64, actor string, now time.Time) error
}

// Config is what the handlers need.
type Config struct {
	Service   *workflow.Service
	Store     Store
	Client    *slack.Client
	Directory *Directory
	// SigningSecret verifies that requests come from Slack. Required.
	SigningSecret string
	// Command is the slash command's name, for help texts; default
	// "/access".
	Command string
	// ResponseURLPrefixes are the only prefixes a response_url may have;
	// default https://hooks.slack.com/. (A response_url comes inside a
	// signed request, but jitaccess still never posts to an address that
	// is not Slack's.)
	ResponseURLPrefixes []string
	// HTTPClient posts to response URLs; default a client with a 10s
	// timeout.
	HTTPClient *http.Client
	// Workers bounds the acknowledged work running at once; past it a
	// command is answered "busy, try again". Default 64.
	Workers int
	// WorkTimeout bounds one piece of acknowledged work; default 1m.
	WorkTimeout time.Duration
	// SubmitBudget is how long a modal submission waits for the service
	// before answering Slack; default 2s (Slack gives up at 3s).
	SubmitBudget time.Duration
	Logger       *slog.Logger
}

// Handler serves Slack's requests.
type Handler struct {
	cfg     Config
	svc     *workflow.Service
	log     *slog.Logger
	sem     chan struct{}
	wg      sync.WaitGroup
	base    context.Context
	stop    context.CancelFunc
	replies *replyLedger

	pruneMu   sync.Mutex
	lastPrune time.Time
}

// maxBody bounds a Slack request body; Slack's own payloads are far
// smaller.
const maxBody = 256 << 10

// New checks cfg and returns the handlers.
func New(cfg Config) (*Handler, error) {
	if cfg.SigningSecret == "" {
		return nil, errors.New("slack: the signing secret is empty; set SLACK_SIGNING_SECRET (Basic Information → App Credentials in the app's settings)")
	}
	if cfg.Service == nil || cfg.Store == nil || cfg.Client == nil || cfg.Directory == nil {
		return nil, errors.New("slack: Service, Store, Client and Directory are required")
	}
	if cfg.Command == "" {
		cfg.Command = "/access"
	}
	if len(cfg.ResponseURLPrefixes) == 0 {
		cfg.ResponseURLPrefixes = []string{"https://hooks.slack.com/"}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.WorkTimeout <= 0 {
		cfg.WorkTimeout = time.Minute
	}
	if cfg.SubmitBudget <= 0 {
		cfg.SubmitBudget = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Work acknowledged to Slack runs after the answer, on this context:
	// what it audits came through Slack.
	base, stop := context.WithCancel(workflow.WithSource(context.Background(), workflow.SourceSlack))
	return &Handler{cfg: cfg, svc: cfg.Service, log: cfg.Logger, sem: make(chan struct{}, cfg.Workers),
		base: base, stop: stop, replies: newReplyLedger()}, nil
}

// Routes.
const (
	CommandsPath     = "/slack/commands"
	InteractionsPath = "/slack/interactions"
	FailuresPath     = "/api/v1/slack/failures"
)

// Register adds the Slack endpoints to e, and the admin endpoints behind
// auth (the API's bearer-token middleware).
func (h *Handler) Register(e *echo.Echo, auth echo.MiddlewareFunc) {
	e.POST(CommandsPath, h.verified(h.command))
	e.POST(InteractionsPath, h.verified(h.interaction))
	e.GET(FailuresPath, h.listFailures, auth)
	e.POST(FailuresPath+"/:id/retry", h.retryFailure, auth)
}

// Wait waits until no acknowledged work is running (for tests and
// benchmarks; a server uses Shutdown).
func (h *Handler) Wait() { h.wg.Wait() }

// Shutdown waits for acknowledged work to finish, until ctx is done; then
// it cancels what is left and waits for it to stop.
func (h *Handler) Shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		h.stop()
		<-done
	}
	h.stop()
}

func (h *Handler) now() time.Time { return h.svc.Clock()() }

// verified checks Slack's signature (v0 HMAC-SHA256 over
// "v0:timestamp:body" with the signing secret) and the timestamp (within
// 5 minutes either way) before anything else looks at the request. A
// refusal is 401 and changes nothing. The verifier's error is never
// logged or returned: only which check failed.
func (h *Handler) verified(next func(c echo.Context, body []byte) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		var tooLarge *http.MaxBytesError
		var he *echo.HTTPError
		switch {
		case errors.As(err, &tooLarge) || len(body) > maxBody || errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge:
			return workflow.Errorf(workflow.CodeTooLarge, "request body is too large")
		case err != nil:
			return workflow.Errorf(workflow.CodeInvalid, "could not read the request body")
		}
		if reason := verify(r.Header, body, h.cfg.SigningSecret); reason != "" {
			h.log.Warn("refused a request that is not validly signed by Slack", "path", c.Path(), "check", reason, "remote", c.RealIP())
			return workflow.Errorf(workflow.CodeUnauthenticated, "request is not signed by Slack, or its timestamp is more than 5 minutes off")
		}
		c.SetRequest(r.WithContext(workflow.WithSource(r.Context(), workflow.SourceSlack)))
		return next(c, body)
	}
}

// verify returns "" when body is signed with secret, and otherwise which
// check failed, in words of its own.
func verify(header http.Header, body []byte, secret string) string {
	sv, err := slack.NewSecretsVerifier(header, secret)
	if err == nil {
		if _, err = sv.Write(body); err == nil {
			err = sv.Ensure()
		}
	}
	switch {
	case err == nil:
		return ""
	case errors.Is(err, slack.ErrMissingHeaders):
		return "missing signature headers"
	case errors.Is(err, slack.ErrExpiredTimestamp):
		return "timestamp more than 5 minutes from now"
	}
	return "signature does not match"
}

// inbound is one acknowledged delivery, with where to answer.
type inbound struct {
	hash        string // of the signed body: a retry has the same
	kind        string
	user        string // Slack user ID
	channel     string
	responseURL string
	received    time.Time
	retry       string // X-Slack-Retry-Num
}

func (h *Handler) newInbound(c echo.Context, body []byte, kind, user, channel, responseURL string) inbound {
	sum := sha256.Sum256(body)
	return inbound{hash: hex.EncodeToString(sum[:]), kind: kind, user: user, channel: channel, responseURL: responseURL,
		received: time.Now(), retry: c.Request().Header.Get("X-Slack-Retry-Num")}
}

// work is acknowledged work. It tells the user the outcome itself, and
// returns the failure, if any, so that a delivery that was not really
// handled (see retryable) can be handled again if Slack retries it.
type work func(ctx context.Context, in inbound) error

// acknowledge answers Slack with an empty 200 and runs fn after, or, when
// the pool is full, answers that jitaccess is busy.
func (h *Handler) acknowledge(c echo.Context, in inbound, fn work) error {
	if !h.later(in, fn) {
		return c.JSON(http.StatusOK, ephemeral(":hourglass: jitaccess is very busy right now; try again in a few seconds."))
	}
	return c.NoContent(http.StatusOK)
}

// later runs fn after the acknowledgement, once per delivery. It returns
// false, running nothing, when the pool is full.
func (h *Handler) later(in inbound, fn work) bool {
	select {
	case h.sem <- struct{}{}:
	default:
		h.log.Warn("slack: too much work in flight; refusing a delivery", "kind", in.kind)
		return false
	}
	h.wg.Add(1)
	go func() {
		defer func() { <-h.sem; h.wg.Done() }()
		h.once(in, fn)
	}()
	return true
}

func (h *Handler) once(in inbound, fn work) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("slack: panic handling a delivery", "kind", in.kind, "panic", fmt.Sprint(p))
		}
	}()
	ctx, cancel := context.WithTimeout(h.base, h.cfg.WorkTimeout)
	defer cancel()
	fresh, err := h.cfg.Store.ClaimSlackInbound(ctx, in.hash, in.kind, h.now())
	if err != nil {
		h.log.Error("slack: record delivery", "kind", in.kind, "err", err)
		h.reply(ctx, in, textMessage(problem(err)))
		return
	}
	if !fresh {
		h.log.Info("slack: duplicate delivery ignored", "kind", in.kind, "retry", in.retry)
		h.reply(ctx, in, textMessage(":information_source: Slack delivered this action again; it was already received and applied once, so nothing more was done."))
		return
	}
	if err := fn(ctx, in); retryable(err) {
		if rerr := h.cfg.Store.ReleaseSlackInbound(context.WithoutCancel(ctx), in.hash); rerr != nil {
			h.log.Warn("slack: release delivery claim", "err", rerr)
		}
	}
	h.prune(ctx)
}

// prune forgets old delivery claims, at most once a minute per process.
func (h *Handler) prune(ctx context.Context) {
	h.pruneMu.Lock()
	now := time.Now()
	due := now.Sub(h.lastPrune) > time.Minute
	if due {
		h.lastPrune = now
	}
	h.pruneMu.Unlock()
	if !due {
		return
	}
	if _, err := h.cfg.Store.PruneSlackInbound(ctx, h.now().Add(-time.Hour)); err != nil {
		h.log.Warn("slack: prune delivery claims", "err", err)
	}
}

// retryable reports whether a failure means the delivery was not really
// handled (the database or Slack failed) and may be handled again if Slack
// retries it, as opposed to an answer the user was given.
func retryable(err error) bool {
	if err == nil || isUnmapped(err) {
		return false
	}
	var we *workflow.Error
	if errors.As(err, &we) {
		switch we.Code {
		case workflow.CodeUnavailable, workflow.CodeInternal, workflow.CodeConflict:
			return true
		}
		return false
	}
	return true // a Slack failure
}

func isUnmapped(err error) bool {
	var u *UnmappedError
	return errors.As(err, &u)
}

// problem is what a user is told when something failed.
func problem(err error) string {
	var u *UnmappedError
	var we *workflow.Error
	switch {
	case errors.As(err, &u):
		return ":warning: " + u.Reason
	case errors.As(err, &we):
		return ":warning: " + workflow.Sentence(workflow.ErrorMessage(err))
	}
	return ":warning: jitaccess could not reach Slack or its database just now; try again in a minute."
}

// principal maps the Slack user to the person they are in jitaccess, as
// the directory has them now: someone the directory has deactivated is
// refused before anything else, with a message that says so.
func (h *Handler) principal(ctx context.Context, slackID string) (workflow.Principal, error) {
	u, err := h.cfg.Directory.Lookup(ctx, slackID)
	if err != nil {
		return workflow.Principal{}, err
	}
	// A Slack click proves no second factor: require_mfa actions are
	// refused (workflow.CodeMFARequired) and the buttons of such requests
	// link to the web UI instead (interactions.go, notifier).
	p := workflow.User(u.Email)
	p.Auth, p.MFA = workflow.AuthSlack, workflow.MFANone
	who, err := h.cfg.Service.Resolve(ctx, p)
	if err != nil {
		return workflow.Principal{}, err
	}
	if !who.Active() {
		return workflow.Principal{}, workflow.Errorf(workflow.CodeForbidden, "%s is deactivated in the directory; jitaccess no longer acts for this account", who.Email)
	}
	return who, nil
}

// allowedResponseURL reports whether u is one of Slack's.
func (h *Handler) allowedResponseURL(u string) bool {
	if _, err := url.Parse(u); err != nil || u == "" {
		return false
	}
	for _, p := range h.cfg.ResponseURLPrefixes {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}
