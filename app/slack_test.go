package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestServeRefusesBadSlackConfig: Slack half-configured, or configured so
// that some resource has nowhere to be approved, stops the server at start
// with a message that says what to fix.
func TestServeRefusesBadSlackConfig(t *testing.T) {
	policy := writeFile(t, "policy.yaml", goodPolicy)
	db := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"token without secret", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"}, nil, 2, "SLACK_SIGNING_SECRET is empty"},
		{"secret without token", map[string]string{"SLACK_SIGNING_SECRET": "s"}, nil, 2, "SLACK_BOT_TOKEN is empty"},
		{"user token", map[string]string{"SLACK_BOT_TOKEN": "xoxp-1", "SLACK_SIGNING_SECRET": "s"}, nil, 2, "must be a bot token"},
		{"bad tier channels", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_TIER_CHANNELS": "urgent=#x"}, nil, 2, `unknown tier "urgent"`},
		{"bad channel", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, []string{"--slack-channel", "access"}, 2, `--slack-channel "access"`},
		{"no channel for a resource", map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, nil, 1,
			policy + `:6: resource "crm-notes" has no Slack approval channel`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"serve", "--policy", policy, "--database", db, "--listen", "127.0.0.1:0"}, tc.args...)
			code, _, errOut := run(t, args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d %q, want %d %q", code, errOut, tc.code, tc.want)
			}
			for _, secret := range tc.env {
				if len(secret) > 2 && strings.Contains(errOut, secret) && !strings.Contains(tc.want, secret) {
					t.Fatalf("a secret is in the message: %q", errOut)
				}
			}
		})
	}
}

// TestServeWithSlack boots the whole server with Slack pointed at a fake:
// a signed slash command files a request, the approvers' message is
// posted, a click approves it, and the message and the requester hear.
func TestServeWithSlack(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		fake := slacktest.NewServer(t)
		channel := fake.AddChannel("#access")
		fake.AddPerson("U0ALICE", "alice@example.com")
		fake.AddPerson("U0CAROL", "carol@example.com")
		const secret = "app-test-signing-secret"
		_, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: writeFile(t, "policy.yaml", goodPolicy),
			Slack: app.SlackConfig{BotToken: slacktest.Token, SigningSecret: secret, Channel: "#access", APIURL: fake.APIURL(), ExpiryWarning: time.Minute}})

		post := func(path string, form url.Values) {
			t.Helper()
			body := []byte(form.Encode())
			req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
			req.Header = slacktest.Sign(body, time.Now(), secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", path, resp.StatusCode)
			}
		}
		waitFor := func(what string, ok func() bool) {
			t.Helper()
			for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s; answers %q", what, fake.Responses("r2"))
				}
			}
		}

		post("/slack/commands", url.Values{"user_id": {"U0ALICE"}, "command": {"/access"}, "text": {"crm-notes 30m case 9"},
			"response_url": {fake.ResponseURL("r1")}, "trigger_id": {"t1"}})
		waitFor("the approvers' message", func() bool { return len(fake.Messages(channel)) == 1 })
		if got := fake.Responses("r1"); len(got) != 1 || !strings.Contains(string(got[0]), "is filed") {
			t.Fatalf("answer: %q", got)
		}
		var value string
		for _, b := range strings.Split(string(fake.Messages(channel)[0].Blocks), `"value":"`)[1:] {
			value = b[:36]
		}
		payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": "U0CAROL"},
			"channel": map[string]any{"id": channel}, "response_url": fake.ResponseURL("r2"), "trigger_id": "t2",
			"actions": []map[string]any{{"type": "button", "block_id": "decide", "action_id": "approve", "value": value, "action_ts": "1.2"}}})
		post("/slack/interactions", url.Values{"payload": {string(payload)}})
		waitFor("the edited message and the DM", func() bool {
			m := fake.Messages(channel)
			return len(m) == 1 && m[0].Updates == 1 && len(fake.Messages(slacktest.DMChannel("U0ALICE"))) == 1
		})
		if !strings.Contains(string(fake.Messages(channel)[0].Blocks), "Approved* by carol@example.com") {
			t.Fatalf("message: %s", fake.Messages(channel)[0].Blocks)
		}
	})
}

// TestSlackShowsProvisioning: the approvers' message follows provisioning
// at the target, edited in place: applying, applied, and a removal that
// keeps failing.
func TestSlackShowsProvisioning(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		var failing atomic.Bool
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing.Load() {
				http.Error(w, "crm is down", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		defer target.Close()
		t.Setenv("CRM_HOOK_SECRET", "a-webhook-secret-for-the-tests")
		policy := goodPolicy + "    provisioner:\n      type: webhook\n      url: " + target.URL + "\n      secret_env: CRM_HOOK_SECRET\n"
		fake := slacktest.NewServer(t)
		channel := fake.AddChannel("#access")
		cfg := app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: writeFile(t, "policy.yaml", policy),
			Slack: app.SlackConfig{BotToken: slacktest.Token, SigningSecret: "s", Channel: "#access", APIURL: fake.APIURL()}}
		cfg.Provision.FailAfter = 1
		a, base := boot(t, cfg)
		now := workflow.Now()
		alice, _, _ := a.DB.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, now)
		carol, _, _ := a.DB.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: "carol@example.com", Actor: "test"}, now)

		message := func() string {
			m := fake.Messages(channel)
			if len(m) != 1 {
				return ""
			}
			return string(m[0].Blocks)
		}
		waitFor := func(what string, ok func(string) bool) {
			t.Helper()
			for deadline := time.Now().Add(20 * time.Second); !ok(message()); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s; message %s", what, message())
				}
			}
		}
		_, body := httpJSON(t, "POST", base+"/api/v1/requests", alice, `{"resource":"crm-notes","duration":"30m","reason":"case 9"}`)
		id, _ := body["id"].(string)
		if code, body := httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/approve", carol, `{}`); code != 200 {
			t.Fatalf("approve: %d %v", code, body)
		}
		waitFor("access applied", func(m string) bool { return strings.Contains(m, "Access applied at the target") })

		failing.Store(true)
		if code, body := httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/revoke", carol, `{"reason":"case closed"}`); code != 200 {
			t.Fatalf("revoke: %d %v", code, body)
		}
		waitFor("the failing removal", func(m string) bool {
			return strings.Contains(m, "Revoked") && strings.Contains(m, "Removal at the target keeps failing") && strings.Contains(m, "503")
		})
		if n := len(fake.Messages(channel)); n != 1 {
			t.Fatalf("%d channel messages; updates must edit the one message", n)
		}
		failing.Store(false)
	})
}
