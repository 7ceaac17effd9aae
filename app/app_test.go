package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := app.Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: crm-notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

func TestPolicyCheck(t *testing.T) {
	good := writeFile(t, "good.yaml", goodPolicy)
	code, out, _ := run(t, "policy", "check", good)
	if code != 0 || !strings.Contains(out, "OK: 1 resources") {
		t.Fatalf("good policy: %d %q", code, out)
	}
	bad := writeFile(t, "bad.yaml", strings.Replace(goodPolicy, "tier: medium", "tier: urgent", 1))
	code, _, errOut := run(t, "policy", "check", bad)
	if code != 1 || !strings.Contains(errOut, bad+":7: unknown tier \"urgent\"") {
		t.Fatalf("bad policy: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "policy", "check"); code != 2 {
		t.Fatalf("no file: exit %d", code)
	}
}

func TestServeRefusesBadPolicy(t *testing.T) {
	bad := writeFile(t, "bad.yaml", strings.Replace(goodPolicy, "max_duration: 1h", "max_duration: 1 hour", 1))
	code, _, errOut := run(t, "serve", "--policy", bad, "--database", "sqlite:"+filepath.Join(t.TempDir(), "x.db"), "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, bad+":8: max_duration \"1 hour\" is not a duration") {
		t.Fatalf("serve with bad policy: %d %q", code, errOut)
	}
	code, _, errOut = run(t, "serve", "--database", "sqlite:x.db")
	if code != 2 || !strings.Contains(errOut, "no policy") {
		t.Fatalf("serve without policy: %d %q", code, errOut)
	}
	code, _, errOut = run(t, "serve", "--demo", "--sweep-schedule", "every five seconds")
	if code != 2 || !strings.Contains(errOut, "--sweep-schedule") {
		t.Fatalf("bad schedule: %d %q", code, errOut)
	}
	t.Setenv("JITACCESS_REVIEW_TIMEOUT", "a day")
	code, _, errOut = run(t, "serve", "--demo")
	if code != 2 || !strings.Contains(errOut, `JITACCESS_REVIEW_TIMEOUT="a day"`) {
		t.Fatalf("bad env: %d %q", code, errOut)
	}
}

var tokenLine = regexp.MustCompile(`(?m)^jit_[A-Za-z0-9_-]{43}$`)

func TestTokenCommands(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		code, out, errOut := run(t, "token", "create", "--database", u, "--user", "Alice@Example.com", "--description", "laptop")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || !tokenLine.MatchString(lines[len(lines)-1]) {
			t.Fatalf("create: %d %q %q", code, out, errOut)
		}
		secret := lines[len(lines)-1]
		code, out, _ = run(t, "token", "create", "--database", u, "--service", "helpdesk", "--scope", "check")
		if code != 0 || !tokenLine.MatchString(out) {
			t.Fatalf("create service: %d %q", code, out)
		}
		if code, _, errOut := run(t, "token", "create", "--database", u, "--service", "x", "--scope", "admin"); code != 1 || !strings.Contains(errOut, `unknown scope "admin"`) {
			t.Fatalf("bad scope: %d %q", code, errOut)
		}
		// A bad address is reported as such, before any policy warning.
		polFile := writeFile(t, "policy.yaml", "admins: [root@example.com]\nresources: []\n")
		if code, _, errOut := run(t, "token", "create", "--database", u, "--policy", polFile, "--user", "not an email"); code != 1 ||
			!strings.Contains(errOut, "is not an email address") || strings.Contains(errOut, "warning") {
			t.Fatalf("bad address: %d %q", code, errOut)
		}
		if code, _, _ := run(t, "token", "create", "--database", u); code != 2 {
			t.Fatalf("create without subject: %d", code)
		}
		code, out, _ = run(t, "token", "list", "--database", u)
		if code != 0 || !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "helpdesk") || strings.Contains(out, secret) {
			t.Fatalf("list: %d %q", code, out)
		}
		id := regexp.MustCompile(`[0-9a-f-]{36}`).FindString(strings.Split(out, "\n")[2])
		if code, out, _ := run(t, "token", "revoke", "--database", u, id); code != 0 || !strings.Contains(out, "revoked") {
			t.Fatalf("revoke: %d %q", code, out)
		}
		if code, _, errOut := run(t, "token", "revoke", "--database", u, id); code != 1 || !strings.Contains(errOut, "already revoked") {
			t.Fatalf("second revoke: %d %q", code, errOut)
		}
		if code, _, errOut := run(t, "token", "revoke", "--database", u, "nope"); code != 1 || !strings.Contains(errOut, "not found") {
			t.Fatalf("revoke unknown: %d %q", code, errOut)
		}
	})
}

// boot starts a whole jitaccess on 127.0.0.1:0 and stops it when the test
// ends.
func boot(t *testing.T, cfg app.Config) (*app.App, string) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.SweepSchedule == "" {
		cfg.SweepSchedule = "@every 1s"
	}
	cfg.LogLevel, cfg.LogFormat, cfg.AuditChecks = "info", "text", workflow.AuditAllChecks
	cfg.ShutdownTimeout = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return a, "http://" + a.Addr()
}

func httpJSON(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// TestServeEndToEnd boots the server with a policy file on each database,
// runs a lifecycle over HTTP, and waits for the cron sweeper to expire the
// grant.
func TestServeEndToEnd(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", goodPolicy)
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy})
		ctx := context.Background()
		now := workflow.Now()
		alice, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, now)
		carol, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "carol@example.com", Actor: "test"}, now)

		if code, _ := httpJSON(t, "GET", base+"/readyz", "", ""); code != 200 {
			t.Fatalf("readyz %d", code)
		}
		code, body := httpJSON(t, "POST", base+"/api/v1/requests", alice, `{"resource":"crm-notes","duration":"2s","reason":"case 9"}`)
		if code != 201 {
			t.Fatalf("create %d %v", code, body)
		}
		id := body["id"].(string)
		code, body = httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/approve", carol, `{}`)
		if code != 200 || body["state"] != "approved" {
			t.Fatalf("approve %d %v", code, body)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, body = httpJSON(t, "GET", base+"/api/v1/requests/"+id, alice, "")
			if body["state"] == "expired" || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if body["state"] != "expired" {
			t.Fatalf("the sweeper did not expire the grant: %v", body["state"])
		}
	})
}

// TestServeDemo runs `serve --demo` as a user would and uses a printed token.
func TestServeDemo(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(ctx, []string{"serve", "--demo", "--listen", "127.0.0.1:0", "--shutdown-grace", "0"}, pw, &errb)
		pw.Close()
	}()
	var mu sync.Mutex
	var out strings.Builder
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pr.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	var text string
	for i := 0; i < 200; i++ {
		mu.Lock()
		text = out.String()
		mu.Unlock()
		if strings.Contains(text, "Try: curl") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	addr := regexp.MustCompile(`listening on (http://[0-9.:]+)`).FindStringSubmatch(text)
	alice := regexp.MustCompile(`alice@example.com\s+agents\s+(jit_\S+)`).FindStringSubmatch(text)
	if addr == nil || alice == nil {
		cancel()
		t.Fatalf("demo output: %q %q", text, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "jitaccess-demo.db")); err != nil {
		t.Fatalf("demo database not in the working directory: %v", err)
	}
	code, body := httpJSON(t, "GET", addr[1]+"/api/v1/resources", alice[1], "")
	if code != 200 || len(body["resources"].([]any)) != 6 {
		t.Fatalf("resources as alice: %d %v", code, body)
	}
	cancel()
	if c := <-done; c != 0 {
		t.Fatalf("serve --demo exited %d: %s", c, errb.String())
	}
}

func TestPolicyReload(t *testing.T) {
	policy := writeFile(t, "policy.yaml", goodPolicy)
	a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, store.SQLite), PolicyFile: policy})
	root, _, _ := a.DB.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: "root@example.com", Actor: "test"}, workflow.Now())
	count := func() int {
		_, body := httpJSON(t, "GET", base+"/api/v1/resources", root, "")
		return len(body["resources"].([]any))
	}
	if count() != 1 {
		t.Fatal("want 1 resource before reload")
	}
	grown := goodPolicy + "  - id: kb\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"
	if err := os.WriteFile(policy, []byte(grown), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.ReloadPolicy(); err != nil || count() != 2 {
		t.Fatalf("reload: %v, %d resources", err, count())
	}
	if err := os.WriteFile(policy, []byte(grown+"  - id: kb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.ReloadPolicy(); err == nil || !strings.Contains(err.Error(), "policy.yaml:16") || count() != 2 {
		t.Fatalf("bad reload: %v, %d resources", err, count())
	}
}

// TestSighupReloads sends a real SIGHUP to `jitaccess serve`.
func TestSighupReloads(t *testing.T) {
	dir := t.TempDir()
	policy := writeFile(t, "policy.yaml", goodPolicy)
	db := "sqlite:" + filepath.Join(dir, "hup.db")
	code, out, _ := run(t, "token", "create", "--database", db, "--user", "root@example.com")
	if code != 0 {
		t.Fatalf("token create: %d", code)
	}
	root := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	ctx, cancel := context.WithCancel(context.Background())
	var outb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(ctx, []string{"serve", "--policy", policy, "--database", db, "--listen", "127.0.0.1:0", "--shutdown-grace", "0"}, &outb, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	var addr []string
	for i := 0; i < 200 && addr == nil; i++ {
		addr = regexp.MustCompile(`listening on (http://[0-9.:]+)`).FindStringSubmatch(outb.String())
		time.Sleep(25 * time.Millisecond)
	}
	if addr == nil {
		t.Fatal("serve did not start")
	}
	grown := goodPolicy + "  - id: kb\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"
	if err := os.WriteFile(policy, []byte(grown), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; i < 100 && n != 2; i++ {
		_, body := httpJSON(t, "GET", addr[1]+"/api/v1/resources", root, "")
		n = len(body["resources"].([]any))
		time.Sleep(50 * time.Millisecond)
	}
	if n != 2 {
		t.Fatalf("after SIGHUP: %d resources", n)
	}
	// The reload is in the audit log with its trigger.
	sdb, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	recs, _, err := sdb.ListAudit(context.Background(), workflow.AuditQuery{Action: workflow.ActionPolicyLoaded, Ascending: true, Limit: 10})
	if err != nil || len(recs) != 2 || !strings.HasPrefix(recs[1].Reason, "version 2 (sighup) ") || !strings.Contains(recs[1].Reason, "+resource kb") {
		t.Fatalf("policy.load records after SIGHUP: %v %+v", err, recs)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestTokenListReadsEveryPage: the store lists tokens a page (at most
// 500) at a time; `jitaccess token list` still lists them all.
func TestTokenListReadsEveryPage(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		ctx := context.Background()
		db, err := store.Open(ctx, u, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		const n = identity.MaxListLimit + 7
		now := workflow.Now()
		for i := range n {
			if _, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: fmt.Sprintf("svc-%04d", i), Scopes: []string{"check"}, Actor: "test"}, now); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		code, out, errOut := run(t, "token", "list", "--database", u)
		if code != 0 {
			t.Fatalf("list: %d %s", code, errOut)
		}
		for i := range n {
			if !strings.Contains(out, fmt.Sprintf(" svc-%04d ", i)) {
				t.Fatalf("svc-%04d missing from the list", i)
			}
		}
		if lines := strings.Count(strings.TrimSpace(out), "\n"); lines != n {
			t.Fatalf("%d token lines, want %d", lines, n)
		}
	})
}
