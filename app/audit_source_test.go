package app_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestAuditSourceOfEveryPath: each way in stamps its audit records with
// its source: the API, the command line (its client over the API, and its
// own commands on the database), the assistant endpoint, Slack, SCIM,
// and jitaccess itself. (The web UI's is tested with its pages.)
func TestAuditSourceOfEveryPath(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		fake := slacktest.NewServer(t)
		fake.AddChannel("#access")
		fake.AddPerson("U0ALICE", "alice@example.com")
		const secret = "source-test-signing-secret"
		u := storetest.NewURL(t, kind)
		a, base := boot(t, app.Config{DatabaseURL: u, PolicyFile: writeFile(t, "policy.yaml", goodPolicy),
			Slack: app.SlackConfig{BotToken: slacktest.Token, SigningSecret: secret, Channel: "#access", APIURL: fake.APIURL()}})
		tok := makeTokens(t, a.DB)
		ctx := context.Background()
		okta, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "okta", Scopes: []string{workflow.ScopeSCIM}, Actor: "test"}, workflow.Now())
		if err != nil {
			t.Fatal(err)
		}

		// api: alice files, then cancels with the command-line client (cli).
		code, body := httpJSON(t, "POST", base+"/api/v1/requests", tok["alice"], `{"resource":"crm-notes","duration":"30m","reason":"case 1"}`)
		if code != 201 {
			t.Fatalf("submit: %d %v", code, body)
		}
		id := body["id"].(string)
		e := clientEnv{base: base, tok: map[string]string{"alice": tok["alice"]}}
		e.must(t, "alice", "cancel", id)
		// mcp: the assistant lists the catalog for alice.
		s, err := mcpSession(t, base, tok["alice"])
		if err != nil {
			t.Fatal(err)
		}
		var res struct{}
		if msg := callTool(t, s, "list_resources", nil, &res); msg != "" {
			t.Fatal(msg)
		}
		// slack: alice files from Slack.
		form := url.Values{"user_id": {"U0ALICE"}, "command": {"/access"}, "text": {"crm-notes 30m case 2"},
			"response_url": {fake.ResponseURL("r1")}, "trigger_id": {"t1"}}
		raw := []byte(form.Encode())
		req, _ := http.NewRequest(http.MethodPost, base+"/slack/commands", bytes.NewReader(raw))
		req.Header = slacktest.Sign(raw, time.Now(), secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// scim: the identity provider adds a person.
		c := scimClient{t: t, base: base, token: okta}
		c.must(201, "POST", "/Users", userBody("alice@example.com", true, ""))
		// cli on the database: a token is made by the command line.
		if code, out, errOut := run(t, "token", "create", "--database", u, "--user", "carol@example.com"); code != 0 {
			t.Fatalf("token create: %d %s %s", code, out, errOut)
		}

		want := map[string]string{ // action → source of its first record
			"policy.load": "system", "submit": "api", "cancel": "cli", "mcp.call": "mcp",
			"directory.user.create": "scim", "token.create": "cli",
		}
		bySource := func() map[string]map[string]bool {
			recs, _, err := a.Service.Audit(ctx, workflow.User("root@example.com"), workflow.AuditQuery{Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]map[string]bool{}
			for _, r := range recs {
				if out[r.Action] == nil {
					out[r.Action] = map[string]bool{}
				}
				out[r.Action][r.Source] = true
			}
			return out
		}
		for deadline := time.Now().Add(10 * time.Second); !bySource()["submit"]["slack"]; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no submit from slack: %v", bySource())
			}
		}
		got := bySource()
		for action, source := range want {
			if !got[action][source] {
				t.Errorf("%s: sources %v, want %s among them", action, got[action], source)
			}
		}
		for action, sources := range got {
			if sources[""] {
				t.Errorf("%s has a record without a source", action)
			}
		}
	})
}
