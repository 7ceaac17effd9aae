package workflow_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func parse(t *testing.T, yaml string) *workflow.Policy {
	t.Helper()
	p, err := workflow.ParsePolicy("p.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func policyLoads(t *testing.T, db *store.DB) []*workflow.AuditRecord {
	t.Helper()
	recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{Action: workflow.ActionPolicyLoaded, Ascending: true, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestPolicyVersionNumbering: the same content keeps its number, other
// content gets the next, and every load is a policy.load audit record.
func TestPolicyVersionNumbering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		base := parse(t, diffBase)
		svc := workflow.NewService(db, base, workflow.Options{Now: newClock().Now})
		// Lowered, and carol no longer approves: the record names her loss.
		lowered := strings.Replace(strings.Replace(diffBase, "tier: high", "tier: medium", 1), "carol@example.com, ", "", 1)
		for i, step := range []struct {
			yaml    string
			trigger workflow.PolicyTrigger
			version int
			isNew   bool
		}{
			{diffBase, workflow.TriggerStart, 1, true},
			{diffBase, workflow.TriggerSIGHUP, 1, false},
			{lowered, workflow.TriggerSIGHUP, 2, true},
			{lowered, workflow.TriggerFileChange, 2, false},
			{diffBase, workflow.TriggerFileChange, 3, true}, // back to the first content: a new transition
		} {
			pol := parse(t, step.yaml)
			res, err := svc.LoadPolicy(ctx, pol, workflow.PolicyLoad{Trigger: step.trigger, LoadedBy: "test/1"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Policy.Version != step.version || res.New != step.isNew || svc.Policy().Version != step.version || svc.Policy().SHA256 != pol.SHA256 {
				t.Fatalf("step %d: version %d new %v (in force %d), want %d %v", i, res.Policy.Version, res.New, svc.Policy().Version, step.version, step.isNew)
			}
			if pol.Version != 0 {
				t.Fatalf("step %d: LoadPolicy changed its argument", i)
			}
		}
		recs := policyLoads(t, db)
		if len(recs) != 5 {
			t.Fatalf("%d policy.load records, want 5", len(recs))
		}
		// The reproducer: a reload that lowered crm-payments from high to
		// medium left no trace in the audit log.
		if r := recs[2].Reason; !strings.HasPrefix(r, "version 2 (sighup) sha256 ") || !strings.Contains(r, "crm-payments tier high → medium (LOWERED)") ||
			!strings.Contains(r, "crm-payments may approve: -carol@example.com") || !strings.Contains(r, "crm-notes may approve: -carol@example.com") {
			t.Fatalf("lowering reload: %q", r)
		}
		if r := recs[1].Reason; !strings.HasSuffix(r, ": unchanged") || recs[1].Actor != "system" {
			t.Fatalf("same content: %q by %s", r, recs[1].Actor)
		}
		vs, next, err := svc.PolicyVersions(ctx, root, workflow.PolicyVersionQuery{Limit: 2})
		if err != nil || len(vs) != 2 || next == "" || vs[0].Version != 3 || vs[1].Version != 2 {
			t.Fatalf("page 1: %v %q %v", err, next, vs)
		}
		if a := vs[1].Diff.Access; len(a) != 2 || a[0].Approvers == nil || a[0].Approvers.Removed[0] != "carol@example.com" {
			t.Fatalf("version 2 access diff: %+v", vs[1].Diff.Access)
		}
		if !vs[1].Lowered || vs[0].Lowered || vs[1].Trigger != workflow.TriggerSIGHUP || vs[1].LoadedBy != "test/1" {
			t.Fatalf("version 2: %+v", vs[1])
		}
		if c := vs[0].Diff.Resources; len(c) != 1 || c[0].Tier.From != "medium" || c[0].Tier.To != "high" {
			t.Fatalf("version 3 diff: %+v", vs[0].Diff)
		}
		vs, next, err = svc.PolicyVersions(ctx, root, workflow.PolicyVersionQuery{Limit: 2, Cursor: next})
		if err != nil || len(vs) != 1 || next != "" || vs[0].Version != 1 || !vs[0].Diff.First {
			t.Fatalf("page 2: %v %q %v", err, next, vs)
		}
	})
}

func TestPolicyVersionsAuthz(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := workflow.NewService(db, mustPolicy(t), workflow.Options{Now: newClock().Now})
		ctx := context.Background()
		if _, err := svc.LoadPolicy(ctx, mustPolicy(t), workflow.PolicyLoad{Trigger: workflow.TriggerStart}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			who  workflow.Principal
			code workflow.Code
		}{
			{root, ""}, {workflow.User("ann@example.com"), ""}, {alice, workflow.CodeForbidden}, {carol, workflow.CodeForbidden},
			{checker, workflow.CodeForbidden},
		} {
			_, _, err := svc.PolicyVersions(ctx, tc.who, workflow.PolicyVersionQuery{})
			if workflow.ErrorCode(err) != tc.code {
				t.Errorf("%s: %v, want %q", tc.who.Name(), err, tc.code)
			}
		}
		if _, _, err := svc.PolicyVersions(ctx, root, workflow.PolicyVersionQuery{Cursor: "garbage!"}); workflow.ErrorCode(err) != workflow.CodeInvalid {
			t.Errorf("bad cursor: %v", err)
		}
	})
}

// TestPolicyVersionConcurrentLoads: several servers on one database load
// the same new content, and then another, at once: one number per
// content transition, and one audit record per load.
func TestPolicyVersionConcurrentLoads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const servers = 6
		svcs := make([]*workflow.Service, servers)
		for i := range svcs {
			svcs[i] = workflow.NewService(db, parse(t, diffBase), workflow.Options{})
		}
		contents := []string{diffBase, strings.Replace(diffBase, "tier: high", "tier: critical", 1), strings.Replace(diffBase, "erin@", "fred@", 1)}
		for round, yaml := range contents {
			var wg sync.WaitGroup
			got := make([]int, servers)
			errs := make([]error, servers)
			for i, svc := range svcs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := svc.LoadPolicy(ctx, parse(t, yaml), workflow.PolicyLoad{Trigger: workflow.TriggerStart})
					errs[i] = err
					if err == nil {
						got[i] = res.Policy.Version
					}
				}()
			}
			wg.Wait()
			for i := range svcs {
				if errs[i] != nil || got[i] != round+1 {
					t.Fatalf("round %d server %d: version %d, %v", round, i, got[i], errs[i])
				}
			}
		}
		vs, _, err := db.ListPolicyVersions(ctx, workflow.PolicyVersionQuery{Limit: 50})
		if err != nil || len(vs) != len(contents) {
			t.Fatalf("%d versions (%v), want %d", len(vs), err, len(contents))
		}
		if n := len(policyLoads(t, db)); n != servers*len(contents) {
			t.Fatalf("%d policy.load records, want %d", n, servers*len(contents))
		}
	})
}
