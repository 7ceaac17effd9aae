package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// sweepOptions are the flags of `bench sweep`.
type sweepOptions struct {
	n, batch int
	// finished requests are stored, and statistics gathered (ANALYZE)
	// while the table holds only them, before the due grants are: the
	// shape that once made the sweep's plan go wrong.
	finished int
	explain  bool   // print the plan of the sweep's expiry statement
	profile  string // write a CPU profile of the sweep (not the floor) here
}

// seedExpired stores grants, one per person, expiring at the given times,
// with the provisioning records approval would have written for spec. ids
// start with prefix (8 hex digits), so that several sets can be stored.
func seedExpired(ctx context.Context, db *store.DB, prefix string, expiries []time.Time, spec workflow.ProvisionerSpec) error {
	const batch = 10000
	for start := 0; start < len(expiries); start += batch {
		var reqs []*workflow.Request
		for i := start; i < min(start+batch, len(expiries)); i++ {
			exp := expiries[i]
			approved := exp.Add(-time.Hour)
			reqs = append(reqs, &workflow.Request{
				ID: fmt.Sprintf("%s-0000-7000-8000-%012d", prefix, i), Requester: fmt.Sprintf("agent%d@bench.example", i), Resource: "res-0",
				Tier: workflow.TierHigh, Reason: "bench", Duration: time.Hour, State: workflow.StateApproved, RequiredApprovals: 2, Version: 3,
				CreatedAt: approved, UpdatedAt: approved, ReviewDeadline: approved.Add(24 * time.Hour), ApprovedAt: &approved, ExpiresAt: &exp,
			})
		}
		if err := db.BulkInsertRequests(ctx, reqs); err != nil {
			return err
		}
		// The provisioning records approval would have written, applied,
		// so that the sweep does what it does in production.
		recs := make([]*provision.Record, len(reqs))
		for i, r := range reqs {
			recs[i] = &provision.Record{RequestID: r.ID, Resource: r.Resource, Requester: r.Requester,
				Spec: spec, Operation: provision.OpApply,
				Status: provision.StatusApplied, AppliedAt: r.ApprovedAt, CreatedAt: *r.ApprovedAt, UpdatedAt: *r.ApprovedAt}
		}
		err := db.InTx(ctx, func(tx workflow.Tx) error { return tx.(provision.Tx).SaveProvisionings(ctx, recs) })
		if err != nil {
			return err
		}
	}
	return nil
}

// seedFinished stores n requests that ended long ago (expired), as a
// table that has run for a while holds them.
func seedFinished(ctx context.Context, db *store.DB, n int) error {
	const batch = 10000
	base := workflow.Now().Add(-30 * 24 * time.Hour)
	for start := 0; start < n; start += batch {
		var reqs []*workflow.Request
		for i := start; i < min(start+batch, n); i++ {
			approved := base.Add(time.Duration(i) * time.Second)
			exp := approved.Add(time.Hour)
			reqs = append(reqs, &workflow.Request{
				ID: fmt.Sprintf("0190aaaa-0000-7000-8000-%012d", i), Requester: fmt.Sprintf("old%d@bench.example", i%5000), Resource: "res-0",
				Tier: workflow.TierHigh, Reason: "bench", Duration: time.Hour, State: workflow.StateExpired, RequiredApprovals: 2, Version: 4,
				CreatedAt: approved, UpdatedAt: exp, ReviewDeadline: approved.Add(24 * time.Hour), ApprovedAt: &approved, ExpiresAt: &exp,
				EndedAt: &exp, EndedBy: "system",
			})
		}
		if err := db.BulkInsertRequests(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}

// floorSweep is the bare-SQL floor of a sweep: every due grant ended and
// audited by one statement (PostgreSQL: one WITH … UPDATE … RETURNING
// feeding INSERT INTO audit_records … SELECT; SQLite, which has no
// data-modifying WITH, one INSERT … SELECT and one UPDATE in one
// transaction). No hash chain, no hooks, no provisioning: what the
// database alone costs.
func floorSweep(ctx context.Context, db *store.DB, now time.Time) (int64, error) {
	const cols = `id, at, actor, action, request_id, resource, subject, from_state, to_state, reason, prev_hash, hash, purpose, auth, mfa, source`
	g := db.Gorm().WithContext(ctx)
	if db.Kind() == store.Postgres {
		res := g.Exec(`WITH ended AS (
			UPDATE requests SET state = 'expired', version = version + 1, updated_at = ?, ended_at = expires_at, ended_by = 'system', end_reason = ''
			WHERE state = 'approved' AND expires_at <= ?
			RETURNING id, resource, requester
		), base AS (SELECT COALESCE(max(id), 0) AS m FROM audit_records)
		INSERT INTO audit_records (`+cols+`)
		SELECT base.m + row_number() OVER (), ?, 'system', 'expire', ended.id, ended.resource, ended.requester, 'approved', 'expired', '', '', '', '', '', '', 'system'
		FROM ended, base`, now, now, now)
		return res.RowsAffected, res.Error
	}
	var n int64
	err := db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`INSERT INTO audit_records (`+cols+`)
			SELECT (SELECT COALESCE(max(id), 0) FROM audit_records) + row_number() OVER (ORDER BY expires_at, id), ?, 'system', 'expire', id, resource, requester, 'approved', 'expired', '', '', '', '', '', '', 'system'
			FROM requests WHERE state = 'approved' AND expires_at <= ?`, now, now)
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		return tx.Exec(`UPDATE requests SET state = 'expired', version = version + 1, updated_at = ?, ended_at = expires_at, ended_by = 'system', end_reason = ''
			WHERE state = 'approved' AND expires_at <= ?`, now, now).Error
	})
	return n, err
}

func benchSweep(ctx context.Context, dbURL string, o sweepOptions, out io.Writer) error {
	if o.n <= 0 {
		return errors.New("--requests must be positive")
	}
	pol, err := workflow.ParsePolicy("bench policy", []byte(benchPolicy(1, 1)))
	if err != nil {
		return err
	}
	// Wired as serve wires it, so that the sweep runs every production
	// hook (notifications, provisioning, check-cache invalidation and its
	// NOTIFY, the wake-up notices, metrics), but never started: the sweeps
	// below are the only ones.
	a, err := app.New(ctx, benchConfig(dbURL, pol, "@every 1h"), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer a.DB.Close()
	a.Service.SetSweepBatch(o.batch)
	db := a.DB
	if o.finished > 0 {
		t0 := time.Now()
		if err := seedFinished(ctx, db, o.finished); err != nil {
			return err
		}
		if err := analyze(ctx, db); err != nil {
			return err
		}
		fmt.Fprintf(out, "finished:        %d expired requests stored, then ANALYZE, in %.1fs (not timed)\n", o.finished, time.Since(t0).Seconds())
	}
	past := workflow.Now().Add(-time.Minute)
	expiries := make([]time.Time, o.n)
	for i := range expiries {
		expiries[i] = past.Add(-time.Duration(i) * time.Millisecond)
	}
	none := workflow.ProvisionerSpec{Type: workflow.ProvisionerNone}

	// The floor first, on its own copy of the same grants; then the sweep
	// on a second, identical copy (so that the sweep, not the floor, sees
	// the larger table).
	t0 := time.Now()
	if err := seedExpired(ctx, db, "0190eeee", expiries, none); err != nil {
		return err
	}
	seeded := time.Since(t0)
	t0 = time.Now()
	floorN, err := floorSweep(ctx, db, workflow.Now())
	floorTook := time.Since(t0)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	if floorN != int64(o.n) {
		return fmt.Errorf("floor ended %d of %d", floorN, o.n)
	}

	if err := seedExpired(ctx, db, "0190bbbb", expiries, none); err != nil {
		return err
	}
	if o.explain {
		plan, err := db.ExplainEndDue(ctx, workflow.Now(), 2000)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "plan of the expiry statement:\n%s", indent(plan))
	}
	before, err := countExpireRecords(ctx, db)
	if err != nil {
		return err
	}
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	t0 = time.Now()
	res, err := a.SweepNow(ctx)
	took := time.Since(t0)
	if o.profile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	// On PostgreSQL the sweep commits its records unsealed; the cluster's
	// sealer chains them. The floor writes them straight into the chain's
	// table, so the sealing counts here too, timed on its own.
	t0 = time.Now()
	sealedN, err := db.SealPending(ctx)
	sealTook := time.Since(t0)
	if err != nil {
		return err
	}
	after, err := countExpireRecords(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "database:        %s\n", db.Kind())
	fmt.Fprintf(out, "seeded:          %d approved requests past expiry in %.1fs, twice (not timed)\n", o.n, seeded.Seconds())
	floorWhat := "one UPDATE … RETURNING feeding INSERT INTO audit_records"
	if db.Kind() == store.SQLite {
		floorWhat = "one INSERT INTO audit_records … SELECT and one UPDATE, one transaction"
	}
	fmt.Fprintf(out, "floor:           %.2fs, %s (%.0f/s)\n", floorTook.Seconds(), floorWhat, float64(floorN)/floorTook.Seconds())
	fmt.Fprintf(out, "one sweep:       %.2fs, expired %d (%.0f/s), every serve hook\n", took.Seconds(), res.Expired, float64(res.Expired)/took.Seconds())
	fmt.Fprintf(out, "sealing:         %.2fs, %d records chained by the sealer after the sweep (0 on SQLite: inline)\n", sealTook.Seconds(), sealedN)
	fmt.Fprintf(out, "sweep alone:     %.2f × the floor\n", took.Seconds()/floorTook.Seconds())
	fmt.Fprintf(out, "ratio:           %.2f × the floor, sweep + sealing (bar ≤ 3.0, goal ≤ 2.0)\n", (took+sealTook).Seconds()/floorTook.Seconds())
	fmt.Fprintf(out, "audit records:   %d expire records written\n", after-before)
	if res.Expired != o.n || after-before != int64(o.n) {
		return fmt.Errorf("expired %d and audited %d of %d", res.Expired, after-before, o.n)
	}
	return nil
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// analyze gathers the planner's statistics, as autovacuum would.
func analyze(ctx context.Context, db *store.DB) error {
	return db.Gorm().WithContext(ctx).Exec("ANALYZE").Error
}

func countExpireRecords(ctx context.Context, db *store.DB) (int64, error) {
	return countAuditAction(ctx, db, "expire")
}

func countAuditAction(ctx context.Context, db *store.DB, action string) (int64, error) {
	var n int64
	err := db.Gorm().WithContext(ctx).Raw(`SELECT count(*) FROM audit_records WHERE action = ?`, action).Scan(&n).Error
	return n, err
}

// seedScheduled stores approved grants scheduled to start at starts (an
// hour each), as approval would have left them.
func seedScheduled(ctx context.Context, db *store.DB, starts []time.Time) error {
	const batch = 10000
	for start := 0; start < len(starts); start += batch {
		var reqs []*workflow.Request
		for i := start; i < min(start+batch, len(starts)); i++ {
			at, approved := starts[i], workflow.Now()
			exp := at.Add(time.Hour)
			reqs = append(reqs, &workflow.Request{
				ID: fmt.Sprintf("0190cccc-0000-7000-8000-%012d", i), Requester: fmt.Sprintf("sched%d@bench.example", i), Resource: "res-0",
				Tier: workflow.TierHigh, Reason: "bench", Duration: time.Hour, State: workflow.StateScheduled, RequiredApprovals: 2, Version: 3,
				CreatedAt: approved, UpdatedAt: approved, ReviewDeadline: approved.Add(24 * time.Hour), ApprovedAt: &approved, ExpiresAt: &exp,
				StartAt: &at,
			})
		}
		if err := db.BulkInsertRequests(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}

// auditLags returns, sorted, the seconds from each request's column due
// (expires_at, start_at) to its audit record of action.
func auditLags(ctx context.Context, db *store.DB, action, due string) ([]float64, error) {
	var lags []float64
	rows, err := db.Gorm().WithContext(ctx).Raw(`SELECT a.at, r.`+due+` FROM audit_records a JOIN requests r ON r.id = a.request_id WHERE a.action = ?`, action).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var at, t time.Time
		if err := rows.Scan(&at, &t); err != nil {
			return nil, err
		}
		lags = append(lags, at.Sub(t).Seconds())
	}
	slices.Sort(lags)
	return lags, rows.Err()
}

// sweepLagPolicy is benchPolicy's one resource, provisioned by a webhook.
const sweepLagPolicy = `groups:
  agents: [agent0@bench.example]
  managers: [carol@bench.example, dave@bench.example]
resources:
  - id: res-0
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: webhook
      url: %s/jitaccess
      secret_env: JITACCESS_BENCH_WEBHOOK_SECRET
      timeout: 5s
`

// benchSweepLag is `jitaccess bench sweep-lag`: n grants applied at a
// webhook target expire evenly over spread while the real sweeper runs
// (cron on schedule, and its wake-up at the next expiry unless cronOnly).
// It reports the expiry lag (expires_at → the expire audit record) and the
// revocation lag at the target (expires_at → the target receiving the
// removal), and with scheduled > 0 the activation lag of as many
// scheduled grants starting over the same spread.
func benchSweepLag(ctx context.Context, dbURL, schedule string, n, scheduled int, spread time.Duration, cronOnly bool, out io.Writer) error {
	if n <= 0 || scheduled < 0 {
		return errors.New("--requests must be positive and --scheduled not negative")
	}
	interval, err := app.ScheduleInterval(schedule)
	if err != nil {
		return err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	if err := os.Setenv("JITACCESS_BENCH_WEBHOOK_SECRET", hex.EncodeToString(secret)); err != nil {
		return err
	}
	target := &removals{granted: map[string]bool{}, removed: map[string]time.Time{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: target, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	pol, err := workflow.ParsePolicy("bench policy", []byte(fmt.Sprintf(sweepLagPolicy, "http://"+l.Addr().String())))
	if err != nil {
		return err
	}
	res, _ := pol.Resource("res-0")
	// No periodic re-evaluation: the benchmark's people are not in the
	// policy's group, and it would revoke what is still live at its first
	// run, a minute in.
	extra := []string{"--reconcile-interval", "0"}
	if cronOnly {
		extra = append(extra, "--sweep-cron-only")
	}
	cfg := benchConfig(dbURL, pol, schedule, extra...)
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	// Grants expire (and scheduled ones start) evenly over the spread,
	// starting a little from now. They are stored before the server runs,
	// as a restart finds them.
	first := workflow.Now().Add(3 * time.Second)
	spreadOver := func(k int) []time.Time {
		ts := make([]time.Time, k)
		for i := range ts {
			ts[i] = first.Add(time.Duration(int64(spread) * int64(i) / int64(max(k-1, 1)))).Truncate(time.Microsecond)
		}
		return ts
	}
	expiries, starts := spreadOver(n), spreadOver(scheduled)
	if err := seedExpired(ctx, a.DB, "0190bbbb", expiries, res.ProvisionerOf()); err != nil {
		a.DB.Close()
		return err
	}
	if err := seedScheduled(ctx, a.DB, starts); err != nil {
		a.DB.Close()
		return err
	}
	if err := a.Listen(); err != nil {
		a.DB.Close()
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() { stop(); <-done }()

	expireAt := make(map[string]time.Time, n)
	for i, e := range expiries {
		expireAt[fmt.Sprintf("0190bbbb-0000-7000-8000-%012d", i)] = e
	}
	deadline := expiries[n-1].Add(3*interval + 10*time.Second)
	for {
		c, err := countExpireRecords(ctx, a.DB)
		if err != nil {
			return err
		}
		act, err := countAuditAction(ctx, a.DB, string(workflow.EventActivate))
		if err != nil {
			return err
		}
		removed := target.removedOf(expireAt)
		if c >= int64(n) && act >= int64(scheduled) && removed >= n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("by %s only %d of %d grants expired (%d removed at the target) and %d of %d activated",
				deadline.Format(time.RFC3339), c, n, removed, act, scheduled)
		}
		time.Sleep(200 * time.Millisecond)
	}
	lags, err := auditLags(ctx, a.DB, "expire", "expires_at")
	if err != nil {
		return err
	}
	revoked := target.lags(expireAt)
	mode := "cron and wake-up at the next due time"
	if cronOnly {
		mode = "cron only (--sweep-cron-only)"
	}
	k := len(lags)
	fmt.Fprintf(out, "database:     %s\n", a.DB.Kind())
	fmt.Fprintf(out, "schedule:     %s (interval %s), %s\n", schedule, interval, mode)
	fmt.Fprintf(out, "grants:       %d expiring evenly over %s, provisioned by a webhook\n", k, spread)
	fmt.Fprintf(out, "lag p50:      %.3fs (expires_at → expire audit record)\n", lags[k/2])
	fmt.Fprintf(out, "lag p99:      %.3fs\n", lags[min(k-1, k*99/100)])
	fmt.Fprintf(out, "lag max:      %.3fs\n", lags[k-1])
	k = len(revoked)
	fmt.Fprintf(out, "revocation p50: %.3fs (expires_at → removal at the target)\n", revoked[k/2])
	fmt.Fprintf(out, "revocation p99: %.3fs (bar ≤ 1s, goal ≤ 100ms)\n", revoked[min(k-1, k*99/100)])
	fmt.Fprintf(out, "revocation max: %.3fs\n", revoked[k-1])
	if scheduled == 0 {
		return nil
	}
	act, err := auditLags(ctx, a.DB, string(workflow.EventActivate), "start_at")
	if err != nil {
		return err
	}
	k = len(act)
	fmt.Fprintf(out, "scheduled:    %d starting evenly over the same %s\n", k, spread)
	fmt.Fprintf(out, "activation p50: %.3fs\n", act[k/2])
	fmt.Fprintf(out, "activation p99: %.3fs\n", act[min(k-1, k*99/100)])
	fmt.Fprintf(out, "activation max: %.3fs\n", act[k-1])
	return nil
}

// removedOf counts the grants of due (request id → expiry) the target has
// received the removal of.
func (r *removals) removedOf(due map[string]time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id := range due {
		if _, ok := r.removed[id]; ok {
			n++
		}
	}
	return n
}

// lags returns, sorted, the seconds from each grant's expiry to the target
// receiving its removal.
func (r *removals) lags(due map[string]time.Time) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []float64
	for id, exp := range due {
		if at, ok := r.removed[id]; ok {
			out = append(out, at.Sub(exp).Seconds())
		}
	}
	slices.Sort(out)
	return out
}
