package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// bootStoppable is boot with the sealer on and a way to stop the server
// before the test ends (a replica going away).
func bootStoppable(t *testing.T, cfg app.Config) (*app.App, string, func()) {
	t.Helper()
	return bootWithLogger(t, cfg, slog.New(slog.DiscardHandler))
}

func bootWithLogger(t *testing.T, cfg app.Config, logger *slog.Logger) (*app.App, string, func()) {
	t.Helper()
	cfg.Listen, cfg.SweepSchedule = "127.0.0.1:0", "@every 1h"
	cfg.LogLevel, cfg.LogFormat, cfg.AuditChecks = "info", "text", workflow.AuditAllChecks
	cfg.ShutdownTimeout = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	return a, "http://" + a.Addr(), stop
}

// requestAudited files a request on base and waits until its audit
// record is in the chain (sealed), returning how long that took.
func requestAudited(t *testing.T, db *store.DB, base, token, resource string) time.Duration {
	t.Helper()
	t0 := time.Now()
	code, body := httpJSON(t, "POST", base+"/api/v1/requests", token, `{"resource":"`+resource+`","duration":"30m","reason":"case 7"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	id := body["id"].(string)
	for time.Since(t0) < 10*time.Second {
		recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{RequestID: id, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 0 {
			return time.Since(t0)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the audit record of request %s was not sealed within 10s", id)
	return 0
}

// TestServeSealer: two replicas of serve on one PostgreSQL database, each
// running the sealer (one holds the lease). A request filed on either is
// in the chain within a few seal intervals; when the lease holder shuts
// down, the other takes over and seals what is written next; audit
// verify passes and reports the backlog.
func TestServeSealer(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	extra := ""
	for _, r := range []string{"res-1", "res-2", "res-3", "res-4"} {
		extra += "  - id: " + r + "\n    tier: medium\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [managers]\n"
	}
	policy := writeFile(t, "policy.yaml", goodPolicy+extra)
	const interval = 50 * time.Millisecond
	a, baseA, stopA := bootStoppable(t, app.Config{DatabaseURL: u, PolicyFile: policy, AuditSealInterval: interval})
	b, baseB, _ := bootStoppable(t, app.Config{DatabaseURL: u, PolicyFile: policy, AuditSealInterval: interval})
	ctx := context.Background()
	alice, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, workflow.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, base := range []string{baseA, baseB, baseA} {
		if d := requestAudited(t, b.DB, base, alice, fmt.Sprintf("res-%d", i+1)); d > 2*time.Second {
			t.Errorf("sealed after %s, want within a few intervals of %s", d, interval)
		}
	}
	// Whichever held the lease, stopping A leaves B to seal (A releases
	// the lease at shutdown, or B was the holder already).
	stopA()
	if d := requestAudited(t, b.DB, baseB, alice, "res-4"); d > store.SealerLeaseTTL(interval)+2*time.Second {
		t.Errorf("after replica A stopped, sealed after %s", d)
	}
	code, out, errOut := run(t, "audit", "verify", "--database", u)
	if code != 0 || !strings.Contains(out, "audit chain OK") || !strings.Contains(out, "unsealed: none") {
		t.Fatalf("verify: %d %q %q", code, out, errOut)
	}
}

// TestVerifyReportsBacklog: records committed but not yet sealed are
// reported by audit verify (text and JSON), not counted as verified.
func TestVerifyReportsBacklog(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	storetest.OpenURL(t, u)                                             // migrate
	writer, err := store.Open(context.Background(), u, store.Options{}) // a replica's pool: leaves records to the sealer
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		err := writer.InTx(ctx, func(tx workflow.Tx) error {
			return tx.AppendAudit(ctx, &workflow.AuditRecord{At: workflow.Now(), Actor: "alice@example.com", Action: "test.write"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := run(t, "audit", "verify", "--database", u)
	if code != 0 || !strings.Contains(out, "0 records verified") || !strings.Contains(out, "unsealed: 3 records committed but not yet sealed") {
		t.Fatalf("verify: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, "audit", "verify", "--database", u, "--json")
	if code != 0 || !strings.Contains(out, `"unsealed": {`) || !strings.Contains(out, `"records": 3`) {
		t.Fatalf("verify --json: %d %s", code, out)
	}
	if _, err := writer.SealPending(ctx); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, "audit", "verify", "--database", u)
	if code != 0 || !strings.Contains(out, "3 records verified") || !strings.Contains(out, "unsealed: none") {
		t.Fatalf("verify after the seal: %d %q", code, out)
	}
}

// TestUnsealedAlert: when sealing fails (here the database refuses every
// insert into the chain), records wait; past the limit the lease holder
// raises the audit_unsealed alert once and the backlog shows in the
// metrics; once sealing works again, everything is sealed, nothing lost.
func TestUnsealedAlert(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	policy := writeFile(t, "policy.yaml", goodPolicy)
	logs := &syncBuffer{}
	const interval = 10 * time.Millisecond
	a, base, stop := bootWithLogger(t, app.Config{DatabaseURL: u, PolicyFile: policy, AuditSealInterval: interval}, slog.New(slog.NewTextHandler(logs, nil)))
	admin := storetest.OpenURL(t, u)
	ctx := context.Background()
	block := []string{
		`CREATE FUNCTION test_block_seal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'sealing blocked by the test'; END $$`,
		`CREATE TRIGGER test_block_seal BEFORE INSERT ON audit_records FOR EACH STATEMENT EXECUTE FUNCTION test_block_seal()`,
	}
	for _, q := range block {
		if err := admin.Gorm().Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	alice, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, workflow.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, body := httpJSON(t, "POST", base+"/api/v1/requests", alice, `{"resource":"crm-notes","duration":"30m","reason":"case 8"}`)
	if code != 201 {
		t.Fatalf("create: %d %v (a commit must not wait for its seal)", code, body)
	}
	limit := app.UnsealedAlertAfter(interval)
	deadline := time.Now().Add(limit + 5*time.Second)
	for !strings.Contains(logs.String(), "audit_unsealed") {
		if time.Now().After(deadline) {
			t.Fatalf("no audit_unsealed alert %s after the limit %s; logs:\n%s", 5*time.Second, limit, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := string(raw)
	if strings.Contains(m, "jitaccess_audit_unsealed_records 0\n") || !strings.Contains(m, "jitaccess_audit_sealer_leader 1\n") ||
		strings.Contains(m, "jitaccess_audit_seal_errors_total 0\n") {
		t.Fatalf("metrics while sealing fails:\n%s", grepLines(m, "jitaccess_audit_"))
	}
	if n := strings.Count(logs.String(), "kind=audit_unsealed"); n != 1 {
		t.Errorf("%d audit_unsealed alerts, want 1 per episode", n)
	}
	if err := admin.Gorm().Exec(`DROP TRIGGER test_block_seal ON audit_records`).Error; err != nil {
		t.Fatal(err)
	}
	storetest.WaitSealed(t, a.DB, 5*time.Second)
	stop()
	recs, _, err := admin.ListAudit(ctx, workflow.AuditQuery{Actor: "alice@example.com", Limit: 10})
	if err != nil || len(recs) != 1 || recs[0].Reason != "case 8" {
		t.Fatalf("alice's request record after the backlog drained: %+v %v", recs, err)
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAuditSealIntervalFlag: out-of-range and malformed intervals are
// refused by name, before anything is stored.
func TestAuditSealIntervalFlag(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/x.db"
	policy := writeFile(t, "policy.yaml", goodPolicy)
	for _, tc := range []struct{ value, want string }{
		{"5ms", "--audit-seal-interval 5ms: use a duration from 10ms to 10s, or 0"},
		{"11s", "--audit-seal-interval 11s: use a duration from 10ms to 10s, or 0"},
		{"-1s", "--audit-seal-interval -1s"},
		{"soon", "audit-seal-interval"},
	} {
		code, _, errOut := run(t, "serve", "--policy", policy, "--database", db, "--audit-seal-interval", tc.value)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("--audit-seal-interval %s: %d %q, want %q", tc.value, code, errOut, tc.want)
		}
	}
	if _, err := os.Stat(strings.TrimPrefix(db, "sqlite:")); err == nil {
		t.Errorf("a refused configuration created the database")
	}
}
