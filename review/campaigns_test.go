package review_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const campaignPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com]
  auditors: [heidi@example.com, ivan@example.com]
resources:
  - id: crm-notes
    tier: medium
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
  - id: crm-payments
    tier: high
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
  - id: kb
    tier: low
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
remind_approvers_before: 1h
review_campaigns:
  - name: monthly-sensitive
    scope: {tiers: [medium, high]}
    every: monthly
    due_in: 10d
    reviewers: [auditors]
`

// reminderQueue receives the test's reminders, one job each, with the
// reminder as its payload.
const reminderQueue = "reminders-test"

func reminderJob(r review.Reminder) (workflow.Job, error) {
	b, err := json.Marshal(r)
	return workflow.Job{Queue: reminderQueue, Key: r.Key + ":" + r.To, Payload: b, RunAt: r.At}, err
}

type campaignEnv struct {
	db    *store.DB
	clock *clock
	wf    *workflow.Service
	rv    *review.Service
}

func newCampaignEnv(t *testing.T, db *store.DB, c *clock) *campaignEnv {
	t.Helper()
	pol, err := workflow.ParsePolicy("p.yaml", []byte(campaignPolicy))
	if err != nil {
		t.Fatal(err)
	}
	wf := workflow.NewService(db, pol, workflow.Options{Now: c.Now})
	rv := review.New(db, wf.Policy, review.Options{Now: c.Now, ReminderJob: reminderJob, AlertQueue: "security"})
	return &campaignEnv{db: db, clock: c, wf: wf, rv: rv}
}

// reminders returns the queued reminders: recipient → texts.
func reminders(t *testing.T, db *store.DB) map[string][]string {
	t.Helper()
	var payloads []string
	if err := db.Gorm().Raw(`SELECT payload FROM jobs WHERE queue = ? ORDER BY id`, reminderQueue).Scan(&payloads).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range payloads {
		var r review.Reminder
		if err := json.Unmarshal([]byte(p), &r); err != nil {
			t.Fatal(err)
		}
		out[r.To] = append(out[r.To], r.Text)
	}
	return out
}

// TestCampaignOpensOncePerPeriod: replicas racing the same campaign open
// it once, with one review per resource in scope for the month before,
// audited and reminded; the next month opens it again.
func TestCampaignOpensOncePerPeriod(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := &clock{now: time.Date(2026, 12, 1, 0, 0, 30, 0, time.UTC)}
		replicas := []*campaignEnv{newCampaignEnv(t, db, c), newCampaignEnv(t, db, c), newCampaignEnv(t, db, c), newCampaignEnv(t, db, c)}
		ctx := context.Background()
		var wg sync.WaitGroup
		results := make([]review.CampaignResult, len(replicas))
		errs := make([]error, len(replicas))
		for i, r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = r.rv.RunCampaigns(ctx)
			}()
		}
		wg.Wait()
		opened, reviews := 0, 0
		for i := range replicas {
			if errs[i] != nil {
				t.Fatalf("replica %d: %v", i, errs[i])
			}
			opened += results[i].Opened
			reviews += results[i].Reviews
		}
		if opened != 1 || reviews != 2 {
			t.Fatalf("opened %d runs with %d reviews across replicas, want 1 and 2: %+v", opened, reviews, results)
		}
		heidi := workflow.User("heidi@example.com")
		revs, _, err := replicas[0].rv.List(ctx, heidi, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		var scopes []string
		for _, r := range revs {
			if r.Campaign != "monthly-sensitive" || r.DueAt == nil || !r.DueAt.Equal(time.Date(2026, 12, 11, 0, 0, 0, 0, time.UTC)) ||
				!r.Period.Start.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) || !r.Period.End.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("review %+v", r)
			}
			scopes = append(scopes, r.Scope.String())
		}
		sort.Strings(scopes)
		if strings.Join(scopes, " ") != "resource:crm-notes resource:crm-payments" {
			t.Fatalf("scopes %v", scopes)
		}
		got := reminders(t, db)
		if len(got) != 2 || len(got["heidi@example.com"]) != 1 || len(got["ivan@example.com"]) != 1 || !strings.Contains(got["heidi@example.com"][0], "is open") {
			t.Fatalf("reminders at opening: %v", got)
		}
		recs, _, err := replicas[0].wf.Audit(ctx, workflow.User("root@example.com"), workflow.AuditQuery{Action: review.ActionReviewOpen})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Actor != "system" || !strings.Contains(recs[0].Reason, "campaign monthly-sensitive") {
			t.Fatalf("audit: %+v", recs)
		}

		// Later in the month: nothing new. Next month: opened again.
		c.Add(48 * time.Hour)
		if res, err := replicas[1].rv.RunCampaigns(ctx); err != nil || res.Opened != 0 {
			t.Fatalf("rerun: %+v %v", res, err)
		}
		c.now = time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)
		if res, err := replicas[2].rv.RunCampaigns(ctx); err != nil || res.Opened != 1 || res.Reviews != 2 {
			t.Fatalf("next month: %+v %v", res, err)
		}
	})
}

// TestCampaignReminders: halfway and a day before due each remind once,
// with several replicas; a run whose reviews are signed off is not
// reminded; one past due is flagged, once.
func TestCampaignReminders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := &clock{now: time.Date(2026, 12, 1, 0, 0, 30, 0, time.UTC)}
		a, b := newCampaignEnv(t, db, c), newCampaignEnv(t, db, c)
		ctx := context.Background()
		both := func() {
			t.Helper()
			var wg sync.WaitGroup
			for _, e := range []*campaignEnv{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := e.rv.RunCampaigns(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		both()
		count := func() int { return len(reminders(t, db)["heidi@example.com"]) }
		if count() != 1 {
			t.Fatalf("at opening: %d", count())
		}
		c.Add(2 * 24 * time.Hour) // before halfway (5 days)
		both()
		if count() != 1 {
			t.Fatalf("before halfway: %d", count())
		}
		c.Add(3 * 24 * time.Hour) // halfway
		both()
		both()
		if got := reminders(t, db)["heidi@example.com"]; len(got) != 2 || !strings.Contains(got[1], "halfway") {
			t.Fatalf("halfway: %v", got)
		}
		c.Add(4*24*time.Hour + time.Hour) // 23 h before due
		both()
		if got := reminders(t, db)["heidi@example.com"]; len(got) != 3 || !strings.Contains(got[2], "due tomorrow") {
			t.Fatalf("a day before due: %v", got)
		}

		// heidi signs one review off in time (she had no access in it);
		// the other stays open and the run is overdue once due passes.
		heidi := workflow.User("heidi@example.com")
		revs, _, err := a.rv.List(ctx, heidi, 50, "")
		if err != nil || len(revs) != 2 {
			t.Fatalf("list: %v %v", revs, err)
		}
		if _, err := a.rv.SignOff(ctx, heidi, revs[0].ID, "looked at every grant"); err != nil {
			t.Fatalf("campaign reviewer signs off: %v", err)
		}
		// A reviewer of the campaign may read it; a requester may not.
		if _, err := a.rv.Get(ctx, workflow.User("bob@example.com"), revs[1].ID); workflow.ErrorCode(err) != workflow.CodeNotFound {
			t.Fatalf("bob reads a campaign review: %v", err)
		}
		c.Add(24 * time.Hour) // past due
		both()
		if count() != 3 {
			t.Fatalf("reminded after due: %d", count())
		}
		runs, err := a.rv.CampaignStatus(ctx, heidi)
		if err != nil || len(runs) != 1 || runs[0].Open() != 1 || runs[0].SignedOff != 1 || !runs[0].Overdue(c.Now()) {
			t.Fatalf("status: %+v %v", runs, err)
		}
		flags, err := a.rv.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var overdue []review.Flag
		for _, f := range flags {
			if f.Kind == review.FlagCampaignDue {
				overdue = append(overdue, f)
			}
		}
		if len(overdue) != 1 || !strings.Contains(overdue[0].Reason, "1 review not signed off in time") {
			t.Fatalf("overdue flags: %+v", flags)
		}
		if again, err := b.rv.Scan(ctx); err != nil || len(again) != 0 {
			t.Fatalf("a second scan raises again: %+v %v", again, err)
		}
	})
}

// TestRemindApprovers: a pending request that times out within
// remind_approvers_before reminds its approvers once, never its
// requester or an approver who already approved.
func TestRemindApprovers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := &clock{now: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
		a, b := newCampaignEnv(t, db, c), newCampaignEnv(t, db, c)
		ctx := context.Background()
		req, err := a.wf.Submit(ctx, workflow.User("alice@example.com"), workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "case 7"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.wf.Approve(ctx, workflow.User("carol@example.com"), req.ID, ""); err != nil {
			t.Fatal(err)
		}
		if n, err := a.rv.RemindApprovers(ctx); err != nil || n != 0 {
			t.Fatalf("a day before the deadline: %d %v", n, err)
		}
		c.now = req.ReviewDeadline.Add(-30 * time.Minute)
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i, e := range []*campaignEnv{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := e.rv.RemindApprovers(ctx)
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		got := reminders(t, db)
		if counts[0]+counts[1] != 1 || len(got) != 1 || len(got["dave@example.com"]) != 1 || !strings.Contains(got["dave@example.com"][0], "times out in 30m") {
			t.Fatalf("reminders %v (counts %v)", got, counts)
		}
		if n, err := a.rv.RemindApprovers(ctx); err != nil || n != 0 {
			t.Fatalf("reminded twice: %d %v", n, err)
		}
	})
}
