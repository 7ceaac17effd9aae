package access

import (
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

type cacheKey struct{ user, resource string }

type cacheEntry struct {
	d     workflow.CheckResult
	pol   *workflow.Policy // the policy the decision was made under
	until time.Time
}

// maxEntries bounds the cache; when full it starts again empty.
const maxEntries = 100_000

// cache holds decisions. A fill is stored only if nothing changed since it
// began reading (the generation) and its key is not held by a change in
// flight, so that a read taken before a commit is never cached after it.
type cache struct {
	ttl     time.Duration
	mu      sync.RWMutex
	entries map[cacheKey]cacheEntry
	held    map[cacheKey]int // changes in flight per key
	gen     uint64           // bumped by every hold and release
}

func newCache(ttl time.Duration) *cache {
	return &cache{ttl: ttl, entries: map[cacheKey]cacheEntry{}, held: map[cacheKey]int{}}
}

func (c *cache) get(k cacheKey, pol *workflow.Policy, now time.Time) (workflow.CheckResult, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || e.pol != pol || !now.Before(e.until) {
		return workflow.CheckResult{}, false
	}
	return e.d, true
}

// begin starts a fill: it returns the generation to hand to put, and
// whether the key may be cached at all.
func (c *cache) begin(k cacheKey) (uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen, c.held[k] == 0
}

func (c *cache) put(k cacheKey, pol *workflow.Policy, d workflow.CheckResult, now time.Time, gen uint64) {
	until := now.Add(c.ttl)
	if d.Allowed && d.ExpiresAt != nil && d.ExpiresAt.Before(until) {
		until = *d.ExpiresAt
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.held[k] > 0 {
		return
	}
	if len(c.entries) >= maxEntries {
		clear(c.entries)
	}
	c.entries[k] = cacheEntry{d: d, pol: pol, until: until}
}

// hold drops k's entry and keeps k uncached until release.
func (c *cache) hold(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
	c.held[k]++
	c.gen++
}

func (c *cache) release(keys []cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.entries, k)
		if c.held[k]--; c.held[k] <= 0 {
			delete(c.held, k)
		}
	}
	c.gen++
}

// drop removes k's entry.
func (c *cache) drop(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
	c.gen++
}

// dropUsers removes every entry of the given users.
func (c *cache) dropUsers(users map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if users[k.user] {
			delete(c.entries, k)
		}
	}
	c.gen++
}

// reset removes every entry.
func (c *cache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.gen++
}
