package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestHelperProcess is not a test: it is `jitaccess serve` in a child
// process, which the tests below kill with SIGKILL.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv("JITACCESS_HELPER_ARGS")
	if raw == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(app.Main(context.Background(), args, os.Stdout, os.Stderr))
}

const crmSecret = "crm-secret-for-the-restart-test"

// crm receives webhooks, checks their signatures, and acts on each
// idempotency key once. It can hold the first call of a key without
// answering, to catch a sender mid-call.
type crm struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	calls    map[string]int // deliveries per idempotency key
	acted    map[string]int
	hold     bool
	inFlight chan string
}

func newCRM(t *testing.T, hold bool) *crm {
	c := &crm{t: t, calls: map[string]int{}, acted: map[string]int{}, hold: hold, inFlight: make(chan string, 10)}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *crm) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if provision.Sign([]byte(crmSecret), r.Header.Get(provision.HeaderTimestamp), body) != r.Header.Get(provision.HeaderSignature) {
		c.t.Errorf("bad signature")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	key := r.Header.Get(provision.HeaderIdempotencyKey)
	c.mu.Lock()
	c.calls[key]++
	first := c.calls[key] == 1
	c.mu.Unlock()
	if c.hold && first {
		c.inFlight <- key
		<-r.Context().Done() // until the sender dies
		return
	}
	c.mu.Lock()
	c.acted[key]++
	c.mu.Unlock()
}

func (c *crm) counts(key string) (calls, acted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[key], c.acted[key]
}

// child is a jitaccess serve process.
type child struct {
	cmd  *exec.Cmd
	base string
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	raw, _ := json.Marshal(append([]string{"serve", "--listen", "127.0.0.1:0", "--log-level", "warn"}, args...))
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "JITACCESS_HELPER_ARGS="+string(raw), "CRM_SECRET="+crmSecret)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd}
	t.Cleanup(func() { c.kill() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on (http://[0-9.:]+)`).FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case c.base = <-addr:
	case <-time.After(60 * time.Second):
		t.Fatalf("jitaccess serve did not start: %s", stderr.String())
	}
	return c
}

// kill is SIGKILL: no shutdown, no cleanup, as a crash or an OOM kill.
func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}

// restartPolicy's webhook timeout (line 15) is below the 2s lease of
// the restart test, as serve requires.
const restartPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com]
resources:
  - id: crm-payments
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: webhook
      url: %s/jitaccess
      secret_env: CRM_SECRET
      timeout: 1s
    fields:
      - {name: payment_card, mask: last4}
`

// TestKilledBeforeProvisioning kills jitaccess between the commit of an
// approval and the end of its provisioning, in two places: before the
// worker picked the job up, and while the webhook call was in flight. A
// fresh process on the same database applies the grant, once.
func TestKilledBeforeProvisioning(t *testing.T) {
	for _, midCall := range []bool{false, true} {
		name := "before the worker ran"
		if midCall {
			name = "during the webhook call"
		}
		t.Run(name, func(t *testing.T) {
			storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
				killAndRestart(t, kind, midCall)
			})
		})
	}
}

func killAndRestart(t *testing.T, kind store.Kind, midCall bool) {
	ctx := context.Background()
	hooks := newCRM(t, midCall)
	policy := writeFile(t, "policy.yaml", fmt.Sprintf(restartPolicy, hooks.srv.URL))
	u := storetest.NewURL(t, kind)
	db := storetest.OpenURL(t, u)
	now := workflow.Now()
	tok := map[string]string{}
	for _, who := range []string{"alice", "carol"} {
		tok[who], _, _ = db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, now)
	}
	tok["helpdesk"], _, _ = db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check"}, Actor: "test"}, now)
	common := []string{"--database", u, "--policy", policy, "--provision-lease", "2s", "--sweep-schedule", "@every 1s"}

	// The first process: before the worker ran, it polls only hourly
	// (after its first look at start-up); mid-call, the CRM holds the
	// call open until the process dies.
	first := common
	if !midCall {
		first = append(first, "--provision-poll", "1h")
	}
	c1 := startChild(t, first...)
	code, body := httpJSON(t, "POST", c1.base+"/api/v1/requests", tok["alice"], `{"resource":"crm-payments","duration":"1h","reason":"case 5"}`)
	if code != 201 {
		t.Fatalf("submit: %d %v", code, body)
	}
	id := body["id"].(string)
	code, body = httpJSON(t, "POST", c1.base+"/api/v1/requests/"+id+"/approve", tok["carol"], `{}`)
	if code != 200 || body["state"] != "approved" {
		t.Fatalf("approve: %d %v", code, body)
	}
	if midCall {
		select {
		case key := <-hooks.inFlight:
			if key != id+":grant" {
				t.Fatalf("in flight: %s", key)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the first process never called the CRM")
		}
	}
	c1.kill()

	rec, err := db.GetProvisioning(ctx, id)
	if err != nil || rec == nil || rec.Status != provision.StatusPending || rec.Operation != provision.OpApply {
		t.Fatalf("after the kill: %+v %v", rec, err)
	}
	if _, acted := hooks.counts(id + ":grant"); acted != 0 {
		t.Fatal("the CRM acted before the restart")
	}

	// A fresh process on the same database picks up where it stopped.
	c2 := startChild(t, common...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err = db.GetProvisioning(ctx, id)
		if err == nil && rec.Status == provision.StatusApplied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not applied after the restart: %+v %v", rec, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	calls, acted := hooks.counts(id + ":grant")
	wantCalls := 1
	if midCall {
		wantCalls = 2 // the cut call and its retry, with the same idempotency key
	}
	if calls != wantCalls || acted != 1 {
		t.Fatalf("CRM saw %d calls and acted %d times; want %d and 1", calls, acted, wantCalls)
	}
	recs, _, err := db.ListAudit(ctx, workflow.AuditQuery{RequestID: id, Action: provision.ActionApplied, Limit: 10})
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d provision.apply audit records (%v)", len(recs), err)
	}
	// Workers record completions in batches (queue.completeEvery), so the
	// job is marked done shortly after the grant is: none may stay.
	var pending int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := db.Gorm().Raw(`SELECT count(*) FROM jobs WHERE queue = 'provision' AND state = 'pending'`).Scan(&pending).Error; err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d provisioning jobs still pending", pending)
		}
	}
	// The new process serves the grant to integrations, and shows its status.
	code, body = httpJSON(t, "POST", c2.base+"/api/v1/mask", tok["helpdesk"],
		`{"user":"alice@example.com","resource":"crm-payments","record":{"payment_card":"4111111111111234"}}`)
	if code != 200 || body["allowed"] != true {
		t.Fatalf("mask after restart: %d %v", code, body)
	}
	code, body = httpJSON(t, "GET", c2.base+"/api/v1/requests/"+id, tok["alice"], "")
	if prov, _ := body["provisioning"].(map[string]any); code != 200 || prov["status"] != "applied" {
		t.Fatalf("request after restart: %d %v", code, body)
	}
}

// TestServeRefusesMissingProvisioningSettings: a provisioner whose secret
// is not in the environment, and a token mask without a key, stop serve
// with the policy file and line.
func TestServeRefusesMissingProvisioningSettings(t *testing.T) {
	policy := writeFile(t, "policy.yaml", fmt.Sprintf(restartPolicy, "https://crm.example.com"))
	db := "sqlite:" + t.TempDir() + "/x.db"
	t.Setenv("CRM_SECRET", "")
	code, _, errOut := run(t, "serve", "--policy", policy, "--database", db, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, policy+`:12: resource "crm-payments": environment variable CRM_SECRET`) {
		t.Fatalf("missing secret: %d %q", code, errOut)
	}
	// It said so before touching the database: nothing was migrated.
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		if code, _, errOut := run(t, "serve", "--policy", policy, "--database", u, "--listen", "127.0.0.1:0"); code != 1 || !strings.Contains(errOut, "CRM_SECRET") {
			t.Fatalf("missing secret: %d %q", code, errOut)
		}
		fresh, err := store.Open(context.Background(), u, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		if err := fresh.CheckMigrated(context.Background()); err == nil {
			t.Fatal("serve applied migrations before refusing to start")
		}
	})
	tokenPolicy := writeFile(t, "token.yaml", strings.Replace(fmt.Sprintf(restartPolicy, "https://crm.example.com"), "mask: last4", "mask: token", 1))
	t.Setenv("CRM_SECRET", crmSecret)
	code, _, errOut = run(t, "serve", "--policy", tokenPolicy, "--database", db, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, tokenPolicy+`:17: resource "crm-payments" masks field "payment_card" with the token style`) {
		t.Fatalf("token without key: %d %q", code, errOut)
	}
	code, _, errOut = run(t, "serve", "--policy", tokenPolicy, "--database", db, "--mask-token-key", "short")
	if code != 1 || !strings.Contains(errOut, "use at least 32") {
		t.Fatalf("short key: %d %q", code, errOut)
	}
	code, _, errOut = run(t, "serve", "--policy", policy, "--database", db, "--check-cache-ttl", "soon")
	if code != 1 || !strings.Contains(errOut, `--check-cache-ttl "soon"`) {
		t.Fatalf("bad cache ttl: %d %q", code, errOut)
	}
	code, _, errOut = run(t, "serve", "--policy", policy, "--database", db, "--audit-checks-flush", "2m")
	if code != 1 || !strings.Contains(errOut, "--audit-checks-flush 2m0s") {
		t.Fatalf("flush too long: %d %q", code, errOut)
	}
	t.Setenv("JITACCESS_AUDIT_CHECKS_FLUSH", "-1s")
	code, _, errOut = run(t, "serve", "--policy", policy, "--database", db)
	if code != 2 || !strings.Contains(errOut, `JITACCESS_AUDIT_CHECKS_FLUSH="-1s"`) {
		t.Fatalf("bad flush env: %d %q", code, errOut)
	}
	t.Setenv("JITACCESS_AUDIT_CHECKS_FLUSH", "")
	t.Setenv("JITACCESS_PROVISION_LEASE", "forever")
	code, _, errOut = run(t, "serve", "--policy", policy, "--database", db)
	if code != 2 || !strings.Contains(errOut, `JITACCESS_PROVISION_LEASE="forever"`) {
		t.Fatalf("bad env: %d %q", code, errOut)
	}
}

// TestServeRefusesWebhookTimeoutNotBelowLease: a webhook call that may
// outlast the provisioning lease stops serve, with the policy file and
// the line of the timeout (of the provisioner, for the default timeout),
// and a reload that brings one in is refused.
func TestServeRefusesWebhookTimeoutNotBelowLease(t *testing.T) {
	t.Setenv("CRM_SECRET", crmSecret)
	policy := writeFile(t, "policy.yaml", fmt.Sprintf(restartPolicy, "https://crm.example.com"))
	defaultTimeout := writeFile(t, "default.yaml", strings.Replace(fmt.Sprintf(restartPolicy, "https://crm.example.com"), "      timeout: 1s\n", "", 1))
	for _, tc := range []struct {
		name, policy, env string
		args              []string
		want              string
	}{
		{"equal to the lease", policy, "", []string{"--provision-lease", "1s"},
			policy + `:15: resource "crm-payments": webhook timeout 1s is not below the provisioning lease 1s (--provision-lease)`},
		{"above the lease, from the environment", policy, "500ms", nil,
			policy + `:15: resource "crm-payments": webhook timeout 1s is not below the provisioning lease 500ms`},
		{"the default timeout", defaultTimeout, "", []string{"--provision-lease", "10s"},
			defaultTimeout + `:12: resource "crm-payments": the default webhook timeout 10s is not below the provisioning lease 10s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("JITACCESS_PROVISION_LEASE", tc.env)
			args := append([]string{"serve", "--policy", tc.policy, "--database", "sqlite:" + t.TempDir() + "/x.db", "--listen", "127.0.0.1:0"}, tc.args...)
			// A serve that does not refuse is stopped, and fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out, errb strings.Builder
			code := app.Main(ctx, args, &out, &errb)
			errOut := errb.String()
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, %q; want 1 and %q", code, errOut, tc.want)
			}
		})
	}

	// Below the lease, serve starts; a reload that raises the timeout to
	// the lease is refused and the policy in force stays.
	a, _ := boot(t, app.Config{DatabaseURL: "sqlite:" + t.TempDir() + "/x.db", PolicyFile: policy,
		Provision: app.ProvisionConfig{Lease: 2 * time.Second}})
	if err := os.WriteFile(policy, []byte(strings.Replace(fmt.Sprintf(restartPolicy, "https://crm.example.com"), "timeout: 1s", "timeout: 2s", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.ReloadPolicy(); err == nil || !strings.Contains(err.Error(), policy+`:15: resource "crm-payments": webhook timeout 2s is not below the provisioning lease 2s`) {
		t.Fatalf("reload with a timeout at the lease: %v", err)
	}
	if res, _ := a.Service.Policy().Resource("crm-payments"); res.Provisioner.Timeout != time.Second {
		t.Fatalf("policy in force has timeout %v, want the 1s of the policy loaded at start", res.Provisioner.Timeout)
	}
}

// TestPolicyCheckWebhookTimeout: policy check judges webhook timeouts
// against --provision-lease (or JITACCESS_PROVISION_LEASE), 1m unless
// given, as serve does.
func TestPolicyCheckWebhookTimeout(t *testing.T) {
	withTimeout := func(d string) string {
		return writeFile(t, "policy.yaml", strings.Replace(fmt.Sprintf(restartPolicy, "https://crm.example.com"), "timeout: 1s", "timeout: "+d, 1))
	}
	for _, tc := range []struct {
		name, timeout, env string
		args               []string
		want               string // on stderr; "" for OK
	}{
		{"below the default lease", "59s", "", nil, ""},
		{"at the default lease", "1m", "", nil, `:15: resource "crm-payments": webhook timeout 1m0s is not below the provisioning lease 1m0s (--provision-lease)`},
		{"below a longer lease", "1m", "", []string{"--provision-lease", "2m"}, ""},
		{"above a lease from the environment", "1m", "30s", nil, `:15: resource "crm-payments": webhook timeout 1m0s is not below the provisioning lease 30s`},
		{"the flag over the environment", "1m", "30s", []string{"--provision-lease", "90s"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("JITACCESS_PROVISION_LEASE", tc.env)
			file := withTimeout(tc.timeout)
			code, out, errOut := run(t, append(append([]string{"policy", "check"}, tc.args...), file)...)
			switch {
			case tc.want == "" && (code != 0 || !strings.Contains(out, "OK: 1 resources")):
				t.Fatalf("exit %d, %q %q; want OK", code, out, errOut)
			case tc.want != "" && (code != 1 || !strings.Contains(errOut, file+tc.want)):
				t.Fatalf("exit %d, %q; want 1 and %q", code, errOut, file+tc.want)
			}
		})
	}
}

// TestBatchedAuditFlushedAtShutdown: with --audit-checks-flush, answers do
// not wait for their audit records, and a graceful stop commits them all
// before the database closes.
func TestBatchedAuditFlushedAtShutdown(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		cfg := app.Config{DatabaseURL: u, PolicyFile: writeFile(t, "policy.yaml", goodPolicy), Listen: "127.0.0.1:0",
			SweepSchedule: "@every 1s", LogLevel: "info", LogFormat: "text", AuditChecks: workflow.AuditAllChecks,
			ShutdownTimeout: 5 * time.Second, Provision: app.ProvisionConfig{AuditFlush: time.Minute}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Listen(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		tok, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check"}, Actor: "test"}, workflow.Now())
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + a.Addr()
		for i := 0; i < 5; i++ {
			if code, body := httpJSON(t, "POST", base+"/api/v1/mask", tok, `{"user":"alice@example.com","resource":"crm-notes","record":{"a":1}}`); code != 200 {
				t.Fatalf("mask: %d %v", code, body)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		db := storetest.OpenURL(t, u)
		recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{Action: "mask", Limit: 50})
		if err != nil || len(recs) != 5 {
			t.Fatalf("%d mask audit records after shutdown, want 5 (%v)", len(recs), err)
		}
	})
}
