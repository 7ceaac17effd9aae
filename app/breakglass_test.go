package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const breakGlassAppPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  oncall: [olga@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: crm-notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    break_glass:
      groups: [oncall]
      max_duration: 30m
      reviewers_required: 2
      review_within: 2s
`

// waitLog waits until the server's log holds want.
func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBreakGlassOverHTTP: "emergency": true over the API, its codes, the
// security alert in the log, the review object and the review endpoint,
// and the overdue alert from serve's own sweeper.
func TestBreakGlassOverHTTP(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		logs := &syncBuffer{}
		cfg := app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: writeFile(t, "policy.yaml", breakGlassAppPolicy),
			Listen: "127.0.0.1:0", SweepSchedule: "@every 1s", LogLevel: "info", LogFormat: "text", AuditChecks: workflow.AuditAllChecks,
			ShutdownTimeout: 5 * time.Second}
		ctx, cancel := context.WithCancel(context.Background())
		a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
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
		base := "http://" + a.Addr()
		tok := map[string]string{}
		for _, who := range []string{"alice", "olga", "carol", "dave"} {
			s, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, workflow.Now())
			if err != nil {
				t.Fatal(err)
			}
			tok[who] = s
		}
		errCode := func(body map[string]any) string {
			e, _ := body["error"].(map[string]any)
			s, _ := e["code"].(string)
			return s
		}
		for _, tc := range []struct {
			who, body string
			status    int
			code      string
		}{
			{"alice", `{"resource":"crm-notes","duration":"10m","reason":"INC-7","emergency":true}`, 403, "forbidden"},
			{"olga", `{"resource":"crm-notes","duration":"45m","reason":"INC-7","emergency":true}`, 422, "policy_violation"},
			{"olga", `{"resource":"crm-notes","duration":"10m","reason":"","emergency":true}`, 422, "policy_violation"},
			{"olga", `{"resource":"crm-notes","duration":"10m","reason":"INC-7","emergency":"yes"}`, 400, "invalid_argument"},
		} {
			if code, body := httpJSON(t, "POST", base+"/api/v1/requests", tok[tc.who], tc.body); code != tc.status || errCode(body) != tc.code {
				t.Fatalf("%s %s: %d %v, want %d %s", tc.who, tc.body, code, body, tc.status, tc.code)
			}
		}
		// olga may neither request nor approve crm-notes, but sees it in
		// the catalog with its break_glass block.
		code, body := httpJSON(t, "GET", base+"/api/v1/resources", tok["olga"], "")
		res, _ := body["resources"].([]any)
		if code != 200 || len(res) != 1 {
			t.Fatalf("catalog: %d %v", code, body)
		}
		bg, _ := res[0].(map[string]any)["break_glass"].(map[string]any)
		if bg["can_use"] != true || bg["max_duration"] != "30m" || bg["reviewers_required"] != float64(2) || res[0].(map[string]any)["can_request"] != false {
			t.Fatalf("catalog entry: %v", res[0])
		}
		code, body = httpJSON(t, "POST", base+"/api/v1/requests", tok["olga"], `{"resource":"crm-notes","duration":"10m","reason":"INC-7: notes are down","emergency":true}`)
		if code != 201 || body["state"] != "approved" || body["emergency"] != true {
			t.Fatalf("emergency: %d %v", code, body)
		}
		id := body["id"].(string)
		rv, _ := body["review"].(map[string]any)
		if rv == nil || rv["state"] != "open" || rv["required"] != float64(2) || len(rv["signed_by"].([]any)) != 0 || rv["due_at"] == nil {
			t.Fatalf("review object %v", rv)
		}
		waitLog(t, logs, "ALERT: Break-glass: olga@example.com took emergency access to crm-notes")

		if code, body := httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/review", tok["olga"], `{}`); code != 403 || errCode(body) != "forbidden" {
			t.Fatalf("requester sign-off: %d %v", code, body)
		}
		code, body = httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/review", tok["carol"], `{"comment":"checked INC-7"}`)
		if rv, _ := body["review"].(map[string]any); code != 200 || rv["state"] != "open" || rv["progress"] != "1 of 2 sign-offs" {
			t.Fatalf("carol's sign-off: %d %v", code, body)
		}
		if code, body := httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/review", tok["carol"], `{}`); code != 409 || errCode(body) != "duplicate_approval" {
			t.Fatalf("carol again: %d %v", code, body)
		}
		// review_within is 2s: serve's sweeper alerts that it is overdue.
		waitLog(t, logs, "ALERT: Break-glass review overdue: olga@example.com's emergency access to crm-notes")
		code, body = httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/review", tok["dave"], `{}`)
		if rv, _ := body["review"].(map[string]any); code != 200 || rv["state"] != "signed_off" || len(rv["signed_by"].([]any)) != 2 {
			t.Fatalf("dave's sign-off: %d %v", code, body)
		}
		code, body = httpJSON(t, "GET", base+"/api/v1/requests/"+id, tok["olga"], "")
		counts := map[string]int{}
		for _, a := range historyActions(body) {
			counts[a]++
		}
		if code != 200 || counts["break_glass"] != 1 || counts["break_glass.review_signoff"] != 2 || counts["break_glass.review_overdue"] < 1 {
			t.Fatalf("history: %d %v", code, historyActions(body))
		}
	})
}

func historyActions(body map[string]any) []string {
	var out []string
	h, _ := body["history"].([]any)
	for _, r := range h {
		m, _ := r.(map[string]any)
		s, _ := m["action"].(string)
		out = append(out, s)
	}
	return out
}

// TestPolicyCheckBreakGlass: policy check passes a break_glass block,
// warns about skip_conditions, refuses a bad one at its line and column;
// policy diff and explain show it.
func TestPolicyCheckBreakGlass(t *testing.T) {
	good := writeFile(t, "bg.yaml", breakGlassAppPolicy)
	if code, out, errOut := run(t, "policy", "check", good); code != 0 || !strings.Contains(out, "OK: 1 resources") || errOut != "" {
		t.Fatalf("break_glass policy: %d %q %q", code, out, errOut)
	}
	skip := writeFile(t, "skip.yaml", breakGlassAppPolicy+"      skip_conditions: true\n")
	code, _, errOut := run(t, "policy", "check", skip)
	if code != 0 || !strings.Contains(errOut, "warning: "+skip+":7: resource \"crm-notes\": break_glass.skip_conditions is true") {
		t.Fatalf("skip_conditions: %d %q", code, errOut)
	}
	bad := writeFile(t, "bad.yaml", strings.Replace(breakGlassAppPolicy, "max_duration: 30m", "max_duration: 2h", 1))
	code, _, errOut = run(t, "policy", "check", bad)
	if code != 1 || !strings.Contains(errOut, bad+":14:21: break_glass.max_duration 2h of resource \"crm-notes\" is longer than its max_duration 1h") {
		t.Fatalf("bad: %d %q", code, errOut)
	}
	code, out, errOut := run(t, "policy", "diff", good, skip)
	if code != 0 || !strings.Contains(out, "break_glass") || !strings.Contains(out, "skips conditions") {
		t.Fatalf("diff: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "policy", "explain", "--policy", good, "--user", "olga@example.com", "--resource", "crm-notes")
	if !strings.Contains(out, "break-glass (groups oncall, max 30m, 2 reviewers within 2s): olga@example.com may use emergency access") {
		t.Fatalf("explain: %d %q %q", code, out, errOut)
	}
}

// TestDemoHasBreakGlass: the demo shows break-glass: grace (oncall) may
// use it on prod-db, alice may not.
func TestDemoHasBreakGlass(t *testing.T) {
	p := app.DemoPolicy()
	res, ok := p.Resource("prod-db")
	if !ok || res.BreakGlass == nil || res.BreakGlass.ReviewersRequired != 2 || res.BreakGlass.MaxDuration != 30*time.Minute {
		t.Fatalf("prod-db break_glass: %+v", res)
	}
	if !p.IsBreakGlassMember(workflow.User("grace@example.com"), res) || p.IsBreakGlassMember(workflow.User("alice@example.com"), res) {
		t.Fatal("break-glass members of the demo")
	}
}
