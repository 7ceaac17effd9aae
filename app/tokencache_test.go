package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// bootTokenCache starts jitaccess on u with an hour of token cache TTL, so
// that only a revocation being told can explain a refusal, and waits for
// the change listener on PostgreSQL.
func bootTokenCache(t *testing.T, u string) (*app.App, string) {
	t.Helper()
	a, base := boot(t, app.Config{DatabaseURL: u, PolicyFile: writeFile(t, "policy.yaml", goodPolicy), TokenCacheTTL: "1h"})
	if a.DB.Kind() == store.Postgres {
		waitFor(t, 10*time.Second, "the change listener to connect", func() bool { return a.ListenerConnects() > 0 })
	}
	return a, base
}

func me(t *testing.T, base, secret string) int {
	t.Helper()
	code, _ := httpJSON(t, "GET", base+"/api/v1/me", secret, "")
	return code
}

func newToken(t *testing.T, db *store.DB, nt identity.NewToken) (string, identity.Token) {
	t.Helper()
	nt.Actor = "test"
	secret, tok, err := db.CreateToken(context.Background(), nt, workflow.Now())
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

// warm makes sure secret is cached: two calls succeed and the second is a
// hit.
func warm(t *testing.T, a *app.App, base, secret string) {
	t.Helper()
	if code := me(t, base, secret); code != 200 {
		t.Fatalf("/me: %d", code)
	}
	hits := a.TokenCacheStats().Hits
	if code := me(t, base, secret); code != 200 {
		t.Fatalf("/me: %d", code)
	}
	if a.TokenCacheStats().Hits <= hits {
		t.Fatal("the token cache was not used: the test would prove nothing")
	}
}

// TestTokenRevokeSameReplica: a token revoked by this process is refused
// on the very next call; one revoked by `jitaccess token revoke` (another
// process: on PostgreSQL a notice, on SQLite the poll) within a second.
func TestTokenRevokeSameReplica(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		a, base := bootTokenCache(t, u)
		alice, atok := newToken(t, a.DB, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"})
		svc, stok := newToken(t, a.DB, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check"}})
		warm(t, a, base, alice)
		warm(t, a, base, svc)

		if err := a.DB.RevokeToken(context.Background(), atok.ID, "test", workflow.Now()); err != nil {
			t.Fatal(err)
		}
		if code := me(t, base, alice); code != 401 {
			t.Fatalf("the call after the revoke: %d, want 401", code)
		}

		if code, out, errOut := run(t, "token", "revoke", "--database", u, stok.ID); code != 0 {
			t.Fatalf("token revoke: %d %q %q", code, out, errOut)
		}
		took := waitFor(t, time.Second, "the token revoked by the command line to be refused", func() bool { return me(t, base, svc) == 401 })
		t.Logf("revoked by the command line, refused after %s", took)
		if code := me(t, base, svc); code != 401 {
			t.Fatalf("revoked token accepted again: %d", code)
		}
	})
}

// TestTokenRevokeAcrossReplicas: two replicas on one PostgreSQL database,
// each caching tokens for an hour; a token revoked on A is refused on B
// within a second, whether revoked by A's process or by the command line.
func TestTokenRevokeAcrossReplicas(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	a, abase := bootTokenCache(t, u)
	b, bbase := bootTokenCache(t, u)
	for round := range 3 {
		secret, tok := newToken(t, a.DB, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"})
		warm(t, a, abase, secret)
		warm(t, b, bbase, secret)
		if round == 2 {
			if code, _, errOut := run(t, "token", "revoke", "--database", u, tok.ID); code != 0 {
				t.Fatalf("token revoke: %d %q", code, errOut)
			}
		} else if err := a.DB.RevokeToken(context.Background(), tok.ID, "test", workflow.Now()); err != nil {
			t.Fatal(err)
		} else if code := me(t, abase, secret); code != 401 {
			t.Fatalf("A accepts the token it revoked: %d", code)
		}
		took := waitFor(t, time.Second, "replica B to refuse the token revoked on A", func() bool { return me(t, bbase, secret) == 401 })
		t.Logf("round %d: refused on B after %s", round, took)
		waitFor(t, time.Second, "replica A to refuse the token", func() bool { return me(t, abase, secret) == 401 })
	}
}

// TestTokenListenerReconnectClearsCache: a revocation no notice told of
// (written behind the servers' back) is seen once the listener has
// reconnected, since a reconnection clears the token cache.
func TestTokenListenerReconnectClearsCache(t *testing.T) {
	a, base := bootTokenCache(t, storetest.NewURL(t, store.Postgres))
	secret, tok := newToken(t, a.DB, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"})
	warm(t, a, base, secret)
	if err := a.DB.Gorm().Exec(`UPDATE api_tokens SET revoked_at = ? WHERE id = ?`, workflow.Now(), tok.ID).Error; err != nil {
		t.Fatal(err)
	}
	if code := me(t, base, secret); code != 200 {
		t.Fatalf("the cache was not used: the test would prove nothing (%d)", code)
	}
	before := a.ListenerConnects()
	var killed int64
	if err := a.DB.Gorm().Raw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = ?`, app.ListenerAppName).Scan(&killed).Error; err != nil || killed != 1 {
		t.Fatalf("terminated %d listener connections (%v)", killed, err)
	}
	waitFor(t, 10*time.Second, "the listener to reconnect", func() bool { return a.ListenerConnects() > before })
	if code := me(t, base, secret); code != 401 {
		t.Fatalf("after the listener reconnected, the revoked token still works: %d", code)
	}
}

// TestTokenExpiresWhileCached: a cached token is refused from its expiry
// on, judged in the cache (the store is not asked).
func TestTokenExpiresWhileCached(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, base := bootTokenCache(t, storetest.NewURL(t, kind))
		secret, tok := newToken(t, a.DB, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", TTL: 3 * time.Second})
		warm(t, a, base, secret)
		if time.Now().After(*tok.ExpiresAt) {
			t.Fatal("the machine took longer than the token's 3 s to warm the cache: the test proves nothing")
		}
		time.Sleep(time.Until(*tok.ExpiresAt) + 10*time.Millisecond)
		misses := a.TokenCacheStats().Misses
		if code := me(t, base, secret); code != 401 {
			t.Fatalf("after its expiry: %d, want 401", code)
		}
		if got := a.TokenCacheStats().Misses; got != misses {
			t.Fatalf("the expired token was looked up in the store (%d misses, was %d): the cache's own judgement is untested", got, misses)
		}
	})
}

// TestTokenOfDeactivatedPerson: the directory is still asked on every call
// about a user token's person, so deactivating or deleting them (here
// straight in the tables, telling no cache) stops their cached tokens at
// once, and reactivating them brings the token back, as before the cache.
func TestTokenOfDeactivatedPerson(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, base := bootTokenCache(t, storetest.NewURL(t, kind))
		storetest.SeedPerson(t, a.DB, "alice@example.com", true, "agents")
		secret, _ := newToken(t, a.DB, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"})
		warm(t, a, base, secret)
		storetest.SetPersonActive(t, a.DB, "alice@example.com", false)
		if code := me(t, base, secret); code != 401 {
			t.Fatalf("deactivated: %d, want 401", code)
		}
		storetest.SetPersonActive(t, a.DB, "alice@example.com", true)
		if code := me(t, base, secret); code != 200 {
			t.Fatalf("reactivated: %d, want 200", code)
		}
		if err := a.DB.Gorm().Exec(`UPDATE directory_people SET deleted_at = ?, version = version + 1 WHERE user_name = ?`,
			workflow.Now(), "alice@example.com").Error; err != nil {
			t.Fatal(err)
		}
		if code := me(t, base, secret); code != 401 {
			t.Fatalf("deleted: %d, want 401", code)
		}
	})
}

// TestTokenCacheSkipsTheDatabase: with the tokens table out of reach, a
// cached token still authenticates and an uncached one cannot: the hits
// really do not read the database.
func TestTokenCacheSkipsTheDatabase(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		a, base := bootTokenCache(t, storetest.NewURL(t, kind))
		cached, _ := newToken(t, a.DB, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check"}})
		uncached, _ := newToken(t, a.DB, identity.NewToken{Kind: identity.TokenService, Subject: "other", Scopes: []string{"check"}})
		warm(t, a, base, cached)
		g := a.DB.Gorm()
		if err := g.Exec(`ALTER TABLE api_tokens RENAME TO api_tokens_away`).Error; err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := g.Exec(`ALTER TABLE api_tokens_away RENAME TO api_tokens`).Error; err != nil {
				t.Fatal(err)
			}
		}()
		for range 5 {
			if code := me(t, base, cached); code != 200 {
				t.Fatalf("cached token without the table: %d", code)
			}
		}
		if code := me(t, base, uncached); code == 200 {
			t.Fatal("an uncached token authenticated without the table: the test proves nothing")
		}
	})
}

// TestTokenCacheTTLFlag: bad values are refused by name; off serves from
// the store.
func TestTokenCacheTTLFlag(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/x.db"
	policy := writeFile(t, "policy.yaml", goodPolicy)
	for _, bad := range []string{"soon", "-1s", "2h"} {
		code, _, errOut := run(t, "serve", "--policy", policy, "--database", db, "--token-cache-ttl", bad)
		if code != 2 || !strings.Contains(errOut, `--token-cache-ttl "`+bad+`"`) {
			t.Fatalf("--token-cache-ttl %s: %d %q", bad, code, errOut)
		}
	}
	a, base := boot(t, app.Config{DatabaseURL: db, PolicyFile: policy, TokenCacheTTL: "off"})
	secret, _ := newToken(t, a.DB, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"})
	for range 2 {
		if code := me(t, base, secret); code != 200 {
			t.Fatalf("/me: %d", code)
		}
	}
	if s := a.TokenCacheStats(); s != (identity.TokenCacheStats{}) {
		t.Fatalf("cache off, but %+v", s)
	}
}
