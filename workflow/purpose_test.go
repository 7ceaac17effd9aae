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

// purposePolicy has a classified payment resource with purposes, a
// ticket rule, level defaults and per-tier review settings.
const purposePolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
classification_levels:
  restricted: {min_tier: high, max_duration: 2h}
  confidential: {max_duration: 4h}
tiers:
  medium: {review_timeout: 2h}
  high: {review_timeout: 1h, approver_comment_required: true}
resources:
  - id: payments
    tier: high
    requesters: [agents]
    approvers: [managers]
    classification: {level: restricted, categories: [payment]}
    purposes: [refund, chargeback, fraud-investigation]
    review_timeout: 30m
  - id: tickets
    tier: medium
    max_duration: 8h
    requesters: [agents]
    approvers: [managers]
    ticket_required: true
    ticket_pattern: '^SUP-[0-9]+$'
  - id: notes
    tier: medium
    max_duration: 3h
    requesters: [agents]
    approvers: [managers]
    classification: {level: confidential}
  - id: refunds-only
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    purposes: [refund, chargeback]
    conditions:
      - expr: request.purpose == 'refund' && resource.classification == 'internal' && 'payment' in resource.categories
        message: refunds-only is for refunds
    classification: {level: internal, categories: [payment]}
  - id: critical-quiet
    tier: critical
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    approver_comment_required: false
`

func purposeService(t *testing.T, db *store.DB, c *clock) *workflow.Service {
	t.Helper()
	pol, err := workflow.ParsePolicy("purpose.yaml", []byte(purposePolicy))
	if err != nil {
		t.Fatal(err)
	}
	return workflow.NewService(db, pol, workflow.Options{Now: c.Now, ReviewTimeout: 24 * time.Hour})
}

func TestPolicyLevelAndTierDefaults(t *testing.T) {
	pol, err := workflow.ParsePolicy("purpose.yaml", []byte(purposePolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id              string
		maxDuration     time.Duration
		reviewTimeout   time.Duration
		commentRequired bool
		classification  string
	}{
		{"payments", 2 * time.Hour, 30 * time.Minute, true, "restricted"}, // the level's cap; its own timeout; the tier's comment rule
		{"tickets", 8 * time.Hour, 2 * time.Hour, false, ""},              // the tier's timeout
		{"notes", 3 * time.Hour, 2 * time.Hour, false, "confidential"},    // tighter than the level's 4h
		{"critical-quiet", time.Hour, 0, false, ""},                       // critical, but the resource says no
	} {
		r, ok := pol.Resource(tc.id)
		if !ok {
			t.Fatalf("%s missing", tc.id)
		}
		if r.MaxDuration != tc.maxDuration || r.ReviewTimeout != tc.reviewTimeout || r.ApproverCommentRequired != tc.commentRequired || r.Classification != tc.classification {
			t.Errorf("%s: max %s timeout %s comment %v level %q; want %s %s %v %q", tc.id, r.MaxDuration, r.ReviewTimeout,
				r.ApproverCommentRequired, r.Classification, tc.maxDuration, tc.reviewTimeout, tc.commentRequired, tc.classification)
		}
	}
	// Explain shows the timeout a request would get.
	for id, want := range map[string]string{"payments": "30m", "tickets": "2h", "critical-quiet": "24h"} {
		x, err := workflow.ExplainWith(context.Background(), nil, pol, "alice@example.com", id, time.Now(), 24*time.Hour)
		if err != nil || x.ReviewTimeout != want {
			t.Errorf("explain %s: review timeout %q, %v; want %s", id, x.ReviewTimeout, err, want)
		}
	}
	// Without a tiers key, critical resources want a comment and others do not.
	base := mustPolicy(t)
	for id, want := range map[string]bool{"prod-db": true, "crm-payments": false} {
		if r, _ := base.Resource(id); r.ApproverCommentRequired != want {
			t.Errorf("%s: approver_comment_required = %v, want %v", id, r.ApproverCommentRequired, want)
		}
	}
}

func TestPolicyPurposeAndClassificationErrors(t *testing.T) {
	const head = "groups:\n  agents: [alice@example.com]\n  managers: [carol@example.com, dave@example.com]\n"
	res := func(extra string) string {
		return head + "resources:\n  - id: a\n    tier: medium\n    requesters: [agents]\n    approvers: [managers]\n" + extra
	}
	for _, tc := range []struct {
		name, policy, want string
	}{
		{"bad ticket_pattern", res("    max_duration: 1h\n    ticket_pattern: 'SUP-[0-9'\n"),
			`x.yaml:10:21: ticket_pattern "SUP-[0-9" is not a Go regular expression`},
		{"tier below the level's minimum", "classification_levels:\n  restricted: {min_tier: high}\n" +
			res("    max_duration: 1h\n    classification: {level: restricted}\n"),
			`x.yaml:8:11: resource "a" is tier medium, below the minimum tier high of classification level restricted`},
		{"duration above the level's cap", "classification_levels:\n  restricted: {max_duration: 2h}\n" +
			res("    max_duration: 4h\n    classification: {level: restricted}\n"),
			`x.yaml:11:19: resource "a" has max_duration 4h, longer than the cap of 2h of classification level restricted`},
		{"unknown level", res("    max_duration: 1h\n    classification: {level: secret}\n"),
			`x.yaml:10:29: unknown classification level "secret"`},
		{"level without a max_duration and none of its own", res("    classification: {level: internal}\n"),
			`x.yaml:5: resource "a" has no max_duration`},
		{"unknown level key", "classification_levels:\n  secret: {max_duration: 2h}\n" + res("    max_duration: 1h\n"),
			`x.yaml:2: unknown key "secret" in classification_levels`},
		{"empty purposes", res("    max_duration: 1h\n    purposes: []\n"), `x.yaml:10: purposes is empty`},
		{"repeated purpose", res("    max_duration: 1h\n    purposes: [refund, refund]\n"), `purpose "refund" listed twice`},
		{"bad tier key", "tiers:\n  urgent: {review_timeout: 1h}\n" + res("    max_duration: 1h\n"), `unknown key "urgent" in tiers`},
		{"bad review_timeout", res("    max_duration: 1h\n    review_timeout: soon\n"), `review_timeout "soon" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflow.ParsePolicy("x.yaml", []byte(tc.policy))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}

func TestSubmitPurposeAndTicket(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := purposeService(t, db, newClock())
		for _, tc := range []struct {
			name     string
			in       workflow.SubmitInput
			wantCode workflow.Code
			wantMsg  string
		}{
			{"purpose missing", workflow.SubmitInput{Resource: "payments"}, workflow.CodePolicy, "a purpose is required for payments: one of refund, chargeback, fraud-investigation"},
			{"purpose unknown", workflow.SubmitInput{Resource: "payments", Purpose: "curiosity"}, workflow.CodePolicy, `unknown purpose "curiosity" for payments; allowed: refund, chargeback, fraud-investigation`},
			{"purpose on a resource without purposes", workflow.SubmitInput{Resource: "notes", Purpose: "refund"}, workflow.CodePolicy, "notes takes no purpose"},
			{"level cap applies", workflow.SubmitInput{Resource: "payments", Purpose: "refund", Duration: 3 * time.Hour}, workflow.CodePolicy, "longer than the maximum of 2h"},
			{"ticket missing", workflow.SubmitInput{Resource: "tickets"}, workflow.CodePolicy, "a ticket is required for tickets, matching ^SUP-[0-9]+$"},
			{"ticket mismatch", workflow.SubmitInput{Resource: "tickets", Ticket: "INC-4"}, workflow.CodePolicy, `ticket "INC-4" does not match the pattern ^SUP-[0-9]+$`},
			{"ticket match", workflow.SubmitInput{Resource: "tickets", Ticket: "SUP-4411"}, "", ""},
			{"purpose ok", workflow.SubmitInput{Resource: "payments", Purpose: " refund "}, "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.in.Reason = "case 4411"
				if tc.in.Duration == 0 {
					tc.in.Duration = time.Hour
				}
				who := alice
				if tc.wantCode == "" {
					who = bob // one open request per person and resource
					if tc.in.Resource == "payments" {
						who = alice
					}
				}
				req, err := svc.Submit(ctx, who, tc.in)
				if tc.wantCode != "" {
					if workflow.ErrorCode(err) != tc.wantCode || !strings.Contains(workflow.ErrorMessage(err), tc.wantMsg) {
						t.Fatalf("err = %v, want %s containing %q", err, tc.wantCode, tc.wantMsg)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := db.GetRequest(ctx, req.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Purpose != strings.TrimSpace(tc.in.Purpose) || got.Ticket != tc.in.Ticket {
					t.Fatalf("stored purpose %q ticket %q", got.Purpose, got.Ticket)
				}
				recs, _, err := db.ListAudit(ctx, workflow.AuditQuery{RequestID: req.ID, Action: string(workflow.EventSubmit), Limit: 10})
				if err != nil || len(recs) != 1 {
					t.Fatalf("submit records: %v %v", recs, err)
				}
				if recs[0].Purpose != got.Purpose {
					t.Fatalf("audit purpose %q, want %q", recs[0].Purpose, got.Purpose)
				}
			})
		}
	})
}

func TestPurposeCondition(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := purposeService(t, db, newClock())
		_, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "refunds-only", Purpose: "chargeback", Duration: time.Hour, Reason: "case 1"})
		if workflow.ErrorCode(err) != workflow.CodeForbidden || !strings.Contains(workflow.ErrorMessage(err), "refunds-only is for refunds") {
			t.Fatalf("chargeback: err = %v, want the condition's refusal", err)
		}
		req, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "refunds-only", Purpose: "refund", Duration: time.Hour, Reason: "case 1"})
		if err != nil {
			t.Fatalf("refund: %v", err)
		}
		// The condition is judged again when the approval lands.
		if r, err := svc.Approve(ctx, carol, req.ID, ""); err != nil || r.State != workflow.StateApproved {
			t.Fatalf("approve: %v %v", r, err)
		}
	})
}

func TestReviewTimeoutPerResourceAndTier(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := purposeService(t, db, c)
		submitted := c.Now()
		pay, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "payments", Purpose: "refund", Duration: time.Hour, Reason: "case 1"})
		if err != nil {
			t.Fatal(err)
		}
		tick, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "tickets", Ticket: "SUP-1", Duration: time.Hour, Reason: "case 1"})
		if err != nil {
			t.Fatal(err)
		}
		quiet, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "critical-quiet", Duration: time.Hour, Reason: "case 1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			req  *workflow.Request
			want time.Duration
		}{{pay, 30 * time.Minute}, {tick, 2 * time.Hour}, {quiet, 24 * time.Hour}} {
			if !tc.req.ReviewDeadline.Equal(submitted.Add(tc.want)) {
				t.Errorf("%s: review deadline %s, want %s after submission", tc.req.Resource, tc.req.ReviewDeadline, tc.want)
			}
		}
		for _, step := range []struct {
			advance  time.Duration
			timedOut []string // ids timed out by now
		}{
			{29 * time.Minute, nil},
			{time.Minute, []string{pay.ID}},
			{90*time.Minute - time.Second, []string{pay.ID}},
			{time.Second, []string{pay.ID, tick.ID}},
		} {
			c.Advance(step.advance)
			if _, err := svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			for _, r := range []*workflow.Request{pay, tick, quiet} {
				got, err := db.GetRequest(ctx, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := workflow.StatePending
				for _, id := range step.timedOut {
					if id == r.ID {
						want = workflow.StateTimedOut
					}
				}
				if got.State != want {
					t.Fatalf("%s after %s: state %s, want %s", r.Resource, c.Now().Sub(submitted), got.State, want)
				}
			}
		}
	})
}

func TestApproverCommentRequired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := purposeService(t, db, newClock())
		for _, tc := range []struct {
			resource, purpose string
			required          bool
		}{
			{"payments", "refund", true},  // tier high says so
			{"critical-quiet", "", false}, // critical, but the resource says no
			{"notes", "", false},          // medium: no
		} {
			t.Run(tc.resource, func(t *testing.T) {
				req, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: tc.resource, Purpose: tc.purpose, Duration: time.Hour, Reason: "case 1"})
				if err != nil {
					t.Fatal(err)
				}
				if got := svc.Policy().ApprovalNeedsComment(tc.resource); got != tc.required {
					t.Fatalf("ApprovalNeedsComment = %v", got)
				}
				carol := stepped(svc, carol) // critical ones need MFA to approve
				_, err = svc.Approve(ctx, carol, req.ID, "  ")
				if tc.required {
					if workflow.ErrorCode(err) != workflow.CodePolicy || !strings.Contains(workflow.ErrorMessage(err), "a comment is required") {
						t.Fatalf("approval without a comment: %v", err)
					}
					if _, err := svc.Approve(ctx, carol, req.ID, "checked case 1"); err != nil {
						t.Fatalf("approval with a comment: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("approval without a comment: %v", err)
				}
			})
		}
	})
}
