package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// MessageStore keeps where each request's channel message lives in Slack.
// store.DB implements it.
type MessageStore interface {
	SlackMessage(ctx context.Context, requestID string) (*store.SlackMessage, error)
	SaveSlackMessage(ctx context.Context, m store.SlackMessage) error
}

// Users finds a person's direct-message channel with the app, by email.
type Users interface {
	DirectChannel(ctx context.Context, email string) (string, error)
}

// SlackSender sends through Slack's Web API: chat.postMessage for a new
// message, chat.update (same channel and ts) for every later change of
// the same request, and direct messages through conversations.open.
type SlackSender struct {
	Client   *slack.Client
	Messages MessageStore
	Users    Users
	Pacer    *Pacer
	Now      func() time.Time
	Logger   *slog.Logger

	names sync.Map // channel ID → the name it was posted to by, for pacing
}

// paceKey names a channel the same way whether it is addressed by the
// name in the configuration (posts) or by the ID Slack answered with
// (updates), so that both are paced together.
func (s *SlackSender) paceKey(channel string) string {
	if name, ok := s.names.Load(channel); ok {
		return name.(string)
	}
	return channel
}

func (s *SlackSender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return workflow.Now()
}

func (m Message) options() []slack.MsgOption {
	return []slack.MsgOption{
		slack.MsgOptionText(m.Text, false),
		slack.MsgOptionBlocks(m.Blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
}

// Channel posts the approvers' message, or edits the one stored for the
// request. A stored message that already shows this version of the
// request (or a later one) is left alone, so that a repeated or late
// delivery never shows an older state. A message deleted in Slack is
// posted again.
func (s *SlackSender) Channel(ctx context.Context, channel string, e Event, m Message) error {
	stored, err := s.Messages.SlackMessage(ctx, e.RequestID)
	if err != nil {
		return err
	}
	if stored == nil && e.Refresh {
		return nil // a redraw of a message never posted (no approval channel)
	}
	if stored != nil {
		// Never go back to an older version; redraw the same version only
		// for news outside the request (provisioning).
		if stored.Version > e.Version || stored.Version == e.Version && !e.Refresh {
			return nil
		}
		err := s.send(ctx, s.paceKey(stored.Channel), func() error {
			_, _, _, err := s.Client.UpdateMessageContext(ctx, stored.Channel, stored.TS, m.options()...)
			return err
		})
		if err == nil {
			stored.Version, stored.UpdatedAt = e.Version, s.now()
			return s.save(ctx, *stored)
		}
		if SlackErrorCode(err) != "message_not_found" {
			return err
		}
		s.Logger.Warn("the approvers' Slack message was deleted; posting it again", "request", e.RequestID, "channel", stored.Channel)
	}
	if channel == "" {
		if e.AutoApproved() {
			return nil // nothing for approvers to do, and nowhere configured to tell them
		}
		return permanent(fmt.Errorf("no Slack approval channel for resource %s: set slack_channel on it in the policy, "+
			"slack_channels in the policy, or --slack-channel", e.Resource))
	}
	var id, ts string
	err = s.send(ctx, channel, func() error {
		var err error
		id, ts, err = s.Client.PostMessageContext(ctx, channel, m.options()...)
		return err
	})
	if err != nil {
		return err
	}
	if id != channel {
		s.names.Store(id, channel)
	}
	now := s.now()
	return s.save(ctx, store.SlackMessage{RequestID: e.RequestID, Channel: id, TS: ts, Version: e.Version, PostedAt: now, UpdatedAt: now})
}

// save records the message, retrying briefly: a message posted but not
// recorded would be posted again by the next attempt.
func (s *SlackSender) save(ctx context.Context, m store.SlackMessage) error {
	var err error
	for i, wait := range []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
		if i > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return err
			}
		}
		if err = s.Messages.SaveSlackMessage(ctx, m); err == nil {
			return nil
		}
	}
	return err
}

// Direct sends m to the requester's direct-message channel with the app.
func (s *SlackSender) Direct(ctx context.Context, e Event, m Message) error {
	ch, err := s.Users.DirectChannel(ctx, e.Requester)
	if err != nil {
		return classify(err)
	}
	return s.send(ctx, ch, func() error {
		_, _, err := s.Client.PostMessageContext(ctx, ch, m.options()...)
		return err
	})
}

var (
	errChannelBusy    = errors.New("channel busy: pacing sends to about one a second")
	errChannelBlocked = errors.New("channel rate-limited by Slack: waiting for its Retry-After")
)

// send paces one call to channel and classifies its failure.
func (s *SlackSender) send(ctx context.Context, channel string, call func() error) error {
	for {
		wait, ok := s.Pacer.Reserve(channel, s.now())
		if !ok {
			if s.Pacer.Blocked(channel, s.now()) {
				return &RetryLater{After: wait, Err: errChannelBlocked}
			}
			return &RetryLater{After: wait, Err: errChannelBusy}
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		// A 429 that came while this send waited voids its slot: take a
		// new one, after the block (Reserve gives none inside it), or go
		// back to the queue if that is too far off.
		if !s.Pacer.Blocked(channel, s.now()) {
			break
		}
	}
	err := classify(call())
	var later *RetryLater
	if errors.As(err, &later) {
		s.Pacer.Block(channel, s.now().Add(later.After))
	}
	return err
}

// transientCodes are Slack errors that a later attempt may not meet.
// Every other error Slack names is permanent: a missing channel, a bot
// not in the channel, a revoked token, a malformed message.
var transientCodes = map[string]bool{
	"ratelimited":         true,
	"rate_limited":        true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"team_added_to_org":   true,
}

// SlackErrorCode returns the error code Slack answered with ("" if err is
// not a Slack API error).
func SlackErrorCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// classify sorts a Slack failure into permanent, retry-after and
// transient (returned as is).
func classify(err error) error {
	if err == nil {
		return nil
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		after := rl.RetryAfter
		if after <= 0 {
			after = time.Second
		}
		return &RetryLater{After: after, Err: err}
	}
	if code := SlackErrorCode(err); code != "" {
		if transientCodes[code] {
			return fmt.Errorf("slack: %w", err)
		}
		return permanent(fmt.Errorf("slack: %w", err))
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		if sc.Code >= 500 || sc.Code == http.StatusTooManyRequests || sc.Code == http.StatusRequestTimeout {
			return err
		}
		return permanent(err)
	}
	return err // the network, a timeout, shutdown: try again
}
