package app

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/web/ui"
	"github.com/jitaccess/jitaccess/workflow"
)

// WebConfig configures the web UI (sign-in, sessions) and the HTTP edge
// (trusted proxies, rate limits). docs/configuration.md lists the flags.
type WebConfig struct {
	PublicURL        string
	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string
	OIDCRedirectURL  string
	OIDCScopes       string
	OIDCName         string
	EmailClaim       string
	GroupsClaim      string
	SessionIdle      time.Duration
	SessionMax       time.Duration
	GroupsMaxAge     time.Duration // 0: claim groups count for the whole session
	TrustedProxies   string
	SignInRateLimit  int // per client per minute; 0: off
	APIRateLimit     int // per person per minute; 0: off
	ServiceRateLimit int // per service token per minute; 0: off
	AuthFailureLimit int // failed API authentications per client address per minute; 0: off
	DisableUI        bool
	// MFAMaxAge is how recent a second factor must be for an action that
	// require_mfa names; OIDCACRValues, when set, are asked for
	// (acr_values) when a person steps up by signing in again.
	MFAMaxAge     time.Duration
	OIDCACRValues string
}

// webFlags registers the web UI's flags.
func (f *flagSet) webFlags(w *WebConfig) {
	f.str(&w.PublicURL, "public-url", "JITACCESS_PUBLIC_URL", "", "URL people use to reach jitaccess (https://jit.example.com); forms must come from it, and the OIDC redirect URL defaults to it + /auth/callback")
	f.str(&w.OIDCIssuer, "oidc-issuer", "JITACCESS_OIDC_ISSUER", "", "OpenID Connect issuer URL; turns on sign-in with it")
	f.str(&w.OIDCClientID, "oidc-client-id", "JITACCESS_OIDC_CLIENT_ID", "", "OpenID Connect client id")
	f.str(&w.OIDCClientSecret, "oidc-client-secret", "JITACCESS_OIDC_CLIENT_SECRET", "", "OpenID Connect client secret (prefer the environment variable)")
	f.str(&w.OIDCRedirectURL, "oidc-redirect-url", "JITACCESS_OIDC_REDIRECT_URL", "", "OpenID Connect redirect URL registered with the provider (default PUBLIC_URL/auth/callback)")
	f.str(&w.OIDCScopes, "oidc-scopes", "JITACCESS_OIDC_SCOPES", "openid,email,profile", "scopes to ask for, comma-separated (add groups if your provider needs it)")
	f.str(&w.OIDCName, "oidc-name", "JITACCESS_OIDC_NAME", "", "provider name on the sign-in button (\"Okta\"); default \"single sign-on\"")
	f.str(&w.EmailClaim, "oidc-email-claim", "JITACCESS_OIDC_EMAIL_CLAIM", "email", "ID token claim with the person's email")
	f.str(&w.GroupsClaim, "oidc-groups-claim", "JITACCESS_OIDC_GROUPS_CLAIM", "groups", "ID token claim with the person's groups, merged with the policy's (empty: none)")
	f.duration(&w.SessionIdle, "session-idle", "JITACCESS_SESSION_IDLE", ui.DefaultSessionIdle, "sign a web session out after this long without use")
	f.duration(&w.SessionMax, "session-max", "JITACCESS_SESSION_MAX", ui.DefaultSessionMax, "sign every web session out this long after sign-in")
	f.duration(&w.GroupsMaxAge, "groups-max-age", "JITACCESS_GROUPS_MAX_AGE", ui.DefaultGroupsMaxAge, "groups from the OIDC groups claim stop counting this long after sign-in, until the person signs in again (0: for the whole session)")
	f.str(&w.TrustedProxies, "trusted-proxies", "JITACCESS_TRUSTED_PROXIES", "", "reverse proxies whose X-Forwarded-For is believed, comma-separated addresses or CIDRs (default none)")
	f.integer(&w.SignInRateLimit, "signin-rate-limit", "JITACCESS_SIGNIN_RATE_LIMIT", httpkit.DefaultSignInPerMinute, "sign-in attempts per client per minute (0: no limit)")
	f.integer(&w.APIRateLimit, "api-rate-limit", "JITACCESS_API_RATE_LIMIT", httpkit.DefaultAPIPerMinute, "API calls per person per minute (0: no limit)")
	f.integer(&w.ServiceRateLimit, "service-rate-limit", "JITACCESS_SERVICE_RATE_LIMIT", httpkit.DefaultServicePerMinute, "API calls per service token per minute, for integrations calling check and mask (0: no limit)")
	f.integer(&w.AuthFailureLimit, "auth-failure-limit", "JITACCESS_AUTH_FAILURE_LIMIT", httpkit.DefaultAuthFailuresPerMinute, "failed API authentications per client address per minute before its calls are refused (0: no limit)")
	f.boolean(&w.DisableUI, "disable-ui", "JITACCESS_DISABLE_UI", "serve the API only, without the web UI")
	f.duration(&w.MFAMaxAge, "mfa-max-age", "JITACCESS_MFA_MAX_AGE", workflow.DefaultMFAMaxAge, "an action that require_mfa names needs a passkey assertion, or an OIDC sign-in with a strong amr, at most this old")
	f.str(&w.OIDCACRValues, "oidc-acr-values", "JITACCESS_OIDC_ACR_VALUES", "", "acr_values to ask the OIDC provider for when a person steps up by signing in again, space-separated (empty: none)")
}

func (w WebConfig) validate() error {
	if w.PublicURL != "" {
		u, err := url.Parse(w.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("--public-url %q: use the site's origin, like https://jit.example.com", w.PublicURL)
		}
	}
	if w.OIDCIssuer != "" {
		if w.OIDCClientID == "" {
			return fmt.Errorf("--oidc-issuer is set but --oidc-client-id is not")
		}
		if w.OIDCRedirectURL == "" && w.PublicURL == "" {
			return fmt.Errorf("--oidc-issuer is set: set --public-url (or --oidc-redirect-url) so that the provider can send people back")
		}
		if u, err := url.Parse(w.OIDCIssuer); err != nil || u.Host == "" || (u.Scheme != "https" && !loopbackHost(u.Hostname())) {
			return fmt.Errorf("--oidc-issuer %q: use an https:// URL", w.OIDCIssuer)
		}
		if w.OIDCRedirectURL != "" {
			if u, err := url.Parse(w.OIDCRedirectURL); err != nil || u.Host == "" || u.Path == "" {
				return fmt.Errorf("--oidc-redirect-url %q is not an absolute URL with a path", w.OIDCRedirectURL)
			}
		}
	} else if w.OIDCClientID != "" || w.OIDCClientSecret != "" {
		return fmt.Errorf("--oidc-client-id or --oidc-client-secret is set but --oidc-issuer is not")
	}
	if w.SessionIdle < 0 || w.SessionMax < 0 {
		return fmt.Errorf("--session-idle and --session-max must be positive")
	}
	if w.MFAMaxAge < 0 {
		return fmt.Errorf("--mfa-max-age must be positive")
	}
	if w.GroupsMaxAge < 0 {
		return fmt.Errorf("--groups-max-age must be 0 (no limit) or more")
	}
	if w.SessionIdle > 0 && w.SessionMax > 0 && w.SessionIdle > w.SessionMax {
		return fmt.Errorf("--session-idle (%s) is longer than --session-max (%s)", w.SessionIdle, w.SessionMax)
	}
	if _, err := httpkit.ParseTrustedProxies(w.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %v", err)
	}
	if w.SignInRateLimit < 0 || w.APIRateLimit < 0 || w.ServiceRateLimit < 0 || w.AuthFailureLimit < 0 {
		return fmt.Errorf("rate limits must be 0 (off) or more")
	}
	return nil
}

// localWebURL is the web UI's URL on a server listening at addr: the
// port on localhost, which browsers accept as a WebAuthn relying party
// (an IP address is refused).
func localWebURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func loopbackHost(h string) bool { return h == "localhost" || h == "127.0.0.1" || h == "::1" }

// perMinute turns a flag value (0: off) into web's (negative: off).
func perMinute(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// configureWeb adds the web UI and the edge settings to the server's
// configuration. The demo sign-in page exists only in demo mode.
func configureWeb(cfg Config, db *store.DB, pol *workflow.Policy, wc *web.Config) {
	w := cfg.Web
	proxies, _ := httpkit.ParseTrustedProxies(w.TrustedProxies) // validated
	wc.Edge = httpkit.EdgeConfig{TrustedProxies: proxies}
	// A zero WebConfig (tests building Config by hand) keeps web's default
	// limits; the flags always set them.
	if w.SignInRateLimit != 0 || w.APIRateLimit != 0 || w.ServiceRateLimit != 0 || w.AuthFailureLimit != 0 {
		wc.Edge.SignInPerMinute, wc.Edge.APIPerMinute = perMinute(w.SignInRateLimit), perMinute(w.APIRateLimit)
		wc.Edge.ServicePerMinute, wc.Edge.AuthFailuresPerMinute = perMinute(w.ServiceRateLimit), perMinute(w.AuthFailureLimit)
	}
	if w.DisableUI {
		return
	}
	uc := &ui.Config{Sessions: db, Audit: db, Passkeys: db, PublicURL: w.PublicURL, SessionIdle: w.SessionIdle, SessionMax: w.SessionMax,
		GroupsMaxAge: w.GroupsMaxAge}
	if w.GroupsMaxAge == 0 {
		uc.GroupsMaxAge = -1 // web's "no limit"
	}
	if w.OIDCIssuer != "" {
		redirect := w.OIDCRedirectURL
		if redirect == "" {
			redirect = strings.TrimRight(w.PublicURL, "/") + "/auth/callback"
		}
		var scopes []string
		for _, s := range strings.Split(w.OIDCScopes, ",") {
			if s = strings.TrimSpace(s); s != "" {
				scopes = append(scopes, s)
			}
		}
		uc.OIDC = &ui.OIDCConfig{Issuer: w.OIDCIssuer, ClientID: w.OIDCClientID, ClientSecret: w.OIDCClientSecret,
			RedirectURL: redirect, Scopes: scopes, EmailClaim: w.EmailClaim, GroupsClaim: w.GroupsClaim, Name: w.OIDCName,
			ACRValues: w.OIDCACRValues}
	}
	if cfg.Demo {
		for _, email := range demoPeople(pol) {
			uc.DemoUsers = append(uc.DemoUsers, ui.DemoUser{Email: email, Role: roleLabel(pol, email)})
		}
	}
	wc.UI = uc
}
