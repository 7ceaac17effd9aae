// Command checkload measures the check and mask APIs against trivial
// handlers on the same server, with the same number of clients, in the
// same run. BENCHMARKS.md ("Check and mask") has the method and figures.
//
//	go run ./cmd/checkload                                   # SQLite in a temp dir
//	go run ./cmd/checkload --database postgres://postgres@127.0.0.1:5432/checkload
//
// It boots the real HTTP stack in-process (echo router, bearer-token
// authentication through the token cache as serve wires it, or against
// the database on every call with --token-cache-ttl 0, the access checker with its
// decision cache and group-committed audit) on 127.0.0.1, and drives it
// over real TCP connections with keep-alive. Client and server share the
// machine's cores.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

const policy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com]
resources:
  - id: crm-payments
    tier: medium
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
    fields:
      - {name: payment_card, mask: last4}
      - {name: iban, mask: token}
      - {name: identity_document, mask: redact}
      - {name: internal_notes, mask: redact}
`

// record is a typical help-desk customer record (about 600 bytes).
const record = `{"id":"cus_881","name":"Ada Lovelace","email":"ada@example.com","phone":"+44 20 7946 0958",
"payment_card":"4111 1111 1111 1234","iban":"DE89370400440532013000",
"identity_document":{"kind":"passport","number":"X1234567","expires":"2031-04-01"},
"address":{"street":"12 St James's Square","city":"London","postcode":"SW1Y 4JH","country":"GB"},
"tickets":[{"id":"SUP-1","subject":"Refund","internal_notes":"suspected fraud"},{"id":"SUP-2","subject":"Card blocked","internal_notes":"called twice"}],
"plan":"pro","created":"2024-02-11T10:00:00Z"}`

func main() {
	var (
		dbURL     = flag.String("database", "", "database URL (default: a new SQLite file in a temp dir)")
		clients   = flag.Int("clients", 4, "concurrent clients, the same for every endpoint")
		duration  = flag.Duration("duration", 5*time.Second, "measured time per endpoint")
		warmup    = flag.Duration("warmup", time.Second, "unmeasured time per endpoint before measuring")
		nrounds   = flag.Int("rounds", 5, "rounds: each measures every endpoint in turn for duration/rounds")
		audits    = flag.String("audit", "none,allowed,all", "audit modes to measure, comma-separated")
		only      = flag.String("only", "", "measure only the endpoints whose name contains this (the baselines always run)")
		profile   = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
		flush     = flag.Duration("audit-flush", 0, "0: answers wait for their audit record's commit; a duration: records are committed in batches at least this often")
		tokTTL    = flag.Duration("token-cache-ttl", identity.DefaultTokenCacheTTL, "the token cache's TTL, as serve's --token-cache-ttl; 0: every call looks its token up in the database")
		sealEvery = flag.Duration("audit-seal-interval", 200*time.Millisecond, "as serve's --audit-seal-interval: the sealer chains the audit records this often (PostgreSQL); 0: each transaction chains its own under the head lock")
	)
	flag.Parse()
	onlyFilter, auditFlush, rounds, tokenCacheTTL = *only, *flush, max(*nrounds, 1), *tokTTL
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *dbURL == "" {
		dir, err := os.MkdirTemp("", "checkload")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		*dbURL = "sqlite:" + filepath.Join(dir, "load.db")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, *dbURL, store.Options{MaxOpenConns: 20, SealInline: *sealEvery == 0})
	if err != nil {
		fail(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		fail(err)
	}
	// The audit sealer, as serve runs it (app/sealer.go; PostgreSQL only).
	sealCtx, stopSealer := context.WithCancel(ctx)
	defer stopSealer()
	go db.RunSealer(sealCtx, store.SealerConfig{Interval: *sealEvery, Holder: "checkload"})
	fmt.Printf("database %s, %d clients, %s per endpoint in %d interleaved rounds, after %s warm-up; GOMAXPROCS %d\n\n",
		db.Kind(), *clients, *duration, rounds, *warmup, runtime.GOMAXPROCS(0))
	for _, mode := range strings.Split(*audits, ",") {
		if err := runMode(ctx, db, workflow.CheckAuditMode(strings.TrimSpace(mode)), *clients, *duration, *warmup); err != nil {
			fail(err)
		}
	}
}

var (
	onlyFilter    string
	auditFlush    time.Duration
	rounds        int
	tokenCacheTTL time.Duration
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "checkload:", err)
	os.Exit(1)
}

type target struct {
	name   string
	method string
	path   string
	token  string
	body   string
}

func runMode(ctx context.Context, db *store.DB, mode workflow.CheckAuditMode, clients int, duration, warmup time.Duration) error {
	pol, err := workflow.ParsePolicy("checkload.yaml", []byte(policy))
	if err != nil {
		return err
	}
	svc := workflow.NewService(db, pol, workflow.Options{AuditChecks: mode})
	chk := access.New(svc, access.Options{TokenKey: []byte("checkload-token-key-0123456789abcdef"), AuditMode: mode,
		CacheTTL: 5 * time.Second, AuditFlush: auditFlush, Logger: slog.New(slog.DiscardHandler)})
	svc.OnChange(chk.Hook)
	// As serve wires it (app/provision.go): without the commit hook, the
	// key of a grant approved below stays held and its allowed decisions
	// are never cached, so every allowed check read the database.
	svc.OnCommit(chk.Committed)
	// Rate limits off: a few tokens drive all the load, and the limiter
	// would measure itself.
	// The token lookup as serve wires it (app/tokencache.go).
	var tokens identity.TokenLookup = db
	if tokenCacheTTL > 0 {
		tokens = identity.NewTokenCache(db, identity.TokenCacheOptions{TTL: tokenCacheTTL})
	}
	srv := web.New(web.Config{Service: svc, Tokens: tokens, Logger: slog.New(slog.DiscardHandler),
		Edge: httpkit.EdgeConfig{APIPerMinute: -1, ServicePerMinute: -1}})
	srv.UseAccess(chk, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(l)
	defer hs.Close()
	base := "http://" + l.Addr().String()

	now := workflow.Now()
	helpdesk, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check"}, Actor: "checkload"}, now)
	if err != nil {
		return err
	}
	// A live grant for alice; none for bob.
	if open, _ := db.OpenRequest(ctx, "alice@example.com", "crm-payments"); open == nil {
		req, err := svc.Submit(ctx, workflow.User("alice@example.com"), workflow.SubmitInput{Resource: "crm-payments", Duration: 8 * time.Hour, Reason: "load test"})
		if err != nil {
			return err
		}
		if _, err := svc.Approve(ctx, workflow.User("carol@example.com"), req.ID, ""); err != nil {
			return err
		}
	}
	mask := func(user string) string {
		return `{"user":"` + user + `","resource":"crm-payments","record":` + record + `}`
	}
	targets := []target{
		{"GET /healthz (trivial, no auth)", "GET", "/healthz", "", ""},
		{"GET /api/v1/me (trivial, same auth)", "GET", "/api/v1/me", helpdesk, ""},
		{"GET /api/v1/grants/check (allowed)", "GET", "/api/v1/grants/check?user=alice@example.com&resource=crm-payments", helpdesk, ""},
		{"GET /api/v1/grants/check (denied)", "GET", "/api/v1/grants/check?user=bob@example.com&resource=crm-payments", helpdesk, ""},
		{"POST /api/v1/mask (no grant: 6 values masked)", "POST", "/api/v1/mask", helpdesk, mask("bob@example.com")},
		{"POST /api/v1/mask (live grant: unmasked)", "POST", "/api/v1/mask", helpdesk, mask("alice@example.com")},
	}
	defer chk.Close(ctx)
	fmt.Printf("audit mode %q, audit flush %v, token cache TTL %v\n\n", mode, auditFlush, tokenCacheTTL)
	var selected []target
	for _, tg := range targets {
		if onlyFilter != "" && tg.token != "" && !strings.HasPrefix(tg.path, "/api/v1/me") && !strings.Contains(tg.name, onlyFilter) {
			continue
		}
		selected = append(selected, tg)
	}
	// Every endpoint gets its own keep-alive connections, a warm-up, then
	// rounds: each round measures every endpoint for duration/rounds, in
	// turn, so that whatever else the machine does weighs on all alike.
	lat := make([][]time.Duration, len(selected))
	elapsed := make([]time.Duration, len(selected))
	httpClients := make([]*http.Client, len(selected))
	for i, tg := range selected {
		httpClients[i] = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
		if _, _, err := load(httpClients[i], base, tg, clients, warmup); err != nil {
			return err
		}
	}
	for r := 0; r < rounds; r++ {
		for i, tg := range selected {
			l, d, err := load(httpClients[i], base, tg, clients, duration/time.Duration(rounds))
			if err != nil {
				return err
			}
			lat[i] = append(lat[i], l...)
			elapsed[i] += d
		}
	}
	fmt.Println("| endpoint | req/s | vs /me | vs /healthz | p50 ms | p90 ms | p99 ms | max ms |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	rps := make([]float64, len(selected))
	var healthz, me float64
	for i, tg := range selected {
		httpClients[i].CloseIdleConnections()
		rps[i] = float64(len(lat[i])) / elapsed[i].Seconds()
		switch tg.path {
		case "/healthz":
			healthz = rps[i]
		case "/api/v1/me":
			me = rps[i]
		}
	}
	for i, tg := range selected {
		l := lat[i]
		slices.Sort(l)
		pct := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))]) / 1e6 }
		fmt.Printf("| %s | %.0f | %.0f%% | %.0f%% | %.2f | %.2f | %.2f | %.2f |\n", tg.name, rps[i], 100*rps[i]/me, 100*rps[i]/healthz,
			pct(0.50), pct(0.90), pct(0.99), float64(l[len(l)-1])/1e6)
	}
	if _, err := db.SealPending(ctx); err != nil {
		return err
	}
	var audited int64
	if err := db.Gorm().Raw(`SELECT count(*) FROM audit_records WHERE action IN ('check', 'mask')`).Scan(&audited).Error; err != nil {
		return err
	}
	fmt.Printf("\n(check and mask audit records in the database so far: %d)\n\n", audited)
	return nil
}

// load runs clients loops against tg for d and returns every latency.
func load(client *http.Client, base string, tg target, clients int, d time.Duration) ([]time.Duration, time.Duration, error) {
	var (
		mu      sync.Mutex
		all     []time.Duration
		firstEr error
		wg      sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(stop) {
				var body io.Reader
				if tg.body != "" {
					body = strings.NewReader(tg.body)
				}
				req, _ := http.NewRequest(tg.method, base+tg.path, body)
				if tg.token != "" {
					req.Header.Set("Authorization", "Bearer "+tg.token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					firstEr = cmpErr(firstEr, err)
					mu.Unlock()
					return
				}
				var buf bytes.Buffer
				_, _ = io.Copy(&buf, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					firstEr = cmpErr(firstEr, fmt.Errorf("%s: %d %s", tg.name, resp.StatusCode, buf.String()))
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, time.Since(start), firstEr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
