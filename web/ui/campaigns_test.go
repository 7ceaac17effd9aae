package ui_test

import (
	"context"
	"net/http"
	"net/url"
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

// TestDashboardRatesAndRefusals: the dashboard shows each tier's approval
// rate and the period's refusals by reason, the same as the API.
func TestDashboardRatesAndRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		ctx := context.Background()
		alice, carol := workflow.User("alice@example.com"), workflow.User("carol@example.com")
		ok := e.submit(t, alice, "crm-notes", time.Hour)
		if _, err := e.svc.Approve(ctx, carol, ok.ID, ""); err != nil {
			t.Fatal(err)
		}
		no := e.submit(t, alice, "prod-db", time.Hour)
		if _, err := e.svc.Deny(ctx, workflow.User("frank@example.com"), no.ID, "not for this case"); err != nil {
			t.Fatal(err)
		}
		// Refused: alice approves her own, asks for too long, carol decides
		// what she does not approve, frank asks for what he may not.
		pending := e.submit(t, alice, "crm-payments", time.Hour)
		for _, try := range []func() error{
			func() error { _, err := e.svc.Approve(ctx, alice, pending.ID, ""); return err },
			func() error {
				_, err := e.svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: 30 * time.Hour, Reason: "x"})
				return err
			},
			func() error {
				_, err := e.svc.Submit(ctx, workflow.User("frank@example.com"), workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "x"})
				return err
			},
		} {
			if err := try(); err == nil {
				t.Fatal("a refusal was accepted")
			}
		}
		e.advance(time.Minute)
		p := e.signIn(t, "ann@example.com").get(t, "/dashboard")
		if p.status != 200 {
			t.Fatalf("dashboard: %d %s", p.status, excerpt(p.body))
		}
		for _, want := range []string{
			`<tr data-tier="medium"><td data-label="Tier"><span class="tier medium">medium</span></td><td data-label="Decided">2</td><td data-label="Approved">1</td><td data-label="Rate">50%</td></tr>`,
			`<tr data-refusal="self_approval"><td data-label="Reason">approving or denying their own request</td><td data-label="Refused">1</td></tr>`,
			`<tr data-refusal="over_max_duration"><td data-label="Reason">over the maximum duration</td><td data-label="Refused">1</td></tr>`,
			`<tr data-refusal="not_requester"><td data-label="Reason">not a requester of the resource</td><td data-label="Refused">1</td></tr>`,
			`<tr data-refusal="conditions"><td data-label="Reason">a condition did not hold</td><td data-label="Refused">0</td></tr>`,
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("dashboard lacks %s", want)
			}
		}
		recs, _, err := e.svc.Audit(ctx, workflow.User("root@example.com"), workflow.AuditQuery{Action: workflow.ActionRefused})
		if err != nil || len(recs) != 3 || !strings.HasPrefix(recs[0].Reason, "not_requester: ") {
			t.Fatalf("refusal records: %+v %v", recs, err)
		}
	})
}

// TestWebUISource: what the web UI writes to the audit log says so.
func TestWebUISource(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		p := e.signIn(t, "alice@example.com").post(t, "/requests", url.Values{"resource": {"crm-notes"}, "duration": {"1h"}, "reason": {"case 3"}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("submit: %d %s", p.status, excerpt(p.body))
		}
		recs, _, err := e.svc.Audit(context.Background(), workflow.User("root@example.com"), workflow.AuditQuery{Action: "submit"})
		if err != nil || len(recs) != 1 || recs[0].Source != workflow.SourceWeb {
			t.Fatalf("submit records: %+v %v", recs, err)
		}
	})
}
