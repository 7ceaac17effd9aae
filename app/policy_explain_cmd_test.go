package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const explainPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
resources:
  - id: crm-notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    conditions:
      - expr: requester.email != 'bob@example.com'
        message: bob may not read notes
  - id: crm-payments
    tier: high
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

var idp = workflow.ServiceAccount("idp", workflow.ScopeSCIM)

func TestPolicyExplainCommand(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		policy := writeFile(t, "policy.yaml", explainPolicy)
		a, _ := boot(t, app.Config{DatabaseURL: u, PolicyFile: policy})
		// erin is deactivated in the directory: she approves nothing.
		if _, _, err := a.Service.CreateDirectoryUser(context.Background(), idp, workflow.PersonInput{UserName: "erin@example.com"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			args []string
			code int
			want []string // in stdout, or stderr when code != 0
			not  []string
		}{
			{"may request", []string{"--user", "alice@example.com", "--resource", "crm-notes", "--policy", policy}, 0,
				[]string{"alice@example.com may request crm-notes", "line 12: requester.email != 'bob@example.com' → true",
					"tier medium, 1 approval required, review timeout 24h", "approvers (3 of 3 can approve today)", "erin@example.com"}, nil},
			{"condition false", []string{"--user", "bob@example.com", "--resource", "crm-notes", "--policy", policy}, 0,
				[]string{"bob@example.com may not request crm-notes:", "  - bob may not read notes", "→ false"}, nil},
			{"directory: deactivated approver left out", []string{"--user", "alice@example.com", "--resource", "crm-payments", "--policy", policy, "--database", u}, 0,
				[]string{"tier high, 2 approvals required", "approvers (2 of 2 can approve today)", "carol@example.com", "dave@example.com"}, []string{"erin@"}},
			{"unknown user", []string{"--user", "zed@example.com", "--resource", "crm-notes", "--policy", policy}, 0,
				[]string{"zed@example.com may not request crm-notes:", "zed@example.com is not in the access policy"}, nil},
			{"unknown resource", []string{"--user", "alice@example.com", "--resource", "crm", "--policy", policy}, 1,
				[]string{`unknown resource "crm"`}, nil},
			{"no user", []string{"--resource", "crm-notes", "--policy", policy}, 2, []string{"usage: jitaccess policy explain"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, out, errOut := run(t, append([]string{"policy", "explain"}, tc.args...)...)
				got := out
				if tc.code != 0 {
					got = errOut
				}
				if code != tc.code {
					t.Fatalf("exit %d, want %d: %q %q", code, tc.code, out, errOut)
				}
				for _, w := range tc.want {
					if !strings.Contains(got, w) {
						t.Errorf("output lacks %q:\n%s", w, got)
					}
				}
				for _, w := range tc.not {
					if strings.Contains(got, w) {
						t.Errorf("output has %q:\n%s", w, got)
					}
				}
			})
		}
		code, out, _ := run(t, "policy", "explain", "--user", "bob@example.com", "--resource", "crm-notes", "--policy", policy, "--json")
		var x workflow.Explanation
		if err := json.Unmarshal([]byte(out), &x); code != 0 || err != nil || x.CanRequest || len(x.Conditions) != 1 || x.Conditions[0].Holds {
			t.Fatalf("json: %d %v %q", code, err, out)
		}
	})
}

func TestPolicyDiffCommand(t *testing.T) {
	newPolicy := strings.NewReplacer("agents: [alice@example.com, bob@example.com]", "agents: [bob@example.com, frank@example.com]",
		"managers: [carol@example.com, dave@example.com, erin@example.com]", "managers: [carol@example.com, erin@example.com]",
		"tier: high\n    max_duration: 1h", "tier: critical\n    max_duration: 2h").Replace(explainPolicy)
	dir := t.TempDir()
	oldFile, newFile := filepath.Join(dir, "old.yaml"), filepath.Join(dir, "new.yaml")
	if err := os.WriteFile(oldFile, []byte(explainPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newFile, []byte(newPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	access := []string{"crm-notes may request: +frank@example.com -alice@example.com", "crm-notes may approve: -dave@example.com",
		"crm-payments may request: +frank@example.com -alice@example.com", "crm-payments may approve: -dave@example.com",
		"crm-payments tier high → critical", "crm-payments max_duration 1h → 2h"}
	t.Run("files", func(t *testing.T) {
		code, out, errOut := run(t, "policy", "diff", oldFile, newFile)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, w := range access {
			if !strings.Contains(out, w) {
				t.Errorf("diff lacks %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "Against the database") {
			t.Errorf("no database, no plan:\n%s", out)
		}
		if code, _, _ := run(t, "policy", "diff", oldFile); code != 2 {
			t.Errorf("one file: exit %d", code)
		}
	})
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		ctx := context.Background()
		u := storetest.NewURL(t, kind)
		a, _ := boot(t, app.Config{DatabaseURL: u, PolicyFile: oldFile})
		// frank is a manager by the directory: the diff counts him on both sides.
		frank, _, err := a.Service.CreateDirectoryUser(ctx, idp, workflow.PersonInput{UserName: "frank@example.com", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Service.CreateDirectoryGroup(ctx, idp, workflow.GroupInput{DisplayName: "managers", Members: []string{frank.ID}}); err != nil {
			t.Fatal(err)
		}
		in := workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "case 1"}
		grant, err := a.Service.Submit(ctx, workflow.User("alice@example.com"), in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Service.Approve(ctx, workflow.User("carol@example.com"), grant.ID, ""); err != nil {
			t.Fatal(err)
		}
		in.Resource = "crm-payments"
		pending, err := a.Service.Submit(ctx, workflow.User("bob@example.com"), in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Service.Approve(ctx, workflow.User("dave@example.com"), pending.ID, ""); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, "policy", "diff", oldFile, newFile, "--database", u)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, w := range append(access,
			"revoke the live grant "+grant.ID+" (alice@example.com on crm-notes): policy version 2 no longer lets alice@example.com request crm-notes",
			"withdraw dave@example.com's approval of "+pending.ID+" (bob@example.com on crm-payments): policy version 2 no longer lets dave@example.com approve crm-payments") {
			if !strings.Contains(out, w) {
				t.Errorf("diff lacks %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "may approve: +frank") || strings.Contains(out, "-frank") {
			t.Errorf("frank approves under both policies, by the directory:\n%s", out)
		}
		// The diff changed nothing.
		g, err := a.DB.GetRequest(ctx, grant.ID)
		if err != nil || g.State != workflow.StateApproved {
			t.Fatalf("grant after diff: %v %v", g, err)
		}
		p, err := a.DB.GetRequest(ctx, pending.ID)
		if err != nil || p.State != workflow.StatePending || len(p.Counting()) != 1 {
			t.Fatalf("pending after diff: %+v %v", p, err)
		}
		vs, _, err := a.DB.ListPolicyVersions(ctx, workflow.PolicyVersionQuery{Limit: 10})
		if err != nil || len(vs) != 1 {
			t.Fatalf("policy versions after diff: %d %v", len(vs), err)
		}
	})
}

// A policy whose own tests fail is refused by policy check, at start and
// on reload (the policy in force stays).
func TestPolicyFileTests(t *testing.T) {
	passing := explainPolicy + `tests:
  - {user: alice@example.com, resource: crm-notes, expect: {can_request: true, approvers_include: [carol@example.com], approvals_required: 1}}
  - {user: bob@example.com, resource: crm-notes, expect: {can_request: false}}
`
	failing := passing + "  - {user: bob@example.com, resource: crm-payments, expect: {tier: medium}}\n"
	failLine := strings.Count(passing, "\n") + 1
	good, bad := writeFile(t, "good.yaml", passing), writeFile(t, "bad.yaml", failing)
	wantErr := bad + ":" + itoa(failLine) + ": policy test (bob@example.com on crm-payments) failed: expected tier medium, but it is high"

	if code, out, errOut := run(t, "policy", "check", good); code != 0 || !strings.Contains(out, "2 tests passed") {
		t.Fatalf("passing: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run(t, "policy", "check", bad); code != 1 || !strings.Contains(errOut, wantErr) {
		t.Fatalf("failing: %d %q, want %q", code, errOut, wantErr)
	}
	code, _, errOut := run(t, "serve", "--policy", bad, "--database", "sqlite:"+filepath.Join(t.TempDir(), "x.db"), "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, wantErr) {
		t.Fatalf("serve: %d %q", code, errOut)
	}
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", passing)
		a, _ := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy})
		before := a.Service.Policy().SHA256
		if err := os.WriteFile(policy, []byte(failing), 0o600); err != nil {
			t.Fatal(err)
		}
		err := a.ReloadPolicy()
		if err == nil || !strings.Contains(err.Error(), "policy test (bob@example.com on crm-payments) failed") {
			t.Fatalf("reload: %v", err)
		}
		if a.Service.Policy().SHA256 != before || len(a.Service.Policy().Tests) != 2 {
			t.Fatal("the refused policy replaced the one in force")
		}
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
