package app

import (
	"context"
	"crypto/sha512"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/masking"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// demoMaskTokenKey keys the demo's token mask style when no
// JITACCESS_MASK_TOKEN_KEY is set. It is public: demo only.
const demoMaskTokenKey = "jitaccess-demo-mask-token-key-not-a-secret"

// demoEncryptKeys is the demo's keyring for the encrypt mask style when no
// keys are configured: one key derived from a public phrase, so that demo
// tokens open across restarts. Never use it for real data.
func demoEncryptKeys() (*masking.Keyring, error) {
	key := sha512.Sum512([]byte("jitaccess demo encrypt key, not a secret"))
	return masking.NewKeyring([]masking.EncryptKey{{ID: "demo", Key: key[:]}})
}

//go:embed demo.yaml
var demoPolicy []byte

// DemoDatabaseURL is where --demo keeps its data unless told otherwise.
const DemoDatabaseURL = "sqlite:jitaccess-demo.db"

const demoTokenDescription = "demo token (jitaccess serve --demo)"

// DemoPolicy returns the built-in demo policy.
func DemoPolicy() *workflow.Policy {
	p, err := workflow.ParsePolicy("demo policy", demoPolicy)
	if err != nil {
		panic("the built-in demo policy is invalid: " + err.Error())
	}
	return p
}

// demoPeople lists everyone the policy names, admins first.
func demoPeople(p *workflow.Policy) []string {
	people := append([]string(nil), p.Admins...)
	for _, g := range sortedGroups(p) {
		for _, e := range p.Groups[g] {
			if !slices.Contains(people, e) {
				people = append(people, e)
			}
		}
	}
	return people
}

func sortedGroups(p *workflow.Policy) []string {
	names := make([]string, 0, len(p.Groups))
	for g := range p.Groups {
		names = append(names, g)
	}
	slices.Sort(names)
	return names
}

// issueDemoTokens retires the previous run's demo tokens and prints a fresh
// one for each person in the policy, and one for a check-scoped service.
func issueDemoTokens(ctx context.Context, db *store.DB, p *workflow.Policy, out io.Writer) error {
	now := workflow.Now()
	if err := db.RevokeTokensByDescription(ctx, demoTokenDescription, now); err != nil {
		return err
	}
	fmt.Fprintln(out, "Demo tokens (new each start; use them as Authorization: Bearer TOKEN):")
	for _, email := range demoPeople(p) {
		secret, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: email, Description: demoTokenDescription, Actor: "demo"}, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-22s %-9s %s\n", email, roleLabel(p, email), secret)
	}
	secret, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{workflow.ScopeCheck},
		Description: demoTokenDescription, Actor: "demo"}, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  %-22s %-9s %s\n", "service:helpdesk", "check", secret)
	secret, _, err = db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "okta", Scopes: []string{workflow.ScopeSCIM},
		Description: demoTokenDescription, Actor: "demo"}, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  %-22s %-9s %s\n", "service:okta", "scim", secret)
	secret, _, err = db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "crm", Scopes: []string{workflow.ScopeDetokenize},
		Description: demoTokenDescription, Actor: "demo"}, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  %-22s %-9s %s\n", "service:crm", "detokenize", secret)
	fmt.Fprintln(out, "From a terminal: JITACCESS_TOKEN=<a token above> jitaccess requests --pending | request crm-notes --for 30m --reason TEXT --wait (docs/cli.md)")
	fmt.Fprintln(out, "For an AI assistant: the MCP endpoint /mcp with a person's token above (list, request and follow; never decide; docs/api.md)")
	return nil
}

// demoSCIM is the identity provider the demo's directory came from.
var demoSCIM = workflow.ServiceAccount("okta", workflow.ScopeSCIM)

// seedDemoDirectory puts every demo person in the directory, as an identity
// provider would over SCIM (audited like any SCIM change), with the
// attributes conditions read, once: a later start keeps what the demo's
// users did to it. It prints the SCIM ids, for the README's offboarding
// example.
func seedDemoDirectory(ctx context.Context, svc *workflow.Service, p *workflow.Policy, out io.Writer) error {
	fmt.Fprintln(out, "Directory (SCIM users; deactivate one with PATCH /scim/v2/Users/ID and the okta token):")
	for _, email := range demoPeople(p) {
		found, _, err := svc.ListDirectoryUsers(ctx, demoSCIM, workflow.DirectoryQuery{UserName: email, Limit: 1})
		if err != nil {
			return err
		}
		var person *workflow.Person
		if len(found) > 0 {
			person = found[0]
		} else {
			role := roleLabel(p, email)
			person, _, err = svc.CreateDirectoryUser(ctx, demoSCIM, workflow.PersonInput{UserName: email, Active: true, Emails: []string{email},
				DisplayName: demoDisplayName(email), Attributes: map[string]string{
					workflow.AttrDepartment: demoDepartment(role), workflow.AttrRegion: "EU", workflow.AttrTitle: role,
				}})
			if err != nil {
				return err
			}
		}
		state := "active"
		if !person.Enabled() {
			state = "deactivated"
		}
		fmt.Fprintf(out, "  %-22s %-11s %s\n", email, state, person.ID)
	}
	return nil
}

func demoDisplayName(email string) string {
	name, _, _ := strings.Cut(email, "@")
	if name == "" {
		return email
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

func demoDepartment(role string) string {
	switch role {
	case "agents":
		return "Support"
	case "managers":
		return "Support management"
	case "dbas":
		return "Platform"
	case "auditors":
		return "Compliance"
	}
	return "IT"
}

func roleLabel(p *workflow.Policy, email string) string {
	who := workflow.User(email)
	if p.IsAdmin(who) {
		return "admin"
	}
	for _, g := range sortedGroups(p) {
		if slices.Contains(p.Groups[g], email) {
			return g
		}
	}
	return ""
}

// validateDemo refuses --demo where it could reach production: demo mode
// lets anyone who can reach the server sign in as anyone in the policy,
// admins included, so it only runs on this machine. A listen address
// other than loopback, a public URL that is not localhost, and OIDC are
// each a sign of a real deployment.
func (cfg *Config) validateDemo() error {
	if !cfg.Demo {
		return nil
	}
	const why = "demo mode lets anyone who can reach the server act as anyone in the policy"
	if !loopbackListen(cfg.Listen) {
		return fmt.Errorf("--demo refuses --listen %q: %s, so it listens only on loopback (127.0.0.1, ::1 or localhost)", cfg.Listen, why)
	}
	if cfg.Web.PublicURL != "" {
		u, err := url.Parse(cfg.Web.PublicURL)
		if err != nil || !loopbackHost(u.Hostname()) {
			return fmt.Errorf("--demo refuses --public-url %q: %s, so its public URL can only be localhost, 127.0.0.1 or [::1]", cfg.Web.PublicURL, why)
		}
	}
	w := cfg.Web
	if w.OIDCIssuer != "" || w.OIDCClientID != "" || w.OIDCClientSecret != "" || w.OIDCRedirectURL != "" {
		return fmt.Errorf("--demo refuses OIDC (--oidc-issuer, --oidc-client-id, --oidc-client-secret or --oidc-redirect-url is set): %s; OIDC is for a real deployment, run it without --demo", why)
	}
	return nil
}

// loopbackListen reports whether a listen address binds loopback only:
// 127.0.0.0/8, ::1 or localhost. An empty host (":8080") and 0.0.0.0 or
// :: bind every interface.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// demoOnOwnData reports whether demo mode runs on something other than its
// own policy and SQLite file: a policy file or a PostgreSQL database.
func demoOnOwnData(cfg Config) bool {
	if cfg.PolicyFile != "" || cfg.Policy != nil {
		return true
	}
	kind, _, err := store.ParseURL(cfg.DatabaseURL)
	return err == nil && kind == store.Postgres
}

// demoWarning is printed at start (stdout and the log) in demo mode.
const demoWarning = "WARNING: demo mode: anyone on this machine can act as anyone in the policy, admins included (passwordless sign-in and a printed token for each person). Never run it on real data."

// seedDemoRequests shows extensions and scheduled starts on a fresh demo
// database (once; a later start keeps what the demo's users did): bob's
// auto-approved knowledge-base grant, extended by an hour (auto-approved
// too, as the grant was), and grace's admin-console access approved by
// carol to start in two hours (state scheduled until the sweeper
// activates it).
func seedDemoRequests(ctx context.Context, svc *workflow.Service, out io.Writer) error {
	bob, grace, carol := workflow.User("bob@example.com"), workflow.User("grace@example.com"), workflow.User("carol@example.com")
	seen, _, err := svc.Store().ListRequests(ctx, workflow.RequestQuery{All: true, Requester: grace.Email, Limit: 1})
	if err != nil || len(seen) > 0 {
		return err
	}
	g, err := svc.Submit(ctx, bob, workflow.SubmitInput{Resource: "kb-drafts", Duration: 4 * time.Hour, Reason: "demo: rewriting the refunds article"})
	if err != nil {
		return err
	}
	ext, err := svc.Extend(ctx, bob, g.ID, workflow.ExtendInput{Duration: time.Hour, Reason: "demo: the review takes longer"})
	if err != nil {
		return err
	}
	start := workflow.Now().Add(2 * time.Hour).Truncate(time.Minute)
	s, err := svc.Submit(ctx, grace, workflow.SubmitInput{Resource: "admin-console", Duration: time.Hour,
		Reason: "demo: maintenance window tonight", StartAt: &start})
	if err != nil {
		return err
	}
	if s, err = svc.Approve(ctx, carol, s.ID, "window agreed"); err != nil {
		return err
	}
	fmt.Fprintf(out, "Demo requests: bob's kb-drafts grant %s extended by 1h (%s); grace's admin-console %s %s from %s.\n",
		g.ID, ext.ID, s.ID, s.State, start.Format(time.RFC3339))
	return nil
}
