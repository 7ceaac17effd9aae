package app

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"slices"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

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
	return nil
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
