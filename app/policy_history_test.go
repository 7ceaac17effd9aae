package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
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

const highPolicy = goodPolicy + `  - id: crm-payments
    tier: high
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

// bootLogged is boot with the server's log kept, to read its alerts.
func bootLogged(t *testing.T, cfg app.Config) (*app.App, string, *syncBuffer) {
	t.Helper()
	cfg.Listen, cfg.SweepSchedule = "127.0.0.1:0", "@every 1h"
	cfg.LogLevel, cfg.LogFormat, cfg.AuditChecks = "info", "text", workflow.AuditAllChecks
	cfg.ShutdownTimeout = 5 * time.Second
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
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
	return a, "http://" + a.Addr(), &logs
}

func auditOf(t *testing.T, db *store.DB, action string) []*workflow.AuditRecord {
	t.Helper()
	recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{Action: action, Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestPolicyReloadIsRecorded is the reproducer: a reload that lowered
// crm-payments from high to medium left no trace in the audit log. Now it
// is a policy.load record with the diff, a version flagged lowered, and a
// security alert; the history is served to admins and reviewers only.
func TestPolicyReloadIsRecorded(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", highPolicy)
		a, base, logs := bootLogged(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy})
		if v := a.Service.Policy(); v.Version != 1 || len(v.SHA256) != 64 {
			t.Fatalf("at start: version %d sha %q", v.Version, v.SHA256)
		}
		if err := os.WriteFile(policy, []byte(strings.Replace(highPolicy, "tier: high", "tier: medium", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := a.ReloadPolicy(); err != nil {
			t.Fatal(err)
		}
		if v := a.Service.Policy(); v.Version != 2 {
			t.Fatalf("after reload: version %d", v.Version)
		}
		recs := auditOf(t, a.DB, workflow.ActionPolicyLoaded)
		if len(recs) != 2 || !strings.HasPrefix(recs[0].Reason, "version 1 (start) sha256 ") ||
			!strings.HasPrefix(recs[1].Reason, "version 2 (sighup) sha256 ") || !strings.Contains(recs[1].Reason, "crm-payments tier high → medium (LOWERED)") {
			t.Fatalf("policy.load records: %+v", recs)
		}
		if !strings.Contains(logs.String(), "ALERT: Policy version 2 (sighup) lowers crm-payments tier high → medium (LOWERED)") {
			t.Fatalf("no security alert in the log:\n%s", logs.String())
		}
		if !strings.Contains(logs.String(), `msg="re-evaluated after the policy load" version=2`) {
			t.Fatalf("no re-evaluation after the reload:\n%s", logs.String())
		}

		// A file with errors is refused and recorded; version 2 stays.
		if err := os.WriteFile(policy, []byte(highPolicy+"  - id: kb\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := a.ReloadPolicy(); err == nil || a.Service.Policy().Version != 2 {
			t.Fatalf("bad file: %v, version %d", err, a.Service.Policy().Version)
		}
		if r := auditOf(t, a.DB, workflow.ActionPolicyLoadRefused); len(r) != 1 || !strings.Contains(r[0].Reason, "version 2 stays in force") {
			t.Fatalf("refused: %+v", r)
		}

		ctx, now := context.Background(), workflow.Now()
		root, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "root@example.com", Actor: "test"}, now)
		alice, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, now)
		agent, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{workflow.ScopeCheck}, Actor: "test"}, now)
		if err != nil {
			t.Fatal(err)
		}
		code, body := httpJSON(t, "GET", base+"/api/v1/policy/versions?limit=1", root, "")
		vs, _ := body["versions"].([]any)
		if code != 200 || len(vs) != 1 || body["next_cursor"] == "" {
			t.Fatalf("versions as root: %d %v", code, body)
		}
		v := vs[0].(map[string]any)
		if v["version"] != 2.0 || v["trigger"] != "sighup" || v["lowered"] != true || len(v["sha256"].(string)) != 64 ||
			v["source"] != policy || v["loaded_at"] == nil || v["diff"] == nil {
			t.Fatalf("version 2: %v", v)
		}
		code, body = httpJSON(t, "GET", base+"/api/v1/policy/versions?cursor="+body["next_cursor"].(string), root, "")
		if vs, _ := body["versions"].([]any); code != 200 || len(vs) != 1 || vs[0].(map[string]any)["trigger"] != "start" || body["next_cursor"] != "" {
			t.Fatalf("page 2: %d %v", code, body)
		}
		for _, tc := range []struct {
			token, query string
			code         int
		}{{alice, "", 403}, {agent, "", 403}, {"nope", "", 401}, {root, "?limit=x", 400}, {root, "?page=2", 400}, {root, "?cursor=not-a-cursor", 400}} {
			code, body := httpJSON(t, "GET", base+"/api/v1/policy/versions"+tc.query, tc.token, "")
			if code != tc.code || body["error"] == nil {
				t.Errorf("%s%s: %d %v, want %d", tc.token[:4], tc.query, code, body, tc.code)
			}
		}
	})
}

// TestPolicyFileWatcher: a changed file is picked up without a signal.
func TestPolicyFileWatcher(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", highPolicy)
		a, _, _ := bootLogged(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy, PolicyWatchInterval: 50 * time.Millisecond})
		grown := highPolicy + "  - id: kb\n    tier: low\n    max_duration: 1h\n    requesters: [agents]\n    auto_approve: true\n"
		// Each change replaces the file whole (as editors and config
		// managers do), so that the watcher never reads it half written,
		// which would be another content, refused.
		replace := func(content string) {
			tmp := policy + ".new"
			if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, policy); err != nil {
				t.Fatal(err)
			}
		}
		replace(grown)
		deadline := time.Now().Add(10 * time.Second)
		for a.Service.Policy().Version != 2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if p := a.Service.Policy(); p.Version != 2 || len(p.Resources) != 3 {
			t.Fatalf("watcher: version %d, %d resources", p.Version, len(p.Resources))
		}
		recs := auditOf(t, a.DB, workflow.ActionPolicyLoaded)
		if len(recs) != 2 || !strings.HasPrefix(recs[1].Reason, "version 2 (file_change)") || !strings.Contains(recs[1].Reason, "+resource kb") {
			t.Fatalf("records: %+v", recs)
		}
		// The same content is not loaded again; a broken file is refused
		// once and the policy in force stays.
		replace(grown + "  - id: kb\n")
		time.Sleep(400 * time.Millisecond)
		if n := len(auditOf(t, a.DB, workflow.ActionPolicyLoaded)); n != 2 || a.Service.Policy().Version != 2 {
			t.Fatalf("after a broken file: %d loads, version %d", n, a.Service.Policy().Version)
		}
		if n := len(auditOf(t, a.DB, workflow.ActionPolicyLoadRefused)); n != 1 {
			t.Fatalf("refused %d times, want once", n)
		}
	})
}

func TestPolicyVersionsCommand(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		if code, out, _ := run(t, "policy", "versions", "--database", u); code != 0 || !strings.Contains(out, "no policy versions") {
			t.Fatalf("empty: %d %q", code, out)
		}
		policy := writeFile(t, "policy.yaml", highPolicy)
		a, _, _ := bootLogged(t, app.Config{DatabaseURL: u, PolicyFile: policy})
		if err := os.WriteFile(policy, []byte(strings.Replace(highPolicy, "carol@example.com, ", "carol@example.com, erin@example.com, ", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := a.ReloadPolicy(); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, "policy", "versions", "--database", u)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "VERSION") || !strings.HasPrefix(lines[1], "2 ") ||
			!strings.Contains(lines[1], "sighup") || !strings.Contains(lines[1], "group managers: +erin@example.com") || !strings.Contains(lines[2], "start") {
			t.Fatalf("table: %d %q %q", code, out, errOut)
		}
		code, out, _ = run(t, "policy", "versions", "--database", u, "--json", "--limit", "1")
		var vs []map[string]any
		if err := json.Unmarshal([]byte(out), &vs); code != 0 || err != nil || len(vs) != 1 || vs[0]["version"] != 2.0 || vs[0]["lowered"] != false {
			t.Fatalf("json: %d %v %q", code, err, out)
		}
		if code, _, _ := run(t, "policy", "versions", "--database", u, "extra"); code != 2 {
			t.Fatalf("extra argument: %d", code)
		}
	})
}

func TestPolicyWatchIntervalFlag(t *testing.T) {
	t.Setenv("JITACCESS_POLICY_WATCH_INTERVAL", "soon")
	code, _, errOut := run(t, "serve", "--demo")
	if code != 2 || !strings.Contains(errOut, `JITACCESS_POLICY_WATCH_INTERVAL="soon"`) {
		t.Fatalf("bad env: %d %q", code, errOut)
	}
	t.Setenv("JITACCESS_POLICY_WATCH_INTERVAL", "")
	code, _, errOut = run(t, "serve", "--demo", "--policy-watch-interval", "-1s")
	if code != 2 || !strings.Contains(errOut, "--policy-watch-interval") {
		t.Fatalf("negative: %d %q", code, errOut)
	}
}
