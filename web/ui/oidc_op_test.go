package ui_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// testOP is a real OpenID provider (zitadel's certified op package) in the
// test process. Its storage is ours, with knobs that make it misbehave the
// ways an attacker or a misconfiguration would.
type testOP struct {
	srv      *httptest.Server
	issuer   string
	provider *op.Provider
	store    *opStore
}

// opUser is who signs in at the provider.
type opUser struct {
	Subject  string
	Email    string
	Verified *bool
	Groups   []string
	AMR      []string
	ACR      string
}

type opStore struct {
	mu       sync.Mutex
	key      *rsa.PrivateKey
	clientID string
	secret   string
	redirect string
	requests map[string]*opAuthRequest
	codes    map[string]string
	tokens   map[string]string // access token id → subject

	// Knobs.
	user     opUser
	audience []string // the audience of ID tokens; default the client they are issued to
	// tokenClient, when set, is the client the provider issues tokens to
	// (another application), whoever asked.
	tokenClient   string
	lifetime      time.Duration // ID token lifetime; default 5 min
	nonce         string        // a nonce to put in ID tokens instead of the request's
	claimsInToken bool          // email and groups in the ID token (else userinfo only)
	// discoveryIssuer, when set, is the issuer the discovery document
	// claims, while tokens keep the provider's own.
	discoveryIssuer string
	lastNonce       string // the nonce of the last auth request
	// authTime, when set, is when the person signs in (auth_time); else
	// the wall clock. last is the last auth request, as sent.
	authTime func() time.Time
	last     *oidc.AuthRequest
}

func newTestOP(t *testing.T, clientID, secret string) *testOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &testOP{issuer: "http://" + l.Addr().String()}
	o.store = &opStore{key: key, clientID: clientID, secret: secret, requests: map[string]*opAuthRequest{},
		codes: map[string]string{}, tokens: map[string]string{}, claimsInToken: true, lifetime: 5 * time.Minute}
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		t.Fatal(err)
	}
	o.provider, err = op.NewOpenIDProvider(o.issuer, &op.Config{CryptoKey: cryptoKey, CodeMethodS256: true}, o.store, op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	// The login page: the person signs in at once as the configured user.
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("authRequestID")
		o.store.mu.Lock()
		ar, ok := o.store.requests[id]
		if ok {
			ar.done, ar.subject, ar.authTime = true, o.store.user.Subject, time.Now()
			if o.store.authTime != nil {
				ar.authTime = o.store.authTime()
			}
		}
		o.store.mu.Unlock()
		if !ok {
			http.Error(w, "unknown auth request", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(o.provider)(op.ContextWithIssuer(r.Context(), o.issuer), id), http.StatusFound)
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.store.mu.Lock()
		iss := o.store.discoveryIssuer
		o.store.mu.Unlock()
		if iss != "" {
			rewriteIssuer(o.provider, iss).ServeHTTP(w, r)
			return
		}
		o.provider.ServeHTTP(w, r)
	}))
	o.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	o.srv.Start()
	t.Cleanup(o.srv.Close)
	return o
}

func (o *testOP) set(f func(s *opStore)) {
	o.store.mu.Lock()
	defer o.store.mu.Unlock()
	f(o.store)
}

type opAuthRequest struct {
	id, clientID, redirect, state, nonce string
	scopes                               []string
	challenge                            *oidc.CodeChallenge
	responseType                         oidc.ResponseType
	responseMode                         oidc.ResponseMode
	issuedTo                             string
	done                                 bool
	subject                              string
	authTime                             time.Time
	store                                *opStore
}

func (a *opAuthRequest) GetID() string          { return a.id }
func (a *opAuthRequest) GetACR() string         { return a.store.user.ACR }
func (a *opAuthRequest) GetAMR() []string       { return a.store.user.AMR }
func (a *opAuthRequest) GetAuthTime() time.Time { return a.authTime }
func (a *opAuthRequest) GetClientID() string {
	if a.issuedTo != "" {
		return a.issuedTo
	}
	return a.clientID
}
func (a *opAuthRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return a.challenge
}
func (a *opAuthRequest) GetRedirectURI() string             { return a.redirect }
func (a *opAuthRequest) GetResponseType() oidc.ResponseType { return a.responseType }
func (a *opAuthRequest) GetResponseMode() oidc.ResponseMode { return a.responseMode }
func (a *opAuthRequest) GetScopes() []string                { return a.scopes }
func (a *opAuthRequest) GetState() string                   { return a.state }
func (a *opAuthRequest) GetSubject() string                 { return a.subject }
func (a *opAuthRequest) Done() bool                         { return a.done }
func (a *opAuthRequest) GetAudience() []string {
	if a.store.audience != nil {
		return a.store.audience
	}
	return []string{a.GetClientID()}
}
func (a *opAuthRequest) GetNonce() string {
	if a.store.nonce != "" {
		return a.store.nonce
	}
	return a.nonce
}

var errNotFound = errors.New("not found")

func (s *opStore) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar := &opAuthRequest{id: fmt.Sprintf("ar%d", len(s.requests)+1), clientID: r.ClientID, redirect: r.RedirectURI, state: r.State,
		nonce: r.Nonce, scopes: r.Scopes, responseType: r.ResponseType, responseMode: r.ResponseMode, store: s}
	if r.CodeChallenge != "" {
		ar.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.requests[ar.id] = ar
	s.lastNonce, s.last = r.Nonce, r
	return ar, nil
}

func (s *opStore) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ar, ok := s.requests[id]; ok {
		return ar, nil
	}
	return nil, errNotFound
}

func (s *opStore) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ar, ok := s.requests[s.codes[code]]; ok {
		return ar, nil
	}
	return nil, errNotFound
}

func (s *opStore) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *opStore) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *opStore) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("at%d", len(s.tokens)+1)
	s.tokens[id] = r.GetSubject()
	// The code exchange has checked the client by now; from here on the
	// provider mints the tokens for tokenClient.
	if ar, ok := r.(*opAuthRequest); ok && s.tokenClient != "" {
		ar.issuedTo = s.tokenClient
	}
	return id, time.Now().Add(5 * time.Minute), nil
}

func (s *opStore) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("no refresh tokens")
}
func (s *opStore) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}
func (s *opStore) TerminateSession(context.Context, string, string) error { return nil }
func (s *opStore) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return nil
}
func (s *opStore) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type signingKey struct{ key *rsa.PrivateKey }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return "k1" }

type publicKey struct{ key *rsa.PrivateKey }

func (k publicKey) ID() string                         { return "k1" }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func (s *opStore) SigningKey(context.Context) (op.SigningKey, error) { return signingKey{s.key}, nil }
func (s *opStore) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}
func (s *opStore) KeySet(context.Context) ([]op.Key, error) { return []op.Key{publicKey{s.key}}, nil }

func (s *opStore) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != s.clientID {
		return nil, errNotFound
	}
	return &opClient{store: s}, nil
}

func (s *opStore) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != s.clientID || secret != s.secret {
		return errors.New("bad client credentials")
	}
	return nil
}

func (s *opStore) fill(info *oidc.UserInfo, fromToken bool) {
	u := s.user
	info.Subject = u.Subject
	if !fromToken && !s.claimsInToken {
		return
	}
	info.Email = u.Email
	switch {
	case u.Verified == nil:
	case *u.Verified:
		info.EmailVerified = true
	default: // the field is omitempty: false must be a claim of its own
		info.AppendClaims("email_verified", false)
	}
	if len(u.Groups) > 0 {
		info.AppendClaims("groups", u.Groups)
	}
}

func (s *opStore) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}
func (s *opStore) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, _ op.IDTokenRequest, _ []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fill(info, false)
	return nil
}
func (s *opStore) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens[tokenID]; !ok {
		return errors.New("unknown token")
	}
	s.fill(info, true)
	return nil
}
func (s *opStore) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return nil
}
func (s *opStore) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}
func (s *opStore) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}
func (s *opStore) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}
func (s *opStore) Health(context.Context) error { return nil }

type opClient struct{ store *opStore }

func (c *opClient) GetID() string                    { return c.store.clientID }
func (c *opClient) RedirectURIs() []string           { return []string{c.store.redirect} }
func (c *opClient) PostLogoutRedirectURIs() []string { return nil }
func (c *opClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c *opClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *opClient) LoginURL(id string) string            { return "/login?authRequestID=" + id }
func (c *opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration       { return c.store.lifetime }
func (c *opClient) DevMode() bool                        { return true }
func (c *opClient) IsScopeAllowed(string) bool           { return true }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return c.store.claimsInToken }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// rewriteIssuer serves the provider's discovery document with another
// issuer in it: the relying party then expects that issuer, while the
// provider keeps signing tokens with its own.
func rewriteIssuer(next http.Handler, issuer string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		doc["issuer"] = issuer
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	})
}
