package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/workflow"
)

// Sender sends rendered messages somewhere: Slack (SlackSender) or the log
// (LogSender).
type Sender interface {
	// Channel shows m, the approvers' message about e's request, in
	// channel: posted the first time, edited in place after that. channel
	// is "" when no approval channel is configured for the resource.
	Channel(ctx context.Context, channel string, e Event, m Message) error
	// Direct sends m to e's requester.
	Direct(ctx context.Context, e Event, m Message) error
}

// Errors a Sender returns to say how a failure should be treated. Other
// errors are retried with backoff.
var (
	// ErrPermanent marks a failure that retrying cannot fix (a deleted
	// channel, a revoked token): the delivery fails for good, with the
	// reason, and admins see it.
	ErrPermanent = errors.New("permanent failure")
)

// permanent wraps err so that the dispatcher fails the delivery for good.
func permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// RetryLater asks for the delivery to be tried again no sooner than
// After (Slack's Retry-After, or a busy channel).
type RetryLater struct {
	After time.Duration
	Err   error
}

func (e *RetryLater) Error() string { return e.Err.Error() }
func (e *RetryLater) Unwrap() error { return e.Err }

// DefaultGiveUpAfter bounds how long a delivery is retried.
const DefaultGiveUpAfter = 24 * time.Hour

// Dispatcher is the queue handler of the notification queue: it decodes a
// delivery, renders its message, checks that it is still due, hands it to
// the Sender, and turns the outcome into what the queue should do.
type Dispatcher struct {
	Sender Sender
	// Channel returns the approval channel for a resource ("" for none).
	Channel func(resource string, tier workflow.Tier) string
	// Requests, when set, is read to check that an expiry warning is
	// still due when it runs, and to redraw messages (KindRefresh).
	Requests workflow.Reader
	// Provisioning, when set, returns where provisioning of a request
	// stands (nil when it has none), for the approvers' message.
	Provisioning func(ctx context.Context, requestID string) (*ProvisioningStatus, error)
	// Policy, when set, names resources in redrawn messages.
	Policy func() *workflow.Policy
	// LoadRequests reads requests by id (for fan-out jobs).
	LoadRequests func(ctx context.Context, ids []string) ([]*workflow.Request, error)
	// Expand enqueues the deliveries of fan-out job id, claimed with
	// lease token token, and marks it done, in one transaction; it does
	// nothing (queue.ErrStaleLease) when it is already done or claimed
	// again: each fan-out expands once even if its worker dies or
	// overruns its lease and the job is retried.
	Expand func(ctx context.Context, id, token int64, jobs []workflow.Job) error
	// GiveUpAfter is how long a delivery that keeps failing with
	// transient errors (Slack down, rate limited) is retried before it
	// fails for good; default 24h.
	GiveUpAfter time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return workflow.Now()
}

// Deliver is a queue.Handler.
func (d *Dispatcher) Deliver(ctx context.Context, job queue.Job) error {
	var dl Delivery
	if err := json.Unmarshal(job.Payload, &dl); err != nil {
		return queue.Permanent(fmt.Errorf("notification %d is not valid JSON: %w", job.ID, err))
	}
	var err error
	if dl.Kind == KindFanout {
		err = d.expand(ctx, job, dl)
	} else {
		err = d.deliver(ctx, dl)
	}
	if err == nil {
		return nil
	}
	var later *RetryLater
	switch {
	case errors.Is(err, ErrPermanent):
		return queue.Permanent(err)
	case d.givenUp(dl):
		return queue.Permanent(fmt.Errorf("gave up after %s: %w", d.giveUpAfter(), err))
	case errors.As(err, &later):
		return queue.RetryAfter(later.After, err)
	}
	return err
}

func (d *Dispatcher) expand(ctx context.Context, job queue.Job, dl Delivery) error {
	if d.Expand == nil || d.LoadRequests == nil {
		return permanent(fmt.Errorf("fan-out job %d cannot be expanded: no queue configured", job.ID))
	}
	reqs, err := d.LoadRequests(ctx, dl.RequestIDs)
	if err != nil {
		return err
	}
	e := dl.Event
	changes := make([]workflow.Change, len(reqs))
	for i, r := range reqs {
		changes[i] = workflow.Change{Event: e.Event, Actor: e.Actor, From: e.From, To: e.To, At: e.At, Request: r}
	}
	var pol *workflow.Policy
	if d.Policy != nil {
		pol = d.Policy()
	}
	jobs, err := Plan(changes, 0, pol) // final states: no expiry warnings
	if err != nil {
		return err
	}
	return d.Expand(ctx, job.ID, job.Token, jobs)
}

func (d *Dispatcher) giveUpAfter() time.Duration {
	if d.GiveUpAfter > 0 {
		return d.GiveUpAfter
	}
	return DefaultGiveUpAfter
}

func (d *Dispatcher) givenUp(dl Delivery) bool {
	return !dl.Due.IsZero() && d.now().Sub(dl.Due) > d.giveUpAfter()
}

func (d *Dispatcher) deliver(ctx context.Context, dl Delivery) error {
	e := dl.Event
	switch dl.Kind {
	case KindChannel, KindRefresh:
		if dl.Kind == KindRefresh {
			if d.Requests == nil {
				return nil
			}
			r, err := d.Requests.GetRequest(ctx, e.RequestID)
			if err != nil {
				return err
			}
			e = EventOfRequest(r)
			e.Refresh = true
			if d.Policy != nil {
				if res, ok := d.Policy().Resource(e.Resource); ok && res.Name != res.ID {
					e.ResourceName = res.Name
				}
			}
		}
		if d.Provisioning != nil && e.ApprovedAt != nil { // never approved: nothing provisioned
			p, err := d.Provisioning(ctx, e.RequestID)
			if err != nil {
				return err
			}
			e.Provisioning = p
		}
		ch := ""
		if d.Channel != nil {
			ch = d.Channel(e.Resource, e.Tier)
		}
		return d.Sender.Channel(ctx, ch, e, ChannelMessage(e))
	case KindDirect:
		m, ok := DirectMessage(e)
		if !ok {
			return nil
		}
		return d.Sender.Direct(ctx, e, m)
	case KindReminder:
		return d.Sender.Direct(ctx, e, ReminderMessage(dl.Text))
	case KindExpiryWarning:
		expires, due, err := d.warningDue(ctx, e)
		if err != nil || !due {
			return err
		}
		return d.Sender.Direct(ctx, e, ExpiryWarningMessage(e, expires, d.now()))
	}
	return permanent(fmt.Errorf("unknown notification kind %q", dl.Kind))
}

// warningDue reports whether e's access is still live, with the expiry it
// was approved with, so that a request revoked or expired in the meantime
// gets no warning.
func (d *Dispatcher) warningDue(ctx context.Context, e Event) (time.Time, bool, error) {
	if e.ExpiresAt == nil {
		return time.Time{}, false, nil
	}
	if d.Requests == nil {
		return *e.ExpiresAt, d.now().Before(*e.ExpiresAt), nil
	}
	req, err := d.Requests.GetRequest(ctx, e.RequestID)
	if workflow.ErrorCode(err) == workflow.CodeNotFound {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	if !req.Live(d.now()) || req.ExpiresAt == nil || !req.ExpiresAt.Equal(*e.ExpiresAt) {
		return time.Time{}, false, nil
	}
	return *req.ExpiresAt, true, nil
}

// ChannelResolver returns the approval channel of a resource: the policy's
// (the resource's own, its tier's, the policy default), else the server
// configuration's tier channel, else its default channel.
func ChannelResolver(policy func() *workflow.Policy, tiers map[workflow.Tier]string, fallback string) func(string, workflow.Tier) string {
	return func(resource string, tier workflow.Tier) string {
		if pol := policy(); pol != nil {
			if res, ok := pol.Resource(resource); ok {
				if ch := pol.ApprovalChannel(res); ch != "" {
					return ch
				}
			}
		}
		if ch := tiers[tier]; ch != "" {
			return ch
		}
		return fallback
	}
}
