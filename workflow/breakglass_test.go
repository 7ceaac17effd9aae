package workflow_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// breakGlassPolicy: prod-db has a break_glass block for oncall with two
// reviewers; payments lets emergency access skip its conditions; notes
// has no break_glass at all.
const breakGlassPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  oncall: [olga@example.com, oscar@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: prod-db
    tier: high
    max_duration: 4h
    requesters: [agents]
    approvers: [managers]
    break_glass:
      groups: [oncall]
      max_duration: 1h
      reviewers_required: 2
      review_within: 24h
    conditions:
      - expr: requester.attributes.region == 'eu'
        message: only staff in the EU region may use this
  - id: payments
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    break_glass:
      groups: [oncall]
      review_within: 1h
      skip_conditions: true
    conditions:
      - expr: requester.attributes.region == 'eu'
        message: only staff in the EU region may use this
  - id: notes
    tier: medium
    max_duration: 4h
    requesters: [agents, oncall]
    approvers: [managers]
`

var (
	olga  = workflow.User("olga@example.com")  // oncall, EU
	oscar = workflow.User("oscar@example.com") // oncall, US
)

func breakGlassService(t *testing.T, db *store.DB, c *clock) *workflow.Service {
	t.Helper()
	pol, err := workflow.ParsePolicy("bg.yaml", []byte(breakGlassPolicy))
	if err != nil {
		t.Fatal(err)
	}
	svc := workflow.NewService(db, pol, workflow.Options{Now: c.Now})
	seedRegion(t, svc, "olga@example.com", "eu")
	seedRegion(t, svc, "oscar@example.com", "us")
	seedRegion(t, svc, "alice@example.com", "eu")
	return svc
}

func emergency(svc *workflow.Service, who workflow.Principal, resource string, d time.Duration) (*workflow.Request, error) {
	return svc.Submit(context.Background(), who, workflow.SubmitInput{Resource: resource, Duration: d, Reason: "INC-7: prod is down", Emergency: true})
}

// securityJobs counts the alerts waiting in the security queue.
func securityJobs(t *testing.T, db *store.DB) int64 {
	t.Helper()
	backlog, err := db.QueueBacklog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return backlog[workflow.SecurityQueue]
}

func count(t *testing.T, db *store.DB, query string) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm().Raw(query).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBreakGlassRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := breakGlassService(t, db, newClock())
		for _, tc := range []struct {
			name     string
			who      workflow.Principal
			resource string
			d        time.Duration
			reason   string
			code     workflow.Code
			msg      string
		}{
			{"non-member", alice, "prod-db", 30 * time.Minute, "x", workflow.CodeForbidden, "alice@example.com may not use emergency access to prod-db: only members of oncall may"},
			{"stranger", nobody, "prod-db", 30 * time.Minute, "x", workflow.CodeForbidden, "nobody@example.com is not in the access policy"},
			{"over break_glass.max_duration", olga, "prod-db", 2 * time.Hour, "x", workflow.CodePolicy, "duration 2h is longer than the maximum of 1h for emergency access to prod-db"},
			{"no reason", olga, "prod-db", 30 * time.Minute, "  ", workflow.CodePolicy, "a reason is required"},
			{"no break_glass", olga, "notes", 30 * time.Minute, "x", workflow.CodePolicy, "notes has no break-glass access"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := svc.Submit(context.Background(), tc.who, workflow.SubmitInput{Resource: tc.resource, Duration: tc.d, Reason: tc.reason, Emergency: true})
				wantCode(t, err, tc.code)
				if !strings.HasPrefix(workflow.ErrorMessage(err), tc.msg) {
					t.Fatalf("message %q, want %q", workflow.ErrorMessage(err), tc.msg)
				}
			})
		}
		if n := count(t, db, "SELECT count(*) FROM requests"); n != 0 {
			t.Fatalf("%d requests stored after refusals", n)
		}
	})
}

func TestBreakGlassGrantsWithFlagAlertAndReview(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		svc := breakGlassService(t, db, c)
		req, err := emergency(svc, olga, "prod-db", 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		now := c.Now()
		if req.State != workflow.StateApproved || !req.Emergency || !req.ExpiresAt.Equal(now.Add(30*time.Minute)) || len(req.Approvals) != 0 {
			t.Fatalf("emergency request %+v", req)
		}
		got, err := db.GetRequest(context.Background(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		rv := got.Review
		if !got.Emergency || rv == nil || rv.State != workflow.ReviewOpen || rv.Required != 2 || !rv.DueAt.Equal(now.Add(24*time.Hour)) ||
			!rv.NextAlertAt.Equal(rv.DueAt) || rv.Alerts != 0 {
			t.Fatalf("stored request %+v, review %+v", got, rv)
		}
		if g, err := db.LiveGrant(context.Background(), olga.Email, "prod-db", now); err != nil || g == nil || g.ID != req.ID {
			t.Fatalf("live grant %v, %v", g, err)
		}
		if got, want := strings.Join(auditActions(t, db, req.ID), " "), "submit:>pending break_glass:pending>approved"; got != want {
			t.Fatalf("audit %q, want %q", got, want)
		}
		flags, err := db.RaisedFlags(context.Background(), now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := flags["break_glass:"+req.ID]; !ok || len(flags) != 1 {
			t.Fatalf("flags %v, want break_glass:%s", flags, req.ID)
		}
		if n := securityJobs(t, db); n != 1 {
			t.Fatalf("%d security alerts queued, want 1", n)
		}
	})
}

// A hook that fails rolls the grant back, and with it the review, the
// flag and the alert: all four are written in one transaction.
func TestBreakGlassAllInOneTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		svc := breakGlassService(t, db, c)
		fail := true
		svc.OnChange(func(ctx context.Context, tx workflow.Tx, changes []workflow.Change) error {
			for _, ch := range changes {
				if ch.Event == workflow.EventBreakGlass && fail {
					return errors.New("provisioning hook down")
				}
			}
			return nil
		})
		if _, err := emergency(svc, olga, "prod-db", 30*time.Minute); err == nil {
			t.Fatal("emergency submitted although a hook failed")
		}
		for _, q := range []string{"SELECT count(*) FROM requests", "SELECT count(*) FROM emergency_reviews", "SELECT count(*) FROM oversight_flags"} {
			if n := count(t, db, q); n != 0 {
				t.Fatalf("%s = %d after rollback, want 0", q, n)
			}
		}
		if n := securityJobs(t, db); n != 0 {
			t.Fatalf("%d alerts queued after rollback", n)
		}
		fail = false
		req, err := emergency(svc, olga, "prod-db", 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"SELECT count(*) FROM requests WHERE emergency", "SELECT count(*) FROM emergency_reviews", "SELECT count(*) FROM oversight_flags"} {
			if n := count(t, db, q); n != 1 {
				t.Fatalf("%s = %d after the grant of %s, want 1", q, n, req.ID)
			}
		}
		if n := securityJobs(t, db); n != 1 {
			t.Fatalf("%d alerts queued, want 1", n)
		}
	})
}

func TestBreakGlassConditions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := breakGlassService(t, db, newClock())
		_, err := emergency(svc, oscar, "prod-db", 30*time.Minute)
		wantRefusal(t, err, "only staff in the EU region may use this")
		req, err := emergency(svc, oscar, "payments", 30*time.Minute)
		if err != nil {
			t.Fatalf("skip_conditions: %v", err)
		}
		if req.State != workflow.StateApproved {
			t.Fatalf("state %s", req.State)
		}
		// Re-evaluation does not end it for the condition it skipped, nor
		// for oscar not being a requester of payments.
		if _, err := svc.Reconcile(context.Background(), "test"); err != nil {
			t.Fatal(err)
		}
		got, _ := db.GetRequest(context.Background(), req.ID)
		if got.State != workflow.StateApproved {
			t.Fatalf("reconcile ended the emergency grant: %s %s", got.State, got.EndReason)
		}
		if _, err := emergency(svc, olga, "prod-db", 30*time.Minute); err != nil {
			t.Fatalf("EU member: %v", err)
		}
	})
}

func TestBreakGlassSignOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		svc := breakGlassService(t, db, c)
		req, err := emergency(svc, olga, "prod-db", 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		_, err = svc.SignOffReview(ctx, olga, req.ID, "all fine")
		wantCode(t, err, workflow.CodeForbidden)
		if !strings.Contains(workflow.ErrorMessage(err), "your own") {
			t.Fatalf("message %q", workflow.ErrorMessage(err))
		}
		_, err = svc.SignOffReview(ctx, alice, req.ID, "")
		wantCode(t, err, workflow.CodeNotFound) // alice may not even see it
		c.Advance(time.Minute)
		r, err := svc.SignOffReview(ctx, carol, req.ID, "checked INC-7")
		if err != nil {
			t.Fatal(err)
		}
		if r.Review.State != workflow.ReviewOpen || len(r.Review.Signoffs) != 1 || r.Review.Progress() != "1 of 2 sign-offs" {
			t.Fatalf("after one sign-off: %+v", r.Review)
		}
		_, err = svc.SignOffReview(ctx, carol, req.ID, "again")
		wantCode(t, err, workflow.CodeDuplicate)
		got, _ := db.GetRequest(ctx, req.ID)
		if got.Review.State != workflow.ReviewOpen || len(got.Review.Signoffs) != 1 {
			t.Fatalf("the same reviewer twice counted twice: %+v", got.Review)
		}
		r, err = svc.SignOffReview(ctx, root, req.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Review.State != workflow.ReviewSignedOff || r.Review.SignedOffAt == nil || len(r.Review.Signoffs) != 2 {
			t.Fatalf("after two sign-offs: %+v", r.Review)
		}
		_, err = svc.SignOffReview(ctx, dave, req.ID, "")
		wantCode(t, err, workflow.CodeInvalidState)
		normal := submit(t, svc, alice, "notes", time.Hour)
		_, err = svc.SignOffReview(ctx, carol, normal.ID, "")
		wantCode(t, err, workflow.CodeInvalidState)
		acts := auditActions(t, db, req.ID)
		if got, want := strings.Join(acts[2:], " "), "break_glass.review_signoff:approved>approved break_glass.review_signoff:approved>approved"; got != want {
			t.Fatalf("audit %q, want %q", got, want)
		}
	})
}

// Two replicas sweep at once, again and again: each overdue period
// raises exactly one flag and one alert, and a signed-off review none.
func TestBreakGlassOverdueOncePerPeriod(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		svc := breakGlassService(t, db, c)
		other := workflow.NewService(db, svc.Policy(), workflow.Options{Now: c.Now})
		req, err := emergency(svc, olga, "prod-db", 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		sweep := func() int {
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := 0
			for _, s := range []*workflow.Service{svc, other, svc, other} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := s.AlertOverdueReviews(ctx)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}()
			}
			wg.Wait()
			return total
		}
		if n := sweep(); n != 0 {
			t.Fatalf("%d alerts before the review is due", n)
		}
		c.Advance(24*time.Hour - time.Second)
		if n := sweep(); n != 0 {
			t.Fatalf("%d alerts a second before due", n)
		}
		for period := 1; period <= 3; period++ {
			c.Advance(time.Second)
			if n := sweep(); n != 1 {
				t.Fatalf("period %d: %d alerts, want exactly 1", period, n)
			}
			if n := sweep(); n != 0 {
				t.Fatalf("period %d: %d more alerts on a second sweep", period, n)
			}
			if n := securityJobs(t, db); n != int64(1+period) {
				t.Fatalf("period %d: %d alerts queued, want %d", period, n, 1+period)
			}
			c.Advance(24*time.Hour - time.Second)
		}
		now := c.Now()
		flags, err := db.RaisedFlags(ctx, now.Add(-100*time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			key := workflow.FlagBreakGlassReviewOverdue + ":" + req.ID + ":" + string(rune('0'+i))
			if _, ok := flags[key]; !ok {
				t.Fatalf("no flag %s in %v", key, flags)
			}
		}
		got, _ := db.GetRequest(ctx, req.ID)
		if got.Review.Alerts != 3 || !got.Review.Overdue(now) {
			t.Fatalf("review %+v", got.Review)
		}
		if _, err := svc.SignOffReview(ctx, carol, req.ID, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SignOffReview(ctx, dave, req.ID, ""); err != nil {
			t.Fatal(err)
		}
		c.Advance(48 * time.Hour)
		if n := sweep(); n != 0 {
			t.Fatalf("%d alerts after sign-off", n)
		}
	})
}

// Concurrent sign-offs: two distinct reviewers at once sign the review
// off exactly once; one reviewer twice at once counts once.
func TestBreakGlassConcurrentSignOffs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := breakGlassService(t, db, newClock())
		ctx := context.Background()
		for trial := 0; trial < 5; trial++ {
			req, err := emergency(svc, olga, "prod-db", 30*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i, who := range []workflow.Principal{carol, carol, dave, dave} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = svc.SignOffReview(ctx, who, req.ID, "")
				}()
			}
			wg.Wait()
			ok, dup := 0, 0
			for _, err := range errs {
				switch workflow.ErrorCode(err) {
				case "":
					ok++
				case workflow.CodeDuplicate, workflow.CodeInvalidState:
					dup++
				default:
					t.Fatalf("trial %d: %v", trial, err)
				}
			}
			got, _ := db.GetRequest(ctx, req.ID)
			if ok != 2 || dup != 2 || got.Review.State != workflow.ReviewSignedOff || len(got.Review.Signoffs) != 2 {
				t.Fatalf("trial %d: %d ok, %d refused, review %+v", trial, ok, dup, got.Review)
			}
			if _, err := svc.Revoke(ctx, olga, req.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestBreakGlassNeedsMFA: require_mfa: [break_glass] holds emergency
// access to a fresh second factor, and only emergency access.
func TestBreakGlassNeedsMFA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		pol, err := workflow.ParsePolicy("bg.yaml", []byte(strings.Replace(breakGlassPolicy,
			"    approvers: [managers]\n    break_glass:\n      groups: [oncall]\n      max_duration: 1h\n",
			"    approvers: [managers]\n    require_mfa: [break_glass]\n    break_glass:\n      groups: [oncall]\n      max_duration: 1h\n", 1)))
		if err != nil {
			t.Fatal(err)
		}
		svc := workflow.NewService(db, pol, workflow.Options{Now: c.Now})
		seedRegion(t, svc, "olga@example.com", "eu")
		seedRegion(t, svc, "alice@example.com", "eu")
		token := olga
		token.Auth, token.MFA = workflow.AuthToken, workflow.MFANone
		_, err = emergency(svc, token, "prod-db", 30*time.Minute)
		wantCode(t, err, workflow.CodeMFARequired)
		if msg := workflow.ErrorMessage(err); !strings.Contains(msg, "emergency (break-glass) access to prod-db") {
			t.Fatalf("message %q", msg)
		}
		fresh := olga
		fresh.Auth, fresh.MFA, fresh.MFAAt = workflow.AuthSession, workflow.MFAWebAuthn, c.Now().Add(-time.Minute)
		if req, err := emergency(svc, fresh, "prod-db", 30*time.Minute); err != nil || req.State != workflow.StateApproved {
			t.Fatalf("with a fresh passkey: %+v %v", req, err)
		}
		// An ordinary request for the same resource needs no second factor.
		plain := alice
		plain.Auth, plain.MFA = workflow.AuthToken, workflow.MFANone
		if _, err := svc.Submit(context.Background(), plain, workflow.SubmitInput{Resource: "prod-db", Duration: time.Hour, Reason: "case 9"}); err != nil {
			t.Fatalf("ordinary request: %v", err)
		}
	})
}

// TestEmergencyAccessIsNotExtended: emergency access had no approver, so
// it cannot be stretched by an extension (which would copy its zero
// approvals and apply at once).
func TestEmergencyAccessIsNotExtended(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := breakGlassService(t, db, newClock())
		req, err := emergency(svc, olga, "prod-db", 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Extend(context.Background(), olga, req.ID, workflow.ExtendInput{Duration: 30 * time.Minute, Reason: "still down"})
		wantCode(t, err, workflow.CodeInvalidState)
		if !strings.Contains(workflow.ErrorMessage(err), "emergency access cannot be extended") {
			t.Fatalf("message %q", workflow.ErrorMessage(err))
		}
	})
}
