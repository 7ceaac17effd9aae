package httpkit

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/jitaccess/jitaccess/workflow"
)

// EdgeConfig protects every route: which reverse proxies may say who the
// client is, and how fast one client may go.
type EdgeConfig struct {
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For header is believed. Empty: the client is the TCP
	// peer and X-Forwarded-For is ignored, so that a client cannot pick
	// its own identity to dodge a rate limit.
	TrustedProxies []netip.Prefix
	// SignInPerMinute limits sign-in attempts per client; 0 takes the
	// default (20), negative turns the limit off.
	SignInPerMinute int
	// APIPerMinute limits API calls per person (per user token's
	// owner); 0 takes the default (1200), negative turns the limit off.
	APIPerMinute int
	// ServicePerMinute limits API calls per service token (integrations
	// calling check and mask); 0 takes the default (60000), negative
	// turns the limit off.
	ServicePerMinute int
	// AuthFailuresPerMinute is how many failed API authentications a
	// client address may make; then its calls are refused until the
	// budget refills. 0 takes the default (60), negative turns it off.
	AuthFailuresPerMinute int
}

// Default rate limits, per minute.
const (
	DefaultSignInPerMinute       = 20    // per client address
	DefaultAPIPerMinute          = 1200  // per person
	DefaultServicePerMinute      = 60000 // per service token
	DefaultAuthFailuresPerMinute = 60    // per client address
)

// contentSecurityPolicy allows scripts, styles and images from jitaccess
// itself only: no inline script or style, no plugins, no framing, no
// <base>, and forms post only back to jitaccess.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"

// SecurityHeaders sets the headers every response carries, API and UI
// alike. Handlers may loosen Cache-Control (static assets do).
func SecurityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// IPExtractor decides who the client is. Without trusted proxies it is
// the TCP peer. With them, X-Forwarded-For is read from the right, skipping
// trusted proxies only; loopback and private networks are not trusted
// unless configured (echo trusts them by default).
func (cfg EdgeConfig) IPExtractor() echo.IPExtractor {
	if len(cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range cfg.TrustedProxies {
		_, n, err := net.ParseCIDR(p.Masked().String())
		if err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// ParseTrustedProxies parses a comma-separated list of addresses and CIDR
// networks ("10.0.0.0/8, 192.0.2.7").
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an address or a CIDR network like 10.0.0.0/8", part)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an address or a CIDR network like 10.0.0.0/8", part)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ClientKey is the rate-limit identity of a request's client: its
// address, or for IPv6 its /64, since one host usually holds a whole /64.
func ClientKey(c echo.Context) string {
	a, err := netip.ParseAddr(c.RealIP())
	if err != nil {
		return c.RealIP()
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// RateLimit returns a per-client limiter allowing perMinute requests a
// minute, in bursts of up to a minute's worth; nil when perMinute < 0.
func RateLimit(perMinute, def int, what string) echo.MiddlewareFunc {
	if perMinute == 0 {
		perMinute = def
	}
	if perMinute < 0 {
		return nil
	}
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(float64(perMinute) / 60), Burst: perMinute, ExpiresIn: 3 * time.Minute,
	})
	retry := strconv.Itoa(max(1, 60/perMinute))
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store:               store,
		IdentifierExtractor: func(c echo.Context) (string, error) { return ClientKey(c), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", retry)
			return workflow.Errorf(workflow.CodeRateLimited, "too many %s from your address; wait a moment and try again", what)
		},
		ErrorHandler: func(c echo.Context, err error) error {
			return workflow.Internal(err, "rate limiter failed")
		},
	})
}
