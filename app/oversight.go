package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/alert"
	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/metrics"
	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/workflow"
)

// OversightConfig configures the audit chain's checks and retention,
// anomaly flags, alerts and metrics (docs/configuration.md, Oversight).
type OversightConfig struct {
	VerifySchedule string        // when serve verifies the audit chain; "off" never
	Retention      time.Duration // prune records older than this; 0 keeps everything
	PruneSchedule  string        // when serve prunes (with Retention set)
	ScanSchedule   string        // when serve looks for new anomaly flags; "off" never
	// CampaignSchedule is when serve opens due review campaigns and sends
	// due reminders (campaigns and remind_approvers_before); "off" never.
	CampaignSchedule string
	Thresholds       review.Thresholds
	ProvisionQueues  []string // job queues whose failures are flagged
	SlackChannel     string   // the security channel (needs SLACK_BOT_TOKEN)
	SlackToken       string   // the Slack app's bot token (SLACK_BOT_TOKEN or --slack-bot-token)
	SlackAPIURL      string   // the Slack app's API URL
	MetricsToken     string   // bearer token /metrics asks for; "" serves it to anyone
	// WitnessFile is the local copy of the audit witness (witness.go):
	// the highest chain head this server verified; "" keeps it in the
	// database (and memory) only.
	WitnessFile string
	// ReportMaxRequests bounds the requests one report, dashboard or
	// review loads (0: review.DefaultMaxPeriodRequests; negative: none).
	ReportMaxRequests int
}

// Oversight defaults.
const (
	DefaultVerifySchedule = "@every 1h"
	DefaultPruneSchedule  = "0 17 3 * * *"
	DefaultScanSchedule   = "@every 5m"
	// DefaultCampaignSchedule: a minute's delay on an opening or a
	// reminder is nothing; running often makes a restart's gap small.
	DefaultCampaignSchedule = "@every 1m"
	alertQueue              = workflow.SecurityQueue
)

func registerOversightFlags(f *flagSet, c *OversightConfig) {
	th := review.DefaultThresholds()
	f.str(&c.VerifySchedule, "audit-verify-schedule", "JITACCESS_AUDIT_VERIFY_SCHEDULE", DefaultVerifySchedule, "when to verify the audit chain: cron with seconds, @every DURATION, or off")
	f.Func("audit-retention", "prune audit records older than this, like 400d or 9600h; empty keeps everything (env JITACCESS_AUDIT_RETENTION)", func(s string) error {
		d, err := parseRetention(s)
		c.Retention = d
		return err
	})
	if v := os.Getenv("JITACCESS_AUDIT_RETENTION"); v != "" {
		d, err := parseRetention(v)
		if err != nil {
			f.envErrs = append(f.envErrs, "JITACCESS_AUDIT_RETENTION="+strconv.Quote(v)+": "+err.Error())
		}
		c.Retention = d
	}
	f.str(&c.PruneSchedule, "audit-prune-schedule", "JITACCESS_AUDIT_PRUNE_SCHEDULE", DefaultPruneSchedule, "when to prune audit records past the retention")
	f.str(&c.ScanSchedule, "flag-scan-schedule", "JITACCESS_FLAG_SCAN_SCHEDULE", DefaultScanSchedule, "when to look for new anomaly flags: cron with seconds, @every DURATION, or off")
	f.str(&c.CampaignSchedule, "campaign-schedule", "JITACCESS_CAMPAIGN_SCHEDULE", DefaultCampaignSchedule, "when to open due review campaigns and send due reminders (review_campaigns, remind_approvers_before): cron with seconds, @every DURATION, or off")
	f.integer(&c.Thresholds.FrequentCount, "flag-frequent-count", "JITACCESS_FLAG_FREQUENT_COUNT", th.FrequentCount, "flag a person who files more than this many high or critical requests within --flag-frequent-window")
	f.duration(&c.Thresholds.FrequentWindow, "flag-frequent-window", "JITACCESS_FLAG_FREQUENT_WINDOW", th.FrequentWindow, "the window of --flag-frequent-count")
	f.duration(&c.Thresholds.RubberStamp, "flag-rubber-stamp", "JITACCESS_FLAG_RUBBER_STAMP", th.RubberStamp, "flag high or critical approvals given sooner than this after filing")
	f.duration(&c.Thresholds.MutualWindow, "flag-mutual-window", "JITACCESS_FLAG_MUTUAL_WINDOW", th.MutualWindow, "flag two people approving each other's requests within this long")
	f.integer(&c.Thresholds.StandingCount, "standing-exception-count", "JITACCESS_STANDING_EXCEPTION_COUNT", th.StandingCount, "grants of one high or critical resource to one person in a review period that make a standing exception")
	f.integer(&c.ReportMaxRequests, "report-max-requests", "JITACCESS_REPORT_MAX_REQUESTS", review.DefaultMaxPeriodRequests, "the most requests a review report, dashboard or flag listing may load for its period (with the rules' lookback); a larger period is refused, to be narrowed; -1 for no bound")
	f.Func("provision-queues", "job queues whose failures are flagged, comma-separated (env JITACCESS_PROVISION_QUEUES; default provision)", func(s string) error {
		c.ProvisionQueues = splitList(s)
		return nil
	})
	c.ProvisionQueues = []string{"provision"}
	if v, ok := os.LookupEnv("JITACCESS_PROVISION_QUEUES"); ok {
		c.ProvisionQueues = splitList(v)
	}
	f.str(&c.SlackChannel, "security-slack-channel", "JITACCESS_SECURITY_SLACK_CHANNEL", "", "Slack channel id for security alerts (chain breaks, flags); needs SLACK_BOT_TOKEN")
	f.str(&c.MetricsToken, "metrics-token", "JITACCESS_METRICS_TOKEN", "", "bearer token that /metrics requires; empty serves it without one")
	f.str(&c.WitnessFile, "audit-witness", "JITACCESS_AUDIT_WITNESS", "", "local file where serve keeps the highest audit chain head it has verified, besides the database; a log shorter than it, or with another hash at its head, is alerted on as truncated or rewritten")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseRetention reads "" or "off" (keep everything), "400d" or a Go
// duration.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("retention %q: use a number of days like 400d, or a duration like 9600h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("retention %q: use a number of days like 400d, or a duration like 9600h", s)
	}
	return d, nil
}

// defaults fills what a Config built in code (not from flags) left empty.
func (c *OversightConfig) defaults() {
	th := review.DefaultThresholds()
	for _, f := range []struct {
		p   *string
		def string
	}{{&c.VerifySchedule, DefaultVerifySchedule}, {&c.PruneSchedule, DefaultPruneSchedule}, {&c.ScanSchedule, DefaultScanSchedule}, {&c.CampaignSchedule, DefaultCampaignSchedule}} {
		if *f.p == "" {
			*f.p = f.def
		}
	}
	if c.Thresholds.FrequentWindow == 0 {
		c.Thresholds.FrequentWindow = th.FrequentWindow
	}
	if c.Thresholds.RubberStamp == 0 {
		c.Thresholds.RubberStamp = th.RubberStamp
	}
	if c.Thresholds.MutualWindow == 0 {
		c.Thresholds.MutualWindow = th.MutualWindow
	}
	if c.Thresholds.FrequentCount == 0 {
		c.Thresholds.FrequentCount = th.FrequentCount
	}
	if c.Thresholds.StandingCount == 0 {
		c.Thresholds.StandingCount = th.StandingCount
	}
	if c.ProvisionQueues == nil {
		c.ProvisionQueues = []string{"provision"}
	}
}

func (c *OversightConfig) validate() error {
	c.defaults()
	for _, s := range []struct{ flag, spec string }{
		{"--audit-verify-schedule", c.VerifySchedule}, {"--audit-prune-schedule", c.PruneSchedule}, {"--flag-scan-schedule", c.ScanSchedule},
		{"--campaign-schedule", c.CampaignSchedule},
	} {
		if s.spec == "off" {
			continue
		}
		if _, err := sweepParser.Parse(s.spec); err != nil {
			return fmt.Errorf("%s %q: %v; use cron with seconds like \"0 0 * * * *\", @every 1h, or off", s.flag, s.spec, err)
		}
	}
	if c.Retention > 0 && c.Retention < 24*time.Hour {
		return fmt.Errorf("--audit-retention %s is less than a day; audit records are evidence, keep them longer", c.Retention)
	}
	if c.SlackChannel != "" && c.SlackToken == "" {
		return errors.New("--security-slack-channel is set but SLACK_BOT_TOKEN is not (set it, or pass --slack-bot-token)")
	}
	return nil
}

// oversight is serve's part of issue 6: metrics, alerts, the scheduled
// chain verification, flag scans and pruning.
type oversight struct {
	cfg     OversightConfig
	metrics *metrics.Metrics
	reviews *review.Service
	alerts  alert.Sender

	witness *witness // the highest head verified: the chain must still hold it (witness.go)

	mu       sync.Mutex
	last     *audit.Result
	alerted  int64      // the break last alerted on, to alert once per break
	verifyMu sync.Mutex // one chain check at a time: the scheduled verify or the witness check
}

// setupOversight wires oversight into a built App: the metrics hook and
// endpoint, the review service and its API, the security alert queue, and
// the cron jobs.
func (a *App) setupOversight() error {
	cfg := a.Config.Oversight
	w, err := openWitness(cfg.WitnessFile)
	if err != nil {
		return err
	}
	o := &oversight{cfg: cfg, witness: w}
	a.oversight = o
	queues := append([]string{notifier.Queue, alertQueue}, cfg.ProvisionQueues...)
	o.metrics = metrics.New(a.DB, a.Service.Clock(), queues...)
	a.Service.OnCommit(o.metrics.Committed)
	senders := alert.Multi{alert.Log{Logger: a.Logger}}
	if cfg.SlackChannel != "" {
		senders = append(senders, &alert.Slack{Token: cfg.SlackToken, Channel: cfg.SlackChannel, URL: slackMethodURL(cfg.SlackAPIURL, "chat.postMessage")})
	}
	o.alerts = senders
	o.reviews = review.New(a.DB, a.Service.Policy, review.Options{Now: a.Service.Clock(), Thresholds: cfg.Thresholds,
		ProvisionQueues: cfg.ProvisionQueues, AlertQueue: alertQueue, MaxPeriodRequests: cfg.ReportMaxRequests,
		ReminderJob: notifier.ReminderJob})
	a.runners = append(a.runners, &queue.Runner{Store: a.DB, Queue: alertQueue, Handler: o.deliverFlag, Logger: a.Logger})
	a.Web.MountOversight(api.Oversight{Reviews: o.reviews, Audit: a.DB, Metrics: o.metrics.Handler(), MetricsToken: cfg.MetricsToken,
		Status: o.status, Verify: a.verifyAuditNow})
	jobs := []struct {
		spec string
		fn   func()
	}{{cfg.VerifySchedule, a.verifyAuditJob}, {cfg.ScanSchedule, a.scanFlagsJob}, {"@every " + WitnessInterval.String(), a.witnessJob}, {cfg.CampaignSchedule, a.campaignsJob}}
	if cfg.Retention > 0 {
		jobs = append(jobs, struct {
			spec string
			fn   func()
		}{cfg.PruneSchedule, a.pruneAuditJob})
	}
	for _, j := range jobs {
		if j.spec == "off" {
			continue
		}
		if _, err := a.cron.AddFunc(j.spec, j.fn); err != nil {
			return fmt.Errorf("schedule %q: %w", j.spec, err)
		}
	}
	return nil
}

// observeSweep records a sweep in the metrics.
func (a *App) observeSweep(took time.Duration, res workflow.SweepResult, err error) {
	if a.oversight != nil {
		a.oversight.metrics.ObserveSweep(took, res, err, time.Now())
	}
}

func (o *oversight) status() *audit.Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// verifyAuditJob verifies the chain, checks that the head seen last time
// is still there (records removed from the end show up here), records the
// outcome in the metrics, and alerts once per break.
func (a *App) verifyAuditJob() {
	o := a.oversight
	if !o.verifyMu.TryLock() {
		return
	}
	defer o.verifyMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, _ = a.verifyAudit(ctx)
}

// verifyAuditNow is the web UI's "Verify now": the scheduled verification
// (status, metrics, alert on a break), run at once, after any in progress.
func (a *App) verifyAuditNow(ctx context.Context) (audit.Result, error) {
	o := a.oversight
	o.verifyMu.Lock()
	defer o.verifyMu.Unlock()
	return a.verifyAudit(ctx)
}

// verifyAudit runs one verification of the whole chain, against the
// witnessed heads too; the caller holds verifyMu. A good one advances the
// witness.
func (a *App) verifyAudit(ctx context.Context) (audit.Result, error) {
	o := a.oversight
	heads := a.witnessHeads(ctx)
	res, err := audit.Verify(ctx, a.DB, heads.checkpoints()...)
	if err == nil {
		res.Unsealed, err = audit.ReadBacklog(ctx, a.DB)
	}
	if err != nil {
		a.Logger.Error("audit chain verification could not read the log", "err", err)
		return res, err
	}
	now := time.Now()
	o.metrics.ObserveVerify(res, now)
	o.mu.Lock()
	o.last = &res
	if res.OK {
		o.alerted = 0
	}
	o.mu.Unlock()
	if res.OK {
		a.Logger.Info("audit chain verified", "records", res.Records, "head", res.Head.String(), "took", time.Duration(res.Took).Round(time.Millisecond))
		a.advanceWitness(ctx, res.Head, now)
		return res, nil
	}
	a.alertBreak(ctx, res, heads, now)
	return res, nil
}

// alertBreak logs a break at error level and, once per break, sends the
// security alert. A truncation or a rewritten head names the witness copy
// that still holds what the log lost.
func (a *App) alertBreak(ctx context.Context, res audit.Result, heads witnessHeads, now time.Time) {
	o := a.oversight
	o.mu.Lock()
	newBreak := res.Break.ID != o.alerted
	o.alerted = res.Break.ID
	o.mu.Unlock()
	b := res.Break
	kind := "audit_chain"
	summary := fmt.Sprintf("Audit chain broken at record %d (%s)", b.ID, b.Kind)
	details := b.Message + "\nRun jitaccess audit verify to confirm; export the log and compare with backups."
	switch b.Kind {
	case audit.BreakTruncated:
		kind, summary = "audit_truncated", fmt.Sprintf("Audit log truncated: record %d, which serve had verified, is gone", b.ID)
		details = b.Message + "\nWitnessed by " + heads.sources(b.ID) + ".\nCompare with the last published checkpoint (jitaccess audit verify --checkpoint FILE) and with backups."
	case audit.BreakMismatch:
		kind, summary = "audit_rewritten", fmt.Sprintf("Audit log rewritten: record %d no longer has the hash serve verified", b.ID)
		details = b.Message + "\nWitnessed by " + heads.sources(b.ID) + ".\nThe log forked from what was verified; compare with the last published checkpoint and with backups."
	}
	attrs := []any{"record", b.ID, "kind", b.Kind, "message", b.Message}
	if w := heads.sources(b.ID); w != "" {
		attrs = append(attrs, "witness", w)
	}
	a.Logger.Error("audit chain BROKEN", attrs...)
	if !newBreak {
		return
	}
	err := o.alerts.Send(ctx, alert.Alert{Kind: kind, Severity: alert.Critical, At: now, Summary: summary, Details: details})
	o.metrics.ObserveAlert(err)
	if err != nil {
		a.Logger.Error("chain break alert not delivered", "err", err)
	}
}

// scanFlagsJob records new anomaly flags; their alerts go out through the
// security queue.
func (a *App) scanFlagsJob() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	flags, err := a.oversight.reviews.Scan(ctx)
	if err != nil {
		a.Logger.Error("anomaly scan failed", "err", err)
		return
	}
	a.oversight.metrics.ObserveFlags(flags)
	if len(flags) > 0 {
		a.Logger.Info("anomaly flags raised", "count", len(flags))
	}
}

// campaignsJob opens due review campaigns and sends due reminders. Every
// replica may run it: openings and reminders are claimed in the database
// (review.RunCampaigns); the lease only spares the others the reads.
func (a *App) campaignsJob() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	held, err := a.DB.TakeLease(ctx, "campaigns", a.holder, 30*time.Second, workflow.Now())
	if err != nil || !held {
		if err != nil {
			a.Logger.Warn("campaign lease", "err", err)
		}
		return
	}
	res, err := a.oversight.reviews.RunCampaigns(ctx)
	if err != nil {
		a.Logger.Error("review campaigns failed", "err", err)
	} else if res.Opened > 0 || res.Reminded > 0 {
		a.Logger.Info("review campaigns", "opened", res.Opened, "reviews", res.Reviews, "reminders", res.Reminded)
	}
	n, err := a.oversight.reviews.RemindApprovers(ctx)
	if err != nil {
		a.Logger.Error("approver reminders failed", "err", err)
	} else if n > 0 {
		a.Logger.Info("approver reminders", "count", n)
	}
}

// pruneAuditJob removes audit records past the retention.
func (a *App) pruneAuditJob() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	now := workflow.Now()
	res, err := audit.Prune(ctx, a.DB, now.Add(-a.Config.Oversight.Retention), "system", now, nil)
	if err != nil {
		a.Logger.Error("audit prune failed", "err", err)
		return
	}
	if res.Pruned > 0 {
		a.Logger.Info("audit records pruned", "records", res.Pruned, "through", res.Anchor.ThroughID, "anchor_hash", res.Anchor.ThroughHash)
	}
}

// deliverFlag sends one flag from the security queue.
func (o *oversight) deliverFlag(ctx context.Context, job queue.Job) error {
	var f review.FlagJSON
	if err := json.Unmarshal(job.Payload, &f); err != nil {
		return queue.Permanent(fmt.Errorf("flag job %d is not valid JSON: %w", job.ID, err))
	}
	a := alert.Alert{Kind: string(f.Kind), Severity: alert.Warning, At: f.At, Links: f.RequestIDs,
		Summary: "Anomaly: " + strings.ReplaceAll(string(f.Kind), "_", " "), Details: f.Reason}
	// Break-glass alerts (workflow.SecurityAlert) carry their own summary
	// and severity.
	if f.Summary != "" {
		a.Summary = f.Summary
	}
	if f.Severity == string(alert.Critical) {
		a.Severity = alert.Critical
	}
	err := o.alerts.Send(ctx, a)
	o.metrics.ObserveAlert(err)
	return err
}

// slackMethodURL is a Web API method under the configured base URL (which
// ends in a slash, like https://slack.com/api/); empty means the default.
func slackMethodURL(base, method string) string {
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/" + method
}
