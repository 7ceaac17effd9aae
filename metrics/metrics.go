// Package metrics exposes jitaccess to Prometheus at /metrics: requests by
// state and tier, time to decision, decision rates, live grants, the
// sweeper's lag and duration, queue backlogs and failures, and the audit
// chain's status. Counters and histograms are kept in this process (sum
// them over replicas); the gauges that describe the database (requests,
// live grants, backlogs, sweeper lag) are read from it at scrape time, at
// most every CacheFor, so every replica reports the same numbers.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// Source is what the database gauges read. store.DB implements it.
type Source interface {
	RequestCounts(ctx context.Context) ([]store.RequestCount, error)
	LiveGrantCounts(ctx context.Context, now time.Time) (map[string]int64, time.Time, error)
	QueueBacklog(ctx context.Context) (map[string]int64, error)
	FailedJobCounts(ctx context.Context) (map[string]int64, error)
}

// Metrics holds the registry and every metric jitaccess records.
type Metrics struct {
	Registry *prometheus.Registry

	decisionSeconds *prometheus.HistogramVec
	transitions     *prometheus.CounterVec
	sweepSeconds    prometheus.Histogram
	sweepEnded      *prometheus.CounterVec
	sweepErrors     prometheus.Counter
	sweepLast       prometheus.Gauge
	revocationLag   *prometheus.HistogramVec
	chainOK         prometheus.Gauge
	chainRecords    prometheus.Gauge
	chainLast       prometheus.Gauge
	chainBreaks     prometheus.Counter
	witnessHead     prometheus.Gauge
	verifySeconds   prometheus.Histogram
	flagsRaised     *prometheus.CounterVec
	alerts          *prometheus.CounterVec
	sealDelay       prometheus.Histogram
	sealBatches     prometheus.Counter
	sealErrors      prometheus.Counter
	unsealed        prometheus.Gauge
	unsealedOldest  prometheus.Gauge
	sealerHeld      prometheus.Gauge
	chainOnce       sync.Once
}

// New registers every metric, with the database gauges read from src
// (nil leaves them out) using now as the clock. queues are reported even
// when they have no jobs (0), so that alerts on them have a series.
func New(src Source, now func() time.Time, queues ...string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var buckets []float64
	for _, d := range review.DecisionBuckets() {
		buckets = append(buckets, d.Seconds())
	}
	m := &Metrics{
		Registry: reg,
		decisionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jitaccess_decision_seconds", Help: "Time from filing a request to the decision that approved or denied it, by tier and outcome.",
			Buckets: append([]float64{10, 30}, buckets...)}, []string{"tier", "outcome"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitaccess_transitions_total", Help: "Request events committed, by event and tier (approve counts every approval, including those that do not complete the quorum)."},
			[]string{"event", "tier"}),
		sweepSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jitaccess_sweep_duration_seconds", Help: "How long each sweep took.",
			Buckets: []float64{.01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60}}),
		sweepEnded:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitaccess_sweep_ended_total", Help: "Requests the sweeper ended, by event (expire, timeout)."}, []string{"event"}),
		sweepErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "jitaccess_sweep_errors_total", Help: "Sweeps that failed."}),
		sweepLast:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitaccess_sweep_last_success_timestamp_seconds", Help: "When this replica's last sweep succeeded (Unix time)."}),
		revocationLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jitaccess_revocation_lag_seconds",
			Help:    "Time from a grant's end (expires_at, or the revoke) to the target confirming the removal (webhook 2xx, postgres REVOKE committed), by provisioner.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"provisioner"}),
		chainOK:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitaccess_audit_chain_ok", Help: "1 if the last audit chain verification passed, 0 if it found a break; absent before the first."}),
		chainRecords:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitaccess_audit_chain_verified_records", Help: "Records checked by the last audit chain verification."}),
		chainLast:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitaccess_audit_chain_last_verify_timestamp_seconds", Help: "When the audit chain was last verified (Unix time)."}),
		chainBreaks:   prometheus.NewCounter(prometheus.CounterOpts{Name: "jitaccess_audit_chain_breaks_total", Help: "Verifications that found the audit chain broken."}),
		witnessHead:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitaccess_audit_witness_head", Help: "Id of the highest audit chain head this replica has verified (the log's size then); the log must never be shorter."}),
		verifySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jitaccess_audit_verify_duration_seconds", Help: "How long audit chain verification took.", Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 300}}),
		flagsRaised:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitaccess_flags_raised_total", Help: "Anomaly flags raised by this replica's scans, by kind."}, []string{"kind"}),
		sealDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jitaccess_audit_seal_delay_seconds",
			Help:    "Time from an audited transaction's start to its records' seal into the hash chain (docs/audit.md, Sealing), per record, on the replica that sealed it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .15, .2, .3, .5, 1, 2.5, 5, 10, 60}}),
		sealBatches:    prometheus.NewCounter(prometheus.CounterOpts{Name: "jitaccess_audit_seal_batches_total", Help: "Sealing transactions this replica committed."}),
		sealErrors:     prometheus.NewCounter(prometheus.CounterOpts{Name: "jitaccess_audit_seal_errors_total", Help: "Sealing transactions or sealer lease renewals that failed on this replica."}),
		unsealed:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitaccess_audit_unsealed_records", Help: "Audit records committed but not yet sealed into the hash chain (cluster-wide, as read by this replica)."}),
		unsealedOldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitaccess_audit_unsealed_oldest_seconds", Help: "Age of the oldest unsealed audit record (0 when none)."}),
		sealerHeld:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "jitaccess_audit_sealer_leader", Help: "1 while this replica holds the audit-sealer lease."}),
		alerts:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitaccess_alerts_total", Help: "Alerts sent to the security channel, by outcome (sent, failed)."}, []string{"outcome"}),
	}
	reg.MustRegister(m.decisionSeconds, m.transitions, m.sweepSeconds, m.sweepEnded, m.sweepErrors, m.sweepLast, m.revocationLag,
		m.chainRecords, m.chainLast, m.chainBreaks, m.witnessHead, m.verifySeconds, m.flagsRaised, m.alerts,
		m.sealDelay, m.sealBatches, m.sealErrors, m.unsealed, m.unsealedOldest, m.sealerHeld)
	for _, k := range review.FlagKinds {
		m.flagsRaised.WithLabelValues(string(k))
	}
	for _, o := range []string{"sent", "failed"} {
		m.alerts.WithLabelValues(o)
	}
	if src != nil {
		reg.MustRegister(&dbCollector{src: src, now: now, cacheFor: CacheFor, queues: queues})
	}
	return m
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Committed records committed changes: decision times and transition
// counts. It is a commit hook (workflow.Service.OnCommit), so a change
// whose transaction rolled back is not counted.
func (m *Metrics) Committed(changes []workflow.Change, committed bool) {
	if !committed {
		return
	}
	for _, c := range changes {
		r := c.Request
		m.transitions.WithLabelValues(string(c.Event), string(r.Tier)).Inc()
		switch {
		case c.Event == workflow.EventApprove && (c.To == workflow.StateApproved || c.To == workflow.StateScheduled || c.To == workflow.StateExtended):
			m.decisionSeconds.WithLabelValues(string(r.Tier), "approved").Observe(c.At.Sub(r.CreatedAt).Seconds())
		case c.Event == workflow.EventDeny:
			m.decisionSeconds.WithLabelValues(string(r.Tier), "denied").Observe(c.At.Sub(r.CreatedAt).Seconds())
		}
	}
}

// ObserveSweep records one sweep.
func (m *Metrics) ObserveSweep(took time.Duration, res workflow.SweepResult, err error, now time.Time) {
	m.sweepSeconds.Observe(took.Seconds())
	m.sweepEnded.WithLabelValues(string(workflow.EventExpire)).Add(float64(res.Expired))
	m.sweepEnded.WithLabelValues(string(workflow.EventTimeout)).Add(float64(res.TimedOut))
	if err != nil {
		m.sweepErrors.Inc()
		return
	}
	m.sweepLast.Set(float64(now.Unix()))
}

// ObserveRevocationLag records one removal confirmed by its target: lag
// is from the grant's end to the confirmation (negative lags, a clock
// step, count as 0).
func (m *Metrics) ObserveRevocationLag(provisioner string, lag time.Duration) {
	m.revocationLag.WithLabelValues(provisioner).Observe(max(lag, 0).Seconds())
}

// ObserveVerify records one audit chain verification.
func (m *Metrics) ObserveVerify(res audit.Result, now time.Time) {
	m.chainOnce.Do(func() { m.Registry.MustRegister(m.chainOK) })
	m.verifySeconds.Observe(time.Duration(res.Took).Seconds())
	m.chainLast.Set(float64(now.Unix()))
	m.chainRecords.Set(float64(res.Records))
	if res.OK {
		m.chainOK.Set(1)
	} else {
		m.chainOK.Set(0)
		m.chainBreaks.Inc()
	}
}

// ObserveSeal records one sealing transaction: each record's delay.
func (m *Metrics) ObserveSeal(delays []time.Duration) {
	m.sealBatches.Inc()
	for _, d := range delays {
		m.sealDelay.Observe(max(d, 0).Seconds())
	}
}

// ObserveSealError counts a sealing transaction or lease renewal that failed.
func (m *Metrics) ObserveSealError() { m.sealErrors.Inc() }

// ObserveSealer records whether this replica holds the sealer lease.
func (m *Metrics) ObserveSealer(held bool) {
	if held {
		m.sealerHeld.Set(1)
	} else {
		m.sealerHeld.Set(0)
	}
}

// ObserveBacklog records the unsealed backlog.
func (m *Metrics) ObserveBacklog(b audit.Backlog) {
	m.unsealed.Set(float64(b.Records))
	m.unsealedOldest.Set(time.Duration(b.Oldest).Seconds())
}

// ObserveWitness records the head the witness holds now.
func (m *Metrics) ObserveWitness(headID int64) { m.witnessHead.Set(float64(headID)) }

// ObserveFlags counts flags raised by a scan.
func (m *Metrics) ObserveFlags(flags []review.Flag) {
	for _, f := range flags {
		m.flagsRaised.WithLabelValues(string(f.Kind)).Inc()
	}
}

// ObserveAlert counts one alert sent or failed.
func (m *Metrics) ObserveAlert(err error) {
	if err != nil {
		m.alerts.WithLabelValues("failed").Inc()
		return
	}
	m.alerts.WithLabelValues("sent").Inc()
}

// CacheFor is how long database gauges are reused between scrapes.
var CacheFor = 10 * time.Second

var (
	descRequests  = prometheus.NewDesc("jitaccess_requests", "Requests by stored state and tier.", []string{"state", "tier"}, nil)
	descLive      = prometheus.NewDesc("jitaccess_live_grants", "Grants live now, by tier.", []string{"tier"}, nil)
	descLag       = prometheus.NewDesc("jitaccess_sweep_lag_seconds", "How long the oldest expired grant has waited for the sweeper to end it (0 when none waits).", nil, nil)
	descBacklog   = prometheus.NewDesc("jitaccess_queue_backlog", "Pending jobs per queue (notify: the outbox; provision: provisioning).", []string{"queue"}, nil)
	descFailed    = prometheus.NewDesc("jitaccess_queue_failed", "Jobs that failed for good, per queue.", []string{"queue"}, nil)
	descDBUp      = prometheus.NewDesc("jitaccess_metrics_database_up", "1 if the database answered the last metrics queries.", nil, nil)
	descScrapeDur = prometheus.NewDesc("jitaccess_metrics_database_seconds", "How long the database metrics queries took.", nil, nil)
)

// dbCollector reads the database gauges, caching them for cacheFor so
// that frequent scrapes (or several Prometheus servers) do not load the
// database.
type dbCollector struct {
	src      Source
	now      func() time.Time
	cacheFor time.Duration
	queues   []string

	mu      sync.Mutex
	at      time.Time
	metrics []prometheus.Metric
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descLive, descLag, descBacklog, descFailed, descDBUp, descScrapeDur} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.metrics == nil || time.Since(c.at) >= c.cacheFor {
		c.metrics = c.read()
		c.at = time.Now()
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *dbCollector) read() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	up := 1.0
	counts, err := c.src.RequestCounts(ctx)
	if err != nil {
		up = 0
	}
	seen := map[[2]string]bool{}
	for _, rc := range counts {
		seen[[2]string{rc.State, rc.Tier}] = true
		gauge(descRequests, float64(rc.N), rc.State, rc.Tier)
	}
	if err == nil {
		for _, st := range workflow.States {
			for _, t := range workflow.Tiers {
				if !seen[[2]string{string(st), string(t)}] {
					gauge(descRequests, 0, string(st), string(t))
				}
			}
		}
	}
	now := c.now()
	live, oldest, err := c.src.LiveGrantCounts(ctx, now)
	if err != nil {
		up = 0
	} else {
		for _, t := range workflow.Tiers {
			gauge(descLive, float64(live[string(t)]), string(t))
		}
		lag := 0.0
		if !oldest.IsZero() {
			lag = now.Sub(oldest).Seconds()
		}
		gauge(descLag, lag)
	}
	for _, q := range []struct {
		desc *prometheus.Desc
		read func(context.Context) (map[string]int64, error)
	}{{descBacklog, c.src.QueueBacklog}, {descFailed, c.src.FailedJobCounts}} {
		counts, err := q.read(ctx)
		if err != nil {
			up = 0
			continue
		}
		for _, name := range c.queues {
			if _, ok := counts[name]; !ok {
				counts[name] = 0
			}
		}
		for name, n := range counts {
			gauge(q.desc, float64(n), name)
		}
	}
	gauge(descDBUp, up)
	gauge(descScrapeDur, time.Since(start).Seconds())
	return out
}
