package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func newTok(t *testing.T, db *store.DB, description string) identity.Token {
	t.Helper()
	_, tok, err := db.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com",
		Description: description, Actor: "test"}, workflow.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRevokedTokens: the token cache's poll names the revoked, unknown
// and malformed ids among those asked, and not the live ones.
func TestRevokedTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		live, revoked := newTok(t, db, ""), newTok(t, db, "")
		if err := db.RevokeToken(ctx, revoked.ID, "test", workflow.Now()); err != nil {
			t.Fatal(err)
		}
		unknown := uuid.NewString()
		got, err := db.RevokedTokens(ctx, []string{live.ID, revoked.ID, unknown, "not-an-id"})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		want := []string{revoked.ID, unknown, "not-an-id"}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("revoked among them: %v, want %v", got, want)
		}
		// More ids than one query takes.
		many := []string{live.ID}
		for range 1200 {
			many = append(many, uuid.NewString())
		}
		got, err = db.RevokedTokens(ctx, many)
		if err != nil || len(got) != 1200 || slices.Contains(got, live.ID) {
			t.Fatalf("%d of 1201 (%v), the live one among them: %v", len(got), err, slices.Contains(got, live.ID))
		}
	})
}

// TestRevokeTokenTellsCaches: the hooks of this process run after the
// commit with the ids revoked, and not for a refused revoke.
func TestRevokeTokenTellsCaches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var told [][]string
		db.OnTokensRevoked(func(ids []string) { told = append(told, slices.Sorted(slices.Values(ids))) })
		a, b, c := newTok(t, db, ""), newTok(t, db, "demo"), newTok(t, db, "demo")
		if err := db.RevokeToken(ctx, a.ID, "test", workflow.Now()); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeToken(ctx, a.ID, "test", workflow.Now()); workflow.ErrorCode(err) != workflow.CodeInvalidState {
			t.Fatalf("second revoke: %v", err)
		}
		if err := db.RevokeTokensByDescription(ctx, "demo", workflow.Now()); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeTokensByDescription(ctx, "demo", workflow.Now()); err != nil { // none left: nothing to tell
			t.Fatal(err)
		}
		want := [][]string{{a.ID}, slices.Sorted(slices.Values([]string{b.ID, c.ID}))}
		if !slices.EqualFunc(told, want, slices.Equal[[]string]) {
			t.Fatalf("told %v, want %v", told, want)
		}
	})
}

// TestRevokeTokenNotifies: on PostgreSQL the revoke's transaction sends a
// token notice on access.ChangesChannel, which the other replicas'
// listeners get on commit.
func TestRevokeTokenNotifies(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	db := storetest.OpenURL(t, u)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+access.ChangesChannel); err != nil {
		t.Fatal(err)
	}
	a, b := newTok(t, db, ""), newTok(t, db, "demo")
	if err := db.RevokeToken(ctx, a.ID, "test", workflow.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeTokensByDescription(ctx, "demo", workflow.Now()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a.ID, b.ID} {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatal(err)
		}
		notice, err := access.ParseNotice(n.Payload)
		if err != nil || notice.Kind != access.NoticeToken || notice.Token != id {
			t.Fatalf("notice %q (%v), want a token notice for %s", n.Payload, err, id)
		}
	}
}
