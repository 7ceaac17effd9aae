package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

const benchUsage = `usage: jitaccess bench lifecycle|sweep|sweep-lag|replicas|offboarding --database URL [flags]

  lifecycle   N clients drive full lifecycles (create → approve → approve)
              through the HTTP API of an in-process server; prints
              transitions per second and p50/p99 latency per call.
  sweep       stores --requests approved requests already past expiry and
              times one sweep of them.
  sweep-lag   runs the real cron sweeper on --sweep-schedule and measures
              the lag from expires_at to the expire audit record; with
              --scheduled N, in the same run, N scheduled grants start
              over the same spread and the lag from start_at to the
              activate audit record (live) is measured beside it.
  replicas    two replicas on one PostgreSQL database: the time from a
              revoke on A until check on B answers false, --revocations
              times with LISTEN/NOTIFY and --baseline times without.
  offboarding --users people hold a live grant applied at a webhook
              target; half are revoked by an admin over the API (the
              baseline), half deactivated over SCIM, each half all at once
              on --clients connections; prints p50/p99/max from the call to
              the target receiving the removal, and the ratio.

The database should be a scratch one: the benchmark adds rows to it.
`

// Main is `jitaccess bench ARGS`. It lives outside app, the wiring, since
// it is a load tool: it drives an in-process server as a client would.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return 2
	}
	mode := args[0]
	f := flag.NewFlagSet("bench "+mode, flag.ContinueOnError)
	var dbURL, schedule string
	var clients, lifecycles, requests, batch int
	var spread time.Duration
	f.StringVar(&dbURL, "database", os.Getenv("DATABASE_URL"), "database URL (a scratch database; env DATABASE_URL)")
	f.IntVar(&clients, "clients", 8, "concurrent HTTP clients (lifecycle)")
	f.IntVar(&lifecycles, "lifecycles", 2000, "lifecycles to run in all (lifecycle)")
	f.IntVar(&requests, "requests", 100000, "approved requests past expiry (sweep), or grants to expire (sweep-lag)")
	f.IntVar(&batch, "batch", 0, "requests per sweeper transaction (sweep; default the service's)")
	f.StringVar(&schedule, "sweep-schedule", app.DefaultSweepSchedule, "sweeper schedule (sweep-lag)")
	f.DurationVar(&spread, "spread", time.Minute, "expiries are spread over this long (sweep-lag)")
	var revocations, baseline, users, scheduled int
	f.IntVar(&scheduled, "scheduled", 0, "scheduled grants to activate over the same spread, in the same run (sweep-lag)")
	f.IntVar(&users, "users", 2000, "people with a live grant: half revoked by an admin (the baseline), half deactivated over SCIM (offboarding)")
	var ttl string
	f.IntVar(&revocations, "revocations", 200, "revocations measured with LISTEN/NOTIFY (replicas)")
	f.IntVar(&baseline, "baseline", 20, "revocations measured without notifications, TTL only (replicas)")
	f.StringVar(&ttl, "check-cache-ttl", "", "check cache TTL of both replicas; empty for serve's default (replicas)")
	if err := f.Parse(args[1:]); err != nil {
		return usageError(stderr, err)
	}
	if dbURL == "" {
		return usageError(stderr, errors.New("--database is required (use a scratch database)"))
	}
	var err error
	switch mode {
	case "lifecycle":
		err = benchLifecycle(ctx, dbURL, clients, lifecycles, stdout)
	case "sweep":
		err = benchSweep(ctx, dbURL, requests, batch, stdout)
	case "sweep-lag":
		err = benchSweepLag(ctx, dbURL, schedule, requests, scheduled, spread, stdout)
	case "replicas":
		err = benchReplicas(ctx, dbURL, revocations, baseline, ttl, stdout)
	case "offboarding":
		err = benchOffboarding(ctx, dbURL, users, clients, stdout)
	default:
		fmt.Fprint(stderr, benchUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess bench %s: %v\n", mode, err)
		return 1
	}
	return 0
}

// benchPolicy has one requester per client and one resource per lifecycle
// a client runs, so that no lifecycle waits on another's open request.
func benchPolicy(clients, perClient int) string {
	var b strings.Builder
	b.WriteString("groups:\n  agents: [")
	for c := 0; c < clients; c++ {
		if c > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "agent%d@bench.example", c)
	}
	b.WriteString("]\n  managers: [carol@bench.example, dave@bench.example]\nresources:\n")
	for i := 0; i < perClient; i++ {
		fmt.Fprintf(&b, "  - id: res-%d\n    tier: high\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [managers]\n", i)
	}
	return b.String()
}

// benchConfig is serve's configuration for a benchmark: its defaults, an
// embedded policy, a loopback port.
func benchConfig(dbURL string, pol *workflow.Policy, schedule string) app.Config {
	cfg, err := app.ServeConfig([]string{"--database", dbURL, "--listen", "127.0.0.1:0", "--sweep-schedule", schedule, "--log-level", "error",
		// A handful of principals drive all the load: rate limits would
		// measure themselves.
		"--api-rate-limit", "0", "--service-rate-limit", "0"})
	if err != nil {
		panic("bench configuration: " + err.Error()) // the flags above are constants
	}
	cfg.Policy = pol // New validates
	return cfg
}

func startBenchApp(ctx context.Context, dbURL, policy, schedule string) (*app.App, context.CancelFunc, chan error, error) {
	pol, err := workflow.ParsePolicy("bench policy", []byte(policy))
	if err != nil {
		return nil, nil, nil, err
	}
	a, err := app.New(ctx, benchConfig(dbURL, pol, schedule), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, nil, err
	}
	if err := a.Listen(); err != nil {
		a.DB.Close()
		return nil, nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	return a, cancel, done, nil
}

func benchLifecycle(ctx context.Context, dbURL string, clients, lifecycles int, out io.Writer) error {
	if clients <= 0 || lifecycles < clients {
		return errors.New("--clients must be positive and --lifecycles at least --clients")
	}
	perClient := lifecycles / clients
	a, stop, done, err := startBenchApp(ctx, dbURL, benchPolicy(clients, perClient), "@every 1h")
	if err != nil {
		return err
	}
	defer func() { stop(); <-done }()
	now := workflow.Now()
	token := func(email string) (string, error) {
		s, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: email, Actor: "bench"}, now)
		return s, err
	}
	carol, err := token("carol@bench.example")
	if err != nil {
		return err
	}
	dave, err := token("dave@bench.example")
	if err != nil {
		return err
	}
	base := "http://" + a.Addr()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}, Timeout: 30 * time.Second}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  atomic.Int64
		firstErr  error
		wg        sync.WaitGroup
	)
	call := func(method, path, tok, body string, want int) (map[string]any, error) {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		d := time.Since(t0)
		if resp.StatusCode != want {
			return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		mu.Lock()
		latencies = append(latencies, d)
		mu.Unlock()
		var m map[string]any
		return m, json.Unmarshal(raw, &m)
	}
	start := time.Now()
	for c := 0; c < clients; c++ {
		agent, err := token(fmt.Sprintf("agent%d@bench.example", c))
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				err := func() error {
					r, err := call("POST", "/api/v1/requests", agent, fmt.Sprintf(`{"resource":"res-%d","duration":"30m","reason":"bench"}`, i), 201)
					if err != nil {
						return err
					}
					id, _ := r["id"].(string)
					if _, err := call("POST", "/api/v1/requests/"+id+"/approve", carol, `{}`, 200); err != nil {
						return err
					}
					_, err = call("POST", "/api/v1/requests/"+id+"/approve", dave, `{}`, 200)
					return err
				}()
				if err != nil {
					failures.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return fmt.Errorf("%d lifecycles failed; first: %w", failures.Load(), firstErr)
	}
	slices.Sort(latencies)
	n := len(latencies)
	fmt.Fprintf(out, "database:     %s (%s)\n", a.DB.Kind(), store.Redact(dbURL))
	fmt.Fprintf(out, "clients:      %d\n", clients)
	fmt.Fprintf(out, "lifecycles:   %d (create → approve → approve, high tier)\n", clients*perClient)
	fmt.Fprintf(out, "transitions:  %d in %.2fs\n", n, elapsed.Seconds())
	fmt.Fprintf(out, "throughput:   %.1f transitions/s\n", float64(n)/elapsed.Seconds())
	fmt.Fprintf(out, "latency p50:  %.2f ms\n", ms(latencies[n/2]))
	fmt.Fprintf(out, "latency p99:  %.2f ms\n", ms(latencies[min(n-1, n*99/100)]))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// seedExpired stores n approved grants, each for its own person, expiring
// at the given times.
func seedExpired(ctx context.Context, db *store.DB, expiries []time.Time) error {
	const batch = 10000
	for start := 0; start < len(expiries); start += batch {
		var reqs []*workflow.Request
		for i := start; i < min(start+batch, len(expiries)); i++ {
			exp := expiries[i]
			approved := exp.Add(-time.Hour)
			reqs = append(reqs, &workflow.Request{
				ID: fmt.Sprintf("0190bbbb-0000-7000-8000-%012d", i), Requester: fmt.Sprintf("agent%d@bench.example", i), Resource: "res-0",
				Tier: workflow.TierHigh, Reason: "bench", Duration: time.Hour, State: workflow.StateApproved, RequiredApprovals: 2, Version: 3,
				CreatedAt: approved, UpdatedAt: approved, ReviewDeadline: approved.Add(24 * time.Hour), ApprovedAt: &approved, ExpiresAt: &exp,
			})
		}
		if err := db.BulkInsertRequests(ctx, reqs); err != nil {
			return err
		}
		// The provisioning records approval would have written (the bench
		// resource has no provisioner), so that the sweep does what it
		// does in production.
		recs := make([]*provision.Record, len(reqs))
		for i, r := range reqs {
			recs[i] = &provision.Record{RequestID: r.ID, Resource: r.Resource, Requester: r.Requester,
				Spec: workflow.ProvisionerSpec{Type: workflow.ProvisionerNone}, Operation: provision.OpApply,
				Status: provision.StatusApplied, AppliedAt: r.ApprovedAt, CreatedAt: *r.ApprovedAt, UpdatedAt: *r.ApprovedAt}
		}
		err := db.InTx(ctx, func(tx workflow.Tx) error { return tx.(provision.Tx).SaveProvisionings(ctx, recs) })
		if err != nil {
			return err
		}
	}
	return nil
}

func benchSweep(ctx context.Context, dbURL string, n, batch int, out io.Writer) error {
	pol, err := workflow.ParsePolicy("bench policy", []byte(benchPolicy(1, 1)))
	if err != nil {
		return err
	}
	// Wired as serve wires it, so that the sweep runs every production
	// hook (notifications, metrics, provisioning), but never started: the
	// one sweep below is the only one.
	a, err := app.New(ctx, benchConfig(dbURL, pol, "@every 1h"), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer a.DB.Close()
	svc := a.Service
	if batch > 0 {
		svc = workflow.NewService(a.DB, pol, workflow.Options{SweepBatch: batch})
		for _, h := range a.Service.Hooks() {
			svc.OnChange(h)
		}
	}
	db := a.DB
	past := workflow.Now().Add(-time.Minute)
	expiries := make([]time.Time, n)
	for i := range expiries {
		expiries[i] = past.Add(-time.Duration(i) * time.Millisecond)
	}
	t0 := time.Now()
	if err := seedExpired(ctx, db, expiries); err != nil {
		return err
	}
	seeded := time.Since(t0)
	before, err := countExpireRecords(ctx, db)
	if err != nil {
		return err
	}
	t0 = time.Now()
	res, err := svc.Sweep(ctx)
	took := time.Since(t0)
	if err != nil {
		return err
	}
	after, err := countExpireRecords(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "database:        %s\n", db.Kind())
	fmt.Fprintf(out, "seeded:          %d approved requests past expiry in %.1fs (not timed)\n", n, seeded.Seconds())
	fmt.Fprintf(out, "one sweep:       %.2fs, expired %d (%.0f/s)\n", took.Seconds(), res.Expired, float64(res.Expired)/took.Seconds())
	fmt.Fprintf(out, "audit records:   %d expire records written\n", after-before)
	if res.Expired != n || after-before != int64(n) {
		return fmt.Errorf("expired %d and audited %d of %d", res.Expired, after-before, n)
	}
	return nil
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

func benchSweepLag(ctx context.Context, dbURL, schedule string, n, scheduled int, spread time.Duration, out io.Writer) error {
	interval, err := app.ScheduleInterval(schedule)
	if err != nil {
		return err
	}
	a, stop, done, err := startBenchApp(ctx, dbURL, benchPolicy(1, 1), schedule)
	if err != nil {
		return err
	}
	defer func() { stop(); <-done }()
	// Grants expire (and scheduled ones start) evenly over the spread,
	// starting a little from now.
	first := workflow.Now().Add(2 * time.Second)
	spreadOver := func(k int) []time.Time {
		ts := make([]time.Time, k)
		for i := range ts {
			ts[i] = first.Add(time.Duration(int64(spread) * int64(i) / int64(max(k-1, 1)))).Truncate(time.Microsecond)
		}
		return ts
	}
	expiries, starts := spreadOver(n), spreadOver(scheduled)
	if err := seedExpired(ctx, a.DB, expiries); err != nil {
		return err
	}
	if err := seedScheduled(ctx, a.DB, starts); err != nil {
		return err
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
		if c >= int64(n) && act >= int64(scheduled) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d grants expired and %d of %d activated by %s", c, n, act, scheduled, deadline.Format(time.RFC3339))
		}
		time.Sleep(500 * time.Millisecond)
	}
	lags, err := auditLags(ctx, a.DB, "expire", "expires_at")
	if err != nil {
		return err
	}
	k := len(lags)
	fmt.Fprintf(out, "database:     %s\n", a.DB.Kind())
	fmt.Fprintf(out, "schedule:     %s (interval %s)\n", schedule, interval)
	fmt.Fprintf(out, "grants:       %d expiring evenly over %s\n", k, spread)
	fmt.Fprintf(out, "lag p50:      %.2fs\n", lags[k/2])
	fmt.Fprintf(out, "lag p99:      %.2fs (target < 2 × interval = %s)\n", lags[min(k-1, k*99/100)], 2*interval)
	fmt.Fprintf(out, "lag max:      %.2fs\n", lags[k-1])
	if scheduled == 0 {
		return nil
	}
	act, err := auditLags(ctx, a.DB, string(workflow.EventActivate), "start_at")
	if err != nil {
		return err
	}
	k = len(act)
	fmt.Fprintf(out, "scheduled:    %d starting evenly over the same %s\n", k, spread)
	fmt.Fprintf(out, "activation p50: %.2fs\n", act[k/2])
	fmt.Fprintf(out, "activation p99: %.2fs (target < 2 × interval = %s)\n", act[min(k-1, k*99/100)], 2*interval)
	fmt.Fprintf(out, "activation max: %.2fs\n", act[k-1])
	return nil
}

func usageError(stderr io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "jitaccess bench: %v\n", err)
	return 2
}
