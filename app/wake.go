package app

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// The sweeper runs on --sweep-schedule (cron, the safety net) and, besides,
// wakes at the next time it knows of when a live grant expires or a
// scheduled one starts: after every sweep it reads the earliest such time
// (NextDue, two reads of partial indexes) and sets a timer; a change that
// commits a grant due sooner (approved, activated, extended, scheduled)
// sets it sooner at once on this replica and, on PostgreSQL, tells the
// other replicas with a NOTIFY on SweepChannel. Several replicas waking
// together is safe: the sweep claims each row with a skip-locked
// compare-and-set, so each grant is ended, and audited, once.
//
// The same notices wake the provisioning worker when a change commits
// provisioning steps (a removal after an expiry or a revoke, an apply
// after an approval), so that removal at the target does not wait for the
// worker's next poll (--provision-poll).

// SweepChannel is the PostgreSQL NOTIFY channel on which replicas tell
// each other of sooner due times and of new provisioning steps.
const SweepChannel = "jitaccess_sweep"

// sweepNotice is the payload of a SweepChannel notification (JSON).
type sweepNotice struct {
	// Due, when set, is the earliest time a grant of the change is due.
	Due *time.Time `json:"due,omitempty"`
	// Provision: the change enqueued provisioning steps.
	Provision bool `json:"provision,omitempty"`
}

// wakeRetry is how soon the sweeper looks again when a due grant is still
// there after a sweep (another replica's sweep holds it, or it became due
// while this sweep ran): soon, but not in a busy loop.
const wakeRetry = 100 * time.Millisecond

// sweepWaker is the sweeper's timer for the next due time. Its zero value
// is not usable; a nil *sweepWaker (--sweep-cron-only) does nothing.
type sweepWaker struct {
	fire  chan struct{} // one pending wake-up at most
	mu    sync.Mutex
	at    time.Time // when the timer fires; zero when it is not set
	gen   uint64    // the timer set last, so that an old one firing late does not clear at
	timer *time.Timer
	armed []time.Time // the last due times it was set for (tests; at most maxArmed)
}

const maxArmed = 64

func newSweepWaker() *sweepWaker { return &sweepWaker{fire: make(chan struct{}, 1)} }

// arm sets the timer for t unless it is already set for t or sooner.
func (w *sweepWaker) arm(t time.Time) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.at.IsZero() && !t.Before(w.at) {
		return
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.gen++
	gen := w.gen
	w.at = t
	if len(w.armed) == maxArmed {
		w.armed = append(w.armed[:0], w.armed[1:]...)
	}
	w.armed = append(w.armed, t)
	w.timer = time.AfterFunc(time.Until(t), func() {
		w.mu.Lock()
		if w.gen == gen {
			w.at = time.Time{}
		}
		w.mu.Unlock()
		select {
		case w.fire <- struct{}{}:
		default:
		}
	})
}

// next is when the timer fires (zero: not set). For tests.
func (w *sweepWaker) next() time.Time {
	if w == nil {
		return time.Time{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at
}

// stop stops the timer.
func (w *sweepWaker) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.at = time.Time{}
}

// runWaker sweeps whenever the timer fires, until ctx is done. It first
// sets the timer from the database, so that a replica that starts with
// grants due soon does not wait for the cron schedule.
func (a *App) runWaker(ctx context.Context, wg *sync.WaitGroup) {
	w := a.waker
	if w == nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer w.stop()
		a.armNextDue(ctx, time.Now())
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.fire:
				a.sweep()
			}
		}
	}()
}

// armNextDue sets the timer for the next due time in the database; one
// already due (after a sweep: held by another replica, or due meanwhile)
// is looked at again in wakeRetry.
func (a *App) armNextDue(ctx context.Context, now time.Time) {
	if a.waker == nil {
		return
	}
	next, ok, err := a.DB.NextDue(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.Logger.Warn("sweeper: cannot read the next due time; the cron schedule still runs", "err", err)
		}
		return
	}
	if !ok {
		return
	}
	if !next.After(now) {
		next = now.Add(wakeRetry)
	}
	a.waker.arm(next)
}

// dueOf returns the earliest time a grant of changes is due: the expiry
// of one live after the change, the start of one scheduled.
func dueOf(changes []workflow.Change) (time.Time, bool) {
	var due time.Time
	found := false
	for _, c := range changes {
		r := c.Request
		if r == nil {
			continue
		}
		var t *time.Time
		switch r.State {
		case workflow.StateApproved:
			t = r.ExpiresAt
		case workflow.StateScheduled:
			t = r.StartAt
		}
		if t != nil && (!found || t.Before(due)) {
			due, found = *t, true
		}
	}
	return due, found
}

// provisions says whether changes start or end a grant, which is when the
// provisioning hook enqueues a step.
func provisions(changes []workflow.Change) bool {
	for _, c := range changes {
		if (c.To == workflow.StateApproved) != (c.From == workflow.StateApproved) {
			return true
		}
	}
	return false
}

// wireWake registers the hooks that keep the sweeper's timer and the
// provisioning worker awake to changes: on this replica after commit, and
// on PostgreSQL a NOTIFY in the change's transaction for the others.
func (a *App) wireWake() {
	if a.Config.SweepCronOnly {
		return
	}
	a.waker = newSweepWaker()
	a.Service.OnCommit(func(changes []workflow.Change, committed bool) {
		if !committed {
			return
		}
		if due, ok := dueOf(changes); ok {
			a.waker.arm(due)
		}
		if provisions(changes) && a.provisionRunner != nil {
			a.provisionRunner.Wake()
		}
	})
	if a.DB.Kind() != store.Postgres || a.Config.Provision.NoNotify {
		return // SQLite is one process
	}
	a.Service.OnChange(func(ctx context.Context, tx workflow.Tx, changes []workflow.Change) error {
		var n sweepNotice
		if due, ok := dueOf(changes); ok {
			n.Due = &due
		}
		n.Provision = provisions(changes)
		if n.Due == nil && !n.Provision {
			return nil
		}
		b, _ := json.Marshal(n) // a time and a bool: cannot fail
		return tx.Notify(ctx, SweepChannel, string(b))
	})
}

// sweepListener handles SweepChannel on the replica's LISTEN connection
// (listen.go).
type sweepListener struct{ app *App }

func (l sweepListener) HandleNotification(ctx context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	var notice sweepNotice
	if err := json.Unmarshal([]byte(n.Payload), &notice); err != nil {
		return err // logged by the listener; the cron schedule still runs
	}
	if notice.Due != nil {
		l.app.waker.arm(*notice.Due)
	}
	if notice.Provision && l.app.provisionRunner != nil {
		l.app.provisionRunner.Wake()
	}
	return nil
}

// HandleBacklog runs after every (re)connection: notices sent while the
// listener was away are lost, so the timer is set from the database again
// and the worker looks for steps.
func (l sweepListener) HandleBacklog(ctx context.Context, channel string, _ *pgx.Conn) error {
	l.app.armNextDue(ctx, time.Now())
	if l.app.provisionRunner != nil {
		l.app.provisionRunner.Wake()
	}
	return nil
}
