package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// policyExplainCmd is `jitaccess policy explain --user EMAIL --resource ID
// [--policy FILE] [--database URL] [--json]`: what would happen if this
// person asked for this resource now (workflow.Explain). The policy is the
// file; the directory is the database's when --database is given (else the
// file's groups alone).
func policyExplainCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	f := newFlagSet("policy explain")
	f.common(&c, "")
	var user, resource string
	var asJSON bool
	var timeout time.Duration
	f.StringVar(&user, "user", "", "the person who would ask (email)")
	f.StringVar(&resource, "resource", "", "the resource they would ask for (id)")
	f.BoolVar(&asJSON, "json", false, "print the explanation as JSON (as GET /api/v1/policy/explain)")
	f.duration(&timeout, "review-timeout", "JITACCESS_REVIEW_TIMEOUT", workflow.DefaultReviewTimeout, "the server's review timeout, to show")
	if err := f.parse(args); err != nil {
		return usageError(stderr, "policy explain", err)
	}
	if f.NArg() > 0 || user == "" || resource == "" || c.PolicyFile == "" {
		fmt.Fprintln(stderr, "usage: jitaccess policy explain --user EMAIL --resource ID --policy FILE [--database URL] [--json]")
		return 2
	}
	pol, err := workflow.LoadPolicyFile(c.PolicyFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var dir workflow.DirectoryReader
	if c.DatabaseURL != "" {
		db, err := openDB(ctx, c.DatabaseURL)
		if err != nil {
			fmt.Fprintf(stderr, "jitaccess policy explain: %v\n", err)
			return 1
		}
		defer db.Close()
		dir = db
	}
	x, err := workflow.ExplainWith(ctx, dir, pol, user, resource, workflow.Now(), timeout)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess policy explain: %s\n", workflow.ErrorMessage(err))
		return 1
	}
	if asJSON {
		return printJSON(stdout, stderr, "policy explain", x)
	}
	printExplanation(stdout, x)
	return 0
}

func printJSON(stdout, stderr io.Writer, cmd string, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "jitaccess %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// printExplanation writes x as the CLI shows it.
func printExplanation(w io.Writer, x workflow.Explanation) {
	if x.CanRequest {
		fmt.Fprintf(w, "%s may request %s\n", x.User, x.Resource)
	} else {
		fmt.Fprintf(w, "%s may not request %s:\n", x.User, x.Resource)
		for _, r := range x.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}
	if len(x.Conditions) > 0 {
		fmt.Fprintln(w, "conditions:")
		for _, c := range x.Conditions {
			fmt.Fprintf(w, "  line %d: %s → %s\n", c.Line, c.Expr, c.Result())
		}
	}
	if bg := x.BreakGlass; bg != nil {
		may := "may not use"
		if bg.CanUse {
			may = "may use"
		}
		fmt.Fprintf(w, "break-glass (%s): %s %s emergency access\n", bg.Summary, x.User, may)
	}
	if x.AutoApprove {
		fmt.Fprintf(w, "tier %s, auto-approved\n", x.Tier)
		return
	}
	timeout := ""
	if x.ReviewTimeout != "" {
		timeout = ", review timeout " + x.ReviewTimeout
	}
	fmt.Fprintf(w, "tier %s, %s required%s\n", x.Tier, workflow.Plural(x.ApprovalsRequired, "approval", "approvals"), timeout)
	fmt.Fprintf(w, "approvers (%d of %d can approve today):\n", x.ApproversAvailable, len(x.Approvers))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, a := range x.Approvers {
		verdict := "pass"
		if !a.Passes {
			verdict = "FAIL: " + a.Reason
		}
		fmt.Fprintf(tw, "  %s\t%s\n", a.Email, verdict)
	}
	tw.Flush()
	if x.ApproversAvailable < x.ApprovalsRequired {
		fmt.Fprintf(w, "a request could not be approved today: %d needed, %d available\n", x.ApprovalsRequired, x.ApproversAvailable)
	}
}

// policyDiffReport is `jitaccess policy diff --json`.
type policyDiffReport struct {
	Diff         workflow.PolicyDiff     `json:"diff"`
	MaxDurations []maxDurationChange     `json:"max_durations_changed,omitempty"`
	Plan         *workflow.ReconcilePlan `json:"plan,omitempty"` // with --database
}

type maxDurationChange struct {
	Resource string `json:"resource"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// policyDiffCmd is `jitaccess policy diff OLD.yaml NEW.yaml [--database
// URL] [--json]`: what loading NEW in place of OLD would change. The diff is
// the one policy.load records (workflow.DiffPolicies), with everyone who
// gains or loses the right to request and to approve each resource; with
// --database, group members include the directory's, and the live grants,
// pending requests and approvals the new policy would end are listed
// (workflow.PlanReconcile, which writes nothing).
func policyDiffCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	f := newFlagSet("policy diff")
	f.common(&c, "")
	var asJSON bool
	f.BoolVar(&asJSON, "json", false, "print JSON instead of text")
	// The files come first in the usage, the flags after.
	files, err := parseMixed(f, args)
	if err != nil {
		return usageError(stderr, "policy diff", err)
	}
	if len(files) != 2 {
		fmt.Fprintln(stderr, "usage: jitaccess policy diff OLD.yaml NEW.yaml [--database URL] [--json]")
		return 2
	}
	var pols [2]*workflow.Policy
	for i := range pols {
		p, err := workflow.LoadPolicyFile(files[i])
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		pols[i] = p
	}
	oldS, newS := workflow.SummarizePolicy(pols[0]), workflow.SummarizePolicy(pols[1])
	var report policyDiffReport
	if c.DatabaseURL != "" {
		db, err := openDB(ctx, c.DatabaseURL)
		if err != nil {
			fmt.Fprintf(stderr, "jitaccess policy diff: %v\n", err)
			return 1
		}
		defer db.Close()
		if oldS, newS, err = withDirectory(ctx, db, oldS, newS); err == nil {
			var trigger string
			if trigger, err = nextVersionTrigger(ctx, db); err == nil {
				var plan workflow.ReconcilePlan
				plan, err = workflow.PlanReconcile(ctx, db, pols[1], trigger, workflow.Now())
				report.Plan = &plan
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "jitaccess policy diff: %s\n", workflow.ErrorMessage(err))
			return 1
		}
	}
	report.Diff = workflow.DiffPolicies(oldS, newS)
	for _, r := range pols[1].Resources {
		if o, ok := pols[0].Resource(r.ID); ok && o.MaxDuration != r.MaxDuration {
			report.MaxDurations = append(report.MaxDurations, maxDurationChange{Resource: r.ID,
				From: workflow.FormatDuration(o.MaxDuration), To: workflow.FormatDuration(r.MaxDuration)})
		}
	}
	if asJSON {
		return printJSON(stdout, stderr, "policy diff", report)
	}
	lines := report.Diff.Lines()
	for _, m := range report.MaxDurations {
		lines = append(lines, fmt.Sprintf("%s max_duration %s → %s", m.Resource, m.From, m.To))
	}
	if len(lines) == 0 {
		fmt.Fprintln(stdout, "no change to resources, groups, admins or access")
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	if p := report.Plan; p != nil {
		fmt.Fprintf(stdout, "\nAgainst the database, loading %s would:\n", files[1])
		if len(p.Ends) == 0 && len(p.Withdrawals) == 0 {
			fmt.Fprintln(stdout, "  end no grant or request and withdraw no approval")
		}
		for _, e := range p.Ends {
			what := "revoke the live grant"
			if e.Event == workflow.EventCancel {
				what = "cancel the pending request"
			}
			fmt.Fprintf(stdout, "  %s %s (%s on %s): %s\n", what, e.RequestID, e.Requester, e.Resource, e.Reason)
		}
		for _, w := range p.Withdrawals {
			fmt.Fprintf(stdout, "  withdraw %s's approval of %s (%s on %s): %s\n", w.Approver, w.RequestID, w.Requester, w.Resource, w.Reason)
		}
	}
	return 0
}

// withDirectory adds the directory's members of every group either
// summary names.
func withDirectory(ctx context.Context, db *store.DB, oldS, newS workflow.PolicySummary) (workflow.PolicySummary, workflow.PolicySummary, error) {
	var names []string
	for g := range oldS.Groups {
		names = append(names, g)
	}
	for g := range newS.Groups {
		if !slices.Contains(names, g) {
			names = append(names, g)
		}
	}
	extra := map[string][]string{}
	for _, g := range names {
		members, err := workflow.DirectoryMembers(ctx, db, g)
		if err != nil {
			return oldS, newS, err
		}
		extra[g] = members
	}
	return oldS.WithMembers(extra), newS.WithMembers(extra), nil
}

// nextVersionTrigger names the version NEW would become, as the reasons
// of a real load would.
func nextVersionTrigger(ctx context.Context, db *store.DB) (string, error) {
	vs, _, err := db.ListPolicyVersions(ctx, workflow.PolicyVersionQuery{Limit: 1})
	if err != nil {
		return "", err
	}
	next := 1
	if len(vs) > 0 {
		next = vs[0].Version + 1
	}
	return fmt.Sprintf("policy version %d", next), nil
}
