package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// bearer adds a token to every request of an MCP client.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func mcpSession(t *testing.T, base, token string) (*mcp.ClientSession, error) {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-assistant", Version: "1"}, nil)
	s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1}, nil)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// callTool calls a tool and decodes its structured answer into out; it
// returns the tool's error text, if it refused.
func callTool(t *testing.T, s *mcp.ClientSession, name string, args map[string]any, out any) string {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		var texts []string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				texts = append(texts, tc.Text)
			}
		}
		return strings.Join(texts, " ")
	}
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s answered %s: %v", name, raw, err)
	}
	return ""
}

// TestAssistantEndpoint drives /mcp with the MCP SDK's own client against
// a real server: a person lists, files and follows a request with their
// token, every call is audited, and no tool decides, for anyone.
func TestAssistantEndpoint(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: writeFile(t, "policy.yaml", goodPolicy)})
		tok := makeTokens(t, a.DB)

		alice, err := mcpSession(t, base, tok["alice"])
		if err != nil {
			t.Fatal(err)
		}
		tools, err := alice.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tl := range tools.Tools {
			names = append(names, tl.Name)
		}
		slices.Sort(names)
		want := slices.Sorted(slices.Values(workflow.AssistantTools))
		if !slices.Equal(names, want) {
			t.Fatalf("tools %v, want %v", names, want)
		}

		var res struct {
			Resources []struct {
				ID         string `json:"id"`
				CanRequest bool   `json:"can_request"`
			} `json:"resources"`
		}
		if msg := callTool(t, alice, "list_resources", nil, &res); msg != "" || len(res.Resources) != 1 || !res.Resources[0].CanRequest {
			t.Fatalf("list_resources: %q %+v", msg, res)
		}

		var req struct {
			ID, State, Reason string
			Notices           []string
		}
		if msg := callTool(t, alice, "request_access", map[string]any{"resource": "crm-notes", "duration": "5h", "reason": "case 9"}, &req); !strings.Contains(msg, "policy_violation") {
			t.Fatalf("over max duration: %q", msg)
		}
		msg := callTool(t, alice, "request_access", map[string]any{"resource": "crm-notes", "duration": "30m", "reason": "case 9, card 4111 1111 1111 1111"}, &req)
		if msg != "" || req.State != "pending" || strings.Contains(req.Reason, "4111 1111") || len(req.Notices) == 0 {
			t.Fatalf("request_access: %q %+v", msg, req)
		}

		// carol approves, and may not do it through the assistant.
		carol, err := mcpSession(t, base, tok["carol"])
		if err != nil {
			t.Fatal(err)
		}
		for _, tool := range []string{"approve", "approve_request", "deny_request", "revoke", "revoke_grant"} {
			res, err := carol.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"id": req.ID}})
			if err == nil && !res.IsError {
				t.Fatalf("%s is a tool: %+v", tool, res)
			}
		}
		var other struct{ State string }
		if msg := callTool(t, carol, "get_request", map[string]any{"id": req.ID}, &other); !strings.Contains(msg, "not_found") {
			t.Fatalf("carol's assistant reads alice's request: %q %+v", msg, other)
		}
		if got, _ := a.DB.GetRequest(context.Background(), req.ID); got.State != workflow.StatePending || len(got.Approvals) != 0 {
			t.Fatalf("the assistant changed the request: %+v", got)
		}
		if code, body := httpJSON(t, "POST", base+"/api/v1/requests/"+req.ID+"/approve", tok["carol"], `{}`); code != 200 {
			t.Fatalf("approve: %d %v", code, body)
		}

		var after struct {
			State     string
			Approvals int
		}
		if msg := callTool(t, alice, "get_request", map[string]any{"id": req.ID}, &after); msg != "" || after.State != "approved" || after.Approvals != 1 {
			t.Fatalf("get_request after approval: %q %+v", msg, after)
		}
		var mine struct {
			Requests []struct{ ID string } `json:"requests"`
		}
		if msg := callTool(t, alice, "list_my_requests", map[string]any{"state": "approved"}, &mine); msg != "" || len(mine.Requests) != 1 || mine.Requests[0].ID != req.ID {
			t.Fatalf("list_my_requests: %q %+v", msg, mine)
		}

		// A service token is no person: refused, with the reason.
		svc, err := mcpSession(t, base, tok["helpdesk"])
		if err != nil {
			t.Fatal(err)
		}
		if msg := callTool(t, svc, "list_resources", nil, &res); !strings.Contains(msg, "acts for a person") {
			t.Fatalf("service token: %q", msg)
		}
		// No token, or a forged one: no session at all.
		if _, err := mcpSession(t, base, "jit_forged"); err == nil {
			t.Fatal("a forged token connected")
		}

		// Every call is in the audit log, without the reason's free text.
		code, body := httpJSON(t, "GET", base+"/api/v1/audit?action=mcp.call&limit=100", tok["root"], "")
		if code != 200 {
			t.Fatalf("audit: %d %v", code, body)
		}
		recs, _ := body["records"].([]any)
		byActor := map[string]int{}
		for _, r := range recs {
			m := r.(map[string]any)
			byActor[m["actor"].(string)]++
			if strings.Contains(m["reason"].(string), "4111") {
				t.Fatalf("the call's record holds the reason: %v", m)
			}
		}
		// alice: list, two request_access, get, list_my_requests; carol: get.
		if byActor["alice@example.com"] != 5 || byActor["carol@example.com"] != 1 {
			t.Fatalf("audited calls: %v", byActor)
		}
	})
}
