package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/jitaccess/jitaccess/workflow"
)

// OIDCConfig configures sign-in with an OpenID Connect provider
// (authorization code flow with PKCE, state and nonce).
type OIDCConfig struct {
	Issuer       string // https://accounts.example.com; must match the provider's discovery document
	ClientID     string
	ClientSecret string
	RedirectURL  string   // https://jit.example.com/auth/callback; registered with the provider
	Scopes       []string // default openid, email, profile
	// EmailClaim names the claim with the person's email (default
	// "email"); GroupsClaim the one with their groups (empty: groups come
	// from the policy file only). Groups are merged with the policy file's.
	EmailClaim  string
	GroupsClaim string
	// Name is how the sign-in button names the provider ("Okta").
	Name string
	// ACRValues, when set, are asked for (acr_values) when a person steps
	// up by signing in again (with max_age=0), so that the provider asks
	// for a second factor.
	ACRValues string
	// HTTPClient talks to the provider; default: 10 s timeout.
	HTTPClient *http.Client
	// DiscoveryRetry is how long after a failed discovery to try again
	// (default 10 s), so that a provider down at boot does not stop
	// jitaccess from starting.
	DiscoveryRetry time.Duration
}

// oidcIdentity is who the provider says signed in.
type oidcIdentity struct {
	Subject string
	Email   string
	Groups  []string
	AMR     []string
	ACR     string
	// AuthTime is the provider's auth_time claim: when the person last
	// authenticated there (zero when it sent none).
	AuthTime time.Time
}

// oidcClient is the relying party. The provider's discovery document is
// fetched on first use and kept.
type oidcClient struct {
	cfg OIDCConfig
	log *slog.Logger

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	failedAt time.Time
	lastErr  error
}

func newOIDCClient(cfg OIDCConfig, log *slog.Logger) *oidcClient {
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.EmailClaim == "" {
		cfg.EmailClaim = "email"
	}
	if cfg.Name == "" {
		cfg.Name = "single sign-on"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.DiscoveryRetry <= 0 {
		cfg.DiscoveryRetry = 10 * time.Second
	}
	return &oidcClient{cfg: cfg, log: log}
}

// callbackPath is the path of the redirect URL, where the provider sends
// the browser back.
func (o *oidcClient) callbackPath() string {
	u, err := url.Parse(o.cfg.RedirectURL)
	if err != nil || u.Path == "" {
		return "/auth/callback"
	}
	return u.Path
}

func (o *oidcClient) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

// relyingParty is what discovery yields.
type relyingParty struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
}

// setup discovers the provider once. go-oidc refuses a discovery document
// whose issuer differs from the configured one.
func (o *oidcClient) setup(ctx context.Context) (relyingParty, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return relyingParty{o.provider, o.verifier, o.oauth}, nil
	}
	if o.lastErr != nil && time.Since(o.failedAt) < o.cfg.DiscoveryRetry {
		return relyingParty{}, o.lastErr
	}
	dctx, cancel := context.WithTimeout(o.ctx(ctx), 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	if err != nil {
		msg := "the identity provider cannot be reached; try again in a minute"
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			// A wrong issuer is refused, not worked around: an operator
			// must fix --oidc-issuer.
			msg = fmt.Sprintf("the identity provider says its issuer is %q, not %q; sign-in is off until the configuration is fixed",
				mismatch.Discovered, mismatch.Provided)
		}
		o.log.Error("OpenID Connect discovery failed", "issuer", o.cfg.Issuer, "err", err)
		o.failedAt, o.lastErr = time.Now(), &workflow.Error{Code: workflow.CodeUnavailable, Message: msg, Err: err}
		return relyingParty{}, o.lastErr
	}
	o.provider = p
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID})
	o.oauth = oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: o.cfg.Scopes}
	o.lastErr = nil
	return relyingParty{o.provider, o.verifier, o.oauth}, nil
}

// randomToken returns 256 random bits, URL-safe.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", workflow.Internal(err, "cannot generate a random value")
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// authURL is where to send the browser to sign in. A step-up asks the
// provider to authenticate the person afresh (max_age=0, and
// prompt=login for providers that do not honour max_age), with the
// configured acr_values, so that it asks for their second factor.
func (o *oidcClient) authURL(ctx context.Context, state, nonce, verifier string, stepUp bool) (string, error) {
	rp, err := o.setup(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if stepUp {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", "0"), oauth2.SetAuthURLParam("prompt", "login"))
		if o.cfg.ACRValues != "" {
			opts = append(opts, oauth2.SetAuthURLParam("acr_values", o.cfg.ACRValues))
		}
	}
	return rp.oauth.AuthCodeURL(state, opts...), nil
}

// refused is a sign-in the provider's answer does not support. Its message
// is shown; its cause is logged.
func refused(cause error, format string, args ...any) error {
	return &workflow.Error{Code: workflow.CodeUnauthenticated, Message: "sign-in refused: " + fmt.Sprintf(format, args...), Err: cause}
}

// finish exchanges the code, verifies the ID token (signature, issuer,
// audience, expiry: go-oidc; nonce, authorized party and access token hash:
// here) and reads the identity from it.
func (o *oidcClient) finish(ctx context.Context, code, nonce, verifier string) (oidcIdentity, error) {
	rp, err := o.setup(ctx)
	if err != nil {
		return oidcIdentity{}, err
	}
	ctx = o.ctx(ctx)
	tok, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return oidcIdentity{}, refused(err, "the identity provider did not accept the sign-in code")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return oidcIdentity{}, refused(nil, "the identity provider sent no ID token")
	}
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		switch {
		case errors.As(err, &expired):
			return oidcIdentity{}, refused(err, "the ID token has expired")
		case strings.Contains(err.Error(), "issued by a different provider"):
			return oidcIdentity{}, refused(err, "the ID token was issued by another provider")
		case strings.Contains(err.Error(), "expected audience"):
			return oidcIdentity{}, refused(err, "the ID token was issued for another application")
		}
		return oidcIdentity{}, refused(err, "the ID token is not valid")
	}
	// go-oidc leaves the nonce to us: it binds the token to this sign-in,
	// so that a token from an earlier one cannot be replayed.
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return oidcIdentity{}, refused(nil, "the ID token does not belong to this sign-in (nonce mismatch)")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return oidcIdentity{}, refused(err, "the ID token's claims cannot be read")
	}
	// A token for several audiences must name us as its authorized party.
	if len(idt.Audience) > 1 {
		if azp, _ := claims["azp"].(string); azp != o.cfg.ClientID {
			return oidcIdentity{}, refused(nil, "the ID token was issued for another application (azp)")
		}
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return oidcIdentity{}, refused(err, "the access token does not match the ID token")
		}
	}
	id := oidcIdentity{Subject: idt.Subject, AMR: stringList(claims["amr"])}
	id.ACR, _ = claims["acr"].(string)
	if at, ok := claims["auth_time"].(float64); ok && at > 0 {
		id.AuthTime = time.Unix(int64(at), 0).UTC()
	}
	if err := o.readPerson(claims, &id); err != nil {
		return oidcIdentity{}, err
	}
	if id.Email == "" {
		// Some providers keep the email out of the ID token; ask userinfo,
		// for the same subject.
		info, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return oidcIdentity{}, refused(err, "the ID token has no %q claim and the userinfo endpoint did not answer", o.cfg.EmailClaim)
		}
		if info.Subject != idt.Subject {
			return oidcIdentity{}, refused(nil, "the userinfo answer is about another subject")
		}
		var more map[string]any
		if err := info.Claims(&more); err != nil {
			return oidcIdentity{}, refused(err, "the userinfo answer cannot be read")
		}
		if err := o.readPerson(more, &id); err != nil {
			return oidcIdentity{}, err
		}
	}
	if !strings.Contains(id.Email, "@") {
		return oidcIdentity{}, refused(nil, "the identity provider did not say who you are (no %q claim with an email address)", o.cfg.EmailClaim)
	}
	return id, nil
}

// readPerson takes the email and groups from claims into id, when present.
func (o *oidcClient) readPerson(claims map[string]any, id *oidcIdentity) error {
	if email, _ := claims[o.cfg.EmailClaim].(string); email != "" {
		if v, ok := claims["email_verified"].(bool); ok && !v && o.cfg.EmailClaim == "email" {
			return refused(nil, "the identity provider has not verified the email address %s", email)
		}
		id.Email = workflow.NormalizeEmail(email)
	}
	if o.cfg.GroupsClaim != "" {
		if g := stringList(claims[o.cfg.GroupsClaim]); len(g) > 0 {
			id.Groups = g
		}
	}
	return nil
}

// stringList reads a claim that is a list of strings, or one string.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
