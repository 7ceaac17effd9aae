package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/scim"
	"github.com/jitaccess/jitaccess/slackapp"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/workflow"
)

// App is a running jitaccess: database, service, HTTP server, sweeper and
// workers. Tests boot it on 127.0.0.1:0.
type App struct {
	Config  Config
	DB      *store.DB
	Service *workflow.Service
	Web     *web.Server
	Logger  *slog.Logger

	listener net.Listener
	server   *http.Server
	cron     *cron.Cron
	runners  []*queue.Runner
	// provisionRunner is the provisioning worker (also in runners), woken
	// when a change commits provisioning steps (wake.go).
	provisionRunner *queue.Runner
	// waker sweeps at the next due time between cron runs (wake.go); nil
	// with --sweep-cron-only.
	waker *sweepWaker
	// sweepMu runs one sweep at a time on this replica (cron and the
	// waker both start sweeps); sweepAgain asks the one running for
	// another round.
	sweepMu    sync.Mutex
	sweepAgain atomic.Bool

	oversight *oversight // metrics, alerts, chain checks (oversight.go)
	// holder names this replica in leases: host, process and a random part.
	holder  string
	slack   *slackapp.Handler
	changes *changeListener      // cross-replica cache invalidation (listen.go)
	tokens  *identity.TokenCache // nil when --token-cache-ttl is off (tokencache.go)
	// stops run at shutdown after the workers, before the database closes
	// (to flush what is buffered).
	stops []func(context.Context) error
	// reloadMu makes policy reloads (SIGHUP, file change) take turns.
	reloadMu sync.Mutex
	// draining is set when shutdown begins: /readyz fails from then on.
	draining atomic.Bool
	// startLoad is the start's policy load, followed up (alert,
	// re-evaluation) at the end of New.
	startLoad workflow.PolicyLoadResult
}

// loadPolicy returns the configured policy: the file, or the demo's.
func loadPolicy(cfg Config) (*workflow.Policy, error) {
	if cfg.Policy != nil {
		return cfg.Policy, nil
	}
	if cfg.PolicyFile != "" {
		return workflow.LoadPolicyFile(cfg.PolicyFile)
	}
	return DemoPolicy(), nil
}

// New opens the database, applies migrations and wires everything, but
// does not start serving.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*App, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pol, err := loadPolicy(cfg)
	if err != nil {
		return nil, err
	}
	// Before the database is touched: a server that cannot start must not
	// leave migrations applied behind it.
	if err := provision.CheckEnv(pol, nil); err != nil {
		return nil, err
	}
	if err := provision.CheckLease(pol, cfg.Provision.Lease); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DBMaxConns, SlowQuery: time.Second, Logger: logger,
		SealInline: cfg.AuditSealInterval == 0})
	if err != nil {
		return nil, err
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(applied) > 0 {
		logger.Info("applied migrations", "versions", applied)
	}
	svc := workflow.NewService(db, pol, workflow.Options{ReviewTimeout: cfg.ReviewTimeout, AuditChecks: cfg.AuditChecks,
		MFAMaxAge: cfg.Web.MFAMaxAge, WebURL: cfg.Web.PublicURL})
	// Every load is in the policy history and the audit log, this one too
	// (policy_history.go); it sets the policy's version before anything
	// else reads it.
	startLoad, err := svc.LoadPolicy(ctx, pol, workflow.PolicyLoad{Trigger: workflow.TriggerStart, LoadedBy: loadedBy()})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("record the policy load: %w", err)
	}
	pol = startLoad.Policy
	a := &App{Config: cfg, DB: db, Service: svc, Logger: logger, startLoad: startLoad, holder: replicaName()}
	tokenTTL, err := cfg.tokenCacheTTL()
	if err != nil {
		db.Close()
		return nil, err
	}
	wc := web.Config{
		Service:     svc,
		Tokens:      a.wireTokens(tokenTTL),
		Idempotency: db,
		Version:     Version,
		Logger:      logger,
		Ready: func(ctx context.Context) error {
			if a.draining.Load() {
				return workflow.Errorf(workflow.CodeUnavailable, "shutting down")
			}
			if err := db.Ping(ctx); err != nil {
				return &workflow.Error{Code: workflow.CodeUnavailable, Message: "database unreachable", Err: err}
			}
			if err := db.CheckMigrated(ctx); err != nil {
				return &workflow.Error{Code: workflow.CodeUnavailable, Message: "database migrations not applied", Err: err}
			}
			return nil
		},
	}
	configureWeb(cfg, db, pol, &wc)
	wc.OwnBodyLimits = []string{scim.Prefix + "/"} // SCIM limits its own, in its error shape
	a.Web = web.New(wc)
	// Hooks run in the order registered: notifications first.
	if err := a.wireNotifications(); err != nil {
		db.Close()
		return nil, err
	}
	a.cron = cron.New(cron.WithParser(sweepParser), cron.WithLocation(time.UTC), cron.WithChain(
		cron.Recover(cronLogger{logger}), cron.SkipIfStillRunning(cronLogger{logger})))
	if _, err := a.cron.AddFunc(cfg.SweepSchedule, a.sweep); err != nil {
		db.Close()
		return nil, fmt.Errorf("--sweep-schedule: %w", err)
	}
	if _, err := a.cron.AddFunc(cfg.SweepSchedule, a.alertOverdueReviews); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := a.cron.AddFunc("@every 1h", a.pruneJobs); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := a.cron.AddFunc("@every 1h", a.pruneIdempotencyKeys); err != nil {
		db.Close()
		return nil, err
	}
	if cfg.ReconcileInterval > 0 {
		if _, err := a.cron.AddFunc("@every "+cfg.ReconcileInterval.String(), a.reconcile); err != nil {
			db.Close()
			return nil, fmt.Errorf("--reconcile-interval: %w", err)
		}
	}
	// Provisioning's hook before oversight's metrics hook: metrics count
	// only changes whose follow-up work was enqueued.
	if err := a.wireProvisioning(); err != nil {
		db.Close()
		return nil, err
	}
	a.wireWake()
	if err := a.setupOversight(); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.wireSCIM(); err != nil {
		db.Close()
		return nil, err
	}
	// Everything is wired: alert on a lowered policy and re-evaluate what
	// is live under the policy loaded at start.
	a.afterPolicyLoad(ctx, a.startLoad)
	return a, nil
}

// sweep is the cron job, and the waker's (wake.go). It runs the same
// compare-and-set use case on every replica; on one replica one sweep runs
// at a time, and a sweep asked for while one runs is run after it (the
// grant it was woken for may have become due after the running one
// started), so that none is lost and none stacks up.
func (a *App) sweep() {
	a.sweepAgain.Store(true)
	for a.sweepAgain.Load() {
		if !a.sweepMu.TryLock() {
			return // the sweep running sees sweepAgain and goes again
		}
		for a.sweepAgain.Swap(false) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			_, _ = a.SweepNow(ctx)
			cancel()
		}
		a.sweepMu.Unlock()
	}
}

// SweepNow runs one sweep as the sweeper does, with every production hook
// and its follow-up: metrics, logs, and the timer for the next due time. The sweeper calls it; so does `jitaccess
// bench sweep`, to time what production runs.
func (a *App) SweepNow(ctx context.Context) (workflow.SweepResult, error) {
	start := time.Now()
	res, err := a.Service.Sweep(ctx)
	a.observeSweep(time.Since(start), res, err)
	if err != nil {
		a.Logger.Error("sweep failed", "err", err, "expired", res.Expired, "timed_out", res.TimedOut)
		return res, err
	}
	if res.Expired+res.TimedOut > 0 {
		a.Logger.Info("sweep", "expired", res.Expired, "timed_out", res.TimedOut, "took", time.Since(start))
	}
	a.armNextDue(ctx, time.Now())
	return res, nil
}

// alertOverdueReviews is a cron job on the sweep schedule (not the
// waker's: it has no due time to be early for): overdue break-glass
// reviews, one flag and alert per review period, whichever replica gets
// there first.
func (a *App) alertOverdueReviews() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := a.Service.AlertOverdueReviews(ctx)
	if err != nil {
		a.Logger.Error("overdue break-glass review sweep failed", "err", err, "alerted", n)
	} else if n > 0 {
		a.Logger.Warn("overdue break-glass reviews alerted", "reviews", n)
	}
}

// reconcile is the periodic re-evaluation: every live grant and pending
// request judged again under the policy and directory in force, catching
// what a change's own re-evaluation missed (a crash between a directory
// commit and its reconcile, a lost notification). It is safe on every
// replica (each ending is compare-and-set); the lease keeps all but one
// from doing the same reads.
func (a *App) reconcile() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	now := time.Now().UTC()
	held, err := a.DB.TakeLease(ctx, "reconcile", a.holder, 2*a.Config.ReconcileInterval, now)
	if err != nil {
		a.Logger.Error("reconcile: take the lease", "err", err)
		return
	}
	if !held {
		return
	}
	res, err := a.Service.Reconcile(ctx, "periodic reconcile")
	if err != nil {
		a.Logger.Error("reconcile failed", "err", err, "revoked", res.Revoked, "cancelled", res.Cancelled, "withdrawn", res.Withdrawn)
		return
	}
	if res != (workflow.ReconcileResult{}) {
		a.Logger.Info("reconcile", "revoked", res.Revoked, "cancelled", res.Cancelled, "withdrawn", res.Withdrawn, "took", time.Since(now))
	}
}

// pruneJobs deletes finished jobs past their retention, so that the queue
// table holds the backlog and recent history, not every message ever sent.
func (a *App) pruneJobs() {
	if a.Config.JobRetention <= 0 || a.Config.FailedRetention <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	now := time.Now().UTC()
	n, err := a.DB.PruneJobs(ctx, now.Add(-a.Config.JobRetention), now.Add(-a.Config.FailedRetention))
	if err != nil {
		a.Logger.Error("prune finished jobs", "err", err)
		return
	}
	if n > 0 {
		a.Logger.Info("pruned finished jobs", "deleted", n)
	}
}

// pruneIdempotencyKeys deletes Idempotency-Keys past the day their first
// answer is replayed for. Every replica may run it: a delete by age.
func (a *App) pruneIdempotencyKeys() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := a.DB.PruneIdempotencyKeys(ctx, a.Service.Clock()().Add(-api.IdempotencyKeep))
	if err != nil {
		a.Logger.Error("prune idempotency keys", "err", err)
		return
	}
	if n > 0 {
		a.Logger.Info("pruned idempotency keys", "deleted", n)
	}
}

// Listen binds the HTTP listener. Addr is valid after it returns.
func (a *App) Listen() error {
	l, err := net.Listen("tcp", a.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.Config.Listen, err)
	}
	a.listener = l
	if a.Config.Web.PublicURL == "" {
		a.Service.SetWebURL(localWebURL(a.Addr())) // where refusals send people
	}
	return nil
}

// Addr is the address the server listens on.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully: /readyz fails
// at once while the listener keeps serving for ShutdownGrace (so that a
// load balancer stops sending first), then it stops taking requests, lets
// those in flight finish, stops the sweeper and the workers after their
// current job, revokes the demo tokens, and closes the database.
func (a *App) Run(ctx context.Context) error {
	if a.listener == nil {
		if err := a.Listen(); err != nil {
			return err
		}
	}
	writeTimeout := a.Config.WriteTimeout
	if writeTimeout <= 0 {
		writeTimeout = DefaultWriteTimeout
	}
	a.server = &http.Server{
		Handler:           a.Web,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	for _, r := range a.runners {
		workers.Add(1)
		go func() { defer workers.Done(); r.Run(workCtx) }()
	}
	a.changes.start(workCtx, &workers)
	a.pollTokens(workCtx, &workers)
	a.cron.Start()
	a.runWaker(workCtx, &workers)
	a.runSealer(workCtx, &workers)
	// The witness check at start; WitnessInterval after that (cron).
	workers.Add(1)
	go func() { defer workers.Done(); a.witnessJob() }()
	workers.Add(1)
	go func() { defer workers.Done(); a.watchPolicyFile(workCtx) }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- a.server.Serve(a.listener) }()

	var err error
	select {
	case <-ctx.Done():
		a.draining.Store(true)
		if grace := a.Config.ShutdownGrace; grace > 0 {
			a.Logger.Info("shutting down: not ready, serving for the grace period", "grace", grace)
			select {
			case <-time.After(grace):
			case err = <-serveErr:
			}
		}
	case err = <-serveErr:
	}
	a.draining.Store(true)
	a.Logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if serr := a.server.Shutdown(shutdownCtx); serr != nil {
		a.Logger.Warn("HTTP shutdown", "err", serr)
	}
	a.shutdownSlack(shutdownCtx)
	select {
	case <-a.cron.Stop().Done():
	case <-shutdownCtx.Done():
		a.Logger.Warn("sweeper did not finish before the shutdown timeout")
	}
	stopWork()
	workers.Wait()
	// What this replica's last transactions wrote is sealed now rather
	// than by whichever sealer comes next.
	if _, serr := a.DB.SealPending(shutdownCtx); serr != nil {
		a.Logger.Warn("seal the last audit records", "err", serr)
	}
	for _, stop := range a.stops {
		if serr := stop(shutdownCtx); serr != nil {
			a.Logger.Warn("stop", "err", serr)
		}
	}
	if a.Config.Demo {
		// Demo tokens live as long as the process (the next start revokes
		// them too, after a crash).
		if rerr := a.DB.RevokeTokensByDescription(shutdownCtx, demoTokenDescription, workflow.Now()); rerr != nil {
			a.Logger.Warn("revoke the demo tokens", "err", rerr)
		}
	}
	if cerr := a.DB.Close(); cerr != nil {
		a.Logger.Warn("close database", "err", cerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ReloadPolicy reads the policy file again and puts it in force, as
// SIGHUP does (trigger sighup; see reloadPolicy). A file with errors is
// refused and the policy in force stays.
func (a *App) ReloadPolicy() error {
	return a.reloadPolicy(context.Background(), workflow.TriggerSIGHUP)
}

// watchReload reloads the policy file on SIGHUP until ctx is done.
func (a *App) watchReload(ctx context.Context) {
	if a.Config.PolicyFile == "" {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = a.ReloadPolicy() // logged either way
			}
		}
	}()
}

// serve is `jitaccess serve`.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseServeFlags(args)
	if err != nil {
		return usageError(stderr, "serve", err)
	}
	logger := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	a, err := New(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess serve: %v\n", err)
		return 1
	}
	if err := a.Listen(); err != nil {
		a.DB.Close()
		fmt.Fprintf(stderr, "jitaccess serve: %v\n", err)
		return 1
	}
	a.watchReload(ctx)
	fmt.Fprintf(stdout, "jitaccess listening on http://%s (database %s, policy %s)\n", a.Addr(), store.Redact(cfg.DatabaseURL), a.Service.Policy().Source)
	if cfg.Demo {
		fmt.Fprintln(stdout, demoWarning)
		logger.Warn(demoWarning)
		if demoOnOwnData(a.Config) {
			own := fmt.Sprintf("WARNING: demo mode is on with your own policy (%s) and database (%s): every person in it can be signed in as without a password, and their tokens are printed below.",
				a.Service.Policy().Source, store.Redact(a.Config.DatabaseURL))
			fmt.Fprintln(stdout, own)
			logger.Warn(own)
		}
		if err := issueDemoTokens(ctx, a.DB, a.Service.Policy(), stdout); err != nil {
			a.DB.Close()
			fmt.Fprintf(stderr, "jitaccess serve: demo tokens: %v\n", err)
			return 1
		}
		if err := seedDemoDirectory(ctx, a.Service, a.Service.Policy(), stdout); err != nil {
			a.DB.Close()
			fmt.Fprintf(stderr, "jitaccess serve: demo directory: %v\n", err)
			return 1
		}
		if err := seedDemoRequests(ctx, a.Service, stdout); err != nil {
			// The demo's own policy has these resources; another policy
			// run with --demo may not, which is no reason to stop.
			logger.Warn("demo requests not seeded", "err", err)
		}
		fmt.Fprintf(stdout, "Try: curl -H 'Authorization: Bearer TOKEN' http://%s/api/v1/resources\n", a.Addr())
		fmt.Fprintf(stdout, "Web UI: open %s/ and sign in as any demo user. Use localhost, not 127.0.0.1: passkeys (WebAuthn) work on localhost only.\n", localWebURL(a.Addr()))
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "jitaccess serve: %v\n", err)
		return 1
	}
	return 0
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
