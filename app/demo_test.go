package app_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestDemoRefusesProductionSigns: --demo (or JITACCESS_DEMO) with a
// non-loopback listen address, a public URL that is not localhost, or
// OIDC exits 2 saying why, before it touches the database.
func TestDemoRefusesProductionSigns(t *testing.T) {
	cases := []struct {
		name string
		env  bool // JITACCESS_DEMO=1 instead of --demo
		args []string
		want string
	}{
		{"all interfaces", false, []string{"--listen", "0.0.0.0:8080"}, `--demo refuses --listen "0.0.0.0:8080"`},
		{"empty host", false, []string{"--listen", ":8080"}, `--demo refuses --listen ":8080"`},
		{"private address", false, []string{"--listen", "10.1.2.3:8080"}, `--demo refuses --listen "10.1.2.3:8080"`},
		{"all IPv6", false, []string{"--listen", "[::]:8080"}, `--demo refuses --listen "[::]:8080"`},
		{"host name", false, []string{"--listen", "jit.example.com:8080"}, `--demo refuses --listen`},
		{"env file", true, []string{"--listen", "0.0.0.0:8080"}, `--demo refuses --listen "0.0.0.0:8080"`},
		{"public URL", false, []string{"--public-url", "https://jit.example.com"}, `--demo refuses --public-url "https://jit.example.com"`},
		{"public URL by address", false, []string{"--public-url", "http://192.168.1.5:8080"}, `--demo refuses --public-url`},
		{"OIDC", false, []string{"--public-url", "http://localhost:8080", "--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "jit"}, "--demo refuses OIDC"},
		{"OIDC with a redirect URL", false, []string{"--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "jit", "--oidc-redirect-url", "http://127.0.0.1:8080/auth/callback"}, "--demo refuses OIDC"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "demo.db")
			args := append([]string{"serve", "--database", "sqlite:" + db}, tc.args...)
			if tc.env {
				t.Setenv("JITACCESS_DEMO", "1")
			} else {
				args = append(args, "--demo")
			}
			code, _, errOut := run(t, args...)
			if code != 2 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "act as anyone in the policy") {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Fatalf("the database was opened before the refusal: %v", err)
			}
		})
	}
}

// TestDemoBanner: every page of a demo server says that anyone on this
// machine can act as anyone; a server without --demo does not.
func TestDemoBanner(t *testing.T) {
	const banner = "anyone on this machine can act as anyone in the policy"
	_, demo := boot(t, app.Config{Demo: true, DatabaseURL: storetest.NewURL(t, store.SQLite)})
	_, plain := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, store.SQLite), PolicyFile: writeFile(t, "p.yaml", goodPolicy)})
	for _, tc := range []struct {
		base string
		want bool
	}{{demo, true}, {plain, false}} {
		for _, path := range []string{"/sign-in", "/no-such-page"} {
			resp, err := http.Get(tc.base + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := strings.Contains(string(body), banner) && strings.Contains(string(body), `id="demo-banner"`); got != tc.want {
				t.Fatalf("%s%s (%d): banner %v, want %v", tc.base, path, resp.StatusCode, got, tc.want)
			}
		}
	}
}

// TestDemoTokensEndWithTheProcess: serve --demo on your own policy warns
// loudly, and its printed tokens stop working at a graceful shutdown (and
// stay dead at the next start on the same database).
func TestDemoTokensEndWithTheProcess(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		db := storetest.NewURL(t, kind)
		policy := writeFile(t, "own.yaml", goodPolicy)
		start := func() (string, string, func() int) {
			ctx, cancel := context.WithCancel(context.Background())
			var out, errb syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- app.Main(ctx, []string{"serve", "--demo", "--policy", policy, "--database", db, "--listen", "127.0.0.1:0", "--shutdown-grace", "0"}, &out, &errb)
			}()
			var text string
			for i := 0; i < 400 && !strings.Contains(text, "Try: curl"); i++ {
				time.Sleep(25 * time.Millisecond)
				text = out.String()
			}
			addr := regexp.MustCompile(`listening on (http://[0-9.:]+)`).FindStringSubmatch(text)
			alice := regexp.MustCompile(`alice@example.com\s+agents\s+(jit_\S+)`).FindStringSubmatch(text)
			if addr == nil || alice == nil {
				cancel()
				<-done
				t.Fatalf("demo output: %q %q", text, errb.String())
			}
			for _, w := range []string{"WARNING: demo mode: anyone on this machine can act as anyone in the policy", "WARNING: demo mode is on with your own policy (" + policy} {
				if !strings.Contains(text, w) || !strings.Contains(errb.String(), "WARNING: demo mode") {
					t.Fatalf("no %q on stdout or in the log: %q %q", w, text, errb.String())
				}
			}
			return addr[1], alice[1], func() int { cancel(); return <-done }
		}
		base, first, stop := start()
		if code, body := httpJSON(t, "GET", base+"/api/v1/me", first, ""); code != 200 {
			t.Fatalf("demo token while running: %d %v", code, body)
		}
		if code := stop(); code != 0 {
			t.Fatalf("serve exited %d", code)
		}
		// Revoked at shutdown, not only at the next start.
		sdb, err := store.Open(context.Background(), db, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, lerr := sdb.LookupToken(context.Background(), first, workflow.Now())
		sdb.Close()
		if lerr == nil {
			t.Fatal("the demo token is still live after a graceful shutdown")
		}
		base, second, stop := start()
		defer stop()
		if code, _ := httpJSON(t, "GET", base+"/api/v1/me", first, ""); code != http.StatusUnauthorized {
			t.Fatalf("previous run's demo token after restart: %d, want 401", code)
		}
		if code, _ := httpJSON(t, "GET", base+"/api/v1/me", second, ""); code != 200 {
			t.Fatalf("this run's demo token: %d", code)
		}
	})
}
