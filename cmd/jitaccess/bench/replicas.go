package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

const replicasPolicy = `admins: [root@bench.example]
groups:
  agents: [alice@bench.example]
  managers: [carol@bench.example]
resources:
  - id: crm-notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

// benchReplicas is `jitaccess bench replicas`: two replicas (A and B, each
// its own connection pool and listener) in this process on one PostgreSQL
// database. Each round grants, makes sure B has the decision cached
// (allowed), revokes over A's HTTP API and polls check on B's until it
// answers allowed: false. The figure is the time from sending the revoke
// to B's first false. The same loop with notifications off (baseline)
// shows what the TTL alone gives.
func benchReplicas(ctx context.Context, dbURL string, rounds, baseline int, ttl string, out io.Writer) error {
	if kind, _, err := store.ParseURL(dbURL); err != nil {
		return err
	} else if kind != store.Postgres {
		return errors.New("bench replicas needs PostgreSQL: on SQLite one process is the whole system")
	}
	if rounds <= 0 || baseline < 0 {
		return errors.New("--revocations must be positive and --baseline at least 0")
	}
	fmt.Fprintf(out, "cross-replica revocation: %d rounds with LISTEN/NOTIFY, %d without; check cache TTL %s\n", rounds, baseline, ttlName(ttl))
	with, after, err := replicaRounds(ctx, dbURL, ttl, false, rounds, 2*time.Millisecond)
	if err != nil {
		return err
	}
	report(out, "with NOTIFY", with)
	report(out, "  after A answered", after)
	if baseline == 0 {
		return nil
	}
	// The TTL is seconds: poll less often, the error is a poll interval.
	without, _, err := replicaRounds(ctx, dbURL, ttl, true, baseline, 10*time.Millisecond)
	if err != nil {
		return err
	}
	report(out, "TTL only (baseline)", without)
	fmt.Fprintf(out, "p99 ratio baseline / NOTIFY: %.0f×\n", float64(pct(without, 99))/float64(pct(with, 99)))
	return nil
}

func ttlName(ttl string) string {
	if ttl == "" {
		return "one sweep interval (" + app.DefaultSweepSchedule + ")"
	}
	return ttl
}

func pct(d []time.Duration, p int) time.Duration { return d[min(len(d)-1, len(d)*p/100)] }

func report(out io.Writer, name string, d []time.Duration) {
	slices.Sort(d)
	fmt.Fprintf(out, "%-20s n=%d  p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", name, len(d), ms(pct(d, 50)), ms(pct(d, 99)), ms(d[len(d)-1]))
}

// replicaRounds returns, per round, the time from sending the revoke to
// B's first false, and from A's answer to it.
func replicaRounds(ctx context.Context, dbURL, ttl string, noNotify bool, rounds int, poll time.Duration) (lat, afterAnswer []time.Duration, err error) {
	pol, err := workflow.ParsePolicy("bench policy", []byte(replicasPolicy))
	if err != nil {
		return nil, nil, err
	}
	var apps [2]*app.App
	var bases [2]string
	for i := range apps {
		cfg := benchConfig(dbURL, pol, app.DefaultSweepSchedule)
		cfg.Provision.CheckCacheTTL, cfg.Provision.NoNotify = ttl, noNotify
		a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, nil, err
		}
		if err := a.Listen(); err != nil {
			a.DB.Close()
			return nil, nil, err
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(runCtx) }()
		defer func() { cancel(); <-done }()
		apps[i], bases[i] = a, "http://"+a.Addr()
	}
	for deadline := time.Now().Add(10 * time.Second); !noNotify && apps[1].ListenerConnects() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return nil, nil, errors.New("replica B's change listener did not connect")
		}
	}
	now := workflow.Now()
	rootTok, _, err := apps[0].DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "root@bench.example", Actor: "bench"}, now)
	if err != nil {
		return nil, nil, err
	}
	checkTok, _, err := apps[0].DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "bench-check", Scopes: []string{workflow.ScopeCheck}, Actor: "bench"}, now)
	if err != nil {
		return nil, nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	checkURL := bases[1] + "/api/v1/grants/check?user=" + url.QueryEscape("alice@bench.example") + "&resource=crm-notes"
	allowed := func() (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, checkURL, nil)
		req.Header.Set("Authorization", "Bearer "+checkTok)
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var body struct {
			Allowed bool `json:"allowed"`
		}
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("check on B: HTTP %d", resp.StatusCode)
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		return body.Allowed, err
	}
	alice, carol := workflow.User("alice@bench.example"), workflow.User("carol@bench.example")
	for i := 0; i < rounds; i++ {
		req, err := apps[0].Service.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "bench"})
		if err != nil {
			return nil, nil, err
		}
		if _, err := apps[0].Service.Approve(ctx, carol, req.ID, ""); err != nil {
			return nil, nil, err
		}
		// B answers allowed, twice in a row: the second from its cache.
		for ok, streak := false, 0; streak < 2; {
			if ok, err = allowed(); err != nil {
				return nil, nil, err
			}
			if ok {
				streak++
			} else {
				streak = 0
			}
			time.Sleep(time.Millisecond)
		}
		start := time.Now()
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, bases[0]+"/api/v1/requests/"+req.ID+"/revoke", strings.NewReader(`{"reason":"bench"}`))
		r.Header.Set("Authorization", "Bearer "+rootTok)
		r.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(r)
		if err != nil {
			return nil, nil, err
		}
		resp.Body.Close()
		answered := time.Now()
		if resp.StatusCode != http.StatusOK {
			return nil, nil, fmt.Errorf("revoke on A: HTTP %d", resp.StatusCode)
		}
		for {
			ok, err := allowed()
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				break
			}
			if time.Since(start) > time.Minute {
				return nil, nil, errors.New("replica B still allowed a minute after the revoke")
			}
			time.Sleep(poll)
		}
		lat, afterAnswer = append(lat, time.Since(start)), append(afterAnswer, time.Since(answered))
	}
	return lat, afterAnswer, nil
}
