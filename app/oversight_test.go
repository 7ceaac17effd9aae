package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// seedLifecycles runs n request lifecycles through the service, so that
// the audit log holds what jitaccess really writes.
func seedLifecycles(t *testing.T, db *store.DB, n int) {
	t.Helper()
	pol, err := workflow.ParsePolicy("p.yaml", []byte(goodPolicy))
	if err != nil {
		t.Fatal(err)
	}
	svc := workflow.NewService(db, pol, workflow.Options{})
	ctx := context.Background()
	for i := 0; i < n; i++ {
		r, err := svc.Submit(ctx, workflow.User("alice@example.com"), workflow.SubmitInput{Resource: "crm-notes", Duration: time.Minute, Reason: "case"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Approve(ctx, workflow.User("carol@example.com"), r.ID, "ok"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Revoke(ctx, workflow.User("alice@example.com"), r.ID, "done"); err != nil {
			t.Fatal(err)
		}
	}
}

// sneak changes the database around the triggers, as a DBA could.
func sneak(t *testing.T, db *store.DB, stmt string) {
	t.Helper()
	err := db.Gorm().Transaction(func(g *gorm.DB) error {
		if db.Kind() == store.Postgres {
			g.Exec("SET LOCAL session_replication_role = replica")
		} else {
			g.Exec("DROP TRIGGER IF EXISTS audit_records_no_update")
			g.Exec("DROP TRIGGER IF EXISTS audit_records_delete_anchored")
			g.Exec("DROP TRIGGER IF EXISTS audit_witness_forward")
		}
		return g.Exec(stmt).Error
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		seedLifecycles(t, db, 4) // 12 records
		code, out, errOut := run(t, "audit", "verify", "--database", u)
		if code != 0 || !strings.Contains(out, "audit chain OK: 12 records verified (ids 1 to 12)") {
			t.Fatalf("verify: %d %q %q", code, out, errOut)
		}
		head := regexp.MustCompile(`head: (\d+:[0-9a-f]{64})`).FindStringSubmatch(out)
		if head == nil {
			t.Fatalf("no head in %q", out)
		}
		// --json gives the same head, not "".
		code, out, _ = run(t, "audit", "verify", "--database", u, "--json")
		var ok struct {
			Head string `json:"head"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &ok) != nil || ok.Head != head[1] {
			t.Fatalf("json head: %d %q, want %s", code, out, head[1])
		}
		for _, tc := range []struct {
			name, stmt, want string
		}{
			{"edit", "UPDATE audit_records SET reason = 'x' WHERE id = 5", "BROKEN at record 5 (hash_mismatch)"},
			{"delete", "DELETE FROM audit_records WHERE id = 8", "BROKEN at record 5 (hash_mismatch)"}, // the first problem still wins
		} {
			sneak(t, db, tc.stmt)
			code, out, _ := run(t, "audit", "verify", "--database", u)
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("%s: %d %q", tc.name, code, out)
			}
		}
		code, out, _ = run(t, "audit", "verify", "--database", u, "--json")
		var res struct {
			OK    bool `json:"ok"`
			Break struct {
				ID int64 `json:"id"`
			} `json:"break"`
		}
		if code != 1 || json.Unmarshal([]byte(out), &res) != nil || res.OK || res.Break.ID != 5 {
			t.Fatalf("json: %d %q", code, out)
		}
		if code, _, errOut := run(t, "audit", "verify", "--database", u, "--checkpoint", "12:nothex"); code != 2 || !strings.Contains(errOut, "not ID:HASH") {
			t.Fatalf("bad checkpoint: %d %q", code, errOut)
		}
		if code, _, _ := run(t, "audit", "frobnicate"); code != 2 {
			t.Fatal("unknown subcommand")
		}
	})
}

func TestAuditExportAndPruneCommands(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		seedLifecycles(t, db, 3) // 9 records, all of today
		dir := t.TempDir()
		csv := filepath.Join(dir, "audit.csv")
		if code, _, errOut := run(t, "audit", "export", "--database", u, "--format", "csv", "--person", "Carol@example.com", "--output", csv); code != 0 {
			t.Fatalf("export: %d %q", code, errOut)
		}
		data, _ := os.ReadFile(csv)
		if lines := strings.Count(string(data), "\n"); lines != 4 { // header + 3 approvals
			t.Fatalf("csv has %d lines:\n%s", lines, data)
		}
		if code, out, _ := run(t, "audit", "verify", "--file", csv, "--partial"); code != 0 || !strings.Contains(out, "3 records verified") {
			t.Fatalf("verify csv: %d %q", code, out)
		}
		if code, _, errOut := run(t, "audit", "export", "--database", u, "--format", "xml"); code != 2 || !strings.Contains(errOut, "csv or jsonl") {
			t.Fatalf("bad format: %d %q", code, errOut)
		}
		// The export itself was audited (record 10).
		code, out, _ := run(t, "audit", "export", "--database", u, "--since", "2020-01-01")
		if code != 0 || strings.Count(out, "\n") != 11 || !strings.Contains(out, `"action":"audit.export"`) {
			t.Fatalf("jsonl export: %d\n%s", code, out)
		}
		// Prune everything before tomorrow: a dry run first.
		tomorrow := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02")
		code, out, _ = run(t, "audit", "prune", "--database", u, "--before", tomorrow)
		if code != 0 || !strings.Contains(out, "would prune 11 audit records (ids 1 to 11") {
			t.Fatalf("dry run: %d %q", code, out)
		}
		archive := filepath.Join(dir, "pruned.jsonl")
		code, out, errOut := run(t, "audit", "prune", "--database", u, "--before", tomorrow, "--export", archive, "--yes")
		if code != 0 || !strings.Contains(out, "pruned 11 audit records (ids 1 to 11)") {
			t.Fatalf("prune: %d %q %q", code, out, errOut)
		}
		if code, out, _ := run(t, "audit", "verify", "--database", u); code != 0 || !strings.Contains(out, "following prune anchor 1") {
			t.Fatalf("verify after prune: %d %q", code, out)
		}
		if code, out, _ := run(t, "audit", "verify", "--file", archive); code != 0 || !strings.Contains(out, "11 records verified") {
			t.Fatalf("verify archive: %d %q", code, out)
		}
		if code, _, errOut := run(t, "audit", "prune", "--database", u); code != 2 || !strings.Contains(errOut, "exactly one of") {
			t.Fatalf("prune without a cutoff: %d %q", code, errOut)
		}
	})
}

func TestReviewCommand(t *testing.T) {
	u := storetest.NewURL(t, store.SQLite)
	db := storetest.OpenURL(t, u)
	seedLifecycles(t, db, 2)
	policy := writeFile(t, "policy.yaml", goodPolicy)
	today := time.Now().UTC().Format("2006-01-02")
	tomorrow := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02")
	code, out, errOut := run(t, "review", "report", "--database", u, "--policy", policy, "--since", today, "--until", tomorrow)
	if code != 0 || !strings.Contains(out, "crm-notes") || !strings.Contains(out, "alice@example.com  2") || !strings.Contains(out, "carol@example.com") {
		t.Fatalf("report: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, "review", "report", "--database", u, "--policy", policy, "--since", today, "--until", tomorrow, "--json")
	var rep struct {
		Grants []any `json:"grants"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Grants) != 2 {
		t.Fatalf("json report: %d %q", code, out)
	}
	// --report-max-requests bounds what a report loads: 2 requests fit, 1 is too few.
	if code, _, errOut := run(t, "review", "report", "--database", u, "--policy", policy, "--since", today, "--until", tomorrow, "--report-max-requests", "2"); code != 0 {
		t.Fatalf("report within the bound: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, "review", "report", "--database", u, "--policy", policy, "--since", today, "--until", tomorrow, "--report-max-requests", "1"); code != 1 ||
		!strings.Contains(errOut, "period too large") || !strings.Contains(errOut, "more than 1 requests") {
		t.Fatalf("report past the bound: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, "review", "report", "--database", u, "--since", today, "--until", tomorrow); code != 2 || !strings.Contains(errOut, "--policy") {
		t.Fatalf("no policy: %d %q", code, errOut)
	}
	if code, out, _ := run(t, "review", "flags", "--database", u, "--policy", policy); code != 0 || !strings.Contains(out, "no anomaly flags") {
		t.Fatalf("flags: %d %q", code, out)
	}
}

func TestServeOversight(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", goodPolicy)
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy,
			Oversight: app.OversightConfig{VerifySchedule: "@every 1s", MetricsToken: "scrape-secret"}})
		seedLifecycles(t, a.DB, 1)
		scrape := func(token string) (int, string) {
			req, _ := http.NewRequest("GET", base+"/metrics", nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, _ := scrape(""); code != 401 {
			t.Fatalf("metrics without the token: %d", code)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body := scrape("scrape-secret")
			if code == 200 && strings.Contains(body, "jitaccess_audit_chain_ok 1\n") && strings.Contains(body, `jitaccess_requests{state="revoked",tier="medium"} 1`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics never showed a verified chain: %d\n%s", code, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Tamper: the next scheduled verify reports the break.
		sneak(t, a.DB, "UPDATE audit_records SET actor = 'mallory@example.com' WHERE id = 2")
		deadline = time.Now().Add(15 * time.Second)
		for {
			_, body := scrape("scrape-secret")
			if strings.Contains(body, "jitaccess_audit_chain_ok 0\n") && strings.Contains(body, "jitaccess_alerts_total{outcome=\"sent\"} 1\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the break was never reported:\n%s", body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func TestOversightFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  [2]string
		want string
	}{
		{[]string{"--audit-retention", "12h"}, [2]string{}, "less than a day"},
		{[]string{"--audit-retention", "ten days"}, [2]string{}, "use a number of days like 400d"},
		{nil, [2]string{"JITACCESS_AUDIT_RETENTION", "forever"}, "JITACCESS_AUDIT_RETENTION=\"forever\""},
		{[]string{"--flag-scan-schedule", "often"}, [2]string{}, "--flag-scan-schedule \"often\""},
		{[]string{"--audit-verify-schedule", "hourly"}, [2]string{}, "--audit-verify-schedule \"hourly\""},
		{[]string{"--security-slack-channel", "C1"}, [2]string{"SLACK_BOT_TOKEN", ""}, "SLACK_BOT_TOKEN is not"},
		{nil, [2]string{"JITACCESS_FLAG_RUBBER_STAMP", "soon"}, "JITACCESS_FLAG_RUBBER_STAMP=\"soon\""},
	} {
		if tc.env[0] != "" {
			t.Setenv(tc.env[0], tc.env[1])
		}
		args := append([]string{"serve", "--demo", "--database", "sqlite:" + filepath.Join(t.TempDir(), "x.db")}, tc.args...)
		code, _, errOut := run(t, args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v %v: exit %d, %q; want %q", tc.args, tc.env, code, errOut, tc.want)
		}
		if tc.env[0] != "" {
			os.Unsetenv(tc.env[0])
		}
	}
}

// TestServeReportBound: serve's report refuses a period holding more
// requests than --report-max-requests with 400, and serves one within it.
func TestServeReportBound(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: writeFile(t, "policy.yaml", goodPolicy),
			Oversight: app.OversightConfig{ReportMaxRequests: 2}})
		seedLifecycles(t, a.DB, 3)
		root, _, err := a.DB.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: "root@example.com", Actor: "test"}, workflow.Now())
		if err != nil {
			t.Fatal(err)
		}
		q := "since=" + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + "&until=" + time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
		code, body := httpJSON(t, "GET", base+"/api/v1/reviews/report?"+q, root, "")
		e, _ := body["error"].(map[string]any)
		if code != 400 || e["code"] != "invalid_argument" || !strings.Contains(fmt.Sprint(e["message"]), "period too large") {
			t.Fatalf("report past the bound: %d %v", code, body)
		}
		q = "since=" + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + "&until=" + time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
		if code, body := httpJSON(t, "GET", base+"/api/v1/reviews/report?"+q, root, ""); code != 200 {
			t.Fatalf("report of an empty period: %d %v", code, body)
		}
	})
}
