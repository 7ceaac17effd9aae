package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/masking"
	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/workflow"
)

// ProvisionConfig configures provisioning and the check and mask APIs.
// docs/configuration.md lists the flags.
type ProvisionConfig struct {
	// MaskTokenKey keys the token mask style; every replica needs the same
	// one, or tokens will not match. Required when a field uses token.
	MaskTokenKey string
	// MaskEncryptKeys keys the encrypt mask style: "keyid:base64key,..."
	// (64-byte keys), the last the newest. MaskEncryptKeysFile names a
	// file of one keyid:base64key a line instead. Every replica needs the
	// same keys.
	MaskEncryptKeys     string
	MaskEncryptKeysFile string
	// CheckCacheTTL is how long a check/mask decision is cached: "" is one
	// sweep interval, "off" disables the cache, or a duration.
	CheckCacheTTL string
	// AuditFlush: 0, every check/mask answer waits until its audit record
	// is committed; a duration, answers do not wait and records are
	// committed in batches at least this often (a crash loses at most
	// that much; a graceful stop loses nothing).
	AuditFlush time.Duration
	// Provisioning worker.
	Lease        time.Duration // how long a worker holds a job before another may retry it
	MaxBackoff   time.Duration // longest wait between retries of a failing step
	FailAfter    int           // failed attempts before the status is failed
	Concurrency  int           // steps run at once
	PollInterval time.Duration // how often the worker looks for due steps
	// NoNotify turns off cross-replica invalidation through PostgreSQL
	// LISTEN/NOTIFY: other replicas then see a change only when their
	// cached decision expires (the TTL). For the benchmark's baseline.
	NoNotify bool
}

// provisionFlags registers the flags of ProvisionConfig.
func (f *flagSet) provisionFlags(c *ProvisionConfig) {
	f.str(&c.MaskTokenKey, "mask-token-key", "JITACCESS_MASK_TOKEN_KEY", "",
		"key of the token mask style, at least 32 bytes, the same on every replica (prefer the env variable)")
	f.secret(&c.MaskEncryptKeys, "mask-encrypt-keys", "JITACCESS_MASK_ENCRYPT_KEYS",
		"keys of the encrypt mask style: keyid:base64key,... (64-byte keys), the last the newest (prefer the env variable)")
	f.str(&c.MaskEncryptKeysFile, "mask-encrypt-keys-file", "JITACCESS_MASK_ENCRYPT_KEYS_FILE", "",
		"file of encrypt mask keys, one keyid:base64key a line, the last the newest; # comments allowed")
	f.str(&c.CheckCacheTTL, "check-cache-ttl", "JITACCESS_CHECK_CACHE_TTL", "",
		"how long check and mask decisions are cached: a duration, off, or empty for one sweep interval")
	f.flushDuration(&c.AuditFlush)
	f.duration(&c.Lease, "provision-lease", "JITACCESS_PROVISION_LEASE", time.Minute,
		"how long a provisioning step is held before another worker may take it over (extended while the step runs); every webhook timeout must be below it")
	f.duration(&c.MaxBackoff, "provision-max-backoff", "JITACCESS_PROVISION_MAX_BACKOFF", time.Minute,
		"longest wait between retries of a failing provisioning step")
	f.integer(&c.FailAfter, "provision-fail-after", "JITACCESS_PROVISION_FAIL_AFTER", 3,
		"failed attempts after which a provisioning step is reported failed (it is still retried)")
	f.integer(&c.Concurrency, "provision-concurrency", "JITACCESS_PROVISION_CONCURRENCY", 16,
		"provisioning steps run at once (they wait on the targets, not the CPU)")
	f.duration(&c.PollInterval, "provision-poll", "JITACCESS_PROVISION_POLL", 500*time.Millisecond,
		"how often the provisioning worker looks for due steps")
}

// flushDuration registers --audit-checks-flush, whose zero is meaningful.
func (f *flagSet) flushDuration(p *time.Duration) {
	const env = "JITACCESS_AUDIT_CHECKS_FLUSH"
	def := time.Duration(0)
	if v, ok := os.LookupEnv(env); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			f.envErrs = append(f.envErrs, fmt.Sprintf("%s=%q is not a duration like 0, 100ms or 1s", env, v))
		} else {
			def = d
		}
	}
	f.DurationVar(p, "audit-checks-flush", def, "0: each check/mask answer waits until its audit record is committed; "+
		"a duration like 100ms: answers do not wait, records are committed in batches at least this often (a crash loses at most that much)"+envNote(env))
}

// cacheTTL resolves CheckCacheTTL against the sweep schedule.
func (c ProvisionConfig) cacheTTL(sweepSchedule string) (time.Duration, error) {
	switch strings.TrimSpace(c.CheckCacheTTL) {
	case "":
		sched, err := sweepParser.Parse(sweepSchedule)
		if err != nil {
			return 0, err
		}
		first := sched.Next(time.Now())
		return sched.Next(first).Sub(first), nil
	case "off", "0":
		return 0, nil
	}
	d, err := time.ParseDuration(c.CheckCacheTTL)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--check-cache-ttl %q: use a duration like 5s, off, or leave it empty for one sweep interval", c.CheckCacheTTL)
	}
	return d, nil
}

// wireProvisioning adds provisioning and the check and mask layer to a
// new App: the hooks that enqueue apply and remove steps and invalidate
// cached decisions in the transaction of each change, the provisioning
// worker, its part of the sweep, and the API's checker. It refuses to
// start when a field uses the token style without a key.
func (a *App) wireProvisioning() error {
	cfg := a.Config.Provision
	pol := a.Service.Policy() // New checked its environment and webhook timeouts
	key := []byte(cfg.MaskTokenKey)
	if len(key) == 0 && a.Config.Demo {
		// The demo policy gives auditors a token view; its key is public.
		key = []byte(demoMaskTokenKey)
	}
	if len(key) > 0 && len(key) < masking.MinKeyLen {
		return fmt.Errorf("the mask token key (JITACCESS_MASK_TOKEN_KEY) is %d bytes; use at least %d", len(key), masking.MinKeyLen)
	}
	if res, f := pol.NeedsMaskKey(); res != nil && len(key) == 0 {
		return workflow.PolicyErrors{{File: pol.Source, Line: f.Line, Msg: fmt.Sprintf(
			"resource %q masks field %q with the token style, which needs a key: set JITACCESS_MASK_TOKEN_KEY (at least %d bytes, the same on every replica)",
			res.ID, f.Name, masking.MinKeyLen)}}
	}
	keyring, err := cfg.encryptKeys()
	if err != nil {
		return err
	}
	if keyring == nil && a.Config.Demo {
		// The demo encrypts identity document numbers; its key is public.
		if keyring, err = demoEncryptKeys(); err != nil {
			return err
		}
	}
	if res, f := needsEncryptKeys(pol); res != nil && keyring == nil {
		a.Logger.Warn("a field uses the encrypt mask style but no keys are configured (JITACCESS_MASK_ENCRYPT_KEYS or --mask-encrypt-keys-file): it is redacted",
			"resource", res.ID, "field", f.Name)
	}
	ttl, err := cfg.cacheTTL(a.Config.SweepSchedule)
	if err != nil {
		return err
	}
	if cfg.FailAfter <= 0 {
		cfg.FailAfter = 3
	}

	pipe := &provision.Pipeline{Store: a.DB, Policy: a.Service.Policy, Provisioners: provision.Builtin(nil),
		Logger: a.Logger, Now: a.Service.Clock(), FailAfter: cfg.FailAfter,
		// Approvers see in their Slack message when access is applied,
		// removed, or failing at the target.
		Announce: func(rec provision.Record, at time.Time) ([]workflow.Job, error) {
			j, err := notifier.RefreshJob(rec.RequestID, at)
			return []workflow.Job{j}, err
		}}
	// The revocation lag at the target (metrics; oversight is wired
	// after provisioning, and the worker runs only after both).
	pipe.RemovalConfirmed = func(rec provision.Record, ended, confirmed time.Time) {
		if a.oversight != nil {
			a.oversight.metrics.ObserveRevocationLag(string(rec.Spec.Type), confirmed.Sub(ended))
		}
	}
	if cfg.AuditFlush < 0 || cfg.AuditFlush > time.Minute {
		return fmt.Errorf("--audit-checks-flush %s: use 0 (wait for each record) or a duration up to 1m", cfg.AuditFlush)
	}
	chk := access.New(a.Service, access.Options{TokenKey: key, EncryptKeys: keyring, AuditMode: a.Config.AuditChecks, CacheTTL: ttl,
		AuditFlush: cfg.AuditFlush, Logger: a.Logger})
	a.stops = append(a.stops, chk.Close)
	a.Service.OnChange(pipe.Hook)
	a.Service.OnChange(chk.Hook)
	a.Service.OnCommit(chk.Committed)
	a.wireChanges(chk, pipe)

	runner := pipe.Runner(a.DB, cfg.Lease, cfg.MaxBackoff)
	runner.Concurrency, runner.PollInterval = cfg.Concurrency, cfg.PollInterval
	a.runners = append(a.runners, runner)
	a.provisionRunner = runner
	if _, err := a.cron.AddFunc(a.Config.SweepSchedule, func() { a.sweepProvisioning(pipe) }); err != nil {
		return err
	}
	a.Web.UseAccess(chk, pipe)
	a.Logger.Debug("provisioning and check/mask ready", "check_cache_ttl", ttl, "audit_checks", a.Config.AuditChecks,
		"provision_lease", cfg.Lease, "provision_max_backoff", cfg.MaxBackoff)
	return nil
}

// sweepProvisioning is the provisioning part of the sweep: failing
// removals are retried now, lost steps queued again.
func (a *App) sweepProvisioning(pipe *provision.Pipeline) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := pipe.Sweep(ctx)
	if err != nil {
		a.Logger.Error("provisioning sweep failed", "err", err)
		return
	}
	if res.Hurried+res.Requeued > 0 {
		a.Logger.Info("provisioning sweep", "retried_failing_removals", res.Hurried, "requeued", res.Requeued)
	}
}

// encryptKeys reads the keys of the encrypt mask style; nil when none are
// configured. Bad keys refuse to start.
func (c ProvisionConfig) encryptKeys() (*masking.Keyring, error) {
	switch {
	case c.MaskEncryptKeys != "" && c.MaskEncryptKeysFile != "":
		return nil, fmt.Errorf("give the encrypt mask keys once: JITACCESS_MASK_ENCRYPT_KEYS or --mask-encrypt-keys-file, not both")
	case c.MaskEncryptKeys != "":
		k, err := masking.ParseKeyList(c.MaskEncryptKeys)
		if err != nil {
			return nil, fmt.Errorf("JITACCESS_MASK_ENCRYPT_KEYS: %v", err)
		}
		return k, nil
	case c.MaskEncryptKeysFile != "":
		data, err := os.ReadFile(c.MaskEncryptKeysFile)
		if err != nil {
			return nil, fmt.Errorf("--mask-encrypt-keys-file: %v", err)
		}
		k, err := masking.ParseKeyFile(c.MaskEncryptKeysFile, data)
		if err != nil {
			return nil, fmt.Errorf("--mask-encrypt-keys-file: %v", err)
		}
		return k, nil
	}
	return nil, nil
}

// needsEncryptKeys returns the first field masked with the encrypt style.
func needsEncryptKeys(pol *workflow.Policy) (*workflow.Resource, *workflow.FieldRule) {
	for _, r := range pol.Resources {
		for i := range r.Fields {
			if r.Fields[i].Style == masking.Encrypt {
				return r, &r.Fields[i]
			}
		}
	}
	return nil, nil
}
