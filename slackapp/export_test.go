package slackapp

import (
	"context"
	"time"
)

// Hooks for the external tests (package slackapp_test), which drive
// Slack through slacktest; slacktest imports this package, so those
// tests cannot be internal.

const ResponseURLUses = responseURLUses

var IsUnmapped = isUnmapped

// ReplyToCommand answers a slash command of user, received at received
// with responseURL, with text, as the handlers do.
func (h *Handler) ReplyToCommand(ctx context.Context, user, responseURL string, received time.Time, text string) {
	h.reply(ctx, inbound{kind: "command", user: user, responseURL: responseURL, received: received}, textMessage(text))
}
