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
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

const benchUsage = `usage: jitaccess bench lifecycle|sweep|sweep-lag|replicas|offboarding|verify --database URL [flags]

  lifecycle   N clients drive full lifecycles (create → approve → approve)
              through the HTTP API of an in-process server; prints
              transitions per second and p50/p99 latency per call.
  sweep       stores --requests approved requests already past expiry and
              times one sweep of them (serve's, every hook), and in the
              same run the bare-SQL floor on an identical copy (one
              UPDATE … RETURNING feeding INSERT INTO audit_records); prints
              both and the ratio. --finished N first stores N finished
              requests and runs ANALYZE (the shape that once spoiled the
              plan); --explain prints the expiry statement's plan.
  sweep-lag   grants applied at an in-process webhook target expire over
              --spread while the real sweeper runs (--sweep-schedule, and
              its wake-up at the next expiry unless --cron-only); prints
              the lag from expires_at to the expire audit record and to
              the removal at the target (revocation lag); with
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
  verify      loads --records audit records (into a fresh database on
              --postgres when --database is not given), writes the bytes
              the verifier hashes to a temporary file, and times, --rounds
              times in turn, sha256sum of that file, audit verify (hashing
              on every core) and the sequential verify it replaced; prints
              the medians and the ratios to sha256sum.

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
	var finished int
	var profile string
	f.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the sweep, or of --rounds more parallel verifies, to this file (sweep, verify; go tool pprof)")
	var explain, cronOnly bool
	f.IntVar(&finished, "finished", 0, "finished requests stored, then ANALYZE, before the due ones (sweep)")
	f.BoolVar(&explain, "explain", false, "print the plan of the sweep's expiry statement (sweep)")
	f.BoolVar(&cronOnly, "cron-only", false, "the sweeper runs on --sweep-schedule only, as before its wake-up (sweep-lag; serve's --sweep-cron-only)")
	var revocations, baseline, users, scheduled int
	f.IntVar(&scheduled, "scheduled", 0, "scheduled grants to activate over the same spread, in the same run (sweep-lag)")
	f.IntVar(&users, "users", 2000, "people with a live grant: half revoked by an admin (the baseline), half deactivated over SCIM (offboarding)")
	var ttl, sealInterval string
	f.StringVar(&sealInterval, "audit-seal-interval", "", "serve's --audit-seal-interval; empty for its default (lifecycle)")
	f.IntVar(&revocations, "revocations", 200, "revocations measured with LISTEN/NOTIFY (replicas)")
	f.IntVar(&baseline, "baseline", 20, "revocations measured without notifications, TTL only (replicas)")
	f.StringVar(&ttl, "check-cache-ttl", "", "check cache TTL of both replicas; empty for serve's default (replicas)")
	var records, rounds int
	var server string
	f.IntVar(&records, "records", 1_000_000, "audit records to load when the log is empty (verify)")
	f.IntVar(&rounds, "rounds", 5, "timed rounds of sha256sum, parallel and sequential verify (verify)")
	f.StringVar(&server, "postgres", defaultPostgres(), "PostgreSQL server (URL of its maintenance database) for a fresh database when --database is not given (verify; env JITACCESS_TEST_POSTGRES)")
	if err := f.Parse(args[1:]); err != nil {
		return usageError(stderr, err)
	}
	if dbURL == "" && mode != "verify" {
		return usageError(stderr, errors.New("--database is required (use a scratch database)"))
	}
	var err error
	switch mode {
	case "lifecycle":
		err = benchLifecycle(ctx, dbURL, clients, lifecycles, sealInterval, stdout)
	case "sweep":
		err = benchSweep(ctx, dbURL, sweepOptions{n: requests, batch: batch, finished: finished, explain: explain, profile: profile}, stdout)
	case "sweep-lag":
		err = benchSweepLag(ctx, dbURL, schedule, requests, scheduled, spread, cronOnly, stdout)
	case "replicas":
		err = benchReplicas(ctx, dbURL, revocations, baseline, ttl, stdout)
	case "offboarding":
		err = benchOffboarding(ctx, dbURL, users, clients, stdout)
	case "verify":
		err = benchVerify(ctx, dbURL, verifyOptions{n: records, rounds: rounds, server: server, profile: profile}, stdout)
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
func benchConfig(dbURL string, pol *workflow.Policy, schedule string, extra ...string) app.Config {
	cfg, err := app.ServeConfig(append([]string{"--database", dbURL, "--listen", "127.0.0.1:0", "--sweep-schedule", schedule, "--log-level", "error",
		// A handful of principals drive all the load: rate limits would
		// measure themselves.
		"--api-rate-limit", "0", "--service-rate-limit", "0"}, extra...))
	if err != nil {
		panic("bench configuration: " + err.Error()) // the flags above are constants
	}
	cfg.Policy = pol // New validates
	return cfg
}

func startBenchApp(ctx context.Context, dbURL, policy, schedule string, extra ...string) (*app.App, context.CancelFunc, chan error, error) {
	pol, err := workflow.ParsePolicy("bench policy", []byte(policy))
	if err != nil {
		return nil, nil, nil, err
	}
	a, err := app.New(ctx, benchConfig(dbURL, pol, schedule, extra...), slog.New(slog.DiscardHandler))
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

func benchLifecycle(ctx context.Context, dbURL string, clients, lifecycles int, sealInterval string, out io.Writer) error {
	if clients <= 0 || lifecycles < clients {
		return errors.New("--clients must be positive and --lifecycles at least --clients")
	}
	perClient := lifecycles / clients
	var extra []string
	if sealInterval != "" {
		extra = append(extra, "--audit-seal-interval", sealInterval)
	}
	a, stop, done, err := startBenchApp(ctx, dbURL, benchPolicy(clients, perClient), "@every 1h", extra...)
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
	return reportSeal(ctx, a, client, base, out)
}

// reportSeal waits for the audit backlog to drain and prints the seal
// delay's p99, read from serve's own histogram (so as a bucket bound).
func reportSeal(ctx context.Context, a *app.App, client *http.Client, base string, out io.Writer) error {
	t0 := time.Now()
	for {
		b, err := a.DB.AuditBacklog(ctx)
		if err != nil {
			return err
		}
		if b.Records == 0 {
			break
		}
		if time.Since(t0) > time.Minute {
			return fmt.Errorf("%d audit records still unsealed a minute after the run", b.Records)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintf(out, "unsealed at the end: drained %.0f ms after the last call\n", ms(time.Since(t0)))
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var bounds []float64
	var counts []float64
	for _, line := range strings.Split(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, `jitaccess_audit_seal_delay_seconds_bucket{le="`)
		if !ok {
			continue
		}
		le, cnt, _ := strings.Cut(rest, `"} `)
		c, _ := strconv.ParseFloat(strings.TrimSpace(cnt), 64)
		bound, err := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			bound, err = math.Inf(1), nil
		}
		if err == nil {
			bounds, counts = append(bounds, bound), append(counts, c)
		}
	}
	if len(counts) == 0 || counts[len(counts)-1] == 0 {
		fmt.Fprintf(out, "seal delay:   none observed (sealed as each transaction committed)\n")
		return nil
	}
	total := counts[len(counts)-1]
	for i, c := range counts {
		if c >= 0.99*total {
			fmt.Fprintf(out, "seal delay p99: <= %g s (%.0f records; %.1f%% within 0.2 s)\n", bounds[i], total, 100*within(bounds, counts, 0.2)/total)
			break
		}
	}
	return nil
}

// within is the count of observations at or under bound.
func within(bounds, counts []float64, bound float64) float64 {
	n := 0.0
	for i, b := range bounds {
		if b <= bound {
			n = counts[i]
		}
	}
	return n
}

func defaultPostgres() string {
	if u := os.Getenv("JITACCESS_TEST_POSTGRES"); u != "" && u != "off" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func usageError(stderr io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "jitaccess bench: %v\n", err)
	return 2
}
