package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

const campaignPolicy = goodPolicy + `  - {id: crm-payments, tier: high, max_duration: 1h, requesters: [agents], approvers: [managers]}
reviewers: [managers]
review_campaigns:
  - name: monthly-all
    scope: {tiers: [medium, high]}
    every: monthly
    due_in: 14d
    reviewers: [managers]
`

// TestCampaignsAcrossReplicas: two real servers on one PostgreSQL, both
// running the campaign job every second, open the month's campaign once:
// one run, one review per resource in scope; the API and the command line
// say where it stands.
func TestCampaignsAcrossReplicas(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	policy := writeFile(t, "p.yaml", campaignPolicy)
	cfg := app.Config{DatabaseURL: u, PolicyFile: policy, Oversight: app.OversightConfig{CampaignSchedule: "@every 1s"}}
	a, base := boot(t, cfg)
	boot(t, cfg)
	tok := makeTokens(t, a.DB)

	var campaigns []any
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body := httpJSON(t, "GET", base+"/api/v1/reviews/campaigns", tok["carol"], "")
		if code != 200 {
			t.Fatalf("campaigns: %d %v", code, body)
		}
		campaigns, _ = body["campaigns"].([]any)
		if len(campaigns) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the campaign never opened")
		}
	}
	time.Sleep(2500 * time.Millisecond) // both replicas run the job again
	code, body := httpJSON(t, "GET", base+"/api/v1/reviews?limit=100", tok["root"], "")
	if code != 200 {
		t.Fatalf("reviews: %d %v", code, body)
	}
	revs, _ := body["reviews"].([]any)
	if len(revs) != 2 {
		t.Fatalf("want 2 reviews (crm-notes, crm-payments), got %d: %v", len(revs), revs)
	}
	for _, r := range revs {
		m := r.(map[string]any)
		if m["campaign"] != "monthly-all" || m["due_at"] == nil || m["created_by"] != "system" {
			t.Fatalf("review %v", m)
		}
	}
	code, body = httpJSON(t, "GET", base+"/api/v1/reviews/campaigns", tok["carol"], "")
	campaigns, _ = body["campaigns"].([]any)
	if code != 200 || len(campaigns) != 1 {
		t.Fatalf("campaigns: %d %v", code, body)
	}
	opened := campaigns[0].(map[string]any)
	if opened["reviews"] != 2.0 || opened["open"] != 2.0 || opened["overdue"] != false || opened["reminders_sent"] != 1.0 {
		t.Fatalf("run %v", opened)
	}
	if code, _ := httpJSON(t, "GET", base+"/api/v1/reviews/campaigns", tok["alice"], ""); code != 403 {
		t.Fatalf("an agent reads campaigns: %d", code)
	}

	c, out, errOut := run(t, "review", "campaigns", "--database", u, "--policy", policy, "--json")
	var doc struct {
		Campaigns []struct {
			Campaign string
			Reviews  int
		}
	}
	if c != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Campaigns) != 1 || doc.Campaigns[0].Reviews != 2 {
		t.Fatalf("review campaigns --json: %d %s %s", c, out, errOut)
	}
	c, out, _ = run(t, "review", "campaigns", "--database", u, "--policy", policy)
	if c != 0 || !strings.Contains(out, "monthly-all") || !strings.Contains(out, "open") {
		t.Fatalf("review campaigns: %d %s", c, out)
	}
}
