package workflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// conditionsPolicy has a resource with a region condition, one with a
// time-of-day condition and two approvals, and one with an approver
// condition (same region as the requester).
const conditionsPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
resources:
  - id: eu-db
    tier: medium
    max_duration: 4h
    requesters: [agents]
    approvers: [managers]
    conditions:
      - expr: requester.attributes.region == 'eu'
        message: only staff in the EU region may use eu-db
  - id: daytime
    tier: medium
    max_duration: 4h
    requesters: [agents]
    approvers: [managers]
    approvals_required: 2
    conditions:
      - expr: now.getHours('Europe/Berlin') < 18
        message: daytime is granted before 18:00 Berlin time only
  - id: regional
    tier: medium
    max_duration: 4h
    requesters: [agents]
    approvers: [managers]
    approver_conditions:
      - expr: approver.attributes.region == requester.attributes.region
        message: an approver must be in the requester's region
`

var idp = workflow.ServiceAccount("idp", workflow.ScopeSCIM)

func conditionsService(t *testing.T, db *store.DB, c *clock) *workflow.Service {
	t.Helper()
	pol, err := workflow.ParsePolicy("conditions.yaml", []byte(conditionsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	return workflow.NewService(db, pol, workflow.Options{Now: c.Now})
}

// seedRegion puts email in the directory with region (none when "") and
// returns their directory id.
func seedRegion(t *testing.T, svc *workflow.Service, email, region string) string {
	t.Helper()
	attrs := map[string]string{workflow.AttrDepartment: "support"}
	if region != "" {
		attrs[workflow.AttrRegion] = region
	}
	p, _, err := svc.CreateDirectoryUser(context.Background(), idp, workflow.PersonInput{UserName: email, Emails: []string{email}, Active: true, Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func wantRefusal(t *testing.T, err error, message string) {
	t.Helper()
	wantCode(t, err, workflow.CodeForbidden)
	if got := workflow.ErrorMessage(err); !strings.HasPrefix(got, message) {
		t.Fatalf("message = %q, want %q", got, message)
	}
}

func TestSubmitConditions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newClock()
		svc := conditionsService(t, db, c)
		seedRegion(t, svc, "alice@example.com", "eu")
		seedRegion(t, svc, "bob@example.com", "us")
		in := workflow.SubmitInput{Resource: "eu-db", Duration: time.Hour, Reason: "case 1"}
		for _, tc := range []struct {
			name string
			who  workflow.Principal
			want string // "" allowed
		}{
			{"region holds", alice, ""},
			{"other region", bob, "only staff in the EU region may use eu-db"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r, err := svc.Submit(context.Background(), tc.who, in)
				if tc.want == "" {
					if err != nil || r.State != workflow.StatePending {
						t.Fatalf("submit = %v, %v", r, err)
					}
					return
				}
				wantRefusal(t, err, tc.want)
			})
		}
	})
}

// Someone the directory gives no region cannot be judged by a condition
// that reads it: refused (fail closed), never a 500.
func TestSubmitConditionUnevaluable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := conditionsService(t, db, newClock())
		seedRegion(t, svc, "bob@example.com", "")
		_, err := svc.Submit(context.Background(), bob, workflow.SubmitInput{Resource: "eu-db", Duration: time.Hour, Reason: "case 1"})
		wantRefusal(t, err, `condition "requester.attributes.region == 'eu'" could not be evaluated: `)
		// Not in the directory at all: no attributes either.
		_, err = svc.Submit(context.Background(), alice, workflow.SubmitInput{Resource: "eu-db", Duration: time.Hour, Reason: "case 1"})
		wantRefusal(t, err, `condition "requester.attributes.region == 'eu'" could not be evaluated: `)
	})
}

// The approval that completes the quorum judges the conditions again, as
// access would begin: a time condition that held at submit no longer
// does, and the approval is refused (nothing is recorded).
func TestFinalApprovalRechecksConditions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock() // 09:00 UTC, 10:00 in Berlin
		svc := conditionsService(t, db, c)
		r := submit(t, svc, alice, "daytime", time.Hour)
		approve(t, svc, carol, r.ID) // 1 of 2: the conditions are not judged
		c.Advance(8 * time.Hour)     // 18:00 in Berlin
		_, err := svc.Approve(ctx, dave, r.ID, "")
		wantRefusal(t, err, "daytime is granted before 18:00 Berlin time only")
		got := mustGet(t, svc, r.ID)
		if got.State != workflow.StatePending || len(got.Counting()) != 1 {
			t.Fatalf("after the refused approval: %s with %d approvals", got.State, len(got.Counting()))
		}
		c.Advance(15 * time.Hour) // 09:00 Berlin the next day
		if a := approve(t, svc, dave, r.ID); a.State != workflow.StateApproved {
			t.Fatalf("final approval in the daytime: %s", a.State)
		}
	})
}

// approver_conditions: an approver outside the requester's region is not
// offered the request and is refused with the message; one inside it
// approves.
func TestApproverConditions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := conditionsService(t, db, c)
		seedRegion(t, svc, "alice@example.com", "eu")
		seedRegion(t, svc, "carol@example.com", "us")
		seedRegion(t, svc, "dave@example.com", "eu")
		r := submit(t, svc, alice, "regional", time.Hour)
		other := submit(t, svc, alice, "eu-db", time.Hour) // no approver conditions: offered to both
		const msg = "an approver must be in the requester's region"
		for _, tc := range []struct {
			name    string
			who     workflow.Principal
			offered bool
		}{
			{"other region", carol, false},
			{"same region", dave, true},
			{"no directory record", erin, false}, // no region: cannot be judged, not offered
		} {
			t.Run(tc.name, func(t *testing.T) {
				list, _, err := svc.Decisions(ctx, tc.who, 50, "")
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, q := range list {
					ids = append(ids, q.ID)
				}
				if got := strings.Contains(strings.Join(ids, ","), r.ID); got != tc.offered || !strings.Contains(strings.Join(ids, ","), other.ID) {
					t.Fatalf("decisions %v: offered %v, want %v (and %s always)", ids, got, tc.offered, other.ID)
				}
				n, err := svc.CountDecisions(ctx, tc.who)
				if err != nil || n != len(ids) {
					t.Fatalf("count = %d, %v; listed %d", n, err, len(ids))
				}
				fresh := mustGet(t, svc, r.ID).Request
				if a := svc.AllowedActions(ctx, tc.who, fresh, c.Now()); a.Approve != tc.offered || a.Deny != tc.offered {
					t.Fatalf("actions %+v, want approve/deny %v", a, tc.offered)
				}
				if a := workflow.AllowedActions(svc.Policy(), tc.who, fresh, c.Now()); a.Approve || a.Deny {
					t.Fatalf("the pure answer cannot judge approver_conditions and must offer nothing: %+v", a)
				}
				if tc.offered {
					return
				}
				for _, ev := range []workflow.Event{workflow.EventApprove, workflow.EventDeny} {
					err := svc.MayDecide(ctx, tc.who, r.ID, ev)
					wantCode(t, err, workflow.CodeForbidden)
				}
				_, err = svc.Deny(ctx, tc.who, r.ID, "no")
				wantCode(t, err, workflow.CodeForbidden)
				_, err = svc.Approve(ctx, tc.who, r.ID, "")
				if tc.who.Email == carol.Email {
					wantRefusal(t, err, msg)
				} else {
					wantRefusal(t, err, `condition "approver.attributes.region == requester.attributes.region" could not be evaluated`)
				}
			})
		}
		if got := approve(t, svc, dave, r.ID); got.State != workflow.StateApproved {
			t.Fatalf("dave's approval: %s", got.State)
		}
	})
}

// Re-evaluation: a live grant whose condition stops holding is revoked by
// the system with the condition's message, and a pending request is
// cancelled, whether the directory changed (an attribute) or the clock.
func TestReconcileConditions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := conditionsService(t, db, c)
		aliceID := seedRegion(t, svc, "alice@example.com", "eu")
		live := submit(t, svc, alice, "eu-db", 4*time.Hour)
		approve(t, svc, carol, live.ID)
		pending := submit(t, svc, bob, "daytime", 4*time.Hour)

		// Alice moves to the US: the directory change re-evaluates her grant.
		if _, out, err := svc.ReplaceDirectoryUser(ctx, idp, aliceID, workflow.PersonInput{UserName: "alice@example.com",
			Emails: []string{"alice@example.com"}, Active: true, Attributes: map[string]string{workflow.AttrRegion: "us"}}); err != nil || out.ReconcileErr != nil {
			t.Fatalf("replace: %v, %v", err, out.ReconcileErr)
		}
		got := mustGet(t, svc, live.ID)
		if got.State != workflow.StateRevoked || got.EndedBy != "system" || got.EndReason != "only staff in the EU region may use eu-db" {
			t.Fatalf("grant after the move: %s by %q: %q", got.State, got.EndedBy, got.EndReason)
		}
		if got := mustGet(t, svc, pending.ID); got.State != workflow.StatePending {
			t.Fatalf("bob's request was touched: %s", got.State)
		}

		// Evening in Berlin: the periodic re-evaluation cancels the request.
		c.Advance(9 * time.Hour)
		res, err := svc.Reconcile(ctx, "periodic reconcile")
		if err != nil || res.Cancelled != 1 || res.Revoked != 0 {
			t.Fatalf("reconcile = %+v, %v", res, err)
		}
		got = mustGet(t, svc, pending.ID)
		if got.State != workflow.StateCancelled || got.EndedBy != "system" || got.EndReason != "daytime is granted before 18:00 Berlin time only" {
			t.Fatalf("pending after the evening: %s by %q: %q", got.State, got.EndedBy, got.EndReason)
		}
	})
}
