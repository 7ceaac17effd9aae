package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/workflow"
)

const offboardingPolicy = `admins: [root@bench.example]
groups:
  agents: [root@bench.example]
resources:
  - id: crm
    tier: low
    max_duration: 8h
    requesters: [agents]
    auto_approve: true
    provisioner:
      type: webhook
      url: %s/jitaccess
      secret_env: JITACCESS_BENCH_WEBHOOK_SECRET
      timeout: 5s
`

// removals is the webhook target of the offboarding benchmark: it records
// when each grant was applied and when its removal first arrived.
type removals struct {
	mu      sync.Mutex
	granted map[string]bool
	removed map[string]time.Time // request id → first revoke
}

func (r *removals) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var ev provision.WebhookEvent
	if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Type {
	case provision.EventGrant:
		r.granted[ev.RequestID] = true
	case provision.EventRevoke:
		if _, ok := r.removed[ev.RequestID]; !ok {
			r.removed[ev.RequestID] = now
		}
	}
}

func (r *removals) counts() (granted, removed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.granted), len(r.removed)
}

// benchOffboarding is `jitaccess bench offboarding`: users people hold a
// live grant applied at a webhook target. The baseline half has its grants
// revoked by an admin over the API, all at once; the other half is
// deactivated over SCIM (Okta's PATCH), all at once. For each grant, the
// figure is the time from sending the call to the target receiving the
// removal. Both halves run in the same process on the same database, so
// their ratio is what the directory path costs over a plain revoke.
func benchOffboarding(ctx context.Context, dbURL string, users, clients int, out io.Writer) error {
	if users < 2 || clients < 1 {
		return fmt.Errorf("--users must be at least 2 and --clients at least 1")
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	if err := os.Setenv("JITACCESS_BENCH_WEBHOOK_SECRET", hex.EncodeToString(secret)); err != nil {
		return err
	}
	target := &removals{granted: map[string]bool{}, removed: map[string]time.Time{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: target, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	a, stop, done, err := startBenchApp(ctx, dbURL, fmt.Sprintf(offboardingPolicy, "http://"+l.Addr().String()), app.DefaultSweepSchedule)
	if err != nil {
		return err
	}
	defer func() { stop(); <-done }()
	base := "http://" + a.Addr()
	now := workflow.Now()
	scimTok, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "okta", Scopes: []string{workflow.ScopeSCIM}, Actor: "bench"}, now)
	if err != nil {
		return err
	}
	rootTok, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "root@bench.example", Actor: "bench"}, now)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	call := func(method, path, token, body string, want int) (map[string]any, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewBufferString(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m, nil
	}
	// parallel runs fn(i) for i in [0, n) on clients goroutines.
	parallel := func(n int, fn func(i int) error) error {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		next := make(chan int)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if err := fn(i); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}()
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		select {
		case err := <-errs:
			return err
		default:
			return nil
		}
	}

	fmt.Fprintf(out, "offboarding: %d people with a live grant applied at a webhook target; %d HTTP clients\n", users, clients)
	setup := time.Now()
	ids := make([]string, users)      // SCIM ids
	requests := make([]string, users) // their grants
	if err := parallel(users, func(i int) error {
		m, err := call("POST", "/scim/v2/Users", scimTok, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%d@bench.example","active":true}`, i), http.StatusCreated)
		if err != nil {
			return err
		}
		ids[i], _ = m["id"].(string)
		return nil
	}); err != nil {
		return err
	}
	g, err := call("POST", "/scim/v2/Groups", scimTok, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"agents","members":[]}`, http.StatusCreated)
	if err != nil {
		return err
	}
	gid, _ := g["id"].(string)
	// Members in batches, as identity providers push them (the body limit
	// is 64 KiB).
	for start := 0; start < users; start += 200 {
		batch := make([]map[string]string, 0, 200)
		for _, id := range ids[start:min(start+200, users)] {
			batch = append(batch, map[string]string{"value": id})
		}
		members, _ := json.Marshal(batch)
		if _, err := call("PATCH", "/scim/v2/Groups/"+gid, scimTok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":`+string(members)+`}]}`, http.StatusOK); err != nil {
			return err
		}
	}
	if err := parallel(users, func(i int) error {
		r, err := a.Service.Submit(ctx, workflow.User(fmt.Sprintf("user%d@bench.example", i)), workflow.SubmitInput{Resource: "crm", Duration: 4 * time.Hour, Reason: "bench"})
		if err != nil {
			return err
		}
		requests[i] = r.ID
		return nil
	}); err != nil {
		return err
	}
	if err := waitUntil(ctx, 10*time.Minute, func() bool { g, _ := target.counts(); return g >= users }); err != nil {
		return fmt.Errorf("grants applied at the target: %w", err)
	}
	fmt.Fprintf(out, "setup: %d users, group, grants applied in %s\n", users, time.Since(setup).Round(time.Millisecond))

	// measure sends call(i) for each i in [from, to) at once and returns,
	// per grant, the time from sending to the target's removal.
	measure := func(from, to int, send func(i int) error) ([]time.Duration, time.Duration, error) {
		sent := make([]time.Time, users)
		start := time.Now()
		if err := parallel(to-from, func(k int) error {
			sent[from+k] = time.Now()
			return send(from + k)
		}); err != nil {
			return nil, 0, err
		}
		if err := waitUntil(ctx, 10*time.Minute, func() bool { _, r := target.counts(); return r >= to }); err != nil {
			return nil, 0, fmt.Errorf("removals at the target: %w", err)
		}
		target.mu.Lock()
		defer target.mu.Unlock()
		lat := make([]time.Duration, 0, to-from)
		var last time.Time
		for i := from; i < to; i++ {
			at := target.removed[requests[i]]
			lat = append(lat, at.Sub(sent[i]))
			if at.After(last) {
				last = at
			}
		}
		return lat, last.Sub(start), nil
	}
	half := users / 2
	baseline, baseAll, err := measure(0, half, func(i int) error {
		_, err := call("POST", "/api/v1/requests/"+requests[i]+"/revoke", rootTok, `{"reason":"bench"}`, http.StatusOK)
		return err
	})
	if err != nil {
		return err
	}
	report(out, "admin revoke (API)", baseline)
	fmt.Fprintf(out, "%-20s all %d removed at the target %s after the first call\n", "", half, baseAll.Round(time.Millisecond))
	scim, scimAll, err := measure(half, users, func(i int) error {
		_, err := call("PATCH", "/scim/v2/Users/"+ids[i], scimTok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`, http.StatusOK)
		return err
	})
	if err != nil {
		return err
	}
	report(out, "SCIM active:false", scim)
	fmt.Fprintf(out, "%-20s all %d removed at the target %s after the first call\n", "", users-half, scimAll.Round(time.Millisecond))
	fmt.Fprintf(out, "ratio SCIM / admin revoke: p50 %.2f  p99 %.2f\n", ms(pct(scim, 50))/ms(pct(baseline, 50)), ms(pct(scim, 99))/ms(pct(baseline, 99)))
	return nil
}

// waitUntil polls cond every 10 ms until it holds or limit passes.
func waitUntil(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
