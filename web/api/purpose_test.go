package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/audit"
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

func newPurposeAPIEnv(t *testing.T, db *store.DB) *apiEnv {
	t.Helper()
	e := newOversightEnv(t, db)
	pol, err := workflow.ParsePolicy("purpose.yaml", []byte(purposeAPIPolicy))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetPolicy(pol)
	return e
}

func TestAPIPurposeAndTicket(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newPurposeAPIEnv(t, db)
		for _, tc := range []struct {
			name            string
			purpose, ticket string
			status          int
			want            string
		}{
			{"no purpose", "", "SUP-1", 422, "a purpose is required for crm-payments: one of refund, chargeback"},
			{"unknown purpose", "curiosity", "SUP-1", 422, `unknown purpose "curiosity" for crm-payments; allowed: refund, chargeback`},
			{"no ticket", "refund", "", 422, "a ticket is required for crm-payments, matching ^SUP-[0-9]+$"},
			{"ticket mismatch", "refund", "INC-9", 422, `does not match the pattern ^SUP-[0-9]+$`},
			{"ok", "refund", "SUP-9", 201, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.call(t, "POST", "/api/v1/requests", "alice", map[string]string{"resource": "crm-payments", "duration": "1h",
					"reason": "case 9", "purpose": tc.purpose, "ticket": tc.ticket})
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
				}
				if tc.status != 201 {
					if r.errCode() != string(workflow.CodePolicy) || !strings.Contains(r.errMessage(), tc.want) {
						t.Fatalf("error %s %q, want %s containing %q", r.errCode(), r.errMessage(), workflow.CodePolicy, tc.want)
					}
					return
				}
				if r.str("purpose") != "refund" {
					t.Fatalf("created request: %s", r.raw)
				}
				got := e.call(t, "GET", "/api/v1/requests/"+r.str("id"), "carol", nil)
				if got.str("purpose") != "refund" {
					t.Fatalf("approver's view: %s", got.raw)
				}
			})
		}
		cat := e.call(t, "GET", "/api/v1/resources", "alice", nil)
		if !strings.Contains(cat.raw, `"purposes":["refund","chargeback"]`) || !strings.Contains(cat.raw, `"classification":"restricted"`) ||
			!strings.Contains(cat.raw, `"ticket_pattern":"^SUP-[0-9]+$"`) {
			t.Fatalf("catalog: %s", cat.raw)
		}

		// The purpose is its own field of the submit record, in the API
		// and in both export formats, and the export still verifies.
		a := e.call(t, "GET", "/api/v1/audit?action=submit", "root", nil)
		if !strings.Contains(a.raw, `"purpose":"refund"`) {
			t.Fatalf("audit: %s", a.raw)
		}
		for _, format := range []string{"jsonl", "csv"} {
			status, _, body := e.get(t, "/api/v1/audit/export?format="+format, "ann")
			if status != 200 {
				t.Fatalf("%s export: %d", format, status)
			}
			var purposes []string
			err := audit.ReadExport(strings.NewReader(body), func(r *audit.Record) error {
				if r.Action == string(workflow.EventSubmit) {
					purposes = append(purposes, r.Purpose)
				}
				return nil
			})
			if err != nil || len(purposes) != 1 || purposes[0] != "refund" {
				t.Fatalf("%s export: submit purposes %q, %v\n%s", format, purposes, err, body)
			}
			if res, err := audit.VerifyExport(strings.NewReader(body), false, nil); err != nil || !res.OK {
				t.Fatalf("%s export does not verify: %+v %v", format, res, err)
			}
		}
	})
}

func TestAPIApproverCommentRequired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newPurposeAPIEnv(t, db)
		id := e.create(t, "alice", "crm-notes", "1h")
		for _, body := range []any{nil, map[string]string{"comment": "  "}} {
			r := e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "carol", body)
			if r.status != http.StatusUnprocessableEntity || r.errCode() != string(workflow.CodePolicy) ||
				!strings.Contains(r.errMessage(), "a comment is required to approve a request for crm-notes") {
				t.Fatalf("approve without a comment (%v): %d %s", body, r.status, r.raw)
			}
		}
		r := e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "carol", map[string]string{"comment": "checked the case"})
		if r.status != http.StatusOK || r.str("state") != "approved" {
			t.Fatalf("approve with a comment: %d %s", r.status, r.raw)
		}
	})
}
