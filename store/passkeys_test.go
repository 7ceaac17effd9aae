package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestPasskeysAndCeremonies: passkeys are one person's (another cannot
// rename or remove them), unique, at most MaxPasskeys; a verified check
// stamps the session's step-up time; and a ceremony in flight is taken
// once, however many requests race for it (real goroutines, a real
// database).
func TestPasskeysAndCeremonies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		secret, s, err := db.CreateSession(ctx, identity.NewSession{Email: "carol@example.com", Method: identity.SessionDemo, TTL: time.Hour}, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pk := identity.Passkey{ID: "cred-1", Email: "Carol@Example.com", Name: "laptop", PublicKey: "pk", SignCount: 3, Credential: []byte(`{"id":"x"}`)}
		if err := db.AddPasskey(ctx, pk, now); err != nil {
			t.Fatal(err)
		}
		if err := db.AddPasskey(ctx, pk, now); workflow.ErrorCode(err) != workflow.CodeConflict {
			t.Fatalf("the same credential twice: %v", err)
		}
		for i := 2; i <= identity.MaxPasskeys; i++ {
			if err := db.AddPasskey(ctx, identity.Passkey{ID: fmt.Sprintf("cred-%d", i), Email: "carol@example.com", Name: "k", PublicKey: "pk", Credential: []byte("{}")}, now); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.AddPasskey(ctx, identity.Passkey{ID: "one-too-many", Email: "carol@example.com", Name: "k", PublicKey: "pk", Credential: []byte("{}")}, now); workflow.ErrorCode(err) != workflow.CodeInvalidState {
			t.Fatalf("past the limit: %v", err)
		}
		if err := db.RemovePasskey(ctx, "dave@example.com", "cred-1", now); workflow.ErrorCode(err) != workflow.CodeNotFound {
			t.Fatalf("dave removes carol's: %v", err)
		}
		if err := db.RenamePasskey(ctx, "dave@example.com", "cred-1", "mine", now); workflow.ErrorCode(err) != workflow.CodeNotFound {
			t.Fatalf("dave renames carol's: %v", err)
		}
		keys, err := db.Passkeys(ctx, "carol@example.com")
		if err != nil || len(keys) != identity.MaxPasskeys || keys[0].ID != "cred-1" || keys[0].SignCount != 3 || string(keys[0].Credential) != `{"id":"x"}` {
			t.Fatalf("passkeys %+v %v", keys, err)
		}

		later := now.Add(time.Minute)
		pk.SignCount, pk.Credential = 4, []byte(`{"id":"y"}`)
		if err := db.UsePasskey(ctx, s.ID, pk, later); err != nil {
			t.Fatal(err)
		}
		got, err := db.LookupSession(ctx, secret, later, time.Hour)
		if err != nil || !got.MFAAt.Equal(later) {
			t.Fatalf("session after a check: %+v %v", got, err)
		}
		if how, at := got.MFA(); how != workflow.MFAWebAuthn || !at.Equal(later) {
			t.Fatalf("MFA() = %s %s", how, at)
		}
		if keys, _ := db.Passkeys(ctx, "carol@example.com"); keys[0].SignCount != 4 || keys[0].LastUsedAt == nil {
			t.Fatalf("after use: %+v", keys[0])
		}

		for round := range 3 {
			if err := db.SetCeremony(ctx, s.ID, identity.Ceremony{Kind: identity.CeremonyStepUp, Data: []byte(fmt.Sprintf(`{"challenge":"c%d"}`, round))}); err != nil {
				t.Fatal(err)
			}
			var took atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, ok, err := db.TakeCeremony(ctx, s.ID)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						took.Add(1)
						if c.Kind != identity.CeremonyStepUp || string(c.Data) != fmt.Sprintf(`{"challenge":"c%d"}`, round) {
							t.Errorf("took %+v", c)
						}
					}
				}()
			}
			wg.Wait()
			if n := took.Load(); n != 1 {
				t.Fatalf("round %d: %d requests took one ceremony", round, n)
			}
		}
		if _, ok, err := db.TakeCeremony(ctx, "00000000-0000-0000-0000-000000000000"); ok || err != nil {
			t.Fatalf("an unknown session: %v %v", ok, err)
		}
	})
}
