package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// mfaPolicy has a critical resource (require_mfa defaults to [approve]),
// one whose requests need MFA, and one where nothing does.
const mfaPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: vault
    tier: critical
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
  - id: notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    require_mfa: [request]
  - id: wiki
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

// TestMFAOverTheAPI: a bearer token proves no second factor, so a
// decision that require_mfa names is refused with 403 mfa_required and a
// message naming the request's web page; so is a request for a resource
// whose requests need MFA. Nothing is decided; the refusal is audited,
// and every decision's audit record says how its person was verified, in
// the JSON and the CSV export (which still verify).
func TestMFAOverTheAPI(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		a, base := boot(t, app.Config{DatabaseURL: u, PolicyFile: writeFile(t, "mfa.yaml", mfaPolicy)})
		tok := makeTokens(t, a.DB)
		web := strings.Replace(base, "127.0.0.1", "localhost", 1)

		code, body := httpJSON(t, "POST", base+"/api/v1/requests", tok["alice"], `{"resource":"vault","duration":"1h","reason":"case 12"}`)
		if code != 201 {
			t.Fatalf("submit: %d %v", code, body)
		}
		id := body["id"].(string)
		code, body = httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/approve", tok["carol"], `{"comment":"checked"}`)
		e, _ := body["error"].(map[string]any)
		if code != 403 || e["code"] != "mfa_required" || !strings.Contains(e["message"].(string), "which an API token cannot prove: do it in the web UI at "+web+"/requests/"+id) {
			t.Fatalf("approve with a token: %d %v", code, body)
		}
		// Denying is not in require_mfa: the token may.
		if code, body = httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/deny", tok["carol"], `{"reason":"not for this case"}`); code != 200 {
			t.Fatalf("deny with a token: %d %v", code, body)
		}
		code, body = httpJSON(t, "POST", base+"/api/v1/requests", tok["alice"], `{"resource":"notes","duration":"1h","reason":"case 13"}`)
		if e, _ := body["error"].(map[string]any); code != 403 || e["code"] != "mfa_required" || !strings.Contains(e["message"].(string), "requesting notes needs a second factor") {
			t.Fatalf("a request that needs MFA, with a token: %d %v", code, body)
		}
		if code, body = httpJSON(t, "POST", base+"/api/v1/requests", tok["alice"], `{"resource":"wiki","duration":"1h","reason":"case 14"}`); code != 201 {
			t.Fatalf("a request that needs none: %d %v", code, body)
		}

		dir := t.TempDir()
		for _, format := range []string{"jsonl", "csv"} {
			out := filepath.Join(dir, "audit."+format)
			if code, _, errOut := run(t, "audit", "export", "--database", u, "--format", format, "--output", out); code != 0 {
				t.Fatalf("export %s: %s", format, errOut)
			}
			raw, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			s := string(raw)
			switch format {
			case "jsonl":
				for _, want := range []string{`"action":"approve"`, `"action":"mfa.refused"`, `"action":"deny","request_id":"` + id} {
					if want == `"action":"approve"` {
						if strings.Contains(s, want) {
							t.Errorf("a refused approval was recorded:\n%s", s)
						}
						continue
					}
					if !strings.Contains(s, want) {
						t.Errorf("the JSON export lacks %s:\n%s", want, s)
					}
				}
				for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
					if strings.Contains(line, `"action":"deny"`) || strings.Contains(line, `"action":"submit"`) || strings.Contains(line, `"action":"mfa.refused"`) {
						if !strings.Contains(line, `"auth":"token","mfa":"none"`) {
							t.Errorf("a record of a token's action without auth token, mfa none: %s", line)
						}
					}
				}
			case "csv":
				lines := strings.Split(strings.TrimSpace(s), "\n")
				if !strings.HasSuffix(lines[0], ",purpose,auth,mfa,source") {
					t.Fatalf("CSV header %q", lines[0])
				}
				if !strings.Contains(s, ",token,none") {
					t.Errorf("the CSV export has no token,none cells:\n%s", s)
				}
			}
			if code, out, errOut := run(t, "audit", "verify", "--file", out); code != 0 {
				t.Fatalf("verify the %s export: %s %s", format, out, errOut)
			}
		}
	})
}

// TestPolicyCheckWarnsCriticalWithoutMFA: a critical resource that turns
// require_mfa off passes, with a warning; an unknown action is refused at
// its line and column.
func TestPolicyCheckWarnsCriticalWithoutMFA(t *testing.T) {
	off := writeFile(t, "off.yaml", strings.Replace(mfaPolicy, "    tier: critical\n", "    tier: critical\n    require_mfa: []\n", 1))
	code, out, errOut := run(t, "policy", "check", off)
	if code != 0 || !strings.Contains(out, "OK: 3 resources") ||
		!strings.Contains(errOut, `warning: resource "vault" (line 6) is critical but has no require_mfa`) {
		t.Fatalf("policy check: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run(t, "policy", "check", writeFile(t, "on.yaml", mfaPolicy)); code != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("a critical resource with the default require_mfa: %d %q", code, errOut)
	}
	bad := writeFile(t, "bad.yaml", strings.Replace(mfaPolicy, "require_mfa: [request]", "require_mfa: [request, aprove]", 1))
	code, _, errOut = run(t, "policy", "check", bad)
	if code != 1 || !strings.Contains(errOut, `bad.yaml:16:28: unknown action "aprove" in require_mfa; use approve, deny, revoke, request, break_glass`) {
		t.Fatalf("unknown action: %d %q", code, errOut)
	}
}
