package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const clientPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
  oncall: [root@example.com]
resources:
  - id: crm-notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    break_glass: {groups: [oncall], max_duration: 30m}
  - id: payments
    tier: high
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

// clientEnv is a real server on a loopback port and a token per person,
// driven through the client commands of the same binary.
type clientEnv struct {
	base string
	tok  map[string]string
}

func newClientEnv(t *testing.T, kind store.Kind, cfg app.Config) clientEnv {
	t.Helper()
	cfg.DatabaseURL = storetest.NewURL(t, kind)
	cfg.PolicyFile = writeFile(t, "policy.yaml", clientPolicy)
	a, base := boot(t, cfg)
	tok := map[string]string{}
	for _, who := range []string{"alice", "carol", "dave", "root"} {
		s, _, err := a.DB.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, workflow.Now())
		if err != nil {
			t.Fatal(err)
		}
		tok[who] = s
	}
	return clientEnv{base: base, tok: tok}
}

// as runs a client command as who and returns its exit code, stdout and
// stderr.
func (e clientEnv) as(ctx context.Context, who string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	args = append(args, "--server", e.base, "--token", e.tok[who])
	code := app.Main(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func (e clientEnv) must(t *testing.T, who string, args ...string) string {
	t.Helper()
	code, out, errOut := e.as(context.Background(), who, args...)
	if code != 0 {
		t.Fatalf("%s %v: exit %d\n%s%s", who, args, code, out, errOut)
	}
	return out
}

func (e clientEnv) file(t *testing.T, resource string) string {
	t.Helper()
	var req struct{ ID, State string }
	if err := json.Unmarshal([]byte(e.must(t, "alice", "request", resource, "--for", "30m", "--reason", "case 7", "--json")), &req); err != nil {
		t.Fatal(err)
	}
	if req.State != "pending" || req.ID == "" {
		t.Fatalf("filed: %+v", req)
	}
	return req.ID
}

// TestClientCommands files, lists, approves, lists the grant and
// relinquishes it, each through the command line against a real server.
func TestClientCommands(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		e := newClientEnv(t, kind, app.Config{})
		id := e.file(t, "crm-notes")

		if out := e.must(t, "carol", "requests", "--pending"); !strings.Contains(out, id) || !strings.Contains(out, "0 of 1") || !strings.Contains(out, "times out in") {
			t.Fatalf("carol's pending list lacks %s:\n%s", id, out)
		}
		if out := e.must(t, "alice", "requests", "--pending"); strings.Contains(out, id) {
			t.Fatalf("alice is offered her own request:\n%s", out)
		}
		if out := e.must(t, "alice", "requests", "--mine"); !strings.Contains(out, id) || !strings.HasPrefix(out, "ID ") {
			t.Fatalf("alice's own list:\n%s", out)
		}
		if out := e.must(t, "carol", "requests", "--mine"); out != "no requests\n" {
			t.Fatalf("carol filed nothing:\n%s", out)
		}
		if out := e.must(t, "carol", "requests", "--state", "pending", "--json"); !strings.Contains(out, `"id": "`+id+`"`) {
			t.Fatalf("--state pending --json:\n%s", out)
		}
		if out := e.must(t, "carol", "approve", id, "--comment", "ok"); !strings.Contains(out, "approved") {
			t.Fatalf("approve:\n%s", out)
		}
		if out := e.must(t, "alice", "grants", "--mine"); !strings.Contains(out, id) || !strings.Contains(out, "expires in 29m") {
			t.Fatalf("alice's grants:\n%s", out)
		}
		if out := e.must(t, "carol", "grants", "--mine"); out != "no requests\n" {
			t.Fatalf("carol holds nothing:\n%s", out)
		}
		if out := e.must(t, "alice", "relinquish", id, "--json"); !strings.Contains(out, `"state": "revoked"`) {
			t.Fatalf("relinquish:\n%s", out)
		}
		if out := e.must(t, "alice", "grants"); out != "no requests\n" {
			t.Fatalf("grants after relinquish:\n%s", out)
		}

		denied := e.file(t, "crm-notes")
		if out := e.must(t, "dave", "deny", denied, "--reason", "not this case"); !strings.Contains(out, "denied") {
			t.Fatalf("deny:\n%s", out)
		}
		cancelled := e.file(t, "crm-notes")
		if out := e.must(t, "alice", "cancel", cancelled); !strings.Contains(out, "cancelled") {
			t.Fatalf("cancel:\n%s", out)
		}
	})
}

// TestClientWait: --wait ends in each state with its own exit code, and
// prints the approvals as they come.
func TestClientWait(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		e := newClientEnv(t, kind, app.Config{ReviewTimeout: 2 * time.Second})
		cases := []struct {
			name, resource string
			decide         func(t *testing.T, id string)
			code           int
			progress       []string
		}{
			{"approved by two", "payments", func(t *testing.T, id string) {
				e.must(t, "carol", "approve", id)
				time.Sleep(300 * time.Millisecond)
				e.must(t, "dave", "approve", id)
			}, 0, []string{"(0 of 2)", "(1 of 2)"}},
			{"denied", "crm-notes", func(t *testing.T, id string) { e.must(t, "carol", "deny", id, "--reason", "no") }, 3, []string{"(0 of 1)"}},
			{"timed out", "crm-notes", func(t *testing.T, id string) {}, 4, []string{"(0 of 1)"}},
			{"cancelled", "crm-notes", func(t *testing.T, id string) { e.must(t, "alice", "cancel", id) }, 5, []string{"(0 of 1)"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				type result struct {
					code     int
					out, err string
				}
				done := make(chan result, 1)
				go func() {
					code, out, errOut := e.as(ctx, "alice", "request", tc.resource, "--for", "30m", "--reason", "case 8", "--wait", "--poll-interval", "50ms", "--json")
					done <- result{code, out, errOut}
				}()
				id := waitPending(t, e, tc.resource)
				tc.decide(t, id)
				r := <-done
				if r.code != tc.code {
					t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.out, r.err)
				}
				for _, p := range tc.progress {
					if !strings.Contains(r.err, p) {
						t.Errorf("progress lacks %q:\n%s", p, r.err)
					}
				}
				if !strings.Contains(r.out, `"id": "`+id+`"`) {
					t.Errorf("the final answer is not the request:\n%s", r.out)
				}
			})
		}
	})
}

// waitPending returns the id of alice's pending request for resource
// once the server has it.
func waitPending(t *testing.T, e clientEnv, resource string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var reqs []struct{ ID, Resource string }
		out := e.must(t, "alice", "requests", "--mine", "--state", "pending", "--json")
		if err := json.Unmarshal([]byte(out), &reqs); err != nil {
			t.Fatal(err)
		}
		for _, r := range reqs {
			if r.Resource == resource {
				return r.ID
			}
		}
	}
	t.Fatal("the request never arrived")
	return ""
}

// TestClientErrors: a wrong call is exit 2 with the usage, a refusal by the
// server is exit 1 with its message, and the environment names the server.
func TestClientErrors(t *testing.T) {
	e := newClientEnv(t, store.SQLite, app.Config{})
	id := e.file(t, "crm-notes")
	cases := []struct {
		name, who string
		args      []string
		code      int
		msg       string
	}{
		{"no duration", "alice", []string{"request", "crm-notes", "--reason", "x"}, 2, "--for is required"},
		{"no resource", "alice", []string{"request", "--for", "1h"}, 2, "name one resource"},
		{"two resources", "alice", []string{"request", "a", "b", "--for", "1h"}, 2, "name one resource"},
		{"deny without reason", "carol", []string{"deny", id}, 2, "--reason is required"},
		{"mine and pending", "carol", []string{"requests", "--mine", "--pending"}, 2, "exclude each other"},
		{"unknown flag", "alice", []string{"grants", "--all"}, 2, "flag provided but not defined"},
		{"unknown resource", "alice", []string{"request", "nope", "--for", "1h", "--reason", "x"}, 1, "nope"},
		{"over max duration", "alice", []string{"request", "crm-notes", "--for", "5h", "--reason", "x"}, 1, "422"},
		{"self approval", "alice", []string{"approve", id}, 1, "403 forbidden"},
		{"unknown request", "carol", []string{"approve", "req_nope"}, 1, "404 not_found"},
		{"bad token", "nobody", []string{"grants"}, 2, "no token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := e.as(context.Background(), tc.who, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want %d with %q", code, errOut, out, tc.code, tc.msg)
			}
		})
	}

	var out, errb bytes.Buffer
	if code := app.Main(context.Background(), []string{"grants", "--server", e.base, "--token", "jit_forged"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "401 unauthenticated") {
		t.Fatalf("forged token: %d %q", code, errb.String())
	}
	t.Setenv("JITACCESS_URL", e.base)
	t.Setenv("JITACCESS_TOKEN", e.tok["carol"])
	out.Reset()
	if code := app.Main(context.Background(), []string{"requests", "--pending"}, &out, &errb); code != 0 || !strings.Contains(out.String(), id) {
		t.Fatalf("from the environment: %d %q %q", code, out.String(), errb.String())
	}
	t.Setenv("JITACCESS_URL", "ftp://example.com")
	if code := app.Main(context.Background(), []string{"grants"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "not an http") {
		t.Fatalf("bad URL: %d %q", code, errb.String())
	}
}

// TestClientEmergency: `request --emergency` is break-glass from the
// terminal, and listings mark it with its review countdown.
func TestClientEmergency(t *testing.T) {
	e := newClientEnv(t, store.SQLite, app.Config{})
	out := e.must(t, "root", "request", "crm-notes", "--for", "30m", "--reason", "INC-9: prod is down", "--emergency")
	if !strings.Contains(out, "approved EMERGENCY") || !strings.Contains(out, "review due in") || !strings.Contains(out, "0 of 1 sign-offs") {
		t.Fatalf("emergency request:\n%s", out)
	}
	if out := e.must(t, "root", "grants", "--mine"); !strings.Contains(out, "EMERGENCY") {
		t.Fatalf("grants:\n%s", out)
	}
}
