package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func auditOf(t *testing.T, db *store.DB, action string) []*workflow.AuditRecord {
	t.Helper()
	recs, _, err := db.ListAudit(context.Background(), workflow.AuditQuery{Action: action, Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		idle := time.Hour
		secret, s, err := db.CreateSession(ctx, identity.NewSession{Email: " Carol@Example.com ", Groups: []string{"managers", "oncall"},
			AMR: []string{"pwd", "otp"}, ACR: "urn:mfa", Method: identity.SessionOIDC, ClientIP: "192.0.2.7", UserAgent: "test", TTL: 8 * time.Hour}, now, idle)
		if err != nil {
			t.Fatal(err)
		}
		if len(secret) < 40 || s.Email != "carol@example.com" || s.CSRFToken == "" || !s.ExpiresAt.Equal(now.Add(8*time.Hour)) {
			t.Fatalf("created %+v (secret %q)", s, secret)
		}
		got, err := db.LookupSession(ctx, secret, now.Add(time.Minute), idle)
		if err != nil {
			t.Fatal(err)
		}
		p := got.Principal()
		if p.Email != "carol@example.com" || !slices.Equal(p.Groups, []string{"managers", "oncall"}) || !slices.Equal(p.AMR, []string{"pwd", "otp"}) ||
			p.ACR != "urn:mfa" || got.CSRFToken != s.CSRFToken || got.ID != s.ID {
			t.Fatalf("looked up %+v", got)
		}
		if recs := auditOf(t, db, identity.ActionSignIn); len(recs) != 1 || recs[0].Subject != "carol@example.com" ||
			recs[0].Reason != "oidc sign-in (amr pwd,otp) (acr urn:mfa) from 192.0.2.7" {
			t.Fatalf("sign-in audit: %+v", recs)
		}
		for _, bad := range []string{"", "nope", secret + "x", secret[:len(secret)-1]} {
			if _, err := db.LookupSession(ctx, bad, now, idle); workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
				t.Errorf("lookup %q: %v", bad, err)
			}
		}

		// Idle: used within the hour it lives on; unused for an hour it ends.
		if err := db.TouchSession(ctx, s.ID, now.Add(50*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.LookupSession(ctx, secret, now.Add(100*time.Minute), idle); err != nil {
			t.Fatalf("touched session ended early: %v", err)
		}
		if _, err := db.LookupSession(ctx, secret, now.Add(110*time.Minute), idle); workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
			t.Fatalf("idle session still works: %v", err)
		}
		// ... and is gone for good, even if time went back.
		if _, err := db.LookupSession(ctx, secret, now, idle); workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
			t.Fatalf("expired session came back: %v", err)
		}

		// Absolute: however busy, the session ends at its expiry.
		secret2, s2, err := db.CreateSession(ctx, identity.NewSession{Email: "dave@example.com", Method: identity.SessionDemo, TTL: 2 * time.Hour}, now, idle)
		if err != nil {
			t.Fatal(err)
		}
		for m := 30; m < 120; m += 30 {
			if err := db.TouchSession(ctx, s2.ID, now.Add(time.Duration(m)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.LookupSession(ctx, secret2, now.Add(119*time.Minute), idle); err != nil {
			t.Fatalf("busy session ended early: %v", err)
		}
		if _, err := db.LookupSession(ctx, secret2, now.Add(2*time.Hour), idle); workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
			t.Fatalf("session outlived its absolute expiry: %v", err)
		}

		// Sign-out, and an admin signing someone out everywhere.
		a, _, _ := db.CreateSession(ctx, identity.NewSession{Email: "erin@example.com", Method: identity.SessionDemo, TTL: time.Hour}, now, idle)
		b, _, _ := db.CreateSession(ctx, identity.NewSession{Email: "erin@example.com", Method: identity.SessionDemo, TTL: time.Hour}, now, idle)
		c, sc, _ := db.CreateSession(ctx, identity.NewSession{Email: "frank@example.com", Method: identity.SessionDemo, TTL: time.Hour}, now, idle)
		list, _, err := db.ListSessions(ctx, now, idle, 0, "")
		if err != nil || len(list) != 3 {
			t.Fatalf("live sessions: %d %v", len(list), err)
		}
		if err := db.EndSession(ctx, sc, now); err != nil {
			t.Fatal(err)
		}
		if err := db.EndSession(ctx, sc, now); err != nil {
			t.Fatalf("ending an ended session: %v", err)
		}
		if _, err := db.LookupSession(ctx, c, now, idle); workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
			t.Fatalf("signed-out session works: %v", err)
		}
		n, err := db.EndSessionsOf(ctx, "Erin@example.com", "root@example.com", now)
		if err != nil || n != 2 {
			t.Fatalf("end erin's sessions: %d %v", n, err)
		}
		for _, sec := range []string{a, b} {
			if _, err := db.LookupSession(ctx, sec, now, idle); workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
				t.Fatalf("erin is still signed in: %v", err)
			}
		}
		if n, err := db.EndSessionsOf(ctx, "erin@example.com", "root@example.com", now); err != nil || n != 0 {
			t.Fatalf("nothing left to end: %d %v", n, err)
		}
		if recs := auditOf(t, db, identity.ActionSignOut); len(recs) != 1 || recs[0].Actor != "frank@example.com" {
			t.Fatalf("sign-out audit: %+v", recs)
		}
		if recs := auditOf(t, db, identity.ActionSessionRevoke); len(recs) != 1 || recs[0].Actor != "root@example.com" || recs[0].Subject != "erin@example.com" {
			t.Fatalf("revoke audit: %+v", recs)
		}

		// Creating a session clears out expired ones nobody looked up.
		if _, _, err := db.CreateSession(ctx, identity.NewSession{Email: "henry@example.com", Method: identity.SessionDemo, TTL: time.Hour}, now, idle); err != nil {
			t.Fatal(err)
		}
		var before int64
		if err := db.Gorm().Table("web_sessions").Count(&before).Error; err != nil || before != 1 {
			t.Fatalf("sessions before purge: %d %v", before, err)
		}
		if _, _, err := db.CreateSession(ctx, identity.NewSession{Email: "grace@example.com", Method: identity.SessionDemo, TTL: time.Hour}, now.Add(3*time.Hour), idle); err != nil {
			t.Fatal(err)
		}
		var rows int64
		if err := db.Gorm().Table("web_sessions").Count(&rows).Error; err != nil || rows != 1 {
			t.Fatalf("sessions left after purge: %d %v", rows, err)
		}

		// Bad input.
		for _, ns := range []identity.NewSession{
			{Email: "not-an-email", Method: identity.SessionDemo, TTL: time.Hour},
			{Email: "a@example.com", Method: "password", TTL: time.Hour},
			{Email: "a@example.com", Method: identity.SessionDemo},
		} {
			if _, _, err := db.CreateSession(ctx, ns, now, idle); workflow.ErrorCode(err) != workflow.CodeInvalid {
				t.Errorf("create %+v: %v", ns, err)
			}
		}
		if err := db.TouchSession(ctx, "not-a-uuid", now); err != nil {
			t.Errorf("touch with a malformed id: %v", err)
		}
	})
}

func TestLoginFlowsAreSingleUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		flow := identity.LoginFlow{State: "s", Nonce: "n", PKCEVerifier: "v", ReturnTo: "/decisions", ExpiresAt: now.Add(10 * time.Minute)}
		secret, err := db.StartLoginFlow(ctx, flow, now)
		if err != nil {
			t.Fatal(err)
		}
		// Many callbacks at once: exactly one gets the flow.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []identity.LoginFlow
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, err := db.TakeLoginFlow(ctx, secret, now.Add(time.Minute))
				if err == nil {
					mu.Lock()
					won = append(won, f)
					mu.Unlock()
				} else if workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
					t.Errorf("take: %v", err)
				}
			}()
		}
		wg.Wait()
		if len(won) != 1 || won[0].State != "s" || won[0].Nonce != "n" || won[0].PKCEVerifier != "v" || won[0].ReturnTo != "/decisions" {
			t.Fatalf("winners: %+v", won)
		}
		// An expired flow is refused (and gone).
		old, err := db.StartLoginFlow(ctx, flow, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.TakeLoginFlow(ctx, old, now.Add(10*time.Minute)); workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
			t.Fatalf("expired flow: %v", err)
		}
		for _, bad := range []string{"", "unknown"} {
			if _, err := db.TakeLoginFlow(ctx, bad, now); workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
				t.Fatalf("take %q: %v", bad, err)
			}
		}
	})
}
