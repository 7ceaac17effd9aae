package provision

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/workflow"
)

// Webhook headers. docs/provisioning.md shows how a receiver verifies them.
const (
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, keyed with the
	// shared secret, of the timestamp header's value, ".", and the body.
	HeaderSignature = "X-Jitaccess-Signature"
	// HeaderTimestamp is the Unix time (seconds) the request was signed;
	// receivers refuse old ones to stop replays.
	HeaderTimestamp = "X-Jitaccess-Timestamp"
	// HeaderEvent is the event type: grant or revoke.
	HeaderEvent = "X-Jitaccess-Event"
	// HeaderIdempotencyKey is the same on every retry of one event
	// (REQUEST_ID:grant or REQUEST_ID:revoke): receivers act on a key once.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Webhook event types.
const (
	EventGrant  = "grant"
	EventRevoke = "revoke"
)

// MinSecretLen is the shortest webhook secret accepted.
const MinSecretLen = 16

// WebhookEvent is the JSON body of a webhook call.
type WebhookEvent struct {
	Type      string         `json:"type"` // grant or revoke
	ID        string         `json:"id"`   // the idempotency key
	RequestID string         `json:"request_id"`
	User      string         `json:"user"`
	Resource  string         `json:"resource"`
	State     workflow.State `json:"state"` // approved for a grant; expired or revoked for a revoke
	// ApprovedAt and ExpiresAt bound the grant; EndedAt is when a revoked
	// or expired grant ended.
	ApprovedAt *time.Time `json:"approved_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
}

// Webhook POSTs a signed JSON event to the resource's URL when a grant
// starts (grant) and ends (revoke). A 2xx answer is success; anything else,
// a timeout or a network error is retried by the queue with backoff (429
// and 503 honour Retry-After). Redirects are not followed, so that a
// signed event is only ever sent where the policy says.
type Webhook struct {
	Env    Env
	Client *http.Client     // default: no redirects; timeouts come from the spec
	Now    func() time.Time // signing time; default time.Now
	// UserAgent is sent as User-Agent; default "jitaccess".
	UserAgent string
}

// NewWebhook returns a webhook provisioner reading secrets from env.
func NewWebhook(env Env) *Webhook {
	return &Webhook{Env: env, Client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Apply sends the grant event.
func (w *Webhook) Apply(ctx context.Context, g Grant) error { return w.send(ctx, EventGrant, g) }

// Remove sends the revoke event.
func (w *Webhook) Remove(ctx context.Context, g Grant) error { return w.send(ctx, EventRevoke, g) }

// Sign returns the signature header value for body signed at ts.
func Sign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

func (w *Webhook) send(ctx context.Context, kind string, g Grant) error {
	secret, ok := w.Env.lookup(g.Spec.SecretEnv)
	if !ok {
		return fmt.Errorf("environment variable %s (secret_env) is not set", g.Spec.SecretEnv)
	}
	if len(secret) < MinSecretLen {
		return fmt.Errorf("the secret in %s is shorter than %d bytes", g.Spec.SecretEnv, MinSecretLen)
	}
	ev := WebhookEvent{Type: kind, ID: g.RequestID + ":" + kind, RequestID: g.RequestID, User: g.User, Resource: g.Resource,
		State: g.State, ApprovedAt: g.ApprovedAt, ExpiresAt: g.ExpiresAt}
	if kind == EventRevoke {
		ev.EndedAt = g.EndedAt
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return queue.Permanent(err)
	}
	timeout := g.Spec.Timeout
	if timeout <= 0 {
		timeout = workflow.DefaultWebhookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.Spec.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook url %q: %w", g.Spec.URL, err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	ua := w.UserAgent
	if ua == "" {
		ua = "jitaccess"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", ua)
	req.Header.Set(HeaderEvent, kind)
	req.Header.Set(HeaderIdempotencyKey, ev.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign([]byte(secret), ts, body))
	client := w.Client
	if client == nil {
		client = NewWebhook(w.Env).Client
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s %s: %w", kind, g.Spec.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("webhook %s %s answered %d: %s", kind, g.Spec.URL, resp.StatusCode, printable(snippet, 200))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if secs, perr := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); perr == nil && secs > 0 {
			return queue.RetryAfter(min(time.Duration(secs)*time.Second, time.Hour), err)
		}
	}
	return err
}

// printable keeps a response snippet safe for a log line and the API.
func printable(b []byte, n int) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(b))
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}
