package slackapp_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// benchClients is how many Slack deliveries are in flight at once.
const benchClients = 50

// BenchmarkAcknowledge measures how long Slack waits for an answer to a
// slash command or a button click, with benchClients deliveries in
// flight at once, against PostgreSQL, through the real HTTP server with
// signature checks. Each of the benchClients clients is one person: it
// sends a delivery, and once acknowledged waits for the work behind it to
// answer (through the response_url, at the fake Slack) before sending the
// next, so that 50 deliveries are always in flight, acknowledgements and
// the database work behind them competing for the same two cores.
// "answer" is the time until that answer arrived.
//
// The deliveries mix four kinds: "/access list" (reads), "/access
// RESOURCE DURATION REASON" (files a request or is refused because one is
// open), and Approve clicks by approvers and by a non-approver on pending
// requests (writes, or refusals).
//
//	go test ./slackapp -run '^$' -bench Acknowledge -benchtime 2000x
func BenchmarkAcknowledge(b *testing.B) {
	e := slacktest.NewEnv(b, storetest.Open(b, store.Postgres), slacktest.Options{Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	var pending []string
	for _, who := range []string{"alice", "bob", "frank"} {
		for _, res := range []string{"crm-payments", "identity-docs"} {
			r, err := e.Svc.Submit(ctx, slacktest.Person(who), workflow.SubmitInput{Resource: res, Duration: time.Hour, Reason: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			pending = append(pending, r.ID)
		}
	}
	e.Deliver()
	approvers := []string{"carol", "dave", "erin", "bob"}
	deliveries := make([]slacktest.Delivery, b.N)
	for i := range deliveries {
		switch i % 4 {
		case 0:
			deliveries[i] = e.Command([]string{"alice", "bob", "frank"}[i%3], "list")
		case 1:
			deliveries[i] = e.Command([]string{"alice", "bob", "frank"}[i%3], "crm-notes 1h bench")
		default:
			deliveries[i] = e.Click(approvers[i%len(approvers)], "C0BENCH", "approve", pending[i%len(pending)])
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}, Timeout: 30 * time.Second}
	latencies := make([]time.Duration, b.N)
	answers := make([]time.Duration, b.N)
	var next atomic.Int64
	var busy, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				d := deliveries[i]
				req, _ := http.NewRequest(http.MethodPost, e.Server.URL+d.Path, bytes.NewReader(d.Body))
				req.Header = slacktest.Sign(d.Body, time.Now(), slacktest.Secret)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				latencies[i] = time.Since(start)
				switch {
				case resp.StatusCode != http.StatusOK:
					failed.Add(1)
					continue
				case len(body) > 0:
					busy.Add(1) // "jitaccess is very busy": acknowledged, not done
					continue
				}
				for deadline := time.Now().Add(30 * time.Second); len(e.Responses(d)) == 0; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						failed.Add(1)
						break
					}
				}
				answers[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	e.Handler.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d deliveries failed", failed.Load())
	}
	slices.Sort(latencies)
	slices.Sort(answers)
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(latencies, 0.50), "p50-ms")
	b.ReportMetric(pct(latencies, 0.99), "p99-ms")
	b.ReportMetric(pct(latencies, 1), "max-ms")
	b.ReportMetric(pct(answers, 0.99), "answer-p99-ms")
	b.ReportMetric(float64(busy.Load()), "busy")
}
