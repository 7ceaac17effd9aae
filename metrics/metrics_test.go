package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/metrics"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const pol = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - {id: pay, tier: high, max_duration: 2h, requesters: [agents], approvers: [managers]}
  - {id: notes, tier: medium, max_duration: 2h, requesters: [agents], approvers: [managers]}
`

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		p, err := workflow.ParsePolicy("p.yaml", []byte(pol))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		svc := workflow.NewService(db, p, workflow.Options{Now: clock})
		metrics.CacheFor = 0 // read the database at every scrape
		m := metrics.New(db, clock, "notify", "provision")
		svc.OnCommit(m.Committed)
		alice, bob, carol, dave := workflow.User("alice@example.com"), workflow.User("bob@example.com"), workflow.User("carol@example.com"), workflow.User("dave@example.com")
		r1, _ := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "pay", Duration: time.Hour, Reason: "x"})
		now = now.Add(90 * time.Second)
		svc.Approve(ctx, carol, r1.ID, "")
		svc.Approve(ctx, dave, r1.ID, "")
		r2, _ := svc.Submit(ctx, bob, workflow.SubmitInput{Resource: "notes", Duration: time.Hour, Reason: "y"})
		now = now.Add(20 * time.Minute)
		if _, err := svc.Deny(ctx, carol, r2.ID, "no"); err != nil {
			t.Fatal(err)
		}
		r3, _ := svc.Submit(ctx, bob, workflow.SubmitInput{Resource: "pay", Duration: time.Hour, Reason: "z"})
		now = now.Add(time.Minute)
		svc.Approve(ctx, carol, r3.ID, "")
		svc.Approve(ctx, dave, r3.ID, "")
		// r1 is past its expiry and waits for the sweeper: 10 minutes late.
		now = r1.CreatedAt.Add(90*time.Second + time.Hour + 10*time.Minute)
		out := scrape(t, m)
		for _, want := range []string{
			`jitaccess_requests{state="approved",tier="high"} 2`,
			`jitaccess_requests{state="denied",tier="medium"} 1`,
			`jitaccess_requests{state="pending",tier="low"} 0`,
			`jitaccess_live_grants{tier="high"} 1`,
			`jitaccess_sweep_lag_seconds 600`,
			`jitaccess_decision_seconds_count{outcome="approved",tier="high"} 2`,
			`jitaccess_decision_seconds_bucket{outcome="approved",tier="high",le="60"} 1`,
			`jitaccess_decision_seconds_count{outcome="denied",tier="medium"} 1`,
			`jitaccess_transitions_total{event="approve",tier="high"} 4`,
			`jitaccess_queue_backlog{queue="provision"} 0`,
			`jitaccess_queue_failed{queue="notify"} 0`,
			`jitaccess_metrics_database_up 1`,
			`go_goroutines`,
		} {
			if !strings.Contains(out, want+"\n") && !strings.Contains(out, want+" ") && !(want == "go_goroutines" && strings.Contains(out, want)) {
				t.Errorf("missing %s", want)
			}
		}
		if strings.Contains(out, "jitaccess_audit_chain_ok") {
			t.Error("chain status reported before any verification")
		}
		start := time.Now()
		res, err := svc.Sweep(ctx)
		m.ObserveSweep(time.Since(start), res, err, now)
		vr, _ := audit.Verify(ctx, db)
		m.ObserveVerify(vr, now)
		m.ObserveFlags([]review.Flag{{Kind: review.FlagRubberStamp}})
		out = scrape(t, m)

		for _, want := range []string{
			`jitaccess_sweep_ended_total{event="expire"} 1`,
			`jitaccess_sweep_lag_seconds 0`,
			`jitaccess_sweep_duration_seconds_count 1`,
			`jitaccess_audit_chain_ok 1`,
			`jitaccess_audit_chain_breaks_total 0`,
			`jitaccess_flags_raised_total{kind="rubber_stamp"} 1`,
			`jitaccess_flags_raised_total{kind="out_of_hours"} 0`,
		} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("missing %s", want)
			}
		}
		m.ObserveVerify(audit.Result{OK: false}, now)
		if out := scrape(t, m); !strings.Contains(out, "jitaccess_audit_chain_ok 0\n") || !strings.Contains(out, "jitaccess_audit_chain_breaks_total 1\n") {
			t.Error("a break is not reported")
		}
		db.Close()
		if out := scrape(t, m); !strings.Contains(out, "jitaccess_metrics_database_up 0\n") {
			t.Error("a database outage is not reported")
		}
	})
}

// TestRolledBackChangesAreNotCounted: a change whose transaction rolls
// back (here a later hook fails) leaves the counters as they were.
func TestRolledBackChangesAreNotCounted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		p, err := workflow.ParsePolicy("p.yaml", []byte(pol))
		if err != nil {
			t.Fatal(err)
		}
		svc := workflow.NewService(db, p, workflow.Options{})
		metrics.CacheFor = 0
		m := metrics.New(db, time.Now, "notify")
		svc.OnCommit(m.Committed)
		fail := true
		svc.OnChange(func(ctx context.Context, tx workflow.Tx, changes []workflow.Change) error {
			if fail {
				return errors.New("injected failure after the change")
			}
			return nil
		})
		alice := workflow.User("alice@example.com")
		if _, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "notes", Duration: time.Hour, Reason: "x"}); err == nil {
			t.Fatal("submit succeeded despite the failing hook")
		}
		if out := scrape(t, m); strings.Contains(out, `jitaccess_transitions_total{event="submit"`) {
			t.Errorf("a rolled-back submit was counted:\n%s", grepLines(out, "transitions_total"))
		}
		fail = false
		if _, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "notes", Duration: time.Hour, Reason: "x"}); err != nil {
			t.Fatal(err)
		}
		if out := scrape(t, m); !strings.Contains(out, `jitaccess_transitions_total{event="submit",tier="medium"} 1`+"\n") {
			t.Errorf("the committed submit is not counted once:\n%s", grepLines(out, "transitions_total"))
		}
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
