package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestCampaignsInTheUI: a campaign's reviewers see, on every page, what
// waits for their sign-off, may open the campaign's reviews, and the
// dashboard lists the campaign; others see no banner.
func TestCampaignsInTheUI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		e.svc.SetPolicy(mustParse(t, uiPolicy+`review_campaigns:
  - name: monthly-medium
    scope: {tiers: [medium]}
    every: monthly
    due_in: 14d
    reviewers: [dbas]
`))
		e.advance(8*24*time.Hour + 15*time.Hour) // 2026-12-02 00:00
		res, err := e.reviews.RunCampaigns(context.Background())
		if err != nil || res.Opened != 1 || res.Reviews != 2 {
			t.Fatalf("run: %+v %v", res, err)
		}
		const banner = "Review campaign monthly-medium: 2 reviews to sign off, due 2026-12-15 (in 13 d)."
		frank := e.signIn(t, "frank@example.com") // a campaign reviewer, nothing else
		p := frank.get(t, "/requests")
		if p.status != 200 || !strings.Contains(p.body, "data-campaign-reminder") || !strings.Contains(p.body, banner) {
			t.Fatalf("frank banner: %d %s", p.status, excerpt(p.body))
		}
		runs, err := e.reviews.CampaignStatus(context.Background(), workflow.User("frank@example.com"))
		if err != nil || len(runs) != 1 {
			t.Fatalf("status: %v %v", runs, err)
		}
		revs, _, err := e.reviews.List(context.Background(), workflow.User("frank@example.com"), 10, "")
		if err != nil || len(revs) != 2 {
			t.Fatalf("frank's reviews: %v %v", revs, err)
		}
		if p := frank.get(t, "/reviews/"+revs[0].ID); p.status != 200 {
			t.Fatalf("frank opens a campaign review: %d %s", p.status, excerpt(p.body))
		}
		if p := e.signIn(t, "alice@example.com").get(t, "/requests"); p.status != 200 || strings.Contains(p.body, "data-campaign-reminder") {
			t.Fatalf("alice sees a campaign banner: %d", p.status)
		}
		p = e.signIn(t, "ann@example.com").get(t, "/dashboard")
		if p.status != 200 || !strings.Contains(p.body, `data-campaign="monthly-medium"`) || !strings.Contains(p.body, "2 open") {
			t.Fatalf("dashboard: %d %s", p.status, excerpt(p.body))
		}
	})
}
