package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestShutdownDropsNoRequest fires requests continuously across the
// shutdown signal: /readyz turns 503 first while the listener keeps
// serving for the grace period, and every request that got a connection
// gets a complete response (200 or 503), none a reset or an EOF.
func TestShutdownDropsNoRequest(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		const grace = 600 * time.Millisecond
		cfg := app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: writeFile(t, "p.yaml", goodPolicy),
			Listen: "127.0.0.1:0", SweepSchedule: "@every 1s", LogLevel: "info", LogFormat: "text",
			AuditChecks: workflow.AuditAllChecks, ShutdownTimeout: 5 * time.Second, ShutdownGrace: grace,
			Web: app.WebConfig{APIRateLimit: 1 << 20, SignInRateLimit: 1 << 20, ServiceRateLimit: 1 << 20, AuthFailureLimit: 1 << 20}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Listen(); err != nil {
			t.Fatal(err)
		}
		alice, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, workflow.Now())
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + a.Addr()
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()

		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
		defer client.CloseIdleConnections()
		var (
			stopped                        atomic.Bool
			answered, refused, readyBefore atomic.Int64
			ready503, servedInGrace        atomic.Int64
			mu                             sync.Mutex
			dropped                        []error
		)
		var cancelledAt atomic.Int64 // unix nanos; 0 before the signal
		fire := func(path string) {
			req, _ := http.NewRequest("GET", base+path, nil)
			req.Header.Set("Authorization", "Bearer "+alice)
			resp, err := client.Do(req)
			if err != nil {
				var op *net.OpError
				if errors.As(err, &op) && op.Op == "dial" {
					refused.Add(1) // no connection: the listener is closed
					return
				}
				mu.Lock()
				dropped = append(dropped, fmt.Errorf("%w at %s after the signal", err, sinceSignal(&cancelledAt)))
				mu.Unlock()
				return
			}
			_, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr != nil || (resp.StatusCode != 200 && resp.StatusCode != 503) {
				mu.Lock()
				dropped = append(dropped, errors.New(path+": "+resp.Status+" "+errString(rerr)))
				mu.Unlock()
				return
			}
			answered.Add(1)
			at := cancelledAt.Load()
			switch {
			case path == "/readyz" && at == 0 && resp.StatusCode == 200:
				readyBefore.Add(1)
			case path == "/readyz" && at != 0 && resp.StatusCode == 503:
				ready503.Add(1)
			case path != "/readyz" && at != 0 && resp.StatusCode == 200 && time.Since(time.Unix(0, at)) < grace:
				servedInGrace.Add(1)
			}
		}
		var wg sync.WaitGroup
		for _, path := range []string{"/healthz", "/healthz", "/api/v1/me", "/api/v1/me", "/readyz", "/readyz"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Like a load balancer that has seen /readyz fail, the
				// clients send nothing new in the last part of the grace:
				// a request sent as the listener closes may meet a
				// connection the kernel had queued, or a keep-alive one
				// Shutdown closes as idle, a race HTTP/1.1 leaves to
				// clients. What is checked is that every request sent
				// during the grace (and still running when it ends) is
				// answered in full.
				for !stopped.Load() {
					if at := cancelledAt.Load(); at != 0 && time.Since(time.Unix(0, at)) > grace/2 {
						return
					}
					fire(path)
				}
			}()
		}
		// Signal once the server has answered ready (a loaded machine may
		// take a while to serve the first requests).
		for deadline := time.Now().Add(10 * time.Second); readyBefore.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		cancelledAt.Store(time.Now().UnixNano())
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		stopped.Store(true)
		wg.Wait()
		// After the close, new connections are refused.
		fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		for range 5 {
			if _, err := fresh.Get(base + "/healthz"); err != nil {
				var op *net.OpError
				if errors.As(err, &op) && op.Op == "dial" {
					refused.Add(1)
				}
			}
		}
		if len(dropped) > 0 {
			t.Fatalf("%d requests got a connection but no complete response (of %d answered), first: %v", len(dropped), answered.Load(), dropped[0])
		}
		if readyBefore.Load() == 0 || ready503.Load() == 0 || servedInGrace.Load() == 0 || refused.Load() == 0 {
			t.Fatalf("ready before %d, /readyz 503 during the grace %d, other requests served during the grace %d, refused after the close %d",
				readyBefore.Load(), ready503.Load(), servedInGrace.Load(), refused.Load())
		}
		if took := time.Since(time.Unix(0, cancelledAt.Load())); took < grace {
			t.Fatalf("shut down %s after the signal, before the %s grace ended", took, grace)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func sinceSignal(at *atomic.Int64) time.Duration {
	if at.Load() == 0 {
		return 0
	}
	return time.Since(time.Unix(0, at.Load()))
}
