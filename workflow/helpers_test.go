package workflow_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// testPolicy is the policy the service tests run under.
const testPolicy = `
admins: [root@example.com]
reviewers: [auditors]
groups:
  auditors: [ann@example.com]
  agents: [alice@example.com, bob@example.com, mallory@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
  dbas: [frank@example.com, grace@example.com]
  selfish: [alice@example.com, carol@example.com]
resources:
  - id: crm-payments
    name: Payment details
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
  - id: crm-notes
    tier: medium
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
  - id: kb-drafts
    tier: low
    max_duration: 24h
    requesters: [agents]
    auto_approve: true
  - id: admin-console
    tier: low
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
  - id: prod-db
    tier: critical
    max_duration: 1h
    requesters: [agents, managers]
    approvers: [dbas, managers]
    approvals_required: 3
  - id: self-serve
    tier: medium
    max_duration: 1h
    requesters: [selfish]
    approvers: [selfish]
`

var (
	alice   = workflow.User("alice@example.com")
	bob     = workflow.User("bob@example.com")
	carol   = workflow.User("carol@example.com")
	dave    = workflow.User("dave@example.com")
	erin    = workflow.User("erin@example.com")
	frank   = workflow.User("frank@example.com")
	root    = workflow.User("root@example.com")
	nobody  = workflow.User("nobody@example.com")
	ann     = workflow.User("ann@example.com") // a reviewer
	checker = workflow.ServiceAccount("helpdesk", workflow.ScopeCheck)
)

// clock is a settable clock for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustPolicy(t testing.TB) *workflow.Policy {
	t.Helper()
	p, err := workflow.ParsePolicy("test.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatalf("test policy: %v", err)
	}
	return p
}

func newService(t testing.TB, db *store.DB, c *clock) *workflow.Service {
	t.Helper()
	return workflow.NewService(db, mustPolicy(t), workflow.Options{Now: c.Now, ReviewTimeout: 24 * time.Hour})
}

func submit(t testing.TB, svc *workflow.Service, who workflow.Principal, resource string, d time.Duration) *workflow.Request {
	t.Helper()
	r, err := svc.Submit(context.Background(), who, workflow.SubmitInput{Resource: resource, Duration: d, Reason: "case 1234: customer cannot pay"})
	if err != nil {
		t.Fatalf("submit %s by %s: %v", resource, who.Email, err)
	}
	return r
}

func wantCode(t testing.TB, err error, code workflow.Code) {
	t.Helper()
	if got := workflow.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func auditActions(t testing.TB, db *store.DB, requestID string) []string {
	t.Helper()
	recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{RequestID: requestID, Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Action + ":" + string(r.FromState) + ">" + string(r.ToState)
	}
	return out
}

// stepped is p signed in to the web UI with a passkey proved just now
// (on svc's clock), as an action under require_mfa needs.
func stepped(svc *workflow.Service, p workflow.Principal) workflow.Principal {
	p.Auth, p.MFA, p.MFAAt = workflow.AuthSession, workflow.MFAWebAuthn, svc.Clock()()
	return p
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
