package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const hiddenPolicy = `admins: [root@example.com]
reviewers: [auditors]
sensitive_patterns:
  - {name: national_id, regex: '\b\d{3}-\d{2}-\d{4}\b', mask: '[national id]'}
groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
  auditors: [heidi@example.com]
resources:
  - id: crm-payments
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: webhook
      url: %s/hook
      secret_env: CRM_SECRET
      timeout: 5s
    fields:
      - {name: payment_card, mask: last4}
`

// The sensitive values, as a person might paste them, and what must never
// leave in clear: the digits of each.
var (
	pastedCard = "4111 1111 1111 1111"
	pastedIBAN = "DE89 3704 0044 0532 0130 00"
	pastedID   = "123-45-6789"
	secrets    = []string{"4111 1111 1111 1111", "4111111111111111", "DE89 3704", "DE89370400440532013000", "123-45-6789"}
)

// TestNothingSensitiveLeavesInClear walks every output path with the same
// sensitive text: a card number, an IBAN and a declared national id pasted
// into a reason, a ticket, approval comments, a deny reason, review notes,
// a follow-up and a customer record's notes. None of them may show it in
// clear: the request API, the audit API, both audit exports, the review
// report, the webhook payloads, Slack's channel message and DMs, the web UI
// pages and the mask API.
func TestNothingSensitiveLeavesInClear(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		var hooksMu sync.Mutex
		var hooks []string
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, _ := io.ReadAll(r.Body)
			hooksMu.Lock()
			hooks = append(hooks, string(raw))
			hooksMu.Unlock()
		}))
		defer target.Close()
		t.Setenv("CRM_SECRET", crmSecret)
		fake := slacktest.NewServer(t)
		channel := fake.AddChannel("#access")
		for _, p := range []string{"alice", "carol", "dave", "heidi", "root"} {
			fake.AddPerson("U0"+strings.ToUpper(p), p+"@example.com")
		}
		const secret = "app-test-signing-secret"
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: writeFile(t, "policy.yaml", fmt.Sprintf(hiddenPolicy, target.URL)),
			Slack:     app.SlackConfig{BotToken: slacktest.Token, SigningSecret: secret, Channel: "#access", APIURL: fake.APIURL(), ExpiryWarning: time.Minute},
			Provision: app.ProvisionConfig{CheckCacheTTL: "1h", FailAfter: 3, Lease: time.Minute, MaxBackoff: 200 * time.Millisecond, Concurrency: 2, PollInterval: 20 * time.Millisecond}})
		ctx, now := context.Background(), workflow.Now()
		tok := map[string]string{}
		for _, who := range []string{"alice", "carol", "dave", "heidi", "root"} {
			s, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, now)
			if err != nil {
				t.Fatal(err)
			}
			tok[who] = s
		}
		s, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{workflow.ScopeCheck}, Actor: "test"}, now)
		if err != nil {
			t.Fatal(err)
		}
		tok["helpdesk"] = s
		var outputs []string // every byte that left, by path
		seen := func(path, body string) { outputs = append(outputs, path+"\n"+body) }
		call := func(who, method, path string, body any) (int, string) {
			t.Helper()
			var rd io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(method, base+path, rd)
			req.Header.Set("Authorization", "Bearer "+tok[who])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			seen(method+" "+path, string(raw))
			return resp.StatusCode, string(raw)
		}
		id := func(raw string) string {
			var m map[string]any
			_ = json.Unmarshal([]byte(raw), &m)
			s, _ := m["id"].(string)
			return s
		}

		// Inputs, each with the pasted values.
		paste := fmt.Sprintf("card %s, IBAN %s, national id %s", pastedCard, pastedIBAN, pastedID)
		code, raw := call("alice", "POST", "/api/v1/requests", map[string]string{"resource": "crm-payments", "duration": "1h", "reason": "refund: " + paste, "ticket": "SUP-1 " + pastedID})
		if code != 201 || !strings.Contains(raw, `"notices"`) {
			t.Fatalf("submit: %d %s", code, raw)
		}
		granted := id(raw)
		if code, raw := call("carol", "POST", "/api/v1/requests/"+granted+"/approve", map[string]string{"comment": "checked " + paste}); code != 200 {
			t.Fatalf("approve: %d %s", code, raw)
		}
		if code, raw := call("dave", "POST", "/api/v1/requests/"+granted+"/approve", map[string]string{"comment": "ok " + pastedCard}); code != 200 {
			t.Fatalf("approve: %d %s", code, raw)
		}
		// A denied one, through Slack's slash command, then revoke the grant.
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
		}
		code, raw = call("root", "POST", "/api/v1/requests/"+granted+"/revoke", map[string]string{"reason": "done, " + paste})
		if code != 200 {
			t.Fatalf("revoke: %d %s", code, raw)
		}
		post("/slack/commands", url.Values{"user_id": {"U0ALICE"}, "command": {"/access"}, "text": {"crm-payments 30m again: " + paste},
			"response_url": {fake.ResponseURL("r1")}, "trigger_id": {"t1"}})
		var denied string
		for deadline := time.Now().Add(15 * time.Second); denied == ""; time.Sleep(50 * time.Millisecond) {
			_, raw := call("root", "GET", "/api/v1/requests?state=pending", nil)
			var page struct{ Requests []struct{ ID string } }
			_ = json.Unmarshal([]byte(raw), &page)
			if len(page.Requests) > 0 {
				denied = page.Requests[0].ID
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Slack request never arrived: %q", fake.Responses("r1"))
			}
		}
		if code, raw := call("carol", "POST", "/api/v1/requests/"+denied+"/deny", map[string]string{"reason": "no: " + paste}); code != 200 {
			t.Fatalf("deny: %d %s", code, raw)
		}
		since, until := now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)
		code, raw = call("heidi", "POST", "/api/v1/reviews", map[string]string{"since": since, "until": until, "resource": "crm-payments"})
		if code != 201 {
			t.Fatalf("open review: %d %s", code, raw)
		}
		review := id(raw)
		if code, raw := call("heidi", "POST", "/api/v1/reviews/"+review+"/followups", map[string]string{"kind": "request", "ref": granted, "note": "ask alice about " + paste}); code != 201 {
			t.Fatalf("follow-up: %d %s", code, raw)
		}

		// Let the webhooks and Slack deliveries land.
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			hooksMu.Lock()
			n := len(hooks)
			hooksMu.Unlock()
			if n >= 1 && len(fake.Messages(slacktest.DMChannel("U0ALICE"))) >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("deliveries: %d webhooks, %d DMs", n, len(fake.Messages(slacktest.DMChannel("U0ALICE"))))
			}
		}

		// Outputs.
		for _, p := range []string{"/api/v1/requests/" + granted, "/api/v1/requests/" + denied, "/api/v1/requests",
			"/api/v1/audit?limit=500", "/api/v1/audit/export?format=csv", "/api/v1/audit/export?format=jsonl",
			"/api/v1/reviews/" + review, "/api/v1/reviews/report?since=" + url.QueryEscape(since) + "&until=" + url.QueryEscape(until) + "&resource=crm-payments"} {
			if code, raw := call("root", "GET", p, nil); code != 200 {
				t.Fatalf("GET %s: %d %s", p, code, raw)
			}
		}
		_, _ = call("helpdesk", "POST", "/api/v1/mask", map[string]any{"user": "alice@example.com", "resource": "crm-payments",
			"record": map[string]string{"payment_card": "4111111111111111", "notes": "customer said " + paste}})
		hooksMu.Lock()
		for _, h := range hooks {
			seen("webhook", h)
		}
		hooksMu.Unlock()
		for _, ch := range []string{channel, slacktest.DMChannel("U0ALICE")} {
			for _, m := range fake.Messages(ch) {
				seen("slack "+ch, m.Text+"\n"+string(m.Blocks))
			}
		}
		for _, r := range []string{"r1"} {
			for _, b := range fake.Responses(r) {
				seen("slack response "+r, string(b))
			}
		}
		secretSession, _, err := a.DB.CreateSession(ctx, identity.NewSession{Email: "root@example.com", Method: identity.SessionDemo, TTL: time.Hour}, workflow.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/requests/" + granted, "/requests/" + denied, "/audit", "/grants", "/reviews/" + review} {
			req, _ := http.NewRequest(http.MethodGet, base+p, nil)
			req.Header.Set("Cookie", "__Host-jitaccess-session="+secretSession)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("page %s: %d", p, resp.StatusCode)
			}
			seen("page "+p, string(raw))
		}

		if len(outputs) < 20 {
			t.Fatalf("only %d outputs walked", len(outputs))
		}
		var sawMasked bool
		for _, out := range outputs {
			for _, s := range secrets {
				if strings.Contains(out, s) {
					path, _, _ := strings.Cut(out, "\n")
					t.Errorf("%s shows %q in clear", path, s)
				}
			}
			sawMasked = sawMasked || strings.Contains(out, "[card ending 1111]")
		}
		if !sawMasked {
			t.Fatal("no output shows the masked form: the walk saw nothing")
		}
	})
}

const escalationPolicy = `admins: [root@example.com]
reviewers: [auditors]
groups:
  agents: [alice@example.com, erin@example.com]
  escalation: [erin@example.com]
  managers: [carol@example.com, dave@example.com]
  auditors: [heidi@example.com]
resources:
  - id: crm-payments
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    fields:
      - {name: payment_card, mask: redact, views: {escalation: last4, auditors: token}}
      - {name: iban, mask: last4}
      - {name: identity_document, mask: redact}
`

// TestHiddenDataWalkthrough runs the whole escalation with a customer
// record that has every kind of sensitive field, for each role, and says
// what each sees at each step: a frontline agent (alice), an escalation
// agent (erin, standing last4 view), compliance (heidi, a token view). The
// agent files with the card read out on the call in her reason, two
// managers approve, the help desk masks for each reader, the grant expires,
// the help desk masks again; the approvers' Slack message still makes
// sense with the fields hidden.
func TestHiddenDataWalkthrough(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		fake := slacktest.NewServer(t)
		channel := fake.AddChannel("#access")
		for _, p := range []string{"alice", "erin", "carol", "dave", "heidi"} {
			fake.AddPerson("U0"+strings.ToUpper(p), p+"@example.com")
		}
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: writeFile(t, "policy.yaml", escalationPolicy),
			Slack:     app.SlackConfig{BotToken: slacktest.Token, SigningSecret: "walkthrough-signing-secret", Channel: "#access", APIURL: fake.APIURL(), ExpiryWarning: time.Minute},
			Provision: app.ProvisionConfig{CheckCacheTTL: "1h", MaskTokenKey: "a-mask-token-key-for-the-walkthrough-test", FailAfter: 3, Lease: time.Minute, MaxBackoff: 200 * time.Millisecond, Concurrency: 2, PollInterval: 20 * time.Millisecond}})
		ctx, now := context.Background(), workflow.Now()
		tok := map[string]string{}
		for _, who := range []string{"alice", "carol", "dave"} {
			s, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, now)
			if err != nil {
				t.Fatal(err)
			}
			tok[who] = s
		}
		s, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{workflow.ScopeCheck}, Actor: "test"}, now)
		if err != nil {
			t.Fatal(err)
		}
		tok["helpdesk"] = s
		record := map[string]any{"name": "Ann Example", "payment_card": "4111111111111111", "iban": "DE89370400440532013000",
			"identity_document": "X1234567", "notes": "called about a refund"}
		// sees masks the record for reader and returns the three sensitive
		// fields as the help desk would show them.
		sees := func(reader string) (card, iban, doc string) {
			t.Helper()
			code, body := httpJSON(t, "POST", base+"/api/v1/mask", tok["helpdesk"],
				string(must(json.Marshal(map[string]any{"user": reader + "@example.com", "resource": "crm-payments", "record": record}))))
			if code != 200 {
				t.Fatalf("mask for %s: %d %v", reader, code, body)
			}
			rec := body["record"].(map[string]any)
			return rec["payment_card"].(string), rec["iban"].(string), rec["identity_document"].(string)
		}
		type view struct{ card, iban, doc string }
		check := func(step string, want map[string]view) {
			t.Helper()
			for reader, w := range want {
				card, iban, doc := sees(reader)
				if w.card == "tok_" && !strings.HasPrefix(card, "tok_") || w.card != "tok_" && card != w.card || iban != w.iban || doc != w.doc {
					t.Errorf("%s, %s sees card %q iban %q document %q; want %+v", step, reader, card, iban, doc, w)
				}
			}
		}
		hidden := map[string]view{
			"alice": {"[REDACTED]", "****3000", "[REDACTED]"},
			"erin":  {"****1111", "****3000", "[REDACTED]"},
			"heidi": {"tok_", "****3000", "[REDACTED]"},
		}
		check("before any request", hidden)

		code, body := httpJSON(t, "POST", base+"/api/v1/requests", tok["alice"],
			`{"resource":"crm-payments","duration":"2s","reason":"refund to the card she read out, 4111 1111 1111 1111"}`)
		if code != 201 || !strings.Contains(fmt.Sprint(body["reason"]), "[card ending 1111]") || strings.Contains(fmt.Sprint(body), "4111 1111") {
			t.Fatalf("submit: %d %v", code, body)
		}
		id := body["id"].(string)
		check("while pending", hidden)
		for _, m := range []string{"carol", "dave"} {
			if code, body := httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/approve", tok[m], `{}`); code != 200 {
				t.Fatalf("approve by %s: %d %v", m, code, body)
			}
		}
		// Alice's grant opens the record for alice only.
		card, iban, doc := sees("alice")
		if card != "4111111111111111" || iban != "DE89370400440532013000" || doc != "X1234567" {
			t.Fatalf("alice with the grant sees %q %q %q", card, iban, doc)
		}
		check("during alice's grant, the others", map[string]view{"erin": hidden["erin"], "heidi": hidden["heidi"]})

		// The approvers' message made sense without the data: who, what,
		// the masked reason, the outcome.
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			msgs := fake.Messages(channel)
			if len(msgs) == 1 && strings.Contains(string(msgs[0].Blocks), "Approved") {
				blocks := string(msgs[0].Blocks)
				for _, want := range []string{"alice@example.com", "crm-payments", "[card ending 1111]"} {
					if !strings.Contains(blocks, want) {
						t.Fatalf("approvers' message lacks %q: %s", want, blocks)
					}
				}
				if strings.Contains(blocks, "4111 1111") {
					t.Fatalf("approvers' message shows the card: %s", blocks)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("approvers' message: %+v", fake.Messages(channel))
			}
		}

		// The grant expires (the sweeper runs every second): hidden again.
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if card, _, _ := sees("alice"); card == "[REDACTED]" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("alice still sees the card after her grant expired")
			}
		}
		check("after the grant expired", hidden)
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
