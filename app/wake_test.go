package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
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

// wakeSchedule is a cron schedule no test waits for: a grant that ends
// within the test was ended by the wake-up.
const wakeSchedule = "@every 1h"

// approveFor files and approves a crm-notes grant (goodPolicy) of d for
// alice and returns its id and expiry.
func approveFor(t *testing.T, a *app.App, base, d string) (string, time.Time) {
	t.Helper()
	ctx, now := context.Background(), workflow.Now()
	alice, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, now)
	carol, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "carol@example.com", Actor: "test"}, now)
	code, body := httpJSON(t, "POST", base+"/api/v1/requests", alice, `{"resource":"crm-notes","duration":"`+d+`","reason":"case 9"}`)
	if code != 201 {
		t.Fatalf("create %d %v", code, body)
	}
	id := body["id"].(string)
	if code, body = httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/approve", carol, `{}`); code != 200 || body["state"] != "approved" {
		t.Fatalf("approve %d %v", code, body)
	}
	req, err := a.DB.GetRequest(ctx, id)
	if err != nil || req.ExpiresAt == nil {
		t.Fatalf("get %s: %+v %v", id, req, err)
	}
	return id, *req.ExpiresAt
}

// waitEnded waits until request id is no longer approved, at most bound
// after its expiry, and returns its state.
func waitEnded(t *testing.T, db *store.DB, id string, expires time.Time, bound time.Duration) workflow.State {
	t.Helper()
	for {
		req, err := db.GetRequest(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if req.State != workflow.StateApproved {
			return req.State
		}
		if time.Now().After(expires.Add(bound)) {
			t.Fatalf("request %s still approved %s after its expiry (%s): the sweeper did not wake", id, bound, expires.Format(time.RFC3339Nano))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func expireRecords(t *testing.T, db *store.DB, id string) int {
	t.Helper()
	recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{RequestID: id, Action: string(workflow.EventExpire), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func armedFor(a *app.App, at time.Time) bool {
	for _, t := range a.WakeArmedFor() {
		if t.Equal(at) {
			return true
		}
	}
	return false
}

// TestSweeperWakesAtExpiry: with an hourly cron schedule, a grant of 2 s
// is expired by the sweeper's wake-up at its expires_at, audited once;
// and a shorter grant approved while the timer waits for a longer one
// sets it sooner at once.
func TestSweeperWakesAtExpiry(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", goodPolicy+`  - id: crm-reports
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
`)
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy, SweepSchedule: wakeSchedule})
		ctx, now := context.Background(), workflow.Now()
		alice, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, now)
		carol, _, _ := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "carol@example.com", Actor: "test"}, now)
		// A long grant first: the timer waits for its expiry, an hour on.
		code, body := httpJSON(t, "POST", base+"/api/v1/requests", alice, `{"resource":"crm-reports","duration":"90m","reason":"case 9"}`)
		if code != 201 {
			t.Fatalf("create %d %v", code, body)
		}
		long := body["id"].(string)
		if code, body = httpJSON(t, "POST", base+"/api/v1/requests/"+long+"/approve", carol, `{}`); code != 200 {
			t.Fatalf("approve %d %v", code, body)
		}
		longReq, _ := a.DB.GetRequest(ctx, long)
		if !armedFor(a, *longReq.ExpiresAt) {
			t.Fatalf("the approval of a 90m grant did not set the timer for its expiry %s: %v", longReq.ExpiresAt, a.WakeArmedFor())
		}
		// The short one resets it.
		id, expires := approveFor(t, a, base, "2s")
		if !armedFor(a, expires) {
			t.Fatalf("the approval of a 2s grant did not set the timer sooner, for %s: %v", expires, a.WakeArmedFor())
		}
		if st := waitEnded(t, a.DB, id, expires, 3*time.Second); st != workflow.StateExpired {
			t.Fatalf("state %s, want expired", st)
		}
		if n := expireRecords(t, a.DB, id); n != 1 {
			t.Fatalf("%d expire records, want 1", n)
		}
		if r, _ := a.DB.GetRequest(ctx, long); r.State != workflow.StateApproved {
			t.Fatalf("the 90m grant is %s, want approved", r.State)
		}
		// After the sweep the timer waits for the long grant again.
		waitFor(t, 5*time.Second, "the timer to be set for the long grant again", func() bool {
			armed := a.WakeArmedFor()
			return len(armed) > 0 && armed[len(armed)-1].Equal(*longReq.ExpiresAt)
		})
	})
}

// TestSweeperCronOnly: with --sweep-cron-only the sweeper keeps to its
// schedule: no timer is set.
func TestSweeperCronOnly(t *testing.T) {
	policy := writeFile(t, "policy.yaml", goodPolicy)
	a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, store.SQLite), PolicyFile: policy, SweepSchedule: wakeSchedule, SweepCronOnly: true})
	id, _ := approveFor(t, a, base, "1s")
	time.Sleep(2 * time.Second)
	if got := a.WakeArmedFor(); len(got) != 0 {
		t.Fatalf("cron only, yet the timer was set: %v", got)
	}
	if r, _ := a.DB.GetRequest(context.Background(), id); r.State != workflow.StateApproved {
		t.Fatalf("cron only (hourly), yet the grant is %s", r.State)
	}
}

// TestTwoReplicasWake: on PostgreSQL, a grant approved on replica A with
// a short expiry reaches replica B's timer by NOTIFY, and is ended by one
// of them long before the hourly cron, exactly once.
func TestTwoReplicasWake(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	policy := writeFile(t, "policy.yaml", goodPolicy)
	var apps []*app.App
	var bases []string
	for i := 0; i < 2; i++ {
		a, base := boot(t, app.Config{DatabaseURL: u, PolicyFile: policy, SweepSchedule: wakeSchedule})
		apps, bases = append(apps, a), append(bases, base)
	}
	for _, a := range apps {
		waitFor(t, 10*time.Second, "the change listener to connect", func() bool { return a.ListenerConnects() > 0 })
	}
	id, expires := approveFor(t, apps[0], bases[0], "2s")
	if st := waitEnded(t, apps[1].DB, id, expires, 3*time.Second); st != workflow.StateExpired {
		t.Fatalf("state %s, want expired", st)
	}
	if !armedFor(apps[1], expires) {
		t.Fatalf("replica B never set its timer for %s (the NOTIFY): %v", expires, apps[1].WakeArmedFor())
	}
	// Both woke at the expiry; give the later one time to finish.
	time.Sleep(500 * time.Millisecond)
	if n := expireRecords(t, apps[0].DB, id); n != 1 {
		t.Fatalf("%d expire records, want exactly 1", n)
	}
}

// TestTwoSweepersEndEachGrantOnce: two replicas on PostgreSQL sweep the
// same 3,000 due grants at the same time, several times over: every grant
// is ended by one of them and audited exactly once.
func TestTwoSweepersEndEachGrantOnce(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	policy := writeFile(t, "policy.yaml", goodPolicy)
	var apps []*app.App
	for i := 0; i < 2; i++ {
		a, _ := boot(t, app.Config{DatabaseURL: u, PolicyFile: policy, SweepSchedule: wakeSchedule})
		a.Service.SetSweepBatch(200) // many batches, so that the two interleave
		apps = append(apps, a)
	}
	const n = 3000
	ctx := context.Background()
	past := workflow.Now().Add(-time.Minute)
	var reqs []*workflow.Request
	for i := 0; i < n; i++ {
		exp := past.Add(-time.Duration(i) * time.Millisecond)
		approved := exp.Add(-time.Hour)
		reqs = append(reqs, &workflow.Request{ID: fmt.Sprintf("0190dddd-0000-7000-8000-%012d", i), Requester: fmt.Sprintf("p%d@example.com", i),
			Resource: "crm-notes", Tier: workflow.TierMedium, Reason: "seed", Duration: time.Hour, State: workflow.StateApproved,
			RequiredApprovals: 1, Version: 2, CreatedAt: approved, UpdatedAt: approved, ReviewDeadline: approved.Add(time.Hour),
			ApprovedAt: &approved, ExpiresAt: &exp})
	}
	if err := apps[0].DB.BulkInsertRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	expired := make([]int, 2)
	for i, a := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				res, err := a.SweepNow(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				expired[i] += res.Expired
			}
		}()
	}
	wg.Wait()
	if expired[0]+expired[1] != n {
		t.Fatalf("the sweepers expired %d + %d, want %d in all", expired[0], expired[1], n)
	}
	var dup, total int64
	g := apps[0].DB.Gorm()
	if err := g.Raw(`SELECT count(*) FROM (SELECT request_id FROM audit_records WHERE action = 'expire' GROUP BY request_id HAVING count(*) > 1) d`).Scan(&dup).Error; err != nil {
		t.Fatal(err)
	}
	if err := g.Raw(`SELECT count(*) FROM audit_records WHERE action = 'expire'`).Scan(&total).Error; err != nil {
		t.Fatal(err)
	}
	if dup != 0 || total != n {
		t.Fatalf("%d expire records for %d grants, %d grants audited twice", total, n, dup)
	}
	t.Logf("replica A expired %d, replica B %d", expired[0], expired[1])
}

// TestRevocationLagMetric: when a webhook target confirms a removal, the
// replica observes jitaccess_revocation_lag_seconds{provisioner="webhook"}.
func TestRevocationLagMetric(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		tg := newTarget(t)
		t.Setenv("CRM_SECRET", crmSecret)
		policy := writeFile(t, "policy.yaml", fmt.Sprintf(offboardingPolicy, tg.srv.URL))
		a, base := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy, SweepSchedule: wakeSchedule,
			Oversight: app.OversightConfig{MetricsToken: "scrape-secret"}})
		ctx, now := context.Background(), workflow.Now()
		tok := map[string]string{}
		for _, who := range []string{"alice", "carol", "dave"} {
			s, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, now)
			if err != nil {
				t.Fatal(err)
			}
			tok[who] = s
		}
		o := offboarding{a: a, base: base, tok: tok}
		count := func() int {
			req, _ := http.NewRequest("GET", base+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer scrape-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			m := regexp.MustCompile(`(?m)^jitaccess_revocation_lag_seconds_count\{provisioner="webhook"\} (\d+)$`).FindSubmatch(b)
			if m == nil {
				return 0
			}
			c, _ := strconv.Atoi(string(m[1]))
			return c
		}
		id := o.grant(t, "alice", "crm-payments", "carol", "dave")
		tg.waitFor(t, provision.EventGrant, id)
		if c := count(); c != 0 {
			t.Fatalf("a lag was observed before any removal: %d", c)
		}
		if code, body := httpJSON(t, "POST", base+"/api/v1/requests/"+id+"/revoke", tok["carol"], `{"reason":"done"}`); code != 200 {
			t.Fatalf("revoke %d %v", code, body)
		}
		tg.waitFor(t, provision.EventRevoke, id)
		waitFor(t, 10*time.Second, "the revocation lag to be observed", func() bool { return count() == 1 })
	})
}
