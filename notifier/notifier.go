// Package notifier turns committed changes into deliveries. Its hook runs
// inside the change's transaction and writes one job per change to the
// persisted queue (the outbox); a queue.Runner delivers them after commit,
// in order per request, with retries. A slow or failing channel therefore
// never blocks or undoes a decision.
package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/workflow"
)

// Queue is the name of the notification queue.
const Queue = "notify"

// Event is what the outbox stores about one change: enough to render any
// message without reading the database again.
type Event struct {
	Event             workflow.Event `json:"event"`
	Actor             string         `json:"actor"`
	From              workflow.State `json:"from"`
	To                workflow.State `json:"to"`
	Comment           string         `json:"comment,omitempty"`
	At                time.Time      `json:"at"`
	RequestID         string         `json:"request_id"`
	Requester         string         `json:"requester"`
	Resource          string         `json:"resource"`
	Tier              workflow.Tier  `json:"tier"`
	Reason            string         `json:"reason"`
	Ticket            string         `json:"ticket,omitempty"`
	DurationSeconds   int64          `json:"duration_seconds"`
	Approvals         []string       `json:"approvals,omitempty"`
	RequiredApprovals int            `json:"required_approvals"`
	ExpiresAt         *time.Time     `json:"expires_at,omitempty"`
}

// EventOf describes a change.
func EventOf(c workflow.Change) Event {
	r := c.Request
	e := Event{
		Event: c.Event, Actor: c.Actor, From: c.From, To: c.To, Comment: c.Comment, At: c.At,
		RequestID: r.ID, Requester: r.Requester, Resource: r.Resource, Tier: r.Tier, Reason: r.Reason, Ticket: r.Ticket,
		DurationSeconds: int64(r.Duration / time.Second), RequiredApprovals: r.RequiredApprovals, ExpiresAt: r.ExpiresAt,
	}
	for _, a := range r.Approvals {
		e.Approvals = append(e.Approvals, a.Approver)
	}
	return e
}

// Hook enqueues one notification job per change, keyed by request so that
// the messages about one request are delivered in order.
func Hook(ctx context.Context, tx workflow.Tx, changes []workflow.Change) error {
	jobs := make([]workflow.Job, 0, len(changes))
	for _, c := range changes {
		payload, err := json.Marshal(EventOf(c))
		if err != nil {
			return workflow.Internal(err, "encode notification")
		}
		jobs = append(jobs, workflow.Job{Queue: Queue, Key: c.Request.ID, Payload: payload, RunAt: c.At})
	}
	return tx.Enqueue(ctx, jobs...)
}

// LogSender delivers notifications to the log: what would have been sent,
// when no chat integration is configured.
type LogSender struct {
	Logger *slog.Logger
}

// Deliver logs one notification.
func (l LogSender) Deliver(ctx context.Context, job queue.Job) error {
	var e Event
	if err := json.Unmarshal(job.Payload, &e); err != nil {
		return queue.Permanent(fmt.Errorf("notification %d is not valid JSON: %w", job.ID, err))
	}
	l.Logger.Info("notify (log notifier)", "event", e.Event, "request", e.RequestID, "requester", e.Requester,
		"resource", e.Resource, "tier", e.Tier, "from", e.From, "to", e.To, "actor", e.Actor,
		"approvals", fmt.Sprintf("%d of %d", len(e.Approvals), e.RequiredApprovals), "comment", e.Comment)
	return nil
}
