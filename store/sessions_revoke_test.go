package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestSessionGroupsAtAndRevoke: a session records when its claim groups
// were read; jitaccess can end a person's sessions with its own reason.
func TestSessionGroupsAtAndRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		secret, s, err := db.CreateSession(ctx, identity.NewSession{Email: "bob@example.com", Groups: []string{"managers"},
			Method: identity.SessionOIDC, TTL: time.Hour}, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.LookupSession(ctx, secret, now.Add(time.Minute), time.Hour)
		if err != nil || !got.GroupsAt.Equal(now) || !s.GroupsAt.Equal(now) {
			t.Fatalf("groups_at: %v %s %s", err, got.GroupsAt, s.GroupsAt)
		}
		for _, tc := range []struct {
			email string
			n     int
		}{{"alice@example.com", 0}, {"BOB@example.com", 1}, {"bob@example.com", 0}} {
			n, err := db.RevokeSessions(ctx, tc.email, "system", "bob@example.com is deactivated in the directory", now)
			if err != nil || n != tc.n {
				t.Fatalf("revoke %s: %d %v", tc.email, n, err)
			}
		}
		if _, err := db.LookupSession(ctx, secret, now, time.Hour); workflow.ErrorCode(err) != workflow.CodeUnauthenticated {
			t.Fatalf("revoked session: %v", err)
		}
		recs := auditOf(t, db, identity.ActionSessionRevoke)
		if len(recs) != 1 || recs[0].Actor != "system" || recs[0].Reason != "signed out of 1 session(s): bob@example.com is deactivated in the directory" {
			t.Fatalf("audit %+v", recs)
		}
	})
}
