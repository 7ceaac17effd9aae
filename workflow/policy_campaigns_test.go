package workflow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

const campaignBase = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
  auditors: [heidi@example.com]
resources:
  - id: crm-notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
  - id: payments
    tier: high
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

func TestReviewCampaignsParse(t *testing.T) {
	p, err := workflow.ParsePolicy("p.yaml", []byte(campaignBase+`remind_approvers_before: 1h
review_campaigns:
  - name: quarterly-all
    scope: all
    every: quarterly
    due_in: 14d
    reviewers: [auditors]
  - name: monthly-high
    scope: {tiers: [high, critical]}
    every: monthly
    due_in: 36h
    reviewers: [auditors, managers]
  - name: notes-90d
    scope: {resources: [crm-notes]}
    every: 90d
    due_in: 7d
    reviewers: [managers]
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.RemindApproversBefore != time.Hour || len(p.ReviewCampaigns) != 3 {
		t.Fatalf("parsed %v %+v", p.RemindApproversBefore, p.ReviewCampaigns)
	}
	q, m, d := p.ReviewCampaigns[0], p.ReviewCampaigns[1], p.ReviewCampaigns[2]
	if !q.All || q.Every.Months != 3 || q.DueIn != 14*24*time.Hour || q.ScopeResources(p) != nil || q.ScopeWords() != "all" {
		t.Fatalf("quarterly: %+v", q)
	}
	if got := m.ScopeResources(p); len(got) != 1 || got[0] != "payments" || m.DueIn != 36*time.Hour {
		t.Fatalf("monthly high: %v %+v", got, m)
	}
	if got := d.ScopeResources(p); len(got) != 1 || got[0] != "crm-notes" || d.Every.Days != 90 {
		t.Fatalf("90d: %v %+v", got, d)
	}
	if got := p.CampaignReviewers(m); strings.Join(got, ",") != "carol@example.com,dave@example.com,heidi@example.com" {
		t.Fatalf("reviewers: %v", got)
	}
	if !p.IsCampaignReviewer(workflow.User("heidi@example.com"), q) || p.IsCampaignReviewer(workflow.User("carol@example.com"), q) {
		t.Fatal("campaign reviewer membership")
	}
}

func TestReviewCampaignsErrors(t *testing.T) {
	campaign := func(body string) string {
		return campaignBase + "review_campaigns:\n  - " + strings.ReplaceAll(body, "\n", "\n    ") + "\n"
	}
	cases := []struct {
		name, yaml string
		line       int
		msg        string
	}{
		{"bad every", campaign("name: a\nscope: all\nevery: yearly\ndue_in: 14d\nreviewers: [auditors]"), 20, `every must be monthly, quarterly or a number of days like "90d", not "yearly"`},
		{"bad due", campaign("name: a\nscope: all\nevery: monthly\ndue_in: two weeks\nreviewers: [auditors]"), 21, `due_in "two weeks" is not a positive duration`},
		{"due longer than period", campaign("name: a\nscope: all\nevery: 7d\ndue_in: 14d\nreviewers: [auditors]"), 21, "longer than the campaign's period"},
		{"unknown group", campaign("name: a\nscope: all\nevery: monthly\ndue_in: 14d\nreviewers: [nobody]"), 22, `group "nobody" is not defined`},
		{"unknown resource", campaign("name: a\nscope: {resources: [crm-nope]}\nevery: monthly\ndue_in: 14d\nreviewers: [auditors]"), 18, `names resource "crm-nope", which is not defined`},
		{"unknown tier", campaign("name: a\nscope: {tiers: [extreme]}\nevery: monthly\ndue_in: 14d\nreviewers: [auditors]"), 19, `unknown tier "extreme"`},
		{"bad scope", campaign("name: a\nscope: everything\nevery: monthly\ndue_in: 14d\nreviewers: [auditors]"), 19, `scope must be all, {resources: [...]} or {tiers: [...]}`},
		{"missing reviewers", campaign("name: a\nscope: all\nevery: monthly\ndue_in: 14d"), 18, "review campaign needs reviewers"},
		{"unknown key", campaign("name: a\nscope: all\nevery: monthly\ndue_in: 14d\nreviewers: [auditors]\nremind: weekly"), 23, `unknown key "remind"`},
		{"bad name", campaign("name: Quarterly All\nscope: all\nevery: monthly\ndue_in: 14d\nreviewers: [auditors]"), 18, "campaign name"},
		{"bad remind", campaignBase + "remind_approvers_before: soon\n", 17, `remind_approvers_before "soon" is not a duration`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflow.ParsePolicy("p.yaml", []byte(tc.yaml))
			var pe workflow.PolicyErrors
			if !errors.As(err, &pe) {
				t.Fatalf("want policy errors, got %v", err)
			}
			for _, e := range pe {
				if e.Line == tc.line && strings.Contains(e.Msg, tc.msg) {
					return
				}
			}
			t.Fatalf("want line %d %q, got:\n%v", tc.line, tc.msg, err)
		})
	}
}

func TestReviewCampaignPeriods(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	cases := []struct {
		every      workflow.CampaignEvery
		t          string
		start, end string
	}{
		{workflow.CampaignEvery{Months: 1}, "2026-12-02T04:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{workflow.CampaignEvery{Months: 1}, "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{workflow.CampaignEvery{Months: 3}, "2026-12-02T04:00:00Z", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{workflow.CampaignEvery{Months: 3}, "2026-03-31T23:59:59Z", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z"},
		{workflow.CampaignEvery{Days: 90}, "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "2000-03-31T00:00:00Z"},
		{workflow.CampaignEvery{Days: 90}, "2000-03-31T00:00:00Z", "2000-03-31T00:00:00Z", "2000-06-29T00:00:00Z"},
		{workflow.CampaignEvery{Days: 7}, "1999-12-31T12:00:00Z", "1999-12-25T00:00:00Z", "2000-01-01T00:00:00Z"},
	}
	for _, tc := range cases {
		c := workflow.ReviewCampaign{Every: tc.every}
		s, e := c.PeriodAt(at(tc.t))
		if !s.Equal(at(tc.start)) || !e.Equal(at(tc.end)) {
			t.Errorf("%v at %s: [%s, %s), want [%s, %s)", tc.every, tc.t, s, e, tc.start, tc.end)
		}
		if ps, pe := c.Previous(s); !pe.Equal(s) || !ps.Before(s) {
			t.Errorf("%v: previous of %s is [%s, %s)", tc.every, s, ps, pe)
		}
	}
}
