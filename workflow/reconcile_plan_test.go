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

// PlanReconcile says what Reconcile will do, with the same reasons, and
// writes nothing itself.
func TestPlanReconcileMatchesReconcile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := newService(t, db, c)
		grant := submit(t, svc, alice, "crm-notes", time.Hour)
		approve(t, svc, carol, grant.ID)
		pending := submit(t, svc, bob, "crm-payments", time.Hour)
		approve(t, svc, dave, pending.ID)
		untouched := submit(t, svc, bob, "crm-notes", time.Hour)

		next, err := workflow.ParsePolicy("next.yaml", []byte(strings.NewReplacer(
			"agents: [alice@example.com, bob@example.com,", "agents: [bob@example.com,",
			"managers: [carol@example.com, dave@example.com, erin@example.com]", "managers: [carol@example.com, erin@example.com]").Replace(testPolicy)))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := workflow.PlanReconcile(ctx, db, next, "policy version 2", c.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Ends) != 1 || plan.Ends[0].RequestID != grant.ID || plan.Ends[0].Event != workflow.EventRevoke ||
			plan.Ends[0].Reason != "policy version 2 no longer lets alice@example.com request crm-notes" {
			t.Fatalf("ends: %+v", plan.Ends)
		}
		if len(plan.Withdrawals) != 1 || plan.Withdrawals[0].RequestID != pending.ID || plan.Withdrawals[0].Approver != "dave@example.com" {
			t.Fatalf("withdrawals: %+v", plan.Withdrawals)
		}
		for _, id := range []string{grant.ID, pending.ID, untouched.ID} {
			r, err := db.GetRequest(ctx, id)
			if err != nil || (id == grant.ID) != (r.State == workflow.StateApproved) || len(auditActions(t, db, id)) == 0 {
				t.Fatalf("%s after the plan: %+v %v", id, r, err)
			}
		}
		if p, _ := db.GetRequest(ctx, pending.ID); len(p.Counting()) != 1 {
			t.Fatal("the plan withdrew an approval")
		}

		svc.SetPolicy(next)
		res, err := svc.Reconcile(ctx, "policy version 2")
		if err != nil {
			t.Fatal(err)
		}
		if res.Revoked != len(plan.Ends) || res.Cancelled != 0 || res.Withdrawn != len(plan.Withdrawals) {
			t.Fatalf("reconcile %+v, plan %+v", res, plan)
		}
		g, _ := db.GetRequest(ctx, grant.ID)
		if g.State != workflow.StateRevoked || !strings.Contains(g.EndReason, plan.Ends[0].Reason) {
			t.Fatalf("grant after reconcile: %s %q", g.State, g.EndReason)
		}
		p, _ := db.GetRequest(ctx, pending.ID)
		if len(p.Counting()) != 0 || p.Approvals[0].WithdrawnReason != plan.Withdrawals[0].Reason {
			t.Fatalf("approval after reconcile: %+v", p.Approvals)
		}
	})
}
