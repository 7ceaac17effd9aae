package notifier_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// benchPeople is how many requesters, and resources (one approval channel
// each), the outbox benchmark spreads its messages over.
const benchPeople = 500

func benchPolicy() string {
	var b strings.Builder
	b.WriteString("groups:\n  agents:\n")
	for i := range benchPeople {
		fmt.Fprintf(&b, "    - agent%03d@example.com\n", i)
	}
	b.WriteString("resources:\n")
	for i := range benchPeople {
		fmt.Fprintf(&b, "  - id: res-%03d\n    tier: low\n    max_duration: 2h\n    requesters: [agents]\n    auto_approve: true\n    slack_channel: \"#ch-%03d\"\n", i, i)
	}
	return b.String()
}

// BenchmarkOutbox measures how fast the notification worker drains the
// outbox into a local fake Slack: each iteration files benchPeople
// auto-approved requests (timer stopped), each giving one channel post
// (its own channel) and one direct message (its own requester), then
// times the worker, with production settings and per-channel pacing on,
// until every message is delivered.
//
// A warm-up round runs first, untimed, and on PostgreSQL the jobs table
// is then analyzed, as autovacuum does within a minute of such a burst;
// "postgres-fresh" times the first burst into a new database instead,
// before PostgreSQL has any statistics on the jobs table.
//
//	go test ./notifier -run '^$' -bench Outbox -benchtime 3x
func BenchmarkOutbox(b *testing.B) {
	for _, tc := range []struct {
		name  string
		kind  store.Kind
		fresh bool
	}{{"sqlite", store.SQLite, false}, {"postgres", store.Postgres, false}, {"postgres-fresh", store.Postgres, true}} {
		b.Run(tc.name, func(b *testing.B) {
			b.StopTimer() // the timer runs only while the worker drains
			ctx := context.Background()
			var messages int
			var elapsed time.Duration
			e := newOutboxEnv(b, tc.kind)
			if !tc.fresh {
				fileRound(b, e, ctx, -1)
				drain(b, e, ctx)
				if tc.kind == store.Postgres {
					if _, err := e.DB.SQL().ExecContext(ctx, "ANALYZE jobs"); err != nil {
						b.Fatal(err)
					}
				}
			}
			for n := range b.N {
				b.StopTimer()
				if tc.fresh && n > 0 {
					e = newOutboxEnv(b, tc.kind)
				}
				fileRound(b, e, ctx, n)
				b.StartTimer()
				start := time.Now()
				drain(b, e, ctx)
				elapsed += time.Since(start)
				b.StopTimer()
				got := len(e.Slack.AllMessages())
				if got != 2*benchPeople {
					b.Fatalf("%d messages delivered, want %d", got, 2*benchPeople)
				}
				messages += got
			}
			b.ReportMetric(float64(messages)/elapsed.Seconds(), "msgs/s")
		})
	}
}

func newOutboxEnv(b *testing.B, kind store.Kind) *slacktest.Env {
	e := slacktest.NewEnv(b, storetest.Open(b, kind), slacktest.Options{Policy: benchPolicy(), Pacer: notifier.NewPacer(),
		ExpiryLead: -1, Logger: slog.New(slog.DiscardHandler)})
	for i := range benchPeople {
		e.Slack.AddChannel(fmt.Sprintf("#ch-%03d", i))
		e.Slack.AddPerson(fmt.Sprintf("U%06d", i), fmt.Sprintf("agent%03d@example.com", i))
	}
	return e
}

// fileRound ends the previous round's grants (delivering what that says,
// untimed) and files one request per requester.
func fileRound(b *testing.B, e *slacktest.Env, ctx context.Context, n int) {
	e.Clock.Advance(3 * time.Hour)
	if _, err := e.Svc.Sweep(ctx); err != nil {
		b.Fatal(err)
	}
	drain(b, e, ctx)
	e.Slack.Reset()
	for i := range benchPeople {
		_, err := e.Svc.Submit(ctx, workflow.User(fmt.Sprintf("agent%03d@example.com", i)),
			workflow.SubmitInput{Resource: fmt.Sprintf("res-%03d", i), Duration: time.Hour, Reason: fmt.Sprintf("round %d", n)})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// drain runs a production-configured worker until no notification is
// pending.
func drain(b *testing.B, e *slacktest.Env, ctx context.Context) {
	b.Helper()
	r := &queue.Runner{Store: e.DB, Queue: notifier.Queue, Handler: e.Dispatcher.Deliver, Logger: slog.New(slog.DiscardHandler),
		Now: e.Clock.Now, Concurrency: 8, MaxAttempts: 1 << 20}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(runCtx) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		backlog, err := e.DB.QueueBacklog(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if backlog[notifier.Queue] == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("outbox not drained: %v", backlog)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if f, err := e.DB.FailedJobsOf(ctx, notifier.Queue, 1, 0); err != nil || len(f) > 0 {
		b.Fatalf("failed deliveries: %+v %v", f, err)
	}
}
