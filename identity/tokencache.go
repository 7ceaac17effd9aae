package identity

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of TokenCache.
const (
	DefaultTokenCacheTTL  = 30 * time.Second
	DefaultTokenCacheSize = 10000
	// DefaultTouchEvery is how often, at most, a token's last use is
	// written (per token, per replica).
	DefaultTouchEvery = time.Minute
)

// TokenCache is a TokenLookup that remembers the live tokens it has
// looked up, so that an API call does not read the database to
// authenticate. It changes no decision:
//
//   - only live tokens are remembered (an unknown, revoked or expired
//     secret is read again every time, and a flood of bad secrets cannot
//     fill the cache);
//   - expiry is judged against now on every hit (Token.LiveAt), so an
//     expired token stops at its expiry even while cached;
//   - a revocation drops the entry: Forget (told by the store on this
//     replica, and by a notice from the others), or Reset when notices may
//     have been lost;
//   - every entry is read again after TTL at the latest, the safety net;
//   - it holds the token row only: who the token acts as is still judged
//     against the directory on every call (Authenticator.Token), so a
//     deactivated person's user tokens stop as before.
//
// Entries are keyed by HashSecret of the secret; the secret itself is
// never kept. At most Size tokens are held.
type TokenCache struct {
	next  TokenLookup
	ttl   time.Duration
	size  int
	touch time.Duration
	clock func() time.Time // for the TTL only: wall time, not the service's clock

	mu      sync.RWMutex
	byHash  map[string]tokenEntry
	byID    map[string]string // token id → hash, to forget by id
	touched map[string]time.Time
	// epoch moves on every Forget and Reset: a lookup that read the
	// database before it moved may have read a row that is already
	// revoked, and does not store what it read.
	epoch atomic.Uint64

	hits, misses atomic.Int64
}

type tokenEntry struct {
	tok     Token
	expires time.Time // when it was read, plus the TTL
}

// TokenCacheOptions configures NewTokenCache; zero values take the
// defaults.
type TokenCacheOptions struct {
	TTL        time.Duration // how long an entry is trusted without news (DefaultTokenCacheTTL)
	Size       int           // most tokens held (DefaultTokenCacheSize)
	TouchEvery time.Duration // most one last-use write per token this often (DefaultTouchEvery)
	Clock      func() time.Time
}

// NewTokenCache returns a cache in front of next.
func NewTokenCache(next TokenLookup, o TokenCacheOptions) *TokenCache {
	if o.TTL <= 0 {
		o.TTL = DefaultTokenCacheTTL
	}
	if o.Size <= 0 {
		o.Size = DefaultTokenCacheSize
	}
	if o.TouchEvery <= 0 {
		o.TouchEvery = DefaultTouchEvery
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &TokenCache{next: next, ttl: o.TTL, size: o.Size, touch: o.TouchEvery, clock: o.Clock,
		byHash: map[string]tokenEntry{}, byID: map[string]string{}, touched: map[string]time.Time{}}
}

// LookupToken implements TokenLookup: from the cache while the entry is
// younger than the TTL and the token is live at now, else from the store.
func (c *TokenCache) LookupToken(ctx context.Context, secret string, now time.Time) (Token, error) {
	if !PlausibleToken(secret) {
		return Token{}, ErrBadToken()
	}
	hash := HashSecret(secret)
	wall := c.clock()
	c.mu.RLock()
	e, ok := c.byHash[hash]
	c.mu.RUnlock()
	if ok && wall.Before(e.expires) {
		c.hits.Add(1)
		if !e.tok.LiveAt(now) {
			return Token{}, ErrBadToken()
		}
		tok := e.tok
		tok.Scopes = slices.Clone(tok.Scopes) // the caller's to keep
		return tok, nil
	}
	c.misses.Add(1)
	epoch := c.epoch.Load()
	tok, err := c.next.LookupToken(ctx, secret, now)
	if err != nil {
		if ok {
			c.drop(hash, e.tok.ID)
		}
		return Token{}, err
	}
	c.mu.Lock()
	if c.epoch.Load() == epoch { // else a revocation may have come since the read
		if len(c.byHash) >= c.size {
			c.evictLocked(wall)
		}
		kept := tok
		kept.Scopes = slices.Clone(tok.Scopes) // tok is the caller's
		c.byHash[hash] = tokenEntry{tok: kept, expires: wall.Add(c.ttl)}
		c.byID[tok.ID] = hash
	}
	c.mu.Unlock()
	return tok, nil
}

// evictLocked makes room: the expired entries go, and when none has, an
// arbitrary one (map order). c.mu is held.
func (c *TokenCache) evictLocked(wall time.Time) {
	for h, e := range c.byHash {
		if !wall.Before(e.expires) {
			delete(c.byHash, h)
			delete(c.byID, e.tok.ID)
		}
	}
	for h, e := range c.byHash {
		if len(c.byHash) < c.size {
			return
		}
		delete(c.byHash, h)
		delete(c.byID, e.tok.ID)
	}
}

func (c *TokenCache) drop(hash, id string) {
	c.mu.Lock()
	if e, ok := c.byHash[hash]; ok && e.tok.ID == id {
		delete(c.byHash, hash)
		delete(c.byID, id)
	}
	c.mu.Unlock()
}

// TouchToken implements TokenLookup: it records a token's use in the
// store at most once per TouchEvery per token (in memory, on this
// replica), so that the listing's last use stays useful without a write
// per call. A failed write is tried again on the next use.
func (c *TokenCache) TouchToken(ctx context.Context, id string, now time.Time) error {
	c.mu.Lock()
	last, ok := c.touched[id]
	due := !ok || now.Sub(last) >= c.touch || now.Before(last)
	if due {
		if len(c.touched) >= c.size {
			clear(c.touched) // bound memory; the worst case is one extra write per token
		}
		c.touched[id] = now
	}
	c.mu.Unlock()
	if !due {
		return nil
	}
	if err := c.next.TouchToken(ctx, id, now); err != nil {
		c.mu.Lock()
		if c.touched[id].Equal(now) {
			delete(c.touched, id)
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

// Forget drops the cached tokens of ids (when they are revoked). Lookups
// in flight that read the store before it do not store what they read.
func (c *TokenCache) Forget(ids ...string) {
	c.mu.Lock()
	c.epoch.Add(1)
	for _, id := range ids {
		if h, ok := c.byID[id]; ok {
			delete(c.byHash, h)
			delete(c.byID, id)
		}
	}
	c.mu.Unlock()
}

// Reset drops every cached token (when revocations may have been missed,
// for example while the listener was disconnected).
func (c *TokenCache) Reset() {
	c.mu.Lock()
	c.epoch.Add(1)
	clear(c.byHash)
	clear(c.byID)
	c.mu.Unlock()
}

// IDs returns the ids of the tokens held, for a poll of which of them the
// store has revoked since.
func (c *TokenCache) IDs() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.byID))
	for id := range c.byID {
		out = append(out, id)
	}
	return out
}

// TokenCacheStats counts lookups answered from the cache (Hits) and from
// the store (Misses), and the tokens held.
type TokenCacheStats struct {
	Hits, Misses int64
	Held         int
}

// Stats returns the counts so far.
func (c *TokenCache) Stats() TokenCacheStats {
	c.mu.RLock()
	held := len(c.byHash)
	c.mu.RUnlock()
	return TokenCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Held: held}
}

// TTL returns how long an entry is trusted without news.
func (c *TokenCache) TTL() time.Duration { return c.ttl }

var _ TokenLookup = (*TokenCache)(nil)
