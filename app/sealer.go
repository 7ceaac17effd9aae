package app

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitaccess/jitaccess/alert"
	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
)

// runSealer starts this replica's audit sealer (store.RunSealer: one per
// cluster holds the lease) and the backlog watch, on PostgreSQL with a
// seal interval; with 0, or on SQLite, records are sealed as they commit.
func (a *App) runSealer(ctx context.Context, workers *sync.WaitGroup) {
	interval := a.Config.AuditSealInterval
	if a.DB.Kind() != store.Postgres || interval <= 0 {
		return
	}
	m := a.oversight.metrics
	var held atomic.Bool // this replica has the lease, for the backlog watch
	workers.Add(2)
	go func() {
		defer workers.Done()
		a.DB.RunSealer(ctx, store.SealerConfig{Interval: interval, Holder: a.holder,
			Sealed: func(r store.SealResult) { m.ObserveSeal(r.Delays) },
			Failed: func(err error) {
				m.ObserveSealError()
				a.Logger.Warn("audit sealer: batch not sealed; it stays pending and is retried", "err", err)
			},
			Lease: func(h bool) {
				held.Store(h)
				m.ObserveSealer(h)
				a.Logger.Info("audit sealer lease", "held", h, "replica", a.holder)
			},
		})
	}()
	go func() {
		defer workers.Done()
		a.watchBacklog(ctx, interval, held.Load)
	}()
}

// UnsealedAlertAfter is how old an unsealed record may get before the
// chain alert fires: ten merge delays, and never less than a sealer
// failover (lease lapse plus a tick) takes.
func UnsealedAlertAfter(interval time.Duration) time.Duration {
	return max(10*interval, store.SealerLeaseTTL(interval)+2*interval)
}

// watchBacklog reads the unsealed backlog every second into the metrics
// and, on the replica that holds the sealer lease (there is always one
// while any replica lives), raises the chain alert once when a record
// has waited past UnsealedAlertAfter: sealing is failing, or stuck.
func (a *App) watchBacklog(ctx context.Context, interval time.Duration, holding func() bool) {
	limit := UnsealedAlertAfter(interval)
	tick := time.NewTicker(max(time.Second, interval))
	defer tick.Stop()
	alerted := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b, err := a.DB.AuditBacklog(ctx)
		if err != nil {
			continue
		}
		a.oversight.metrics.ObserveBacklog(b)
		late := time.Duration(b.Oldest) > limit
		if !late {
			alerted = false
			continue
		}
		if alerted || !holding() {
			continue
		}
		alerted = true
		a.alertUnsealed(ctx, b, limit)
	}
}

func (a *App) alertUnsealed(ctx context.Context, b audit.Backlog, limit time.Duration) {
	summary := fmt.Sprintf("Audit records not sealed: %d waiting, the oldest for %s", b.Records, time.Duration(b.Oldest).Round(time.Millisecond))
	details := fmt.Sprintf("Records are committed but not yet in the hash chain, so not yet tamper-evident; the limit is %s (10 × --audit-seal-interval). "+
		"Check the sealer's errors (jitaccess_audit_seal_errors_total, the logs) and jitaccess audit verify.", limit)
	a.Logger.Error("audit records unsealed past the limit", "records", b.Records, "oldest", time.Duration(b.Oldest), "limit", limit)
	err := a.oversight.alerts.Send(ctx, alert.Alert{Kind: "audit_unsealed", Severity: alert.Critical, At: time.Now(), Summary: summary, Details: details})
	a.oversight.metrics.ObserveAlert(err)
	if err != nil {
		a.Logger.Error("unsealed-backlog alert not delivered", "err", err)
	}
}
