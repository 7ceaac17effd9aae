package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const targetPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com]
resources:
  - id: crm-notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
  - id: crm-payments
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    provisioner:
      type: webhook
      url: %s/jitaccess
      secret_env: CRM_SECRET
      timeout: 5s
    fields:
      - {name: payment_card, mask: last4}
`

type tokens map[string]string

func makeTokens(t *testing.T, db *store.DB) tokens {
	t.Helper()
	ctx, now := context.Background(), workflow.Now()
	tok := tokens{}
	for _, who := range []string{"alice", "carol", "root"} {
		s, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, now)
		if err != nil {
			t.Fatal(err)
		}
		tok[who] = s
	}
	s, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check"}, Actor: "test"}, now)
	if err != nil {
		t.Fatal(err)
	}
	tok["helpdesk"] = s
	return tok
}

func grantOver(t *testing.T, base string, tok tokens, resource string) string {
	t.Helper()
	code, body := httpJSON(t, "POST", base+"/api/v1/requests", tok["alice"], `{"resource":"`+resource+`","duration":"1h","reason":"case 9"}`)
	if code != 201 {
		t.Fatalf("submit: %d %v", code, body)
	}
	id := body["id"].(string)
	if code, body = httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/approve", tok["carol"], `{}`); code != 200 || body["state"] != "approved" {
		t.Fatalf("approve: %d %v", code, body)
	}
	return id
}

func checkOver(t *testing.T, base string, tok tokens, resource string) map[string]any {
	t.Helper()
	code, body := httpJSON(t, "GET", base+"/api/v1/grants/check?user=alice@example.com&resource="+url.QueryEscape(resource), tok["helpdesk"], "")
	if code != 200 {
		t.Fatalf("check: %d %v", code, body)
	}
	return body
}

// TestCheckAgreesWithTarget is the reproducer: while the webhook target
// refuses the apply (status failed), check and mask answer allowed: false
// with provisioning "failed"; once the apply succeeds, allowed: true with
// "applied". The cache (an hour here) never serves the earlier answer.
func TestCheckAgreesWithTarget(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		var refuse atomic.Bool
		refuse.Store(true)
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuse.Load() {
				http.Error(w, "CRM is down", http.StatusServiceUnavailable)
			}
		}))
		defer target.Close()
		t.Setenv("CRM_SECRET", crmSecret)
		policy := writeFile(t, "policy.yaml", fmt.Sprintf(targetPolicy, target.URL))
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy,
			Provision: app.ProvisionConfig{CheckCacheTTL: "1h", FailAfter: 1, Lease: time.Minute, MaxBackoff: 200 * time.Millisecond,
				Concurrency: 2, PollInterval: 20 * time.Millisecond}})
		tok := makeTokens(t, a.DB)
		if body := checkOver(t, base, tok, "crm-payments"); body["allowed"] != false || body["provisioning"] != "none" {
			t.Fatalf("before any grant: %v", body)
		}
		id := grantOver(t, base, tok, "crm-payments")

		var body map[string]any
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			body = checkOver(t, base, tok, "crm-payments")
			if body["allowed"] != false {
				t.Fatalf("allowed before the target applied the grant: %v", body)
			}
			if body["provisioning"] == "failed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the refused apply never showed as failed: %v", body)
			}
		}
		if body["request_id"] != nil {
			t.Fatalf("a denied check names a request: %v", body)
		}
		code, mask := httpJSON(t, "POST", base+"/api/v1/mask", tok["helpdesk"],
			`{"user":"alice@example.com","resource":"crm-payments","record":{"payment_card":"4111111111111234"}}`)
		if code != 200 || mask["allowed"] != false || mask["provisioning"] != "failed" || mask["record"].(map[string]any)["payment_card"] != "****1234" {
			t.Fatalf("mask while failed: %d %v", code, mask)
		}
		recs, _, err := a.DB.ListAudit(context.Background(), workflow.AuditQuery{RequestID: id, Action: workflow.ActionCheck, Limit: 1})
		if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Reason, "provisioning failed") {
			t.Fatalf("check audit while failed: %+v %v", recs, err)
		}

		refuse.Store(false)
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if body = checkOver(t, base, tok, "crm-payments"); body["allowed"] == true {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not allowed after the target applied the grant: %v", body)
			}
		}
		if body["provisioning"] != "applied" || body["request_id"] != id {
			t.Fatalf("after the apply: %v", body)
		}
		code, mask = httpJSON(t, "POST", base+"/api/v1/mask", tok["helpdesk"],
			`{"user":"alice@example.com","resource":"crm-payments","record":{"payment_card":"4111111111111234"}}`)
		if code != 200 || mask["allowed"] != true || mask["provisioning"] != "applied" || mask["record"].(map[string]any)["payment_card"] != "4111111111111234" {
			t.Fatalf("mask after the apply: %d %v", code, mask)
		}
		recs, _, err = a.DB.ListAudit(context.Background(), workflow.AuditQuery{RequestID: id, Action: "mask", Limit: 1})
		if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Reason, "(provisioning applied)") {
			t.Fatalf("mask audit after the apply: %+v %v", recs, err)
		}
	})
}

// bootReplicas starts n replicas on one PostgreSQL database, with an hour
// of cache TTL so that only notifications can explain a fresh answer, and
// waits until each listens.
func bootReplicas(t *testing.T, n int, policy string) ([]*app.App, []string) {
	t.Helper()
	u := storetest.NewURL(t, store.Postgres)
	var apps []*app.App
	var bases []string
	for i := 0; i < n; i++ {
		a, base := boot(t, app.Config{DatabaseURL: u, PolicyFile: policy, Provision: app.ProvisionConfig{CheckCacheTTL: "1h"}})
		apps, bases = append(apps, a), append(bases, base)
	}
	for _, a := range apps {
		waitFor(t, 10*time.Second, "the change listener to connect", func() bool { return a.ListenerConnects() > 0 })
	}
	return apps, bases
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > limit {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestCrossReplicaCheck: a grant approved or revoked on replica A is seen
// by check on replica B within 1 s, although B caches decisions for an
// hour: A's transaction notifies every replica.
func TestCrossReplicaCheck(t *testing.T) {
	t.Setenv("CRM_SECRET", crmSecret)
	apps, bases := bootReplicas(t, 2, writeFile(t, "policy.yaml", fmt.Sprintf(targetPolicy, "https://crm.example.com")))
	tok := makeTokens(t, apps[0].DB)
	a, b := bases[0], bases[1]
	for round := 0; round < 3; round++ {
		if checkOver(t, b, tok, "crm-notes")["allowed"] != false { // B caches "denied"
			t.Fatal("allowed before the grant")
		}
		id := grantOver(t, a, tok, "crm-notes")
		took := waitFor(t, time.Second, "replica B to see the grant made on A", func() bool {
			return checkOver(t, b, tok, "crm-notes")["allowed"] == true
		})
		t.Logf("round %d: grant seen on B after %s", round, took)
		if code, body := httpJSON(t, "POST", a+"/api/v1/requests/"+id+"/revoke", tok["root"], `{"reason":"done"}`); code != 200 {
			t.Fatalf("revoke: %d %v", code, body)
		}
		took = waitFor(t, time.Second, "replica B to see the revoke made on A", func() bool {
			return checkOver(t, b, tok, "crm-notes")["allowed"] == false
		})
		t.Logf("round %d: revoke seen on B after %s", round, took)
	}
}

// TestListenerReconnectClearsCache: notifications sent while a replica's
// listener is disconnected are lost, so when it reconnects it drops every
// cached decision; a change it never heard of is then seen.
func TestListenerReconnectClearsCache(t *testing.T) {
	apps, bases := bootReplicas(t, 1, writeFile(t, "policy.yaml", goodPolicy))
	a, base := apps[0], bases[0]
	tok := makeTokens(t, a.DB)
	id := grantOver(t, base, tok, "crm-notes")
	if checkOver(t, base, tok, "crm-notes")["allowed"] != true {
		t.Fatal("grant not seen")
	}
	// Revoked behind the server's back: no hook, no notification.
	if err := a.DB.Gorm().Exec(`UPDATE requests SET state = 'revoked', version = version + 1 WHERE id = ?`, id).Error; err != nil {
		t.Fatal(err)
	}
	if checkOver(t, base, tok, "crm-notes")["allowed"] != true {
		t.Fatal("the cache was not used: the test would prove nothing")
	}
	before := a.ListenerConnects()
	var killed int64
	if err := a.DB.Gorm().Raw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = ?`, app.ListenerAppName).Scan(&killed).Error; err != nil || killed != 1 {
		t.Fatalf("terminated %d listener connections (%v)", killed, err)
	}
	waitFor(t, 10*time.Second, "the listener to reconnect", func() bool { return a.ListenerConnects() > before })
	if body := checkOver(t, base, tok, "crm-notes"); body["allowed"] != false {
		t.Fatalf("after the listener reconnected, the stale decision is still served: %v", body)
	}
}
