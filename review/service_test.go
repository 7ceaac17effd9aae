package review_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	db    *store.DB
	clock *clock
	wf    *workflow.Service
	rv    *review.Service
}

func newEnv(t *testing.T, db *store.DB) *env {
	pol := policy(t)
	c := &clock{now: mon}
	wf := workflow.NewService(db, pol, workflow.Options{Now: c.Now})
	rv := review.New(db, wf.Policy, review.Options{Now: c.Now, ProvisionQueues: []string{"provision"}, AlertQueue: "security"})
	return &env{db: db, clock: c, wf: wf, rv: rv}
}

var (
	alice = workflow.User("alice@example.com")
	bob   = workflow.User("bob@example.com")
	carol = workflow.User("carol@example.com")
	dave  = workflow.User("dave@example.com")
	ann   = workflow.User("ann@example.com")
	root  = workflow.User("root@example.com")
)

// activity files and decides a few requests: one rubber-stamped high-tier
// grant (two flags), one revoked by a manager (one flag).
func (e *env) activity(t *testing.T) (string, string) {
	ctx := context.Background()
	r1, err := e.wf.Submit(ctx, bob, workflow.SubmitInput{Resource: "crm-payments", Duration: 8 * time.Hour, Reason: "refund INC-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(5 * time.Second)
	for _, who := range []workflow.Principal{carol, dave} {
		if _, err := e.wf.Approve(ctx, who, r1.ID, "ok"); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Add(time.Hour)
	r2, err := e.wf.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-notes", Duration: 2 * time.Hour, Reason: "notes INC-2"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(10 * time.Minute)
	if _, err := e.wf.Approve(ctx, carol, r2.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(10 * time.Minute)
	if _, err := e.wf.Revoke(ctx, carol, r2.ID, "wrong customer"); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	return r1.ID, r2.ID
}

func TestReviewLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		r1, r2 := e.activity(t)
		period := review.Period{Start: mon.Add(-time.Hour), End: mon.Add(24 * time.Hour)}
		rep, err := e.rv.Report(ctx, ann, review.Scope{Kind: review.ScopeAll}, period)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Grants) != 2 || len(rep.Flags) != 3 || rep.Counts.Requested != 2 {
			t.Fatalf("report: %d grants, %d flags (%v), %d requested", len(rep.Grants), len(rep.Flags), keys(rep.Flags), rep.Counts.Requested)
		}
		if _, err := e.rv.Report(ctx, bob, review.Scope{Kind: review.ScopeAll}, period); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Fatalf("bob reading the report: %v", err)
		}
		rev, err := e.rv.Open(ctx, ann, review.Scope{Kind: review.ScopeAll}, period)
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.rv.MarkFollowUp(ctx, ann, rev.ID, review.ItemRequest, r1, "approved in 5 seconds: ask carol and dave")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.rv.MarkFollowUp(ctx, ann, rev.ID, review.ItemRequest, r2, ""); workflow.ErrorCode(err) != workflow.CodePolicy {
			t.Fatalf("follow-up without a note: %v", err)
		}
		// alice is a reviewer but had access in the period.
		if _, err := e.rv.SignOff(ctx, alice, rev.ID, "fine"); workflow.ErrorCode(err) != workflow.CodeForbidden {
			t.Fatalf("alice signing off her own access: %v", err)
		}
		if _, err := e.rv.SignOff(ctx, carol, rev.ID, "fine"); workflow.ErrorCode(err) != workflow.CodeNotFound {
			t.Fatalf("carol (not a reviewer) signing off: %v", err)
		}
		signed, err := e.rv.SignOff(ctx, ann, rev.ID, "two findings, see follow-ups")
		if err != nil {
			t.Fatal(err)
		}
		if signed.State != review.StateSignedOff || signed.ReportDigest != rep.Digest {
			t.Fatalf("signed: %+v (digest %s, report %s)", signed, signed.ReportDigest, rep.Digest)
		}
		if _, err := e.rv.SignOff(ctx, root, rev.ID, "again"); workflow.ErrorCode(err) != workflow.CodeInvalidState {
			t.Fatalf("second sign-off: %v", err)
		}
		if _, err := e.rv.ResolveFollowUp(ctx, root, f.ID, "carol and dave retrained"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rv.ResolveFollowUp(ctx, root, f.ID, "again"); workflow.ErrorCode(err) != workflow.CodeInvalidState {
			t.Fatalf("second resolution: %v", err)
		}
		d, err := e.rv.Get(ctx, ann, rev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Changed || len(d.FollowUps) != 1 || d.FollowUps[0].ResolvedBy != "root@example.com" {
			t.Fatalf("detail: changed %v, follow-ups %+v", d.Changed, d.FollowUps)
		}
		if _, err := e.rv.Get(ctx, bob, rev.ID); workflow.ErrorCode(err) != workflow.CodeNotFound {
			t.Fatalf("bob reading the review: %v", err)
		}
		// The data changes after the sign-off: the review says so.
		e.clock.Add(-time.Hour)
		if _, err := e.wf.Revoke(ctx, root, r1, "incident"); err != nil {
			t.Fatal(err)
		}
		if d, _ := e.rv.Get(ctx, ann, rev.ID); !d.Changed {
			t.Error("a signed-off review whose data changed is not marked changed")
		}
		// Every step is in the audit log, and the chain holds.
		for action, n := range map[string]int{review.ActionReviewOpen: 1, review.ActionFollowUp: 1, review.ActionReviewSignOff: 1, review.ActionFollowUpDone: 1} {
			recs, _, err := db.ListAudit(ctx, workflow.AuditQuery{Action: action, Limit: 10})
			if err != nil || len(recs) != n {
				t.Errorf("%s: %d records, %v", action, len(recs), err)
			}
		}
		if res, err := audit.Verify(ctx, db); err != nil || !res.OK {
			t.Fatalf("chain: %+v %v", res, err)
		}
		list, _, err := e.rv.List(ctx, carol, 10, "")
		if err != nil || len(list) != 0 {
			t.Fatalf("carol's list: %v %v", list, err)
		}
		list, _, err = e.rv.List(ctx, ann, 10, "")
		if err != nil || len(list) != 1 {
			t.Fatalf("ann's list: %v %v", list, err)
		}
	})
}

func TestConcurrentSignOffs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		rev, err := e.rv.Open(ctx, ann, review.Scope{Kind: review.ScopeResource, Value: "crm-notes"}, review.Period{Start: mon.Add(-time.Hour), End: mon})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				who := []workflow.Principal{ann, root, carol, dave}[i%4] // carol and dave approve crm-notes
				_, errs[i] = e.rv.SignOff(ctx, who, rev.ID, "ok")
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch workflow.ErrorCode(err) {
			case "":
				ok++
			case workflow.CodeInvalidState, workflow.CodeConflict:
			default:
				t.Errorf("unexpected: %v", err)
			}
		}
		recs, _, _ := db.ListAudit(ctx, workflow.AuditQuery{Action: review.ActionReviewSignOff, Limit: 10})
		if ok != 1 || len(recs) != 1 {
			t.Fatalf("%d sign-offs succeeded, %d audited; want 1", ok, len(recs))
		}
	})
}

func TestScanRaisesEachFlagOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		e.activity(t)
		// A provisioning job that failed for good.
		if err := db.InTx(ctx, func(tx workflow.Tx) error {
			return tx.Enqueue(ctx, workflow.Job{Queue: "provision", Key: "k", Payload: []byte(`{"requester":"bob@example.com","resource":"crm-payments"}`)})
		}); err != nil {
			t.Fatal(err)
		}
		jobs, err := db.Claim(ctx, "provision", 1, time.Minute, time.Now())
		if err != nil || len(jobs) != 1 {
			t.Fatal(jobs, err)
		}
		if err := db.Fail(ctx, jobs[0].ID, jobs[0].Token, "ldap down", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		// Two replicas scan at once.
		other := review.New(db, e.wf.Policy, review.Options{Now: e.clock.Now, ProvisionQueues: []string{"provision"}, AlertQueue: "security"})
		var wg sync.WaitGroup
		found := make([][]review.Flag, 2)
		errs := make([]error, 2)
		for i, s := range []*review.Service{e.rv, other} {
			wg.Add(1)
			go func() { defer wg.Done(); found[i], errs[i] = s.Scan(ctx) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil && workflow.ErrorCode(err) != workflow.CodeConflict {
				t.Fatal(err)
			}
		}
		if n := len(found[0]) + len(found[1]); n != 4 {
			t.Fatalf("%d flags raised (%v, %v), want 4", n, keys(found[0]), keys(found[1]))
		}
		again, err := e.rv.Scan(ctx)
		if err != nil || len(again) != 0 {
			t.Fatalf("second scan raised %v, %v", keys(again), err)
		}
		backlog, _ := db.QueueBacklog(ctx)
		if backlog["security"] != 4 {
			t.Fatalf("alerts enqueued: %v", backlog)
		}
		flags, err := e.rv.Flags(ctx, root, review.Scope{Kind: review.ScopeAll}, review.Period{Start: mon.Add(-time.Hour), End: e.clock.Now().Add(time.Minute)})
		if err != nil || len(flags) != 4 {
			t.Fatalf("flags: %v %v", keys(flags), err)
		}
		for _, f := range flags {
			if f.RaisedAt == nil {
				t.Errorf("flag %s not marked raised", f.Key)
			}
		}
	})
}

// TestFailingProvisioningIsFlagged: provisioning retries for ever, so its
// failures show as provision.failed audit records, not failed jobs; they
// must raise the provisioning flag all the same.
func TestFailingProvisioningIsFlagged(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		r1, _ := e.activity(t)
		err := db.InTx(ctx, func(tx workflow.Tx) error {
			return tx.AppendAudit(ctx, &workflow.AuditRecord{At: e.clock.Now(), Actor: "system", Action: provision.ActionFailed, RequestID: r1,
				Resource: "crm-payments", Subject: "bob@example.com", Reason: "remove keeps failing after 3 attempts: connection refused"})
		})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
		flags, err := e.rv.Flags(ctx, root, review.Scope{Kind: review.ScopeAll}, review.Period{Start: mon.Add(-time.Hour), End: e.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		var got []review.Flag
		for _, f := range flags {
			if f.Kind == review.FlagProvisioning {
				got = append(got, f)
			}
		}
		if len(got) != 1 || len(got[0].RequestIDs) != 1 || got[0].RequestIDs[0] != r1 || got[0].Person != "bob@example.com" ||
			!strings.Contains(got[0].Reason, "remove keeps failing") {
			t.Fatalf("provisioning flags: %+v", got)
		}
	})
}
