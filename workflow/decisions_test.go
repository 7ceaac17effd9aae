package workflow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func ids(reqs []*workflow.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Requester + "/" + r.Resource
	}
	return out
}

func sameList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecisions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		pay := submit(t, svc, alice, "crm-payments", time.Hour)
		c.Advance(time.Minute)
		submit(t, svc, bob, "crm-notes", time.Hour)
		c.Advance(time.Minute)
		submit(t, svc, alice, "prod-db", time.Hour)
		c.Advance(time.Minute)
		submit(t, svc, carol, "self-serve", time.Hour)
		c.Advance(time.Minute)
		submit(t, svc, bob, "kb-drafts", time.Hour) // auto-approved: never waits

		decisions := func(who workflow.Principal) []string {
			t.Helper()
			reqs, next, err := svc.Decisions(ctx, who, 0, "")
			if err != nil || next != "" {
				t.Fatalf("decisions of %s: %v %q", who.Email, err, next)
			}
			n, err := svc.CountDecisions(ctx, who)
			if err != nil || n != len(reqs) {
				t.Fatalf("count of %s = %d, %v; listed %d", who.Email, n, err, len(reqs))
			}
			return ids(reqs)
		}
		for _, tc := range []struct {
			who  workflow.Principal
			want []string
		}{
			// Oldest first; carol's own self-serve request is not hers to decide.
			{carol, []string{"alice@example.com/crm-payments", "bob@example.com/crm-notes", "alice@example.com/prod-db"}},
			{frank, []string{"alice@example.com/prod-db"}},
			// alice approves self-serve only, and her own requests never reach her.
			{alice, []string{"carol@example.com/self-serve"}},
			{bob, nil},
			{root, nil}, // an admin is not an approver
			// A member of an approver group by the identity provider only.
			{workflow.Principal{Email: "ida@example.com", Groups: []string{"dbas"}}, []string{"alice@example.com/prod-db"}},
		} {
			if got := decisions(tc.who); !sameList(got, tc.want) {
				t.Errorf("decisions of %s = %v, want %v", tc.who.Email, got, tc.want)
			}
		}
		if _, _, err := svc.Decisions(ctx, nobody, 0, ""); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Errorf("someone outside the policy: %v", err)
		}

		// Once carol approves, it leaves her queue and stays in dave's.
		if _, err := svc.Approve(ctx, carol, pay.ID, ""); err != nil {
			t.Fatal(err)
		}
		if got := decisions(carol); !sameList(got, []string{"bob@example.com/crm-notes", "alice@example.com/prod-db"}) {
			t.Errorf("carol after approving: %v", got)
		}
		if got := decisions(dave); len(got) != 3 || got[0] != "alice@example.com/crm-payments" {
			t.Errorf("dave: %v", got)
		}

		// Pages: oldest first, no overlap, nothing lost.
		first, next, err := svc.Decisions(ctx, dave, 2, "")
		if err != nil || len(first) != 2 || next == "" {
			t.Fatalf("first page: %v %d %q", err, len(first), next)
		}
		second, next2, err := svc.Decisions(ctx, dave, 2, next)
		if err != nil || len(second) != 1 || next2 != "" {
			t.Fatalf("second page: %v %d %q", err, len(second), next2)
		}
		if all := append(ids(first), ids(second)...); !sameList(all, decisions(dave)) {
			t.Errorf("pages %v, whole %v", all, decisions(dave))
		}
		if _, _, err := svc.Decisions(ctx, dave, 2, "garbage"); workflow.ErrorCode(err) != workflow.CodeInvalid {
			t.Errorf("bad cursor: %v", err)
		}

		// A request past its review deadline waits for nobody, even before
		// the sweeper has timed it out.
		c.Advance(24 * time.Hour)
		if got := decisions(carol); len(got) != 0 {
			t.Errorf("after the review deadline: %v", got)
		}
	})
}

func TestLiveGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		notes := submit(t, svc, bob, "crm-notes", time.Hour)
		if _, err := svc.Approve(ctx, carol, notes.ID, ""); err != nil {
			t.Fatal(err)
		}
		submit(t, svc, alice, "kb-drafts", 3*time.Hour)  // auto-approved
		submit(t, svc, alice, "crm-payments", time.Hour) // pending: not live

		live := func(who workflow.Principal) []string {
			t.Helper()
			reqs, _, err := svc.LiveGrants(ctx, who, 0, "")
			if err != nil {
				t.Fatalf("live grants of %s: %v", who.Email, err)
			}
			return ids(reqs)
		}
		for _, tc := range []struct {
			who  workflow.Principal
			want []string
		}{
			{root, []string{"alice@example.com/kb-drafts", "bob@example.com/crm-notes"}}, // newest first
			{carol, []string{"bob@example.com/crm-notes"}},                               // kb-drafts has no approvers
			{bob, []string{"bob@example.com/crm-notes"}},
			{alice, []string{"alice@example.com/kb-drafts"}},
			{frank, nil},
		} {
			if got := live(tc.who); !sameList(got, tc.want) {
				t.Errorf("live grants of %s = %v, want %v", tc.who.Email, got, tc.want)
			}
		}
		// Expired access is not live, even before the sweeper gets to it.
		c.Advance(time.Hour)
		if got := live(root); !sameList(got, []string{"alice@example.com/kb-drafts"}) {
			t.Errorf("after crm-notes expired: %v", got)
		}
		if _, _, err := svc.LiveGrants(ctx, checker, 0, ""); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Errorf("service principal: %v", err)
		}
	})
}

// TestAllowedActionsMatchTheService checks, for requests in every state
// that matters and for every kind of actor, that the buttons AllowedActions
// offers are exactly the actions the service then accepts.
func TestAllowedActionsMatchTheService(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		n := 0
		// Each case gets a requester of its own (a member of the agents
		// group through the identity provider), so that cases never meet.
		newAgent := func(groups ...string) workflow.Principal {
			n++
			return workflow.Principal{Email: fmt.Sprintf("agent%d@example.com", n), Groups: groups}
		}
		must := func(_ *workflow.Request, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		scenarios := []struct {
			name  string
			setup func(req workflow.Principal) *workflow.Request
			group string
		}{
			{"pending", func(p workflow.Principal) *workflow.Request { return submit(t, svc, p, "crm-payments", time.Hour) }, "agents"},
			{"pending, carol approved", func(p workflow.Principal) *workflow.Request {
				r := submit(t, svc, p, "crm-payments", time.Hour)
				must(svc.Approve(ctx, carol, r.ID, ""))
				return r
			}, "agents"},
			{"live", func(p workflow.Principal) *workflow.Request {
				r := submit(t, svc, p, "crm-notes", time.Hour)
				must(svc.Approve(ctx, carol, r.ID, ""))
				return r
			}, "agents"},
			{"lapsed", func(p workflow.Principal) *workflow.Request {
				r := submit(t, svc, p, "crm-notes", time.Minute)
				must(svc.Approve(ctx, carol, r.ID, ""))
				c.Advance(2 * time.Minute)
				return r
			}, "agents"},
			{"denied", func(p workflow.Principal) *workflow.Request {
				r := submit(t, svc, p, "crm-notes", time.Hour)
				must(svc.Deny(ctx, dave, r.ID, "no"))
				return r
			}, "agents"},
			{"timed out", func(p workflow.Principal) *workflow.Request {
				r := submit(t, svc, p, "crm-notes", time.Hour)
				c.Advance(25 * time.Hour)
				return r
			}, "agents"},
			{"self-serve, requester approves", func(p workflow.Principal) *workflow.Request {
				return submit(t, svc, p, "self-serve", time.Hour)
			}, "selfish"},
		}
		actors := []struct {
			name string
			get  func(requester workflow.Principal) workflow.Principal
		}{
			{"requester", func(r workflow.Principal) workflow.Principal { return r }},
			{"other agent", func(workflow.Principal) workflow.Principal { return bob }},
			{"carol (approver)", func(workflow.Principal) workflow.Principal { return carol }},
			{"dave (approver)", func(workflow.Principal) workflow.Principal { return dave }},
			{"frank (approver elsewhere)", func(workflow.Principal) workflow.Principal { return frank }},
			{"root (admin)", func(workflow.Principal) workflow.Principal { return root }},
			{"alice (selfish approver)", func(workflow.Principal) workflow.Principal { return alice }},
		}
		type action struct {
			name    string
			allowed func(workflow.Actions) bool
			do      func(who workflow.Principal, id string) error
		}
		actions := []action{
			{"approve", func(a workflow.Actions) bool { return a.Approve }, func(w workflow.Principal, id string) error {
				_, err := svc.Approve(ctx, w, id, "")
				return err
			}},
			{"deny", func(a workflow.Actions) bool { return a.Deny }, func(w workflow.Principal, id string) error {
				_, err := svc.Deny(ctx, w, id, "reason")
				return err
			}},
			{"cancel", func(a workflow.Actions) bool { return a.Cancel }, func(w workflow.Principal, id string) error {
				_, err := svc.Cancel(ctx, w, id, "")
				return err
			}},
			{"revoke", func(a workflow.Actions) bool { return a.Revoke || a.Relinquish }, func(w workflow.Principal, id string) error {
				_, err := svc.Revoke(ctx, w, id, "reason")
				return err
			}},
		}
		offered := 0
		for _, sc := range scenarios {
			for _, ac := range actors {
				for _, act := range actions {
					requester := newAgent(sc.group)
					req := sc.setup(requester)
					who := ac.get(requester)
					fresh, err := svc.Store().GetRequest(ctx, req.ID)
					if err != nil {
						t.Fatal(err)
					}
					allowed := act.allowed(workflow.AllowedActions(svc.Policy(), who, fresh, c.Now()))
					err = act.do(who, req.ID)
					if allowed != (err == nil) {
						t.Errorf("%s, %s, %s: offered %v, service said %v", sc.name, ac.name, act.name, allowed, err)
					}
					if allowed {
						offered++
					}
				}
			}
		}
		if offered < 10 {
			t.Fatalf("only %d actions were offered at all; the cases test nothing", offered)
		}
	})
}

func TestApprovalStatusAndEligible(t *testing.T) {
	pol := mustPolicy(t)
	req := &workflow.Request{Requester: "carol@example.com", Resource: "prod-db", RequiredApprovals: 3,
		Approvals: []workflow.Approval{{Approver: "dave@example.com"}}}
	p := workflow.ApprovalStatus(req)
	if p.Have != 1 || p.Need != 3 || p.Missing != 2 || len(p.Approvers) != 1 {
		t.Fatalf("progress %+v", p)
	}
	got := workflow.EligibleApprovers(pol, req)
	// dbas and managers, less carol (the requester) and dave (approved).
	if !sameList(got, []string{"erin@example.com", "frank@example.com", "grace@example.com"}) {
		t.Fatalf("eligible %v", got)
	}
	req.Approvals = append(req.Approvals, workflow.Approval{Approver: "erin@example.com"}, workflow.Approval{Approver: "frank@example.com"})
	if p := workflow.ApprovalStatus(req); p.Missing != 0 {
		t.Fatalf("met quorum: %+v", p)
	}
	if workflow.EligibleApprovers(pol, &workflow.Request{Resource: "gone"}) != nil {
		t.Fatal("a resource out of the policy has no approvers")
	}
}

// TestMayDecideAgreesWithTheDecision: MayDecide answers each case with the
// refusal (or the go-ahead) that the decision itself then gives, and
// changes nothing: the decision taken right after it meets the request
// as it was.
func TestMayDecideAgreesWithTheDecision(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		must := func(_ *workflow.Request, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		pending := func() string { return submit(t, svc, alice, "crm-notes", time.Hour).ID }
		approvedOnce := func() string { // crm-payments needs two; carol gave one
			id := submit(t, svc, alice, "crm-payments", time.Hour).ID
			must(svc.Approve(ctx, carol, id, ""))
			return id
		}
		denied := func() string {
			id := pending()
			must(svc.Deny(ctx, dave, id, "no"))
			return id
		}
		live := func() string { // admin-console needs one
			id := submit(t, svc, alice, "admin-console", time.Hour).ID
			must(svc.Approve(ctx, erin, id, ""))
			return id
		}
		unknown := func() string { return "0190a0a0-0000-7000-8000-000000000000" }
		for _, tc := range []struct {
			name    string
			request func() string
			who     workflow.Principal
			ev      workflow.Event
			want    workflow.Code // "" for may
		}{
			{"approver denies", pending, carol, workflow.EventDeny, ""},
			{"requester denies own", pending, alice, workflow.EventDeny, workflow.CodeForbidden},
			{"another agent denies", pending, bob, workflow.EventDeny, workflow.CodeNotFound},
			{"approver of another resource denies", pending, frank, workflow.EventDeny, workflow.CodeNotFound},
			{"admin, not an approver, denies", pending, root, workflow.EventDeny, workflow.CodeForbidden},
			{"reviewer denies", pending, ann, workflow.EventDeny, workflow.CodeForbidden},
			{"approver denies a denied request", denied, carol, workflow.EventDeny, workflow.CodeInvalidState},
			{"approver denies live access", live, carol, workflow.EventDeny, workflow.CodeInvalidState},
			{"approver denies after approving", approvedOnce, carol, workflow.EventDeny, ""},
			{"approver approves twice", approvedOnce, carol, workflow.EventApprove, workflow.CodeDuplicate},
			{"second approver approves", approvedOnce, dave, workflow.EventApprove, ""},
			{"requester approves own", pending, alice, workflow.EventApprove, workflow.CodeForbidden},
			{"approver revokes live access", live, carol, workflow.EventRevoke, ""},
			{"admin revokes live access", live, root, workflow.EventRevoke, ""},
			{"requester relinquishes", live, alice, workflow.EventRevoke, ""},
			{"another agent revokes", live, bob, workflow.EventRevoke, workflow.CodeNotFound},
			{"approver revokes a pending request", pending, carol, workflow.EventRevoke, workflow.CodeInvalidState},
			{"unknown request", unknown, carol, workflow.EventDeny, workflow.CodeNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := tc.request()
				if got := workflow.ErrorCode(svc.MayDecide(ctx, tc.who, id, tc.ev)); got != tc.want {
					t.Fatalf("MayDecide: %q, want %q", got, tc.want)
				}
				var err error
				switch tc.ev {
				case workflow.EventApprove:
					_, err = svc.Approve(ctx, tc.who, id, "")
				case workflow.EventDeny:
					_, err = svc.Deny(ctx, tc.who, id, "a reason")
				case workflow.EventRevoke:
					_, err = svc.Revoke(ctx, tc.who, id, "a reason")
				}
				if got := workflow.ErrorCode(err); got != tc.want {
					t.Fatalf("the decision: %q (%v), MayDecide said %q", got, err, tc.want)
				}
				// Leave alice free to file the next case's request.
				if r, err := svc.Get(ctx, root, id); err == nil {
					switch r.State {
					case workflow.StatePending:
						must(svc.Cancel(ctx, alice, id, ""))
					case workflow.StateApproved:
						must(svc.Revoke(ctx, alice, id, ""))
					}
				}
			})
		}
		wantCode(t, svc.MayDecide(ctx, carol, pending(), workflow.EventCancel), workflow.CodeInvalid)
	})
}
