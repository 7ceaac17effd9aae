package identity_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// counted is the real store with a count of the lookups and touches that
// reach it, and an optional pause after a lookup has read the database.
type counted struct {
	db              *store.DB
	lookups, writes atomic.Int64
	afterRead       func()
}

func (c *counted) LookupToken(ctx context.Context, secret string, now time.Time) (identity.Token, error) {
	c.lookups.Add(1)
	tok, err := c.db.LookupToken(ctx, secret, now)
	if c.afterRead != nil {
		c.afterRead()
	}
	return tok, err
}

func (c *counted) TouchToken(ctx context.Context, id string, now time.Time) error {
	c.writes.Add(1)
	return c.db.TouchToken(ctx, id, now)
}

// wallClock is a settable clock for the cache's TTL.
type wallClock struct {
	mu sync.Mutex
	t  time.Time
}

func (w *wallClock) now() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.t }
func (w *wallClock) add(d time.Duration) {
	w.mu.Lock()
	w.t = w.t.Add(d)
	w.mu.Unlock()
}

func newCache(db *store.DB, ttl time.Duration) (*identity.TokenCache, *counted, *wallClock) {
	c := &counted{db: db}
	w := &wallClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	return identity.NewTokenCache(c, identity.TokenCacheOptions{TTL: ttl, Clock: w.now}), c, w
}

func create(t *testing.T, db *store.DB, nt identity.NewToken, now time.Time) (string, identity.Token) {
	t.Helper()
	nt.Actor = "test"
	secret, tok, err := db.CreateToken(context.Background(), nt, now)
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

func isBad(err error) bool { return workflow.ErrorCode(err) == workflow.CodeUnauthenticated }

// TestTokenCacheHitsSkipTheStore: the second and later lookups of a live
// token do not reach the store, and return the same token (kind, subject,
// scopes) as the store does.
func TestTokenCacheHitsSkipTheStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cache, c, _ := newCache(db, time.Hour)
		secret, _ := create(t, db, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check", "detokenize"}}, t0)
		want, err := db.LookupToken(ctx, secret, t0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			got, err := cache.LookupToken(ctx, secret, t0.Add(time.Duration(i)*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != want.ID || got.Kind != want.Kind || got.Subject != want.Subject || !slices.Equal(got.Scopes, want.Scopes) {
				t.Fatalf("cached token %+v, store says %+v", got, want)
			}
			if p := got.Principal(); p.Service != "helpdesk" || !slices.Equal(p.Scopes, []string{"check", "detokenize"}) {
				t.Fatalf("principal %+v", p)
			}
			got.Scopes[0] = "scribbled" // the caller's copy
		}
		if n := c.lookups.Load(); n != 1 {
			t.Fatalf("%d lookups reached the store, want 1", n)
		}
		if s := cache.Stats(); s.Hits != 99 || s.Misses != 1 || s.Held != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestTokenCacheRefusals: what the store refuses, the cache refuses, and
// none of it is cached (bad secrets reach the store every time).
func TestTokenCacheRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cache, c, _ := newCache(db, time.Hour)
		revoked, rtok := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "bob@example.com"}, t0)
		if err := db.RevokeToken(ctx, rtok.ID, "test", t0); err != nil {
			t.Fatal(err)
		}
		expired, _ := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "bob@example.com", TTL: time.Minute}, t0.Add(-time.Hour))
		unknown, err := identity.NewTokenSecret()
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, secret string
			reaches      bool // the store is asked
		}{
			{"unknown", unknown, true},
			{"revoked", revoked, true},
			{"expired", expired, true},
			{"not a token", "hunter2", false},
			{"empty", "", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := c.lookups.Load()
				for range 3 {
					if _, err := cache.LookupToken(ctx, tc.secret, t0); !isBad(err) {
						t.Fatalf("want unauthenticated, got %v", err)
					}
				}
				if got, want := c.lookups.Load()-before, map[bool]int64{true: 3, false: 0}[tc.reaches]; got != want {
					t.Fatalf("%d lookups reached the store, want %d", got, want)
				}
			})
		}
		if s := cache.Stats(); s.Held != 0 {
			t.Fatalf("refused tokens are held: %+v", s)
		}
	})
}

// TestTokenCacheExpiry: a cached token stops at its expiry, judged against
// now on every hit, without asking the store.
func TestTokenCacheExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cache, c, _ := newCache(db, time.Hour)
		secret, tok := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", TTL: 10 * time.Minute}, t0)
		if _, err := cache.LookupToken(ctx, secret, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := cache.LookupToken(ctx, secret, tok.ExpiresAt.Add(-time.Nanosecond)); err != nil {
			t.Fatalf("just before expiry: %v", err)
		}
		for _, at := range []time.Time{*tok.ExpiresAt, tok.ExpiresAt.Add(time.Second)} {
			if _, err := cache.LookupToken(ctx, secret, at); !isBad(err) {
				t.Fatalf("at %s, after expiry %s: %v", at, tok.ExpiresAt, err)
			}
		}
		if n := c.lookups.Load(); n != 1 {
			t.Fatalf("%d lookups reached the store, want 1", n)
		}
	})
}

// TestTokenCacheRevocation: Forget (what the store's hook and the
// listener call) stops a cached token at once; without it, the TTL does.
func TestTokenCacheRevocation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := workflow.Now()
		t.Run("told", func(t *testing.T) {
			cache, _, _ := newCache(db, time.Hour)
			db.OnTokensRevoked(func(ids []string) { cache.Forget(ids...) })
			secret, tok := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"}, now)
			if _, err := cache.LookupToken(ctx, secret, now); err != nil {
				t.Fatal(err)
			}
			if err := db.RevokeToken(ctx, tok.ID, "test", now); err != nil {
				t.Fatal(err)
			}
			if _, err := cache.LookupToken(ctx, secret, now); !isBad(err) {
				t.Fatalf("revoked token still works: %v", err)
			}
		})
		t.Run("by description", func(t *testing.T) {
			cache, _, _ := newCache(db, time.Hour)
			db.OnTokensRevoked(func(ids []string) { cache.Forget(ids...) })
			secret, _ := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Description: "demo run"}, now)
			if _, err := cache.LookupToken(ctx, secret, now); err != nil {
				t.Fatal(err)
			}
			if err := db.RevokeTokensByDescription(ctx, "demo run", now); err != nil {
				t.Fatal(err)
			}
			if _, err := cache.LookupToken(ctx, secret, now); !isBad(err) {
				t.Fatalf("revoked token still works: %v", err)
			}
		})
		t.Run("untold, until the TTL", func(t *testing.T) {
			// As when another process revokes: this cache is not hooked
			// to the store, hears nothing, and the TTL is the safety net.
			cache, _, wall := newCache(db, 30*time.Second)
			secret, tok := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"}, now)
			if _, err := cache.LookupToken(ctx, secret, now); err != nil {
				t.Fatal(err)
			}
			if err := db.RevokeToken(ctx, tok.ID, "test", now); err != nil {
				t.Fatal(err)
			}
			wall.add(29 * time.Second)
			if _, err := cache.LookupToken(ctx, secret, now); err != nil {
				t.Fatalf("within the TTL, untold: %v", err)
			}
			wall.add(time.Second)
			if _, err := cache.LookupToken(ctx, secret, now); !isBad(err) {
				t.Fatalf("after the TTL: %v", err)
			}
			if s := cache.Stats(); s.Held != 0 {
				t.Fatalf("revoked token still held: %+v", s)
			}
		})
		t.Run("forget during a lookup", func(t *testing.T) {
			// A lookup that read the row before the revocation committed
			// must not store it after the revocation was forgotten.
			cache, c, _ := newCache(db, time.Hour)
			secret, tok := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"}, now)
			c.afterRead = func() {
				c.afterRead = nil
				if err := db.RevokeToken(ctx, tok.ID, "test", now); err != nil {
					t.Error(err)
				}
				cache.Forget(tok.ID)
			}
			if _, err := cache.LookupToken(ctx, secret, now); err != nil {
				t.Fatal(err) // read before the revocation: this call was in flight
			}
			if _, err := cache.LookupToken(ctx, secret, now); !isBad(err) {
				t.Fatalf("the in-flight read was cached: %v", err)
			}
		})
	})
}

// TestTokenCacheBounded: at most Size tokens are held, and the ones
// evicted are looked up again.
func TestTokenCacheBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &counted{db: db}
		cache := identity.NewTokenCache(c, identity.TokenCacheOptions{Size: 3})
		var secrets []string
		for range 5 {
			s, _ := create(t, db, identity.NewToken{Kind: identity.TokenService, Subject: "svc", Scopes: []string{"check"}}, t0)
			secrets = append(secrets, s)
		}
		for range 2 {
			for _, s := range secrets {
				if _, err := cache.LookupToken(ctx, s, t0); err != nil {
					t.Fatal(err)
				}
				if held := cache.Stats().Held; held > 3 {
					t.Fatalf("%d held, size 3", held)
				}
			}
		}
		if n := c.lookups.Load(); n <= 5 {
			t.Fatalf("only %d lookups reached the store: nothing was evicted", n)
		}
	})
}

// TestTokenCacheTouch: last use is written at most once a minute per
// token, and it lands in the store.
func TestTokenCacheTouch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cache, c, _ := newCache(db, time.Hour)
		_, a := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"}, t0)
		_, b := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "bob@example.com"}, t0)
		for _, step := range []struct {
			id     string
			at     time.Duration
			writes int64
		}{
			{a.ID, 0, 1},
			{a.ID, 30 * time.Second, 1},
			{b.ID, 30 * time.Second, 2}, // each token has its own minute
			{a.ID, 59 * time.Second, 2},
			{a.ID, 60 * time.Second, 3},
			{a.ID, 61 * time.Second, 3},
		} {
			if err := cache.TouchToken(ctx, step.id, t0.Add(step.at)); err != nil {
				t.Fatal(err)
			}
			if got := c.writes.Load(); got != step.writes {
				t.Fatalf("at +%s: %d writes, want %d", step.at, got, step.writes)
			}
		}
		toks, _, err := db.ListTokens(ctx, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range toks {
			if tok.ID == a.ID && (tok.LastUsedAt == nil || !tok.LastUsedAt.Equal(t0.Add(time.Minute))) {
				t.Fatalf("last used %v, want %s", tok.LastUsedAt, t0.Add(time.Minute))
			}
		}
	})
}

// TestTokenCacheConcurrent: lookups, revocations and resets from many
// goroutines; a token is refused once its Forget has returned. Run with
// -race.
func TestTokenCacheConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := workflow.Now()
		cache, _, _ := newCache(db, time.Hour)
		db.OnTokensRevoked(func(ids []string) { cache.Forget(ids...) })
		type tk struct {
			secret string
			tok    identity.Token
		}
		var all []tk
		for range 8 {
			s, tok := create(t, db, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com"}, now)
			all = append(all, tk{s, tok})
		}
		var wg sync.WaitGroup
		for i, x := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if _, err := cache.LookupToken(ctx, x.secret, now); err != nil {
						t.Error(err)
						return
					}
				}
				if i%2 == 0 {
					if err := db.RevokeToken(ctx, x.tok.ID, "test", now); err != nil {
						t.Error(err)
						return
					}
					if _, err := cache.LookupToken(ctx, x.secret, now); !isBad(err) {
						t.Errorf("revoked token %s still works: %v", x.tok.ID, err)
					}
				}
				if i == 3 {
					cache.Reset()
				}
			}()
		}
		wg.Wait()
		for i, x := range all {
			_, err := cache.LookupToken(ctx, x.secret, now)
			if revoked := i%2 == 0; revoked != isBad(err) {
				t.Fatalf("token %d (revoked %v): %v", i, revoked, err)
			}
		}
	})
}
