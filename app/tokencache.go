package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/identity"
)

// tokenPollInterval is how often a replica without a change listener
// (SQLite, or notifications off) asks the store which of its cached tokens
// were revoked by another process, such as `jitaccess token revoke`.
const tokenPollInterval = 250 * time.Millisecond

// tokenCacheTTL resolves Config.TokenCacheTTL: "" is
// identity.DefaultTokenCacheTTL, "off" (or 0) disables the cache.
func (cfg Config) tokenCacheTTL() (time.Duration, error) {
	switch strings.TrimSpace(cfg.TokenCacheTTL) {
	case "":
		return identity.DefaultTokenCacheTTL, nil
	case "off", "0":
		return 0, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(cfg.TokenCacheTTL))
	if err != nil || d < 0 || d > time.Hour {
		return 0, fmt.Errorf("--token-cache-ttl %q: use a duration up to 1h like 30s, or off", cfg.TokenCacheTTL)
	}
	return d, nil
}

// wireTokens returns the token lookup of the API: the store itself with
// the cache off, else a cache in front of it that the store tells of this
// process's revocations at once. Other processes' revocations reach it by
// the change listener (listen.go) or, without one, by pollTokens.
func (a *App) wireTokens(ttl time.Duration) identity.TokenLookup {
	if ttl == 0 {
		return a.DB
	}
	a.tokens = identity.NewTokenCache(a.DB, identity.TokenCacheOptions{TTL: ttl})
	a.DB.OnTokensRevoked(func(ids []string) { a.tokens.Forget(ids...) })
	return a.tokens
}

// pollTokens, on a replica that no notices reach, drops every
// tokenPollInterval the cached tokens that the store has revoked since.
func (a *App) pollTokens(ctx context.Context, wg *sync.WaitGroup) {
	if a.tokens == nil || a.changes != nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(tokenPollInterval)
		defer t.Stop()
		failures := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ids := a.tokens.IDs()
			if len(ids) == 0 {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			gone, err := a.DB.RevokedTokens(pctx, ids)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if failures++; failures == 1 || failures%120 == 0 {
					a.Logger.Warn("token cache: cannot poll for revoked tokens; cached tokens are trusted up to the TTL", "err", err, "failures", failures)
				}
				continue
			}
			failures = 0
			if len(gone) > 0 {
				a.tokens.Forget(gone...)
			}
		}
	}()
}

// TokenCacheStats returns the token cache's counts (zero when it is off).
// For tests and the benchmark.
func (a *App) TokenCacheStats() identity.TokenCacheStats {
	if a.tokens == nil {
		return identity.TokenCacheStats{}
	}
	return a.tokens.Stats()
}
