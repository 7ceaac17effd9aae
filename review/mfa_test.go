package review_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestFlagMFARefused: approvals refused for want of a second factor are
// flagged, one flag per approver and request with how many attempts and
// from where; a refused denial, and an approval that went through, are
// not.
func TestFlagMFARefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pol, err := workflow.ParsePolicy("p.yaml", []byte(strings.Replace(policyYAML, "    tier: high\n", "    tier: high\n    require_mfa: [approve, deny]\n", 1)))
		if err != nil {
			t.Fatal(err)
		}
		c := &clock{now: mon}
		wf := workflow.NewService(db, pol, workflow.Options{Now: c.Now})
		rv := review.New(db, wf.Policy, review.Options{Now: c.Now})
		r, err := wf.Submit(ctx, bob, workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "refund INC-7"})
		if err != nil {
			t.Fatal(err)
		}
		slack, token := carol, carol
		slack.Auth, slack.MFA = workflow.AuthSlack, workflow.MFANone
		token.Auth, token.MFA = workflow.AuthToken, workflow.MFANone
		for _, who := range []workflow.Principal{slack, slack, token} {
			c.Add(time.Minute)
			if _, err := wf.Approve(ctx, who, r.ID, "ok"); workflow.ErrorCode(err) != workflow.CodeMFARequired {
				t.Fatalf("approve: %v", err)
			}
		}
		if _, err := wf.Deny(ctx, slack, r.ID, "no"); workflow.ErrorCode(err) != workflow.CodeMFARequired {
			t.Fatalf("deny: %v", err)
		}
		stepped := dave
		stepped.Auth, stepped.MFA, stepped.MFAAt = workflow.AuthSession, workflow.MFAWebAuthn, c.Now()
		if _, err := wf.Approve(ctx, stepped, r.ID, "checked"); err != nil {
			t.Fatal(err)
		}
		flags, err := rv.Flags(ctx, root, review.Scope{Kind: review.ScopeAll}, review.Period{Start: mon.Add(-time.Hour), End: c.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		var got []review.Flag
		for _, f := range flags {
			if f.Kind == review.FlagMFARefused {
				got = append(got, f)
			}
		}
		if len(got) != 1 {
			t.Fatalf("mfa_refused flags: %+v", got)
		}
		f := got[0]
		if f.Person != "carol@example.com" || f.Resource != "crm-payments" || len(f.RequestIDs) != 1 || f.RequestIDs[0] != r.ID ||
			!strings.Contains(f.Reason, "refused 3 times, via slack, token (bob@example.com's request)") || !f.At.Equal(mon.Add(time.Minute)) {
			t.Fatalf("flag %+v", f)
		}
	})
}
