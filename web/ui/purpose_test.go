package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// purposeAPIPolicy is apiPolicy with a reviewer, purposes and a ticket
// rule on crm-payments, and a comment-required tier for crm-notes.
const purposeAPIPolicy = `
admins: [root@example.com]
reviewers: [auditors]
groups:
  auditors: [ann@example.com]
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
tiers:
  medium: {approver_comment_required: true}
resources:
  - id: crm-payments
    name: Payment details
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    classification: {level: restricted, categories: [payment]}
    purposes: [refund, chargeback]
    ticket_required: true
    ticket_pattern: '^SUP-[0-9]+$'
  - id: crm-notes
    tier: medium
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
`

func TestUIPurposeAndApproverComment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		e.svc.SetPolicy(mustParse(t, purposeAPIPolicy))
		alice := e.signIn(t, "alice@example.com")

		form := alice.get(t, "/requests/new?resource=crm-payments")
		for _, want := range []string{`<select id="purpose" name="purpose" required>`, `<option value="refund">refund</option>`, `<option value="chargeback">chargeback</option>`, "matching"} {
			if !strings.Contains(form.body, want) {
				t.Fatalf("request form lacks %q", want)
			}
		}
		sent := url.Values{"resource": {"crm-payments"}, "duration": {"1h"}, "reason": {"case 9"}, "ticket": {"SUP-9"}}
		p := alice.post(t, "/requests", sent)
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "A purpose is required for crm-payments: one of refund, chargeback") {
			t.Fatalf("no purpose: %d %s", p.status, excerpt(p.body))
		}
		sent.Set("purpose", "chargeback")
		p = alice.post(t, "/requests", sent)
		if p.status != http.StatusSeeOther {
			t.Fatalf("with a purpose: %d %s", p.status, excerpt(p.body))
		}
		carol := e.signIn(t, "carol@example.com")
		detail := carol.get(t, p.location)
		if !strings.Contains(detail.body, `<dd id="fact-purpose">chargeback</dd>`) {
			t.Fatalf("approver's page lacks the purpose: %s", excerpt(detail.body))
		}

		// Admins see the rules on the policy page.
		pp := e.signIn(t, "root@example.com").get(t, "/policy")
		for _, want := range []string{"classification restricted", "categories: payment", "purposes: refund, chargeback", "ticket required, matching", "approvals need a comment"} {
			if !strings.Contains(pp.body, want) {
				t.Fatalf("policy page lacks %q", want)
			}
		}
		notes := e.submit(t, workflow.User("alice@example.com"), "crm-notes", time.Hour)
		// The decisions page offers no one-click approval where a comment is required.
		if dec := carol.get(t, "/decisions"); !strings.Contains(dec.body, `id="req-`+notes.ID+`"`) || strings.Contains(dec.body, `action="/requests/`+notes.ID+`/approve"`) {
			t.Fatalf("decisions page: %s", excerpt(dec.body))
		}
		page := carol.get(t, "/requests/"+notes.ID)
		if !strings.Contains(page.body, "(required for this resource)") || !strings.Contains(page.body, `name="comment" maxlength="1000" required`) {
			t.Fatalf("approve form does not require a comment: %s", excerpt(page.body))
		}
		p = carol.post(t, "/requests/"+notes.ID+"/approve", url.Values{"comment": {""}})
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "comment is required to approve a request for crm-notes") {
			t.Fatalf("approve without a comment: %d %s", p.status, excerpt(p.body))
		}
		if st, n := e.state(t, notes.ID); st != workflow.StatePending || n != 0 {
			t.Fatalf("after the refused approval: %s, %d approvals", st, n)
		}
		p = carol.post(t, "/requests/"+notes.ID+"/approve", url.Values{"comment": {"checked"}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("approve with a comment: %d %s", p.status, excerpt(p.body))
		}
		if st, _ := e.state(t, notes.ID); st != workflow.StateApproved {
			t.Fatalf("after the approval: %s", st)
		}
	})
}
