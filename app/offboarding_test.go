package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// target is a webhook receiver that records every event it is sent.
type target struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []provision.WebhookEvent
}

func newTarget(t *testing.T) *target {
	tg := &target{}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var ev provision.WebhookEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		tg.mu.Lock()
		tg.events = append(tg.events, ev)
		tg.mu.Unlock()
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// waitFor polls until the target got an event of typ for user's request.
func (tg *target) waitFor(t *testing.T, typ, requestID string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		tg.mu.Lock()
		for _, ev := range tg.events {
			if ev.Type == typ && ev.RequestID == requestID {
				tg.mu.Unlock()
				return
			}
		}
		tg.mu.Unlock()
	}
	t.Fatalf("the target never got %s for %s", typ, requestID)
}

const offboardingPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
resources:
  - id: crm-payments
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: webhook
      url: %s/jitaccess
      secret_env: CRM_SECRET
      timeout: 5s
  - id: crm-notes
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
`

type offboarding struct {
	a    *app.App
	base string
	tok  map[string]string
}

func bootOffboarding(t *testing.T, kind store.Kind, tg *target) (offboarding, string) {
	t.Helper()
	t.Setenv("CRM_SECRET", crmSecret)
	policy := writeFile(t, "policy.yaml", fmt.Sprintf(offboardingPolicy, tg.srv.URL))
	a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy,
		Provision: app.ProvisionConfig{CheckCacheTTL: "1h", FailAfter: 3, Lease: time.Minute, MaxBackoff: 200 * time.Millisecond,
			Concurrency: 2, PollInterval: 20 * time.Millisecond}})
	ctx, now := context.Background(), workflow.Now()
	tok := map[string]string{}
	for _, who := range []string{"alice", "bob", "carol", "dave", "erin", "root"} {
		s, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, now)
		if err != nil {
			t.Fatal(err)
		}
		tok[who] = s
	}
	for name, scope := range map[string]string{"helpdesk": workflow.ScopeCheck, "okta": workflow.ScopeSCIM} {
		s, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: name, Scopes: []string{scope}, Actor: "test"}, now)
		if err != nil {
			t.Fatal(err)
		}
		tok[name] = s
	}
	return offboarding{a: a, base: base, tok: tok}, policy
}

// grant files a request as who and has approvers approve it; it returns
// the id.
func (o offboarding) grant(t *testing.T, who, resource string, approvers ...string) string {
	t.Helper()
	code, body := httpJSON(t, "POST", o.base+"/api/v1/requests", o.tok[who], `{"resource":"`+resource+`","duration":"1h","reason":"case 9"}`)
	if code != 201 {
		t.Fatalf("submit: %d %v", code, body)
	}
	id := body["id"].(string)
	for _, ap := range approvers {
		if code, body := httpJSON(t, "POST", o.base+"/api/v1/requests/"+id+"/approve", o.tok[ap], `{}`); code != 200 {
			t.Fatalf("approve by %s: %d %v", ap, code, body)
		}
	}
	return id
}

func (o offboarding) check(t *testing.T, user, resource string) map[string]any {
	t.Helper()
	code, body := httpJSON(t, "GET", o.base+"/api/v1/grants/check?user="+user+"&resource="+resource, o.tok["helpdesk"], "")
	if code != 200 {
		t.Fatalf("check: %d %v", code, body)
	}
	return body
}

func (o offboarding) request(t *testing.T, id string) map[string]any {
	t.Helper()
	code, body := httpJSON(t, "GET", o.base+"/api/v1/requests/"+id, o.tok["root"], "")
	if code != 200 {
		t.Fatalf("get %s: %d %v", id, code, body)
	}
	return body
}

// The leaver, end to end: the identity provider deactivates alice over SCIM
// (Okta's shape). At once her live grants end (revoked by the system, with
// the reason), the webhook target is told to remove the access, check says
// false, her pending request is cancelled, her token answers 401, and the
// audit log holds the directory change and every ending.
func TestOffboardingOverSCIM(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		tg := newTarget(t)
		o, _ := bootOffboarding(t, kind, tg)
		c := scimClient{t: t, base: o.base, token: o.tok["okta"]}
		aliceID := c.must(201, "POST", "/Users", userBody("alice@example.com", true, ""))["id"].(string)

		payments := o.grant(t, "alice", "crm-payments", "carol", "dave")
		tg.waitFor(t, provision.EventGrant, payments)
		notes := o.grant(t, "alice", "crm-notes", "carol")
		for deadline := time.Now().Add(10 * time.Second); o.check(t, "alice@example.com", "crm-payments")["allowed"] != true; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the grant never became allowed")
			}
		}

		c.must(200, "PATCH", "/Users/"+aliceID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
		// No waiting for a sweep or a reconcile: the SCIM call has ended it.
		if body := o.check(t, "alice@example.com", "crm-payments"); body["allowed"] != false {
			t.Fatalf("check right after deactivation: %v", body)
		}
		for _, id := range []string{payments, notes} {
			r := o.request(t, id)
			if r["state"] != "revoked" || r["ended_by"] != "system" || r["end_reason"] != "alice@example.com was deactivated by SCIM" {
				t.Fatalf("%s after deactivation: %v %v %v", id, r["state"], r["ended_by"], r["end_reason"])
			}
		}
		tg.waitFor(t, provision.EventRevoke, payments)
		if code, body := httpJSON(t, "GET", o.base+"/api/v1/requests", o.tok["alice"], ""); code != 401 ||
			!strings.Contains(fmt.Sprint(body), "deactivated in the directory") {
			t.Fatalf("alice's token after deactivation: %d %v", code, body)
		}
		recs, _, err := o.a.DB.ListAudit(context.Background(), workflow.AuditQuery{Subject: "alice@example.com", Ascending: true, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, r := range recs {
			actions = append(actions, r.Actor+":"+r.Action)
		}
		joined := strings.Join(actions, " ")
		for _, want := range []string{"service:okta:directory.user.deactivate", "system:revoke"} {
			if !strings.Contains(joined, want) {
				t.Fatalf("audit lacks %s: %s", want, joined)
			}
		}
	})
}

// The reproducers of the issue, through a policy reload (SIGHUP's path):
// alice removed from every group loses her live grant (and the target is
// told), her pending request is cancelled instead of being approved and
// provisioned, and carol's vote stops counting once carol leaves managers.
func TestPolicyReloadEndsWhatItNoLongerJustifies(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		tg := newTarget(t)
		o, policy := bootOffboarding(t, kind, tg)
		live := o.grant(t, "alice", "crm-payments", "carol", "dave")
		tg.waitFor(t, provision.EventGrant, live)
		pending := o.grant(t, "alice", "crm-notes")
		bobs := o.grant(t, "bob", "crm-payments", "carol") // 1 of 2, on carol's vote

		next := strings.Replace(fmt.Sprintf(offboardingPolicy, tg.srv.URL), "agents: [alice@example.com, bob@example.com]", "agents: [bob@example.com]", 1)
		next = strings.Replace(next, "managers: [carol@example.com, dave@example.com, erin@example.com]", "managers: [dave@example.com, erin@example.com]", 1)
		if err := os.WriteFile(policy, []byte(next), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := o.a.ReloadPolicy(); err != nil {
			t.Fatal(err)
		}
		v := o.a.Service.Policy().Version
		r := o.request(t, live)
		if r["state"] != "revoked" || r["end_reason"] != fmt.Sprintf("policy version %d no longer lets alice@example.com request crm-payments", v) {
			t.Fatalf("live grant after reload: %v %v", r["state"], r["end_reason"])
		}
		tg.waitFor(t, provision.EventRevoke, live)
		if body := o.check(t, "alice@example.com", "crm-payments"); body["allowed"] != false {
			t.Fatalf("check after reload: %v", body)
		}
		if r := o.request(t, pending); r["state"] != "cancelled" || r["ended_by"] != "system" {
			t.Fatalf("pending after reload: %v %v", r["state"], r["ended_by"])
		}
		// dave's approval of bob's request leaves it at 1 of 2: carol's
		// vote was withdrawn.
		if code, body := httpJSON(t, "POST", o.base+"/api/v1/requests/"+bobs+"/approve", o.tok["dave"], `{}`); code != 200 || body["state"] != "pending" {
			t.Fatalf("dave's approval: %d %v", code, body)
		}
		r = o.request(t, bobs)
		approvals := r["approvals"].([]any)
		var withdrawn int
		for _, a := range approvals {
			if a.(map[string]any)["withdrawn"] == true {
				withdrawn++
			}
		}
		if withdrawn != 1 || len(approvals) != 2 {
			t.Fatalf("bob's approvals: %v", approvals)
		}
	})
}
