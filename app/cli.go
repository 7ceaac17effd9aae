// Package app wires jitaccess together: configuration, database,
// migrations, the HTTP server, the cron sweeper, the workers, shutdown, and
// the command line around them.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// Version is set at build time (-ldflags "-X github.com/jitaccess/jitaccess/app.Version=...").
var Version = "dev"

const usage = `jitaccess: just-in-time access approval

Usage:
  jitaccess serve [--demo] [--listen ADDR] [--database URL] [--policy FILE] [--sweep-schedule SPEC] ...
  jitaccess migrate [--database URL]
  jitaccess policy check [--provision-lease DURATION] FILE
  jitaccess policy versions [--limit N] [--json]
  jitaccess policy views [--resource ID] [--json] [--demo] [FILE]
  jitaccess policy explain --user EMAIL --resource ID [--policy FILE] [--database URL] [--json]
  jitaccess policy diff OLD.yaml NEW.yaml [--database URL] [--json]
  jitaccess token create (--user EMAIL | --service NAME --scope SCOPE) [--description TEXT] [--expires-in DURATION]
  jitaccess token list
  jitaccess token revoke TOKEN_ID
  jitaccess bench lifecycle|sweep|sweep-lag --database URL [--clients N] ...
  jitaccess audit verify|export|prune|checkpoint ...   (docs/audit.md)
  jitaccess review report|flags ...                    (docs/reviews.md)
  jitaccess version

Client commands (talk to a running server; --server URL, env JITACCESS_URL,
and --token TOKEN, env JITACCESS_TOKEN; --json for scripts; docs/cli.md):
  jitaccess request RESOURCE --for DURATION --reason TEXT [--ticket T] [--purpose P] [--start TIME] [--wait]
  jitaccess extend ID --for DURATION --reason TEXT [--wait]
  jitaccess requests [--mine | --pending] [--state STATE]
  jitaccess approve ID [--comment TEXT]
  jitaccess deny ID --reason TEXT
  jitaccess cancel ID
  jitaccess grants [--mine]
  jitaccess relinquish ID [--reason TEXT]

Every server-side subcommand takes --database URL (env DATABASE_URL; default sqlite:jitaccess.db)
and --policy FILE (env JITACCESS_POLICY). Run "jitaccess COMMAND -h" for a command's flags.
`

// Main runs the command line and returns the process exit code: 0 on
// success, 1 when the command failed, 2 when it was called wrongly.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	if cmd != "serve" {
		// What the commands write to the audit log themselves (tokens,
		// exports, prunes) came from the command line.
		ctx = workflow.WithSource(ctx, workflow.SourceCLI)
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, stdout, stderr)
	case "policy":
		return policyCmd(ctx, rest, stdout, stderr)
	case "token":
		return tokenCmd(ctx, rest, stdout, stderr)
	case "audit":
		return auditCmd(ctx, rest, stdout, stderr)
	case "review":
		return reviewCmd(ctx, rest, stdout, stderr)
	case "request", "requests", "approve", "deny", "cancel", "grants", "relinquish", "extend":
		return clientCmd(ctx, cmd, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "jitaccess", Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "jitaccess: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func usageError(stderr io.Writer, cmd string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "jitaccess %s: %v\n", cmd, err)
	return 2
}

func openDB(ctx context.Context, rawURL string) (*store.DB, error) {
	if rawURL == "" {
		rawURL = store.DefaultURL
	}
	db, err := store.Open(ctx, rawURL, store.Options{MaxOpenConns: 4, SealInline: true})
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// migrate is `jitaccess migrate`.
func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	f := newFlagSet("migrate")
	f.common(&c, store.DefaultURL)
	if err := f.parse(args); err != nil {
		return usageError(stderr, "migrate", err)
	}
	db, err := store.Open(ctx, c.DatabaseURL, store.Options{MaxOpenConns: 2, SealInline: true})
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess migrate: %v\n", err)
		return 1
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess migrate: %v\n", err)
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, v := range applied {
		fmt.Fprintf(stdout, "applied migration %05d\n", v)
	}
	return 0
}

// policyCmd is `jitaccess policy check [--provision-lease D] FILE`, `jitaccess policy
// versions` (policy_versions_cmd.go) and `jitaccess policy views`
// (policy_views_cmd.go).
func policyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "versions" {
		return policyVersionsCmd(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "views" {
		return policyViewsCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "explain" {
		return policyExplainCmd(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "diff" {
		return policyDiffCmd(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: jitaccess policy check FILE | versions [--limit N] [--json] | views [--resource ID] [--json] [--demo] [FILE] | explain --user EMAIL --resource ID | diff OLD.yaml NEW.yaml")
		return 2
	}
	var c commonFlags
	var lease time.Duration
	f := newFlagSet("policy check")
	f.common(&c, "")
	// The same flag and variable as serve's, so that a check run where the
	// server's environment is set judges the timeouts against its lease.
	f.duration(&lease, "provision-lease", "JITACCESS_PROVISION_LEASE", queue.DefaultLease,
		"the provisioning lease serve will run with: every webhook timeout must be below it")
	if err := f.parse(args[1:]); err != nil {
		return usageError(stderr, "policy check", err)
	}
	file := c.PolicyFile
	if f.NArg() == 1 {
		file = f.Arg(0)
	}
	if file == "" || f.NArg() > 1 {
		fmt.Fprintln(stderr, "usage: jitaccess policy check [--provision-lease DURATION] FILE")
		return 2
	}
	pol, err := workflow.LoadPolicyFile(file)
	if err == nil {
		err = provision.CheckLease(pol, lease)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, w := range pol.Warnings() {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	fmt.Fprintf(stdout, "%s: OK: %d resources, %d groups, %d admins, %s passed\n", file, len(pol.Resources), len(pol.Groups), len(pol.Admins),
		workflow.Plural(len(pol.Tests), "test", "tests"))
	return 0
}

// cliActor names the person running a command, for the audit log.
func cliActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return "cli:" + name
}

// tokenCmd is `jitaccess token create|list|revoke`.
func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: jitaccess token create|list|revoke ...")
		return 2
	}
	sub, rest := args[0], args[1:]
	var c commonFlags
	f := newFlagSet("token " + sub)
	f.common(&c, store.DefaultURL)
	var userEmail, service, scopes, desc string
	var ttl time.Duration
	switch sub {
	case "create":
		f.StringVar(&userEmail, "user", "", "create a token for this person (email)")
		f.StringVar(&service, "service", "", "create a token for this service (a name)")
		f.StringVar(&scopes, "scope", "", "service token scopes, comma-separated: "+strings.Join(workflow.KnownScopes, ", "))
		f.StringVar(&desc, "description", "", "what the token is for")
		f.DurationVar(&ttl, "expires-in", 0, "token lifetime, like 720h (default: no expiry)")
	case "list", "revoke":
	default:
		fmt.Fprintf(stderr, "jitaccess token: unknown subcommand %q; use create, list or revoke\n", sub)
		return 2
	}
	if err := f.parse(rest); err != nil {
		return usageError(stderr, "token "+sub, err)
	}
	if sub == "create" {
		if (userEmail == "") == (service == "") {
			return usageError(stderr, "token create", errors.New("pass exactly one of --user EMAIL or --service NAME"))
		}
		if ttl < 0 {
			return usageError(stderr, "token create", errors.New("--expires-in must be positive"))
		}
		if service == "" && scopes != "" {
			return usageError(stderr, "token create", errors.New("--scope is for service tokens; a user token acts with its user's rights"))
		}
	}
	// The token is checked before anything else is read, so that a bad
	// address is the one thing reported (not a policy warning about it).
	nt := identity.NewToken{Kind: identity.TokenUser, Subject: userEmail, Description: desc, TTL: ttl, Actor: cliActor()}
	if service != "" {
		nt = identity.NewToken{Kind: identity.TokenService, Subject: service, Description: desc, TTL: ttl, Actor: cliActor()}
		for _, s := range strings.Split(scopes, ",") {
			if s = strings.TrimSpace(s); s != "" {
				nt.Scopes = append(nt.Scopes, s)
			}
		}
	}
	if sub == "create" {
		if err := nt.Validate(); err != nil {
			fmt.Fprintf(stderr, "jitaccess token create: %s\n", workflow.ErrorMessage(err))
			return 1
		}
	}
	if sub == "revoke" && f.NArg() != 1 {
		return usageError(stderr, "token revoke", errors.New("pass the id of the token to revoke (see jitaccess token list)"))
	}
	var pol *workflow.Policy
	if c.PolicyFile != "" {
		p, err := workflow.LoadPolicyFile(c.PolicyFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		pol = p
	}
	db, err := openDB(ctx, c.DatabaseURL)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess token %s: %v\n", sub, err)
		return 1
	}
	defer db.Close()
	now := workflow.Now()
	switch sub {
	case "create":
		if pol != nil && service == "" && !pol.Knows(workflow.User(nt.Subject)) {
			fmt.Fprintf(stderr, "warning: %s is not in %s; the token will be refused everything but reading their own requests\n", nt.Subject, c.PolicyFile)
		}
		secret, tok, err := db.CreateToken(ctx, nt, now)
		if err != nil {
			fmt.Fprintf(stderr, "jitaccess token create: %s\n", workflow.ErrorMessage(err))
			return 1
		}
		exp := "never expires"
		if tok.ExpiresAt != nil {
			exp = "expires " + tok.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "Created %s token %s for %s (%s). It is shown once; store it now:\n", tok.Kind, tok.ID, tok.Subject, exp)
		fmt.Fprintln(stdout, secret)
	case "list":
		// Every token: the store pages, the command reads every page.
		var toks []identity.Token
		for cursor := ""; ; {
			page, next, err := db.ListTokens(ctx, identity.MaxListLimit, cursor)
			if err != nil {
				fmt.Fprintf(stderr, "jitaccess token list: %v\n", err)
				return 1
			}
			toks = append(toks, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tSUBJECT\tSCOPES\tCREATED\tEXPIRES\tSTATUS\tLAST USED\tDESCRIPTION")
		for _, t := range toks {
			status := "active"
			switch {
			case t.RevokedAt != nil:
				status = "revoked"
			case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
				status = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, t.Subject, dash(strings.Join(t.Scopes, ",")),
				t.CreatedAt.Format(time.RFC3339), timeOrDash(t.ExpiresAt), status, timeOrDash(t.LastUsedAt), dash(t.Description))
		}
		tw.Flush()
	case "revoke":
		if err := db.RevokeToken(ctx, f.Arg(0), cliActor(), now); err != nil {
			fmt.Fprintf(stderr, "jitaccess token revoke: %s\n", workflow.ErrorMessage(err))
			return 1
		}
		fmt.Fprintf(stdout, "revoked token %s\n", f.Arg(0))
	}
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
