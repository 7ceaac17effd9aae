package httpkit

import (
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/jitaccess/jitaccess/workflow"
)

// API rate limits are kept by who calls rather than by address, so that a
// busy integration behind one address is limited as itself and people
// sharing a NAT do not limit each other. Before a token is known, the
// address is what there is: it gets a budget of failed authentications,
// and once that is spent it is refused outright (no token lookups) until
// the budget refills, so that tokens cannot be guessed at speed.
type apiLimits struct {
	failures *keyedLimiter // per client address: failed authentications
	people   *keyedLimiter // per person's token
	services *keyedLimiter // per service token
}

func newAPILimits(e EdgeConfig) apiLimits {
	return apiLimits{
		failures: newKeyedLimiter(e.AuthFailuresPerMinute, DefaultAuthFailuresPerMinute),
		people:   newKeyedLimiter(e.APIPerMinute, DefaultAPIPerMinute),
		services: newKeyedLimiter(e.ServicePerMinute, DefaultServicePerMinute),
	}
}

// keyedLimiter is a token bucket per key, allowing perMinute events a
// minute in bursts of up to a minute's worth. A nil limiter allows all.
type keyedLimiter struct {
	mu        sync.Mutex
	limit     rate.Limit
	burst     int
	retry     string // Retry-After, in seconds
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// newKeyedLimiter returns a limiter of perMinute (0: def; negative: none).
func newKeyedLimiter(perMinute, def int) *keyedLimiter {
	if perMinute == 0 {
		perMinute = def
	}
	if perMinute < 0 {
		return nil
	}
	return &keyedLimiter{limit: rate.Limit(float64(perMinute) / 60), burst: perMinute,
		retry: strconv.Itoa(max(1, 60/perMinute)), buckets: map[string]*bucket{}}
}

func (k *keyedLimiter) get(key string, now time.Time) *rate.Limiter {
	if now.Sub(k.lastSweep) > time.Minute { // forget idle keys: a full bucket
		for key, b := range k.buckets {
			if now.Sub(b.used) > 3*time.Minute {
				delete(k.buckets, key)
			}
		}
		k.lastSweep = now
	}
	b, ok := k.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(k.limit, k.burst)}
		k.buckets[key] = b
	}
	b.used = now
	return b.lim
}

// allow spends one event of key's budget, if there is one left.
func (k *keyedLimiter) allow(key string) bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	return k.get(key, now).AllowN(now, 1)
}

// spent reports whether key's budget is used up, without spending.
func (k *keyedLimiter) spent(key string) bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	return k.get(key, now).TokensAt(now) < 1
}

// refuse answers 429 with Retry-After.
func (k *keyedLimiter) refuse(c echo.Context, format string, args ...any) error {
	c.Response().Header().Set("Retry-After", k.retry)
	return workflow.Errorf(workflow.CodeRateLimited, format, args...)
}
