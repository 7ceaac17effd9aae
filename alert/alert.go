// Package alert tells people that something needs them now: a broken
// audit chain, an anomaly flag. Alerts always go to the log (and the
// metrics count them); a Slack security channel can be added. Senders are
// called outside any transaction; flags reach them through the persisted
// queue, so that a Slack outage delays an alert but never loses it.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/queue"
)

// Severity of an alert.
type Severity string

const (
	Critical Severity = "critical" // the audit chain is broken
	Warning  Severity = "warning"  // an anomaly flag
)

// Alert is one message for the security channel.
type Alert struct {
	Kind     string // "audit_chain", or a flag kind
	Severity Severity
	Summary  string   // one line
	Details  string   // more lines, may be empty
	Links    []string // request ids or URLs it is about
	At       time.Time
}

// Sender delivers alerts.
type Sender interface {
	Send(ctx context.Context, a Alert) error
}

// Log writes alerts to the log, at error level for critical ones.
type Log struct{ Logger *slog.Logger }

// Send logs a.
func (l Log) Send(ctx context.Context, a Alert) error {
	level := slog.LevelWarn
	if a.Severity == Critical {
		level = slog.LevelError
	}
	l.Logger.Log(ctx, level, "ALERT: "+a.Summary, "kind", a.Kind, "severity", a.Severity, "details", a.Details, "links", strings.Join(a.Links, ","), "at", a.At)
	return nil
}

// Multi sends to every sender and returns the errors joined.
type Multi []Sender

// Send sends a to each.
func (m Multi) Send(ctx context.Context, a Alert) error {
	var errs []error
	for _, s := range m {
		if err := s.Send(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SlackURL is Slack's chat.postMessage method.
const SlackURL = "https://slack.com/api/chat.postMessage"

// Slack posts alerts to one channel with a bot token (chat:write).
type Slack struct {
	Token   string
	Channel string
	// URL defaults to SlackURL; tests point it elsewhere.
	URL    string
	Client *http.Client
	// Link turns a request id into a URL for the message; nil leaves ids
	// as they are.
	Link func(requestID string) string
}

// Text renders an alert as Slack mrkdwn.
func (s *Slack) Text(a Alert) string {
	icon := ":warning:"
	if a.Severity == Critical {
		icon = ":rotating_light:"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s *%s* (%s)\n%s", icon, escape(a.Summary), a.Kind, escape(a.Details))
	if len(a.Links) > 0 {
		b.WriteString("\nRequests:")
		for _, l := range a.Links {
			if s.Link != nil {
				fmt.Fprintf(&b, " <%s|%s>", s.Link(l), escape(l))
			} else {
				b.WriteString(" " + escape(l))
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// escape keeps Slack from reading user text as links or mentions.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Send posts a. A 429 asks the queue to retry after Slack's Retry-After;
// errors Slack will keep giving (bad token, unknown channel) are
// permanent.
func (s *Slack) Send(ctx context.Context, a Alert) error {
	body, _ := json.Marshal(map[string]any{"channel": s.Channel, "text": s.Text(a), "unfurl_links": false, "unfurl_media": false})
	url := s.URL
	if url == "" {
		url = SlackURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return queue.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return queue.RetryAfter(time.Duration(max(secs, 1))*time.Second, errors.New("slack: rate limited"))
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("slack: HTTP %d", resp.StatusCode)
	}
	var out struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("slack: HTTP %d, unreadable answer", resp.StatusCode)
	}
	if !out.OK {
		switch out.Error {
		case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "channel_not_found", "not_in_channel", "is_archived", "missing_scope":
			return queue.Permanent(fmt.Errorf("slack: %s (check the bot token and that the bot is in channel %s)", out.Error, s.Channel))
		}
		return fmt.Errorf("slack: %s", out.Error)
	}
	return nil
}
