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

// mfaTestPolicy: vault is critical (require_mfa defaults to [approve]);
// payments is high, whose tier asks for [approve, revoke]; notes turns it
// on for requests; legacy is critical with it off.
const mfaTestPolicy = `
admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
tiers:
  high: {require_mfa: [approve, revoke]}
resources:
  - id: vault
    tier: critical
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
  - id: payments
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
  - id: notes
    tier: medium
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    require_mfa: [request, deny, break_glass]
  - id: legacy
    tier: critical
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    require_mfa: []
`

// TestRequireMFAPolicy: require_mfa per resource and per tier, the
// critical tier's default, and bad values refused at their line and
// column.
func TestRequireMFAPolicy(t *testing.T) {
	pol, err := workflow.ParsePolicy("mfa.yaml", []byte(mfaTestPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string][]string{
		"vault":    {"approve"},
		"payments": {"approve", "revoke"},
		"notes":    {"request", "deny", "break_glass"},
		"legacy":   {},
	} {
		r, _ := pol.Resource(id)
		if !slices.Equal(r.RequireMFA, want) {
			t.Errorf("%s: require_mfa %v, want %v", id, r.RequireMFA, want)
		}
	}
	if !pol.RequiresMFA("vault", workflow.MFAApprove) || pol.RequiresMFA("vault", workflow.MFADeny) || pol.RequiresMFA("nope", workflow.MFAApprove) {
		t.Error("RequiresMFA")
	}
	if w := pol.Warnings(); len(w) != 1 || !strings.Contains(w[0], `resource "legacy" (line 25) is critical but has no require_mfa`) {
		t.Errorf("warnings %q", w)
	}
	// A medium resource without the key needs nothing.
	plain := strings.Replace(mfaTestPolicy, "    require_mfa: [request, deny, break_glass]\n", "", 1)
	pol, err = workflow.ParsePolicy("mfa.yaml", []byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := pol.Resource("notes"); len(r.RequireMFA) != 0 {
		t.Errorf("medium default %v", r.RequireMFA)
	}

	for _, tc := range []struct{ name, from, to, want string }{
		{"unknown action", "require_mfa: [request, deny, break_glass]", "require_mfa: [request, aprove]", "mfa.yaml:24:28: unknown action \"aprove\" in require_mfa; use approve, deny, revoke, request, break_glass"},
		{"twice", "require_mfa: [request, deny, break_glass]", "require_mfa: [deny, deny]", "mfa.yaml:24:25: action \"deny\" listed twice in require_mfa"},
		{"not a list", "require_mfa: [request, deny, break_glass]", "require_mfa: approve", "mfa.yaml:24:18: require_mfa must be a list of actions"},
		{"unknown in a tier", "high: {require_mfa: [approve, revoke]}", "high: {require_mfa: [approve, grant]}", "mfa.yaml:7:33: unknown action \"grant\" in tiers.high.require_mfa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflow.ParsePolicy("mfa.yaml", []byte(strings.Replace(mfaTestPolicy, tc.from, tc.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestMFARule: an action that require_mfa names is refused
// (mfa_required) unless the person proved a second factor within
// MFAMaxAge: a passkey in their web session, or an OIDC sign-in with a
// strong amr. Tokens and Slack prove none. A refusal decides nothing and
// is audited as mfa.refused; a decision's record says auth and mfa.
func TestMFARule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		pol, err := workflow.ParsePolicy("mfa.yaml", []byte(mfaTestPolicy))
		if err != nil {
			t.Fatal(err)
		}
		svc := workflow.NewService(db, pol, workflow.Options{Now: c.Now, MFAMaxAge: 5 * time.Minute, WebURL: "https://jit.example.com/"})
		as := func(p workflow.Principal, auth, mfa string, ago time.Duration) workflow.Principal {
			p.Auth, p.MFA = auth, mfa
			if mfa != workflow.MFANone {
				p.MFAAt = c.Now().Add(-ago)
			}
			return p
		}
		req := submit(t, svc, alice, "vault", time.Hour)
		for _, tc := range []struct {
			name string
			who  workflow.Principal
			want string // in the message
		}{
			{"a token", as(carol, workflow.AuthToken, workflow.MFANone, 0), "which an API token cannot prove: do it in the web UI at https://jit.example.com/requests/" + req.ID},
			{"slack", as(carol, workflow.AuthSlack, workflow.MFANone, 0), "which Slack cannot prove"},
			{"a session without MFA", as(carol, workflow.AuthSession, workflow.MFANone, 0), "needs a second factor proved within the last 5m"},
			{"a stale passkey", as(carol, workflow.AuthSession, workflow.MFAWebAuthn, 5*time.Minute+time.Second), "within the last 5m"},
			{"a stale OIDC sign-in", as(carol, workflow.AuthSession, workflow.MFAOIDC, time.Hour), "within the last 5m"},
			{"a passkey from the future", as(carol, workflow.AuthSession, workflow.MFAWebAuthn, -time.Hour), "within the last 5m"},
			{"no way of signing in said", carol, "needs a second factor (require_mfa)"},
		} {
			_, err := svc.Approve(ctx, tc.who, req.ID, "checked")
			wantCode(t, err, workflow.CodeMFARequired)
			if !strings.Contains(workflow.ErrorMessage(err), tc.want) {
				t.Errorf("%s: %q lacks %q", tc.name, workflow.ErrorMessage(err), tc.want)
			}
			// MayDecide says the same before any form is shown.
			wantCode(t, svc.MayDecide(ctx, tc.who, req.ID, workflow.EventApprove), workflow.CodeMFARequired)
		}
		// Someone who may not approve at all is told that, not about MFA.
		_, err = svc.Approve(ctx, as(bob, workflow.AuthToken, workflow.MFANone, 0), req.ID, "checked")
		wantCode(t, err, workflow.CodeNotFound)

		got, err := svc.Get(ctx, root, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Approvals) != 0 {
			t.Fatalf("refusals approved: %+v", got.Approvals)
		}
		refused := 0
		for _, r := range got.History {
			if r.Action == workflow.ActionMFARefused {
				refused++
			}
		}
		if refused != 14 { // 7 approvals and 7 MayDecide
			t.Fatalf("%d mfa.refused records, want 14: %v", refused, auditActions(t, db, req.ID))
		}

		// Fresh: a passkey a minute ago, an OIDC sign-in with amr mfa.
		if _, err := svc.Approve(ctx, as(carol, workflow.AuthSession, workflow.MFAWebAuthn, time.Minute), req.ID, "checked"); err != nil {
			t.Fatal(err)
		}
		r, err := svc.Approve(ctx, as(dave, workflow.AuthSession, workflow.MFAOIDC, 4*time.Minute), req.ID, "checked too")
		if err != nil || r.State != workflow.StateApproved {
			t.Fatalf("second approval: %v %v", r, err)
		}
		recs, _, err := db.ListAudit(ctx, workflow.AuditQuery{RequestID: req.ID, Ascending: true, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, r := range recs {
			if r.Action == string(workflow.EventApprove) || r.Action == string(workflow.EventSubmit) {
				seen = append(seen, r.Action+":"+r.Actor+":"+r.Auth+":"+r.MFA)
			}
		}
		if want := []string{"submit:alice@example.com::", "approve:carol@example.com:session:webauthn", "approve:dave@example.com:session:oidc_amr"}; !slices.Equal(seen, want) {
			t.Fatalf("records %v, want %v", seen, want)
		}

		// Deny is not in vault's require_mfa: a token may.
		other := submit(t, svc, bob, "vault", time.Hour)
		if _, err := svc.Deny(ctx, as(carol, workflow.AuthToken, workflow.MFANone, 0), other.ID, "not for this case"); err != nil {
			t.Fatal(err)
		}

		// payments' tier names revoke: an approver ends access only with
		// MFA, the requester gives it up without.
		pay := submit(t, svc, alice, "payments", time.Hour)
		for _, who := range []workflow.Principal{carol, dave} {
			if _, err := svc.Approve(ctx, stepped(svc, who), pay.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
		_, err = svc.Revoke(ctx, as(erin, workflow.AuthToken, workflow.MFANone, 0), pay.ID, "case closed")
		wantCode(t, err, workflow.CodeMFARequired)
		if _, err := svc.Revoke(ctx, as(alice, workflow.AuthToken, workflow.MFANone, 0), pay.ID, ""); err != nil {
			t.Fatalf("relinquish with a token: %v", err)
		}

		// notes: requests need MFA.
		_, err = svc.Submit(ctx, as(alice, workflow.AuthToken, workflow.MFANone, 0), workflow.SubmitInput{Resource: "notes", Duration: time.Hour, Reason: "case 5"})
		wantCode(t, err, workflow.CodeMFARequired)
		if !strings.Contains(workflow.ErrorMessage(err), "requesting notes needs a second factor") || !strings.Contains(workflow.ErrorMessage(err), "https://jit.example.com/requests/new") {
			t.Errorf("message %q", workflow.ErrorMessage(err))
		}
		if _, err := svc.Submit(ctx, stepped(svc, alice), workflow.SubmitInput{Resource: "notes", Duration: time.Hour, Reason: "case 5"}); err != nil {
			t.Fatal(err)
		}
		// legacy turned it off: a token approves.
		leg := submit(t, svc, bob, "legacy", time.Hour)
		if _, err := svc.Approve(ctx, as(carol, workflow.AuthToken, workflow.MFANone, 0), leg.ID, "ok"); err != nil {
			t.Fatal(err)
		}
		// MFA is judged on the service's clock: a check five minutes old
		// counts, one a moment older does not.
		leg2 := submit(t, svc, bob, "vault", time.Hour)
		p := as(erin, workflow.AuthSession, workflow.MFAWebAuthn, 0)
		c.Advance(5 * time.Minute)
		if _, err := svc.Approve(ctx, p, leg2.ID, "ok"); err != nil {
			t.Fatalf("at exactly the max age: %v", err)
		}
		c.Advance(time.Second)
		_, err = svc.Approve(ctx, as(carol, workflow.AuthSession, workflow.MFAWebAuthn, 5*time.Minute+time.Microsecond), leg2.ID, "ok")
		wantCode(t, err, workflow.CodeMFARequired)
	})
}

// TestRequireMFAInPolicyDiff: turning require_mfa off for an action is a
// lowering (as fewer approvals are: the policy_lowered alert); turning it
// on is a change, not a lowering.
func TestRequireMFAInPolicyDiff(t *testing.T) {
	on, err := workflow.ParsePolicy("mfa.yaml", []byte(mfaTestPolicy))
	if err != nil {
		t.Fatal(err)
	}
	off, err := workflow.ParsePolicy("mfa.yaml", []byte(strings.Replace(mfaTestPolicy, "  high: {require_mfa: [approve, revoke]}", "  high: {require_mfa: [approve]}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	d := workflow.DiffPolicies(workflow.SummarizePolicy(on), workflow.SummarizePolicy(off))
	if !d.Lowered() || len(d.Resources) != 1 || d.Resources[0].ID != "payments" ||
		len(d.Resources[0].Settings) != 1 || d.Resources[0].Settings[0] != (workflow.StringChange{Key: "require_mfa", From: "approve,revoke", To: "approve"}) {
		t.Fatalf("dropping revoke: %+v", d)
	}
	if back := workflow.DiffPolicies(workflow.SummarizePolicy(off), workflow.SummarizePolicy(on)); back.Lowered() || len(back.Resources) != 1 {
		t.Fatalf("adding revoke: %+v", back)
	}
}
