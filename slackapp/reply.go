package slackapp

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Slack's limits on a response_url.
const (
	responseURLUses     = 5
	responseURLLifetime = 30 * time.Minute
)

// replyLedger counts the uses of each response_url, so that jitaccess
// never posts to one more than Slack allows.
type replyLedger struct {
	mu   sync.Mutex
	uses map[string]int
	seen map[string]time.Time
}

func newReplyLedger() *replyLedger {
	return &replyLedger{uses: map[string]int{}, seen: map[string]time.Time{}}
}

// take uses up one post to u and reports whether one was left.
func (l *replyLedger) take(u string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) > 10000 {
		for k, t := range l.seen {
			if now.Sub(t) > responseURLLifetime {
				delete(l.seen, k)
				delete(l.uses, k)
			}
		}
	}
	if _, ok := l.seen[u]; !ok {
		l.seen[u] = now
	}
	if l.uses[u] >= responseURLUses {
		return false
	}
	l.uses[u]++
	return true
}

// textMessage is a message of one mrkdwn section.
func textMessage(text string) *slack.WebhookMessage {
	return &slack.WebhookMessage{Text: text, Blocks: &slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil),
	}}}
}

// reply answers the user of in privately: through the delivery's
// response_url while it may still be used (5 posts, 30 minutes), and as a
// direct message from the app after that or when there is none (a modal
// submission).
func (h *Handler) reply(ctx context.Context, in inbound, m *slack.WebhookMessage) {
	if in.responseURL != "" && time.Since(in.received) < responseURLLifetime && h.allowedResponseURL(in.responseURL) &&
		h.replies.take(in.responseURL, time.Now()) {
		msg := *m
		msg.ResponseType = slack.ResponseTypeEphemeral
		err := slack.PostWebhookCustomHTTPContext(ctx, in.responseURL, h.cfg.HTTPClient, &msg)
		if err == nil {
			return
		}
		h.log.Warn("slack: answer through response_url failed; sending a direct message instead", "kind", in.kind, "err", err)
	} else if in.responseURL != "" && !h.allowedResponseURL(in.responseURL) {
		h.log.Warn("slack: ignoring a response_url that is not Slack's", "kind", in.kind)
	}
	h.direct(ctx, in.user, m)
}

// direct sends m to a Slack user as a direct message from the app.
func (h *Handler) direct(ctx context.Context, slackID string, m *slack.WebhookMessage) {
	if slackID == "" {
		return
	}
	ch, err := h.cfg.Directory.OpenDirect(ctx, slackID)
	if err == nil {
		opts := []slack.MsgOption{slack.MsgOptionText(m.Text, false)}
		if m.Blocks != nil {
			opts = append(opts, slack.MsgOptionBlocks(m.Blocks.BlockSet...))
		}
		_, _, err = h.cfg.Client.PostMessageContext(ctx, ch, opts...)
	}
	if err != nil {
		h.log.Warn("slack: could not answer the user", "user", slackID, "err", err)
	}
}
