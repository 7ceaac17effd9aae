// Package notifier turns committed changes into messages: the approvers'
// message in the resource's Slack channel (posted once, then edited in
// place), and direct messages to the requester.
//
// The Outbox hook runs inside the change's transaction and writes one job
// per message to the persisted queue; a queue.Runner with a Dispatcher
// delivers them after commit, in order per request, with retries. A slow
// or failing Slack therefore never blocks or undoes a decision, and no
// message is lost while it is down. Without Slack, LogSender writes what
// would have been sent to the log.
package notifier

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

// Queue is the name of the notification queue.
const Queue = "notify"

// Kinds of delivery.
const (
	// KindChannel posts the approvers' message about a request to its
	// approval channel, or edits the one posted before.
	KindChannel = "channel"
	// KindDirect tells the requester what happened (approved, denied,
	// revoked, expired, timed out).
	KindDirect = "dm"
	// KindExpiryWarning tells the requester, shortly before it happens,
	// that their access is about to expire. It is enqueued at approval
	// time to run at expires_at minus the lead time, and sends nothing if
	// the access has ended or changed by then.
	KindExpiryWarning = "expiry_warning"
	// KindRefresh redraws the approvers' message from the request as it
	// is now, for news that does not change the request itself: where
	// provisioning at the target stands.
	KindRefresh = "refresh"
	// KindFanout stands for the deliveries of many sweeper changes in one
	// job: the sweeper's transactions end a thousand grants at once, and
	// writing one small row instead of two thousand keeps them short. A
	// worker expands it into the deliveries (Dispatcher.Expand), once.
	KindFanout = "fanout"
	// KindReminder is a direct message to someone other than a
	// requester: a review campaign's reviewer, a pending request's
	// approver (review.Reminder). Its text is in the delivery.
	KindReminder = "reminder"
)

// FanoutAbove is how many sweeper changes one transaction notifies one by
// one; beyond it they go out as one fan-out job.
const FanoutAbove = 64

// DefaultExpiryWarning is how long before expiry the requester is warned.
const DefaultExpiryWarning = 15 * time.Minute

// Event is what the outbox stores about one change: enough to render every
// message without reading the database again. It describes the request as
// it was when the change committed.
type Event struct {
	Event             workflow.Event `json:"event"`
	Actor             string         `json:"actor"`
	From              workflow.State `json:"from"`
	To                workflow.State `json:"to"`
	Comment           string         `json:"comment,omitempty"`
	At                time.Time      `json:"at"`
	RequestID         string         `json:"request_id"`
	Version           int64          `json:"version"`
	State             workflow.State `json:"state"`
	Requester         string         `json:"requester"`
	Resource          string         `json:"resource"`
	ResourceName      string         `json:"resource_name,omitempty"`
	Tier              workflow.Tier  `json:"tier"`
	Reason            string         `json:"reason"`
	Ticket            string         `json:"ticket,omitempty"`
	Purpose           string         `json:"purpose,omitempty"`
	DurationSeconds   int64          `json:"duration_seconds"`
	RequiredApprovals int            `json:"required_approvals"`
	Approvals         []Approval     `json:"approvals,omitempty"`
	CreatedAt         time.Time      `json:"created_at"`
	ReviewDeadline    time.Time      `json:"review_deadline"`
	ApprovedAt        *time.Time     `json:"approved_at,omitempty"`
	ExpiresAt         *time.Time     `json:"expires_at,omitempty"`
	EndedAt           *time.Time     `json:"ended_at,omitempty"`
	EndedBy           string         `json:"ended_by,omitempty"`
	EndReason         string         `json:"end_reason,omitempty"`
	// Emergency marks break-glass access; Review is its post-hoc review
	// as it stood at the change.
	Emergency bool         `json:"emergency,omitempty"`
	Review    *ReviewState `json:"review,omitempty"`
	// StartAt is a scheduled grant's start; Extends the grant an
	// extension extends; ExtendedSeconds what extensions added.
	StartAt         *time.Time `json:"start_at,omitempty"`
	Extends         string     `json:"extends,omitempty"`
	ExtendedSeconds int64      `json:"extended_seconds,omitempty"`

	// Provisioning is where applying and removing the grant at the target
	// stands. It is read when the message is sent, not stored with the
	// event: provisioning finishes after the change that started it.
	Provisioning *ProvisioningStatus `json:"-"`
	// Refresh marks a redraw of the same request version (KindRefresh).
	Refresh bool `json:"-"`
	// MFAActions are the actions on the request's resource that need a
	// second factor (require_mfa), as the policy in force says when the
	// message is drawn; their buttons link to the request's page in the
	// web UI at WebURL instead of deciding, since a Slack click proves no
	// second factor.
	MFAActions []string `json:"-"`
	WebURL     string   `json:"-"`
}

// ReviewState is the post-hoc review of an emergency request, as
// messages show it.
type ReviewState struct {
	State    string    `json:"state"`
	Required int       `json:"required"`
	SignedBy []string  `json:"signed_by,omitempty"`
	DueAt    time.Time `json:"due_at"`
}

// ProvisioningStatus is a grant's provisioning, as messages show it.
type ProvisioningStatus struct {
	Provisioner string
	Operation   string // apply or remove
	Status      string // pending, applied, removed or failed (still retried)
	LastError   string
	At          *time.Time // when it was applied or removed
}

// Approval is one approval, as messages show it.
type Approval struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// Duration is the access asked for.
func (e Event) Duration() time.Duration { return time.Duration(e.DurationSeconds) * time.Second }

// AutoApproved reports whether the policy approved the request without
// anyone's review.
func (e Event) AutoApproved() bool { return e.RequiredApprovals == 0 && !e.Emergency }

// EventOf describes a change. Change.Request is the request as the
// transaction leaves it, so every event of one transaction shows the
// request's final state in it.
func EventOf(c workflow.Change) Event {
	e := EventOfRequest(c.Request)
	e.Event, e.Actor, e.From, e.To, e.Comment, e.At = c.Event, c.Actor, c.From, c.To, c.Comment, c.At
	return e
}

// EventOfRequest describes a request as it is, without a change.
func EventOfRequest(r *workflow.Request) Event {
	e := Event{
		RequestID: r.ID, Version: r.Version, State: r.State, Requester: r.Requester, Resource: r.Resource, Tier: r.Tier,
		Reason: r.Reason, Ticket: r.Ticket, Purpose: r.Purpose, DurationSeconds: int64(r.Duration / time.Second),
		RequiredApprovals: r.RequiredApprovals, CreatedAt: r.CreatedAt, ReviewDeadline: r.ReviewDeadline,
		ApprovedAt: r.ApprovedAt, ExpiresAt: r.ExpiresAt, EndedAt: r.EndedAt, EndedBy: r.EndedBy, EndReason: r.EndReason,
		Emergency: r.Emergency,
		StartAt:   r.StartAt, Extends: r.Extends, ExtendedSeconds: int64(r.Extended / time.Second),
	}
	if rv := r.Review; rv != nil {
		e.Review = &ReviewState{State: rv.State, Required: rv.Required, DueAt: rv.DueAt}
		for _, s := range rv.Signoffs {
			e.Review.SignedBy = append(e.Review.SignedBy, s.Reviewer)
		}
	}
	for _, a := range r.Counting() {
		e.Approvals = append(e.Approvals, Approval{By: a.Approver, At: a.At, Comment: a.Comment})
	}
	return e
}

// RefreshJob is the job that redraws the approvers' message about a
// request (KindRefresh), keyed like the request's other messages so that
// it never overtakes them.
func RefreshJob(requestID string, at time.Time) (workflow.Job, error) {
	payload, err := json.Marshal(Delivery{Kind: KindRefresh, Event: Event{RequestID: requestID}, Due: at})
	if err != nil {
		return workflow.Job{}, workflow.Internal(err, "encode notification")
	}
	return workflow.Job{Queue: Queue, Key: requestID, Payload: payload, RunAt: at}, nil
}

// Delivery is the payload of one notification job: one message to one
// place (or, for KindFanout, many deliveries to enqueue).
type Delivery struct {
	Kind  string `json:"kind"`
	Event Event  `json:"event"`
	// RequestIDs are the requests a fan-out job's event ended.
	RequestIDs []string `json:"request_ids,omitempty"`
	// Due is when the job first became due; a delivery that has failed
	// for longer than the dispatcher's give-up time fails for good.
	Due time.Time `json:"due"`
	// Text is a reminder's message (KindReminder); Event.Requester is
	// whom it goes to.
	Text string `json:"text,omitempty"`
}

// ReminderJob is the outbox job that sends r (review.Options.ReminderJob).
// Reminders to one person about one subject are delivered in order.
func ReminderJob(r review.Reminder) (workflow.Job, error) {
	payload, err := json.Marshal(Delivery{Kind: KindReminder, Event: Event{Requester: r.To, At: r.At}, Text: r.Text, Due: r.At})
	if err != nil {
		return workflow.Job{}, workflow.Internal(err, "encode reminder")
	}
	return workflow.Job{Queue: Queue, Key: "remind:" + r.Key + ":" + r.To, Payload: payload, RunAt: r.At}, nil
}

// fanout describes many sweeper changes as one job: the event, and the
// requests it ended. Expired and timed-out requests are final, so the
// worker that expands it reads them back exactly as the change left them.
func fanout(changes []workflow.Change) (workflow.Job, error) {
	c := changes[0]
	dl := Delivery{Kind: KindFanout, Due: c.At, Event: Event{Event: c.Event, Actor: c.Actor, From: c.From, To: c.To, At: c.At}}
	dl.RequestIDs = make([]string, len(changes))
	for i, ch := range changes {
		dl.RequestIDs[i] = ch.Request.ID
	}
	payload, err := json.Marshal(dl)
	if err != nil {
		return workflow.Job{}, workflow.Internal(err, "encode notification")
	}
	return workflow.Job{Queue: Queue, Payload: payload, RunAt: c.At}, nil
}

// sweeperBatch reports whether changes are many of one sweeper event,
// which a fan-out job can carry.
func sweeperBatch(changes []workflow.Change) bool {
	if len(changes) <= FanoutAbove {
		return false
	}
	first := changes[0]
	if first.Event != workflow.EventExpire && first.Event != workflow.EventTimeout {
		return false
	}
	for _, c := range changes {
		if c.Event != first.Event || !c.At.Equal(first.At) || c.Actor != first.Actor {
			return false
		}
	}
	return true
}

// Outbox is the change hook that writes deliveries into the queue, in the
// transaction of the change.
type Outbox struct {
	// ExpiryWarning is the lead time of the "about to expire" message;
	// zero or negative sends none.
	ExpiryWarning time.Duration
	// Policy, when set, names resources in messages by their display
	// name.
	Policy func() *workflow.Policy
}

// Hook enqueues the deliveries for changes (see Plan).
func (o Outbox) Hook(ctx context.Context, tx workflow.Tx, changes []workflow.Change) error {
	var pol *workflow.Policy
	if o.Policy != nil {
		pol = o.Policy()
	}
	if sweeperBatch(changes) {
		j, err := fanout(changes)
		if err != nil {
			return err
		}
		return tx.Enqueue(ctx, j)
	}
	jobs, err := Plan(changes, o.ExpiryWarning, pol)
	if err != nil {
		return err
	}
	return tx.Enqueue(ctx, jobs...)
}

// Plan turns the changes of one transaction into notification jobs:
//
//   - every change updates the approvers' channel message, except a
//     submission that the policy approved in the same transaction, which
//     is posted once, in its final state;
//   - the requester gets a direct message when the request is approved,
//     denied, revoked (by someone else), expired or timed out; partial
//     approvals, withdrawn approvals, their own cancellations and
//     relinquishments are their own doing or not yet news (a cancellation
//     by the system, when the rules no longer justify the request, is
//     news);
//   - access that becomes live for longer than the warning lead time gets
//     an expiry warning, due lead time before it expires.
//
// Channel and direct jobs are keyed by request, so that one request's
// messages are delivered in order. Expiry warnings have their own key so
// that a warning due hours from now never holds back the request's other
// messages.
func Plan(changes []workflow.Change, lead time.Duration, pol *workflow.Policy) ([]workflow.Job, error) {
	var jobs []workflow.Job
	add := func(kind, key string, e Event, due time.Time) error {
		payload, err := json.Marshal(Delivery{Kind: kind, Event: e, Due: due})
		if err != nil {
			return workflow.Internal(err, "encode notification")
		}
		jobs = append(jobs, workflow.Job{Queue: Queue, Key: key, Payload: payload, RunAt: due})
		return nil
	}
	for i, c := range changes {
		e := EventOf(c)
		if pol != nil {
			if res, ok := pol.Resource(e.Resource); ok && res.Name != res.ID {
				e.ResourceName = res.Name
			}
		}
		autoApprovedNext := i+1 < len(changes) && (changes[i+1].Event == workflow.EventAutoApprove || changes[i+1].Event == workflow.EventBreakGlass) &&
			changes[i+1].Request.ID == c.Request.ID
		if !(c.Event == workflow.EventSubmit && autoApprovedNext) {
			if err := add(KindChannel, e.RequestID, e, c.At); err != nil {
				return nil, err
			}
		}
		if tellsRequester(c) {
			if err := add(KindDirect, e.RequestID, e, c.At); err != nil {
				return nil, err
			}
		}
		// An extension moves expires_at: the warning for the old expiry
		// is skipped (warningDue) and one for the new is planned.
		if c.To == workflow.StateApproved && (c.From != workflow.StateApproved || c.Event == workflow.EventExtend) && lead > 0 &&
			e.ExpiresAt != nil && e.ExpiresAt.Sub(c.At) > lead {
			if err := add(KindExpiryWarning, "expiry:"+e.RequestID, e, e.ExpiresAt.Add(-lead)); err != nil {
				return nil, err
			}
		}
	}
	return jobs, nil
}

// tellsRequester reports whether the requester hears about c directly.
func tellsRequester(c workflow.Change) bool {
	switch c.Event {
	case workflow.EventApprove, workflow.EventAutoApprove:
		return c.To == workflow.StateApproved || c.To == workflow.StateScheduled || c.To == workflow.StateExtended
	case workflow.EventActivate:
		return true
	case workflow.EventDeny, workflow.EventRevoke, workflow.EventExpire, workflow.EventTimeout:
		return true
	case workflow.EventCancel:
		return c.Actor != c.Request.Requester // cancelled by the system, not by them
	}
	return false
}
