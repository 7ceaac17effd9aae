package app

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// Config is everything `jitaccess serve` can be told. Each setting is a flag
// with an environment variable behind it; the flag wins. docs/configuration.md
// lists them all.
type Config struct {
	DatabaseURL   string
	PolicyFile    string
	Listen        string
	SweepSchedule string
	// SweepCronOnly turns off the sweeper's wake-up at the next due time
	// and the provisioning worker's wake-up on new steps (wake.go): both
	// then wait for their schedule (--sweep-schedule, --provision-poll).
	SweepCronOnly bool
	// ReconcileInterval is how often every live grant and pending request
	// is judged again under the rules in force (0: only on changes).
	ReconcileInterval time.Duration
	ReviewTimeout     time.Duration
	AuditChecks       workflow.CheckAuditMode
	// AuditSealInterval is the audit sealer's maximum merge delay on
	// PostgreSQL (sealer.go): 0 makes each transaction chain its own
	// records under the head lock, as before the sealer (what tests built
	// from a Config literal get).
	AuditSealInterval time.Duration
	Demo              bool
	LogLevel          string
	LogFormat         string
	DBMaxConns        int
	ShutdownTimeout   time.Duration
	// WriteTimeout is the HTTP server's deadline for writing a response
	// (default DefaultWriteTimeout). Audit exports stream past it with a
	// deadline per write instead (web/audit_stream.go). Tests shorten it.
	WriteTimeout time.Duration
	// ShutdownGrace is how long, at shutdown, /readyz fails while the
	// listener keeps serving, so that a load balancer stops sending before
	// the listener closes (0: none).
	ShutdownGrace   time.Duration
	JobRetention    time.Duration   // finished outbox/queue jobs are deleted after this
	FailedRetention time.Duration   // failed jobs are kept this long for admins
	Web             WebConfig       // web UI and HTTP edge (webui.go)
	Oversight       OversightConfig // oversight.go
	Slack           SlackConfig     // notifications and the Slack app (slack.go)
	Provision       ProvisionConfig // provision.go
	// PolicyWatchInterval is how often the policy file's content hash is
	// checked for a change (reloaded as trigger file_change); 0 disables.
	PolicyWatchInterval time.Duration
	// TokenCacheTTL is how long a looked-up API token is trusted without
	// news of its revocation (app/tokencache.go): "" is 30s, "off"
	// disables the cache, or a duration up to 1h.
	TokenCacheTTL string

	// Policy, when set by a program embedding jitaccess (tests, the
	// bench command), is used instead of PolicyFile.
	Policy *workflow.Policy
}

// Defaults.
const (
	DefaultListen        = "127.0.0.1:8080"
	DefaultSweepSchedule = "@every 5s"
	// DefaultReconcileInterval is how often the periodic re-evaluation runs.
	DefaultReconcileInterval = 60 * time.Second
	// DefaultAuditSealInterval is the audit sealer's maximum merge delay.
	DefaultAuditSealInterval = 200 * time.Millisecond
	// DefaultPolicyWatchInterval is how often serve checks the policy file.
	DefaultPolicyWatchInterval = 5 * time.Second
	// DefaultShutdownGrace is how long /readyz fails before the listener
	// closes at shutdown.
	DefaultShutdownGrace = 5 * time.Second
	// DefaultWriteTimeout is the HTTP server's WriteTimeout.
	DefaultWriteTimeout = 60 * time.Second
)

// flagSet wraps flag.FlagSet so that every flag has an environment variable
// as its fallback, and a bad environment value is reported by name.
type flagSet struct {
	*flag.FlagSet
	envErrs []string
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &flagSet{FlagSet: fs}
}

func (f *flagSet) str(p *string, name, env, def, usage string) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		def = v
	}
	f.StringVar(p, name, def, usage+envNote(env))
}

func (f *flagSet) duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			f.envErrs = append(f.envErrs, fmt.Sprintf("%s=%q is not a positive duration like 30s, 15m or 24h", env, v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, usage+envNote(env))
}

// durationOrOff is duration for settings where 0 turns the thing off.
func (f *flagSet) durationOrOff(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			f.envErrs = append(f.envErrs, fmt.Sprintf("%s=%q is not a duration like 5s or 1m (0 disables)", env, v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, usage+envNote(env))
}

func (f *flagSet) integer(p *int, name, env string, def int, usage string) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			f.envErrs = append(f.envErrs, fmt.Sprintf("%s=%q is not a non-negative whole number", env, v))
		} else {
			def = n
		}
	}
	f.IntVar(p, name, def, usage+envNote(env))
}

func (f *flagSet) boolean(p *bool, name, env string, usage string) {
	def := false
	if v, ok := os.LookupEnv(env); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Sprintf("%s=%q is not true or false", env, v))
		}
		def = b
	}
	f.BoolVar(p, name, def, usage+envNote(env))
}

func envNote(env string) string { return " (env " + env + ")" }

// parse parses args and reports bad environment values first.
func (f *flagSet) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if len(f.envErrs) > 0 {
		return fmt.Errorf("%s", strings.Join(f.envErrs, "\n"))
	}
	return nil
}

// commonFlags are taken by every subcommand.
type commonFlags struct {
	DatabaseURL string
	PolicyFile  string
	LogLevel    string
	LogFormat   string
}

func (f *flagSet) common(c *commonFlags, defaultDB string) {
	f.str(&c.DatabaseURL, "database", "DATABASE_URL", defaultDB, "database URL: postgres://USER@HOST/DB or sqlite:PATH")
	f.str(&c.PolicyFile, "policy", "JITACCESS_POLICY", "", "policy file (YAML)")
	f.str(&c.LogLevel, "log-level", "JITACCESS_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	f.str(&c.LogFormat, "log-format", "JITACCESS_LOG_FORMAT", "text", "log format: text or json")
}

func parseServeFlags(args []string) (Config, error) {
	cfg, err := serveFlags(args)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

// serveFlags reads serve's flags and environment, without validating.
func serveFlags(args []string) (Config, error) {
	var cfg Config
	var c commonFlags
	var audit string
	f := newFlagSet("serve")
	f.common(&c, "")
	f.boolean(&cfg.Demo, "demo", "JITACCESS_DEMO", "run with the built-in demo policy and demo users on a local SQLite file")
	f.str(&cfg.Listen, "listen", "JITACCESS_LISTEN", DefaultListen, "address to listen on")
	f.str(&cfg.SweepSchedule, "sweep-schedule", "JITACCESS_SWEEP_SCHEDULE", DefaultSweepSchedule, "when the sweeper runs: cron with seconds (\"*/5 * * * * *\") or @every DURATION")
	f.boolean(&cfg.SweepCronOnly, "sweep-cron-only", "JITACCESS_SWEEP_CRON_ONLY", "sweep only on --sweep-schedule: do not also wake at the next expiry or scheduled start, nor wake the provisioning worker when a change commits its steps (it then polls every --provision-poll)")
	f.duration(&cfg.ReconcileInterval, "reconcile-interval", "JITACCESS_RECONCILE_INTERVAL", DefaultReconcileInterval, "how often every live grant and pending request is judged again under the policy and directory in force, besides on every change (0 disables the periodic run)")
	f.duration(&cfg.ReviewTimeout, "review-timeout", "JITACCESS_REVIEW_TIMEOUT", workflow.DefaultReviewTimeout, "how long a request may wait for a decision before it times out")
	f.str(&audit, "audit-checks", "JITACCESS_AUDIT_CHECKS", string(workflow.AuditAllChecks), "which check and mask calls to audit: all, allowed (checks that found a live grant, unmasked reads) or none")
	f.durationOrOff(&cfg.AuditSealInterval, "audit-seal-interval", "JITACCESS_AUDIT_SEAL_INTERVAL", DefaultAuditSealInterval,
		"PostgreSQL: the longest a committed audit record waits to be sealed into the hash chain by the cluster's one sealer (10ms to 10s); 0: each transaction chains its own records under the chain's head lock, held until it commits (the behaviour before the sealer). SQLite always does")
	f.integer(&cfg.DBMaxConns, "db-max-conns", "JITACCESS_DB_MAX_CONNS", 20, "PostgreSQL connection pool size")
	f.duration(&cfg.ShutdownTimeout, "shutdown-timeout", "JITACCESS_SHUTDOWN_TIMEOUT", 20*time.Second, "how long to wait for requests in flight at shutdown")
	f.durationOrOff(&cfg.ShutdownGrace, "shutdown-grace", "JITACCESS_SHUTDOWN_GRACE", DefaultShutdownGrace, "at shutdown, how long /readyz fails while requests are still served, before the listener closes; 0 for none")
	f.duration(&cfg.JobRetention, "job-retention", "JITACCESS_JOB_RETENTION", 7*24*time.Hour, "how long delivered notifications and other finished jobs are kept")
	f.duration(&cfg.FailedRetention, "failed-job-retention", "JITACCESS_FAILED_JOB_RETENTION", 30*24*time.Hour, "how long jobs that failed for good are kept for admins")
	f.durationOrOff(&cfg.PolicyWatchInterval, "policy-watch-interval", "JITACCESS_POLICY_WATCH_INTERVAL", DefaultPolicyWatchInterval, "how often to check the policy file for a change and reload it; 0 disables")
	f.str(&cfg.TokenCacheTTL, "token-cache-ttl", "JITACCESS_TOKEN_CACHE_TTL", "",
		"how long a looked-up API token is trusted without news of a revocation (which reaches every replica within a second): a duration up to 1h, off, or empty for 30s")
	f.webFlags(&cfg.Web)
	registerOversightFlags(f, &cfg.Oversight)
	f.slack(&cfg.Slack)
	f.provisionFlags(&cfg.Provision)
	if err := f.parse(args); err != nil {
		return cfg, err
	}
	if f.NArg() > 0 {
		return cfg, fmt.Errorf("serve takes no arguments, got %q", f.Args())
	}
	cfg.DatabaseURL, cfg.PolicyFile, cfg.LogLevel, cfg.LogFormat = c.DatabaseURL, c.PolicyFile, c.LogLevel, c.LogFormat
	cfg.AuditChecks = workflow.CheckAuditMode(audit)
	return cfg, nil
}

func (cfg *Config) validate() error {
	if cfg.ShutdownGrace < 0 {
		return fmt.Errorf("--shutdown-grace %s: use a duration like 5s, or 0 for none", cfg.ShutdownGrace)
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = store.DefaultURL
		if cfg.Demo {
			cfg.DatabaseURL = DemoDatabaseURL
		}
	}
	if _, _, err := store.ParseURL(cfg.DatabaseURL); err != nil {
		return err
	}
	if cfg.PolicyFile == "" && !cfg.Demo && cfg.Policy == nil {
		return fmt.Errorf("no policy: pass --policy FILE or set JITACCESS_POLICY (or try --demo)")
	}
	if cfg.ReconcileInterval < 0 || cfg.ReconcileInterval > 0 && cfg.ReconcileInterval < time.Second {
		return fmt.Errorf("--reconcile-interval %s: use 0 (off) or at least 1s", cfg.ReconcileInterval)
	}
	if cfg.PolicyWatchInterval < 0 {
		return fmt.Errorf("--policy-watch-interval %s: use a positive duration like 5s, or 0 to disable", cfg.PolicyWatchInterval)
	}
	if _, err := cfg.tokenCacheTTL(); err != nil {
		return err
	}
	if _, err := sweepParser.Parse(cfg.SweepSchedule); err != nil {
		return fmt.Errorf("--sweep-schedule %q: %v; use cron with seconds like \"*/5 * * * * *\" or @every 5s", cfg.SweepSchedule, err)
	}
	if cfg.AuditSealInterval != 0 && (cfg.AuditSealInterval < 10*time.Millisecond || cfg.AuditSealInterval > 10*time.Second) {
		return fmt.Errorf("--audit-seal-interval %s: use a duration from 10ms to 10s, or 0 to seal in each transaction", cfg.AuditSealInterval)
	}
	switch cfg.AuditChecks {
	case workflow.AuditAllChecks, workflow.AuditAllowedChecks, workflow.AuditNoChecks:
	default:
		return fmt.Errorf("--audit-checks %q: use all, allowed or none", cfg.AuditChecks)
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return err
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: use text or json", cfg.LogFormat)
	}
	if err := cfg.Web.validate(); err != nil {
		return err
	}
	// Security alerts post with the Slack app's token, however it was given.
	cfg.Oversight.SlackToken, cfg.Oversight.SlackAPIURL = cfg.Slack.BotToken, cfg.Slack.APIURL
	if err := cfg.Oversight.validate(); err != nil {
		return err
	}
	if err := cfg.Slack.validate(); err != nil {
		return err
	}
	// Last, so that a flag's own mistake is named first.
	return cfg.validateDemo()
}

// ServeConfig is serve's configuration from its command-line flags (and
// their environment variables), as `jitaccess serve ARGS` would read it;
// the load tools in cmd/ start in-process servers with it.
func ServeConfig(args []string) (Config, error) { return serveFlags(args) }

// ScheduleInterval returns the interval of an @every schedule, or the gap
// between its next two runs.
func ScheduleInterval(spec string) (time.Duration, error) {
	s, err := sweepParser.Parse(spec)
	if err != nil {
		return 0, err
	}
	t1 := s.Next(time.Now())
	return s.Next(t1).Sub(t1), nil
}

// sweepParser reads schedules with a seconds field, and descriptors.
var sweepParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	l, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
