package identity_test

import (
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestSessionMFA: how a session proved a second factor, and when: a
// passkey check, or an OIDC sign-in whose amr names a strong method at its
// auth_time; the later of the two. A weak amr, a missing auth_time, or a
// demo session's amr prove nothing.
func TestSessionMFA(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		s    identity.Session
		how  string
		at   time.Time
	}{
		{"nothing", identity.Session{Method: identity.SessionOIDC}, workflow.MFANone, time.Time{}},
		{"password only", identity.Session{Method: identity.SessionOIDC, AMR: []string{"pwd"}, AuthTime: t0}, workflow.MFANone, time.Time{}},
		{"mfa", identity.Session{Method: identity.SessionOIDC, AMR: []string{"pwd", "mfa"}, AuthTime: t0}, workflow.MFAOIDC, t0},
		{"hardware key, upper case", identity.Session{Method: identity.SessionOIDC, AMR: []string{"HWK"}, AuthTime: t0}, workflow.MFAOIDC, t0},
		{"otp without auth_time", identity.Session{Method: identity.SessionOIDC, AMR: []string{"otp"}}, workflow.MFANone, time.Time{}},
		{"a demo session's amr", identity.Session{Method: identity.SessionDemo, AMR: []string{"mfa"}, AuthTime: t0}, workflow.MFANone, time.Time{}},
		{"passkey", identity.Session{Method: identity.SessionDemo, MFAAt: t0}, workflow.MFAWebAuthn, t0},
		{"passkey after the sign-in", identity.Session{Method: identity.SessionOIDC, AMR: []string{"mfa"}, AuthTime: t0, MFAAt: t0.Add(time.Minute)}, workflow.MFAWebAuthn, t0.Add(time.Minute)},
		{"sign-in after the passkey", identity.Session{Method: identity.SessionOIDC, AMR: []string{"swk"}, AuthTime: t0.Add(time.Minute), MFAAt: t0}, workflow.MFAOIDC, t0.Add(time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.s.Email = "carol@example.com"
			how, at := tc.s.MFA()
			if how != tc.how || !at.Equal(tc.at) {
				t.Fatalf("MFA() = %s %s, want %s %s", how, at, tc.how, tc.at)
			}
			p := tc.s.Principal()
			if p.Auth != workflow.AuthSession || p.MFA != tc.how || !p.MFAAt.Equal(tc.at) {
				t.Fatalf("principal %+v", p)
			}
		})
	}
	tok := identity.Token{Kind: identity.TokenUser, Subject: "carol@example.com"}
	if p := tok.Principal(); p.Auth != workflow.AuthToken || p.MFA != workflow.MFANone {
		t.Fatalf("a token's principal %+v", p)
	}
}
