package workflow_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

const patternPolicy = `
sensitive_patterns:
  - name: national_id
    regex: '\b\d{3}-\d{2}-\d{4}\b'
    mask: '[national id]'
`

func maskingService(t testing.TB, db *store.DB, c *clock) *workflow.Service {
	t.Helper()
	p, err := workflow.ParsePolicy("test.yaml", []byte(testPolicy+patternPolicy))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return workflow.NewService(db, p, workflow.Options{Now: c.Now, ReviewTimeout: 24 * time.Hour})
}

func auditText(t testing.TB, db *store.DB, id string) string {
	t.Helper()
	recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{RequestID: id, Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.Reason + "\n")
	}
	return b.String()
}

func TestFreeTextMaskedBeforeStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		svc := maskingService(t, db, c)

		reason := "customer card 4111 1111 1111 1111 and IBAN DE89 3704 0044 0532 0130 00, order 4111111111111112, id 123-45-6789"
		req, err := svc.Submit(ctx, alice, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: reason, Ticket: "see https://pay.example/c/5555555555554444"})
		if err != nil {
			t.Fatal(err)
		}
		wantReason := "customer card [card ending 1111] and IBAN [IBAN DE… 3000], order 4111111111111112, id [national id]"
		wantNotices := []string{"a card number in your reason was masked", "an IBAN in your reason was masked",
			"a national_id in your reason was masked", "a card number in your ticket was masked"}
		if req.Reason != wantReason || !slices.Equal(req.Notices, wantNotices) {
			t.Fatalf("returned reason %q, notices %q", req.Reason, req.Notices)
		}
		stored, err := db.GetRequest(ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Reason != wantReason || stored.Ticket != "see https://pay.example/c/[card ending 4444]" || stored.Notices != nil {
			t.Fatalf("stored reason %q ticket %q notices %q", stored.Reason, stored.Ticket, stored.Notices)
		}

		// Comments, deny reasons and revoke reasons are masked too.
		if _, err := svc.Approve(ctx, carol, req.ID, "ok, card 5555-5555-5555-4444 checked"); err != nil {
			t.Fatal(err)
		}
		denied, err := svc.Deny(ctx, dave, req.ID, "do not paste IBAN GB82WEST12345698765432 here")
		if err != nil {
			t.Fatal(err)
		}
		if denied.EndReason != "do not paste IBAN [IBAN GB… 5432] here" || !slices.Equal(denied.Notices, []string{"an IBAN in your reason was masked"}) {
			t.Fatalf("deny: %q %q", denied.EndReason, denied.Notices)
		}
		stored, err = db.GetRequest(ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.EndReason != denied.EndReason || stored.Approvals[0].Comment != "ok, card [card ending 4444] checked" {
			t.Fatalf("stored end reason %q, comment %q", stored.EndReason, stored.Approvals[0].Comment)
		}

		audit := auditText(t, db, req.ID)
		for _, clear := range []string{"4111 1111 1111 1111", "DE89", "123-45-6789", "5555-5555", "GB82WEST", "5555555555554444"} {
			if strings.Contains(audit, clear) {
				t.Errorf("audit holds %q in clear:\n%s", clear, audit)
			}
		}
		if !strings.Contains(audit, "order 4111111111111112") || !strings.Contains(audit, "[card ending 1111]") {
			t.Errorf("audit lost the order number or the mask:\n%s", audit)
		}

		// Nothing to mask: no notices.
		plain, err := svc.Submit(ctx, bob, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "ticket 4711"})
		if err != nil {
			t.Fatal(err)
		}
		if plain.Reason != "ticket 4711" || plain.Notices != nil {
			t.Fatalf("plain: %q %q", plain.Reason, plain.Notices)
		}
		rev, err := svc.Cancel(ctx, bob, plain.ID, "dup of 4222222222222")
		if err != nil {
			t.Fatal(err)
		}
		if rev.EndReason != "dup of [card ending 2222]" || len(rev.Notices) != 1 {
			t.Fatalf("cancel: %q %q", rev.EndReason, rev.Notices)
		}
	})
}

func TestSensitivePatternsPolicyErrors(t *testing.T) {
	const rest = "groups:\n  g: [a@example.com]\nresources:\n  - id: r\n    tier: low\n    max_duration: 1h\n    requesters: [g]\n    auto_approve: true\n"
	for _, tc := range []struct{ yaml, want string }{
		{"sensitive_patterns:\n  - name: bad\n    regex: '('\n    mask: x\n", "p.yaml:3: sensitive pattern \"bad\": regex \"(\" does not compile"},
		{"sensitive_patterns:\n  - name: empty\n    regex: '\\d*'\n", "p.yaml:3: sensitive pattern \"empty\": regex \"\\\\d*\" can match the empty string"},
		{"sensitive_patterns:\n  - name: alt\n    mask: x\n    regex: 'a|'\n", "p.yaml:4: sensitive pattern \"alt\": regex \"a|\" can match the empty string"},
		{"sensitive_patterns:\n  - name: wb\n    regex: '\\b'\n", "p.yaml:3: sensitive pattern \"wb\": regex \"\\\\b\" can match the empty string"},
		{"sensitive_patterns:\n  - regex: 'x+'\n", "p.yaml:2: a sensitive pattern needs a name"},
		{"sensitive_patterns:\n  - name: n\n", "p.yaml:2: sensitive pattern \"n\" needs a regex"},
		{"sensitive_patterns:\n  - name: n\n    regex: 'x+'\n  - name: n\n    regex: 'y+'\n", "p.yaml:4: sensitive pattern \"n\" defined twice (first at line 2)"},
		{"sensitive_patterns:\n  - name: n\n    regex: 'x+'\n    colour: red\n", "p.yaml:4: unknown key \"colour\" in a sensitive pattern"},
		{"sensitive_patterns: nope\n", "p.yaml:1: sensitive_patterns must be a list"},
	} {
		_, err := workflow.ParsePolicy("p.yaml", []byte(tc.yaml+rest))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	p, err := workflow.ParsePolicy("p.yaml", []byte(testPolicy+patternPolicy))
	if err != nil || len(p.SensitivePatterns) != 1 || p.SensitivePatterns[0].Name != "national_id" {
		t.Fatalf("good pattern: %v %+v", err, p)
	}
}
