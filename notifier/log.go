package notifier

import (
	"context"
	"log/slog"
)

// LogSender writes what would have been sent to the log, when no Slack is
// configured (the demo runs with it).
type LogSender struct {
	Logger *slog.Logger
}

// Channel logs the approvers' message.
func (l LogSender) Channel(ctx context.Context, channel string, e Event, m Message) error {
	if channel == "" {
		channel = "(no approval channel configured)"
	}
	l.Logger.Info("notify (log notifier): approvers' channel message", "channel", channel, "request", e.RequestID,
		"event", e.Event, "state", e.State, "text", m.Text)
	return nil
}

// Direct logs the message to the requester.
func (l LogSender) Direct(ctx context.Context, e Event, m Message) error {
	l.Logger.Info("notify (log notifier): direct message", "to", e.Requester, "request", e.RequestID,
		"event", e.Event, "text", m.Text)
	return nil
}
