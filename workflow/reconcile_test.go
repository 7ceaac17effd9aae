package workflow_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func seedPerson(t testing.TB, db *store.DB, email string, active bool, groups ...string) string {
	t.Helper()
	return storetest.SeedPerson(t, db, email, active, groups...)
}

func setActive(t testing.TB, db *store.DB, email string, active bool) {
	t.Helper()
	storetest.SetPersonActive(t, db, email, active)
}

func leaveGroup(t testing.TB, db *store.DB, email, group string) {
	t.Helper()
	if err := db.Gorm().Exec(`DELETE FROM directory_members WHERE person_id = (SELECT id FROM directory_people WHERE user_name = ?)
		AND group_id = (SELECT id FROM directory_groups WHERE display_name = ?)`, email, group).Error; err != nil {
		t.Fatal(err)
	}
}

// policyWith returns the test policy with replace applied to its text, at
// version v.
func policyWith(t testing.TB, v int, old, new string) *workflow.Policy {
	t.Helper()
	if !strings.Contains(testPolicy, old) {
		t.Fatalf("test policy has no %q", old)
	}
	p, err := workflow.ParsePolicy("test.yaml", []byte(strings.Replace(testPolicy, old, new, 1)))
	if err != nil {
		t.Fatal(err)
	}
	p.Version = v
	return p
}

func mustGet(t testing.TB, svc *workflow.Service, id string) *workflow.RequestDetail {
	t.Helper()
	r, err := svc.Get(context.Background(), root, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func approve(t testing.TB, svc *workflow.Service, who workflow.Principal, id string) *workflow.Request {
	t.Helper()
	r, err := svc.Approve(context.Background(), who, id, "checked the case")
	if err != nil {
		t.Fatalf("approve %s by %s: %v", id, who.Email, err)
	}
	return r
}

// The leaver: removed from every requester group in the policy file and the
// policy reloaded. Their live grant ends, their pending request is
// cancelled, both by the system with the reason, and nothing of theirs can
// be approved any more.
func TestReconcileEndsWhatPolicyNoLongerJustifies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		live := submit(t, svc, alice, "crm-notes", time.Hour)
		approve(t, svc, carol, live.ID)
		pending := submit(t, svc, alice, "crm-payments", time.Hour)
		approve(t, svc, carol, pending.ID)
		bobs := submit(t, svc, bob, "crm-notes", time.Hour)
		approve(t, svc, carol, bobs.ID)

		svc.SetPolicy(policyWith(t, 7, "agents: [alice@example.com, bob@example.com,", "agents: [bob@example.com,"))
		// Before the re-evaluation has run, the last approval is refused.
		_, err := svc.Approve(ctx, dave, pending.ID, "")
		wantCode(t, err, workflow.CodeInvalidState)

		res, err := svc.Reconcile(ctx, "policy version 7")
		if err != nil {
			t.Fatal(err)
		}
		if res.Revoked != 1 || res.Cancelled != 1 || res.Withdrawn != 0 {
			t.Fatalf("reconcile = %+v, want 1 revoked, 1 cancelled", res)
		}
		got := mustGet(t, svc, live.ID)
		if got.State != workflow.StateRevoked || got.EndedBy != "system" ||
			got.EndReason != "policy version 7 no longer lets alice@example.com request crm-notes" {
			t.Fatalf("live grant after reconcile: state %s by %q reason %q", got.State, got.EndedBy, got.EndReason)
		}
		if h := got.History[len(got.History)-1]; h.Action != "revoke" || h.Actor != "system" || h.Reason != got.EndReason {
			t.Fatalf("last audit record %+v", h)
		}
		if got := mustGet(t, svc, pending.ID); got.State != workflow.StateCancelled || got.EndedBy != "system" {
			t.Fatalf("pending after reconcile: %s by %s", got.State, got.EndedBy)
		}
		if got := mustGet(t, svc, bobs.ID); got.State != workflow.StateApproved {
			t.Fatalf("bob's grant was touched: %s", got.State)
		}
		chk, err := svc.Check(ctx, checker, "alice@example.com", "crm-notes")
		if err != nil || chk.Allowed {
			t.Fatalf("check after reconcile = %+v, %v", chk, err)
		}
		// A second run finds nothing: the changes were compare-and-set.
		if res, err := svc.Reconcile(ctx, "periodic reconcile"); err != nil || res != (workflow.ReconcileResult{}) {
			t.Fatalf("second reconcile = %+v, %v", res, err)
		}
	})
}

// A resource removed from the policy ends its grants.
func TestReconcileResourceRemoved(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newService(t, db, newClock())
		r := submit(t, svc, alice, "kb-drafts", time.Hour) // auto-approved
		svc.SetPolicy(policyWith(t, 8, "  - id: kb-drafts\n    tier: low\n    max_duration: 24h\n    requesters: [agents]\n    auto_approve: true\n", ""))
		if _, err := svc.Reconcile(ctx, "policy version 8"); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, svc, r.ID); got.State != workflow.StateRevoked || got.EndReason != "policy version 8 no longer has resource kb-drafts" {
			t.Fatalf("after removal: %s %q", got.State, got.EndReason)
		}
	})
}

// carol approved (1 of 2) and was then removed from managers: her vote
// stops counting, stays in the history marked withdrawn, and the request
// needs two current approvers — whether the re-evaluation ran first or the
// next approval came first.
func TestApprovalFromRemovedApproverStopsCounting(t *testing.T) {
	for _, reconcileFirst := range []bool{true, false} {
		name := "approve-before-reconcile"
		if reconcileFirst {
			name = "reconcile-first"
		}
		t.Run(name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				c := newClock()
				svc := newService(t, db, c)
				req := submit(t, svc, alice, "crm-payments", time.Hour)
				approve(t, svc, carol, req.ID)
				svc.SetPolicy(policyWith(t, 9, "managers: [carol@example.com, dave@example.com,", "managers: [dave@example.com,"))
				c.Advance(time.Minute)
				if reconcileFirst {
					res, err := svc.Reconcile(ctx, "policy version 9")
					if err != nil || res.Withdrawn != 1 {
						t.Fatalf("reconcile = %+v, %v", res, err)
					}
				}
				r := approve(t, svc, dave, req.ID)
				if r.State != workflow.StatePending || workflow.ApprovalProgress(r) != "1 of 2 approvals" {
					t.Fatalf("after dave: %s, %s", r.State, workflow.ApprovalProgress(r))
				}
				got := mustGet(t, svc, req.ID)
				if len(got.Approvals) != 2 || got.Approvals[0].Approver != carol.Email || got.Approvals[0].Counts() {
					t.Fatalf("approvals %+v", got.Approvals)
				}
				want := "policy version 9 no longer lets carol@example.com approve crm-payments"
				if !reconcileFirst {
					want = "carol@example.com is no longer an approver of crm-payments"
				}
				if got.Approvals[0].WithdrawnReason != want {
					t.Fatalf("withdrawn reason %q, want %q", got.Approvals[0].WithdrawnReason, want)
				}
				var withdrawn int
				for _, h := range got.History {
					if h.Action == string(workflow.EventWithdrawApproval) {
						withdrawn++
						if h.Actor != "system" || !strings.Contains(h.Reason, "approval by carol@example.com withdrawn") {
							t.Fatalf("withdraw record %+v", h)
						}
					}
				}
				if withdrawn != 1 {
					t.Fatalf("%d withdraw records", withdrawn)
				}
				r = approve(t, svc, erin, req.ID)
				if r.State != workflow.StateApproved {
					t.Fatalf("after erin: %s", r.State)
				}
				// Grants approved under the rules of the time stay: dave
				// leaving now does not end alice's access.
				svc.SetPolicy(policyWith(t, 10, "managers: [carol@example.com, dave@example.com,", "managers: [carol@example.com,"))
				if res, err := svc.Reconcile(ctx, "policy version 10"); err != nil || res.Revoked != 0 {
					t.Fatalf("reconcile after approver left = %+v, %v", res, err)
				}
				if got := mustGet(t, svc, req.ID); got.State != workflow.StateApproved {
					t.Fatalf("grant ended when an approver left: %s", got.State)
				}
			})
		})
	}
}

// The directory is the authority on who is active: a deactivated person
// loses what the policy file gave them, and a directory group counts as the
// policy group of the same name.
func TestDirectoryChangesEndAccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		seedPerson(t, db, "alice@example.com", true)
		seedPerson(t, db, "zoe@example.com", true, "agents")
		zoe := workflow.User("zoe@example.com")

		aliceGrant := submit(t, svc, alice, "crm-notes", time.Hour)
		approve(t, svc, carol, aliceGrant.ID)
		zoeGrant := submit(t, svc, zoe, "crm-notes", time.Hour) // only the directory puts zoe in agents
		approve(t, svc, carol, zoeGrant.ID)
		zoePending := submit(t, svc, zoe, "crm-payments", time.Hour)

		setActive(t, db, "alice@example.com", false)
		leaveGroup(t, db, "zoe@example.com", "agents")
		res, err := svc.ReconcilePeople(ctx, []workflow.PersonChange{
			{Email: "alice@example.com", Source: "SCIM", Deactivated: true},
			{Email: "zoe@example.com", Source: "SCIM", RemovedGroups: []string{"agents"}},
		})
		if err != nil || res.Revoked != 2 || res.Cancelled != 1 {
			t.Fatalf("reconcile people = %+v, %v", res, err)
		}
		for id, want := range map[string]string{
			aliceGrant.ID: "alice@example.com was deactivated by SCIM",
			zoeGrant.ID:   "removed from group agents by SCIM",
			zoePending.ID: "removed from group agents by SCIM",
		} {
			if got := mustGet(t, svc, id); got.EndedBy != "system" || got.EndReason != want {
				t.Errorf("%s: %s by %s %q, want %q", id, got.State, got.EndedBy, got.EndReason, want)
			}
		}
		// Deactivated: refused everywhere, even though the file lists her.
		_, err = svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "case 1"})
		wantCode(t, err, workflow.CodeForbidden)
		if !strings.Contains(workflow.ErrorMessage(err), "deactivated") {
			t.Fatalf("message %q", workflow.ErrorMessage(err))
		}
		p, err := svc.Resolve(ctx, alice)
		if err != nil || !p.Disabled || svc.Policy().Knows(p) || svc.Policy().IsAdmin(p) {
			t.Fatalf("resolved alice = %+v, %v", p, err)
		}
		_, err = svc.Submit(ctx, zoe, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "case 1"})
		wantCode(t, err, workflow.CodeForbidden)
	})
}

// A directory user deactivated while their approval is "1 of 2": the vote
// is withdrawn, and a deactivated approver cannot act.
func TestDeactivatedApproverWhileOneOfTwo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newService(t, db, newClock())
		seedPerson(t, db, "carol@example.com", true)
		req := submit(t, svc, alice, "crm-payments", time.Hour)
		approve(t, svc, carol, req.ID)
		setActive(t, db, "carol@example.com", false)
		res, err := svc.ReconcilePeople(ctx, []workflow.PersonChange{{Email: "carol@example.com", Source: "SCIM", Deactivated: true}})
		if err != nil || res.Withdrawn != 1 {
			t.Fatalf("reconcile = %+v, %v", res, err)
		}
		got := mustGet(t, svc, req.ID)
		if got.State != workflow.StatePending || workflow.ApprovalProgress(got.Request) != "0 of 2 approvals" ||
			got.Approvals[0].WithdrawnReason != "carol@example.com was deactivated by SCIM" {
			t.Fatalf("after deactivation: %s %s %+v", got.State, workflow.ApprovalProgress(got.Request), got.Approvals)
		}
		_, err = svc.Deny(ctx, carol, req.ID, "no")
		wantCode(t, err, workflow.CodeForbidden)
		// Reactivated, carol may approve again, and her new vote counts.
		setActive(t, db, "carol@example.com", true)
		approve(t, svc, carol, req.ID)
		if r := approve(t, svc, dave, req.ID); r.State != workflow.StateApproved {
			t.Fatalf("after carol again and dave: %s", r.State)
		}
	})
}

// A directory change racing the approval that would complete a quorum:
// whatever the interleaving, one final state, and never a grant on a vote
// that the directory had already taken away. With the person's row held
// FOR SHARE by the approval, the two happen in one order; the audit chain
// (strictly ordered by commit) shows which.
func TestDirectoryChangeRacesApproval(t *testing.T) {
	for _, kind := range []string{"deactivate", "leave-group"} {
		t.Run(kind, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				svc := newService(t, db, newClock())
				// mia approves only through the directory group managers.
				mia, _, err := svc.CreateDirectoryUser(ctx, okta, workflow.PersonInput{UserName: "mia@example.com", Active: true})
				if err != nil {
					t.Fatal(err)
				}
				g, _, err := svc.CreateDirectoryGroup(ctx, okta, workflow.GroupInput{DisplayName: "managers", Members: []string{mia.ID}})
				if err != nil {
					t.Fatal(err)
				}
				miaP := workflow.User("mia@example.com")
				// prod-db is critical: its approvals need a fresh second factor.
				miaP, frank, dave := stepped(svc, miaP), stepped(svc, frank), stepped(svc, dave)
				for round := range 6 {
					if round > 0 { // restore mia for the next round
						if _, _, err := svc.ReplaceDirectoryUser(ctx, okta, mia.ID, workflow.PersonInput{UserName: "mia@example.com", Active: true}); err != nil {
							t.Fatal(err)
						}
						if _, _, err := svc.ReplaceDirectoryGroup(ctx, okta, g.ID, workflow.GroupInput{DisplayName: "managers", Members: []string{mia.ID}}); err != nil {
							t.Fatal(err)
						}
					}
					who := []workflow.Principal{alice, bob}[round%2]
					res := "crm-payments"
					if round >= 2 {
						res = []string{"crm-payments", "prod-db"}[round%2]
					}
					req, err := svc.Submit(ctx, who, workflow.SubmitInput{Resource: res, Duration: time.Hour, Reason: "case 77"})
					if err != nil {
						t.Fatal(err)
					}
					approve(t, svc, miaP, req.ID)
					if res == "prod-db" { // three approvals: one more before the race
						approve(t, svc, frank, req.ID)
					}
					var wg sync.WaitGroup
					wg.Add(2)
					go func() {
						defer wg.Done()
						_, err := svc.Approve(ctx, dave, req.ID, "checked the case")
						if err != nil && workflow.ErrorCode(err) != workflow.CodeConflict {
							t.Errorf("dave's approval: %v", err)
						}
					}()
					go func() {
						defer wg.Done()
						var err error
						if kind == "deactivate" {
							_, _, err = svc.PatchDirectoryUser(ctx, okta, mia.ID, func(cur *workflow.Person) (workflow.PersonInput, error) {
								return workflow.PersonInput{UserName: cur.UserName, Active: false}, nil
							})
						} else {
							_, _, err = svc.ReplaceDirectoryGroup(ctx, okta, g.ID, workflow.GroupInput{DisplayName: "managers"})
						}
						if err != nil {
							t.Errorf("directory change: %v", err)
						}
					}()
					wg.Wait()
					got := mustGet(t, svc, req.ID)
					var approveID, directoryID int64
					for _, h := range got.History {
						if h.Action == "approve" && h.Actor == dave.Email {
							approveID = h.ID
						}
					}
					recs, _, err := db.ListAudit(ctx, workflow.AuditQuery{Subject: "mia@example.com", Limit: 1})
					if err != nil || len(recs) == 0 || !strings.HasPrefix(recs[0].Action, "directory.") {
						t.Fatalf("directory audit record: %+v %v", recs, err)
					}
					directoryID = recs[0].ID
					switch got.State {
					case workflow.StateApproved:
						// Granted: the approval committed before the change.
						if approveID == 0 || approveID > directoryID {
							t.Fatalf("round %d: approved (record %d) on mia's vote after the directory change (record %d)", round, approveID, directoryID)
						}
					case workflow.StatePending:
						for _, a := range got.Approvals {
							if a.Approver == miaP.Email && a.Counts() {
								t.Fatalf("round %d: pending with mia's vote still counting: %+v", round, got.Approvals)
							}
						}
					default:
						t.Fatalf("round %d: state %s", round, got.State)
					}
					// End the round's request, whatever happened.
					if got.State == workflow.StatePending {
						if _, err := svc.Cancel(ctx, who, req.ID, ""); err != nil {
							t.Fatal(err)
						}
					} else if _, err := svc.Revoke(ctx, root, req.ID, "next round"); err != nil {
						t.Fatal(err)
					}
				}
			})
		})
	}
}
