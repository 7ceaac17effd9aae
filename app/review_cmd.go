package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/workflow"
)

// The review command line: jitaccess review report|flags|campaigns.

const reviewUsage = `usage:
  jitaccess review report --since TIME --until TIME [--resource ID | --person EMAIL] [--json] --policy FILE
  jitaccess review flags [--since TIME] [--until TIME] [--resource ID | --person EMAIL] [--json] --policy FILE
  jitaccess review campaigns [--json] --policy FILE
Sign-offs and follow-ups are made through the API (POST /api/v1/reviews...), as a person.`

// reviewCmd is `jitaccess review report|flags`, for operators with
// database access.
func reviewCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "campaigns" {
		return reviewCampaignsCmd(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "report" && args[0] != "flags") {
		fmt.Fprintln(stderr, reviewUsage)
		return 2
	}
	sub := args[0]
	var c commonFlags
	f := newFlagSet("review " + sub)
	f.common(&c, store.DefaultURL)
	var since, until, resource, person string
	var asJSON bool
	f.StringVar(&since, "since", "", "start of the period (TIME)")
	f.StringVar(&until, "until", "", "end of the period (TIME, exclusive)")
	f.StringVar(&resource, "resource", "", "only this resource")
	f.StringVar(&person, "person", "", "only this person")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	var oc OversightConfig
	registerOversightFlags(f, &oc)
	if err := f.parse(args[1:]); err != nil {
		return usageError(stderr, "review "+sub, err)
	}
	if c.PolicyFile == "" {
		return usageError(stderr, "review "+sub, errors.New("--policy FILE is required (working hours and teams come from it)"))
	}
	s, err := parseTime("since", since)
	if err != nil {
		return usageError(stderr, "review "+sub, err)
	}
	u, err := parseTime("until", until)
	if err != nil {
		return usageError(stderr, "review "+sub, err)
	}
	if u.IsZero() && sub == "flags" {
		u = workflow.Now()
	}
	if s.IsZero() && sub == "flags" {
		s = u.Add(-30 * 24 * time.Hour)
	}
	scope := review.Scope{Kind: review.ScopeAll}
	switch {
	case resource != "" && person != "":
		return usageError(stderr, "review "+sub, errors.New("pass --resource or --person, not both"))
	case resource != "":
		scope = review.Scope{Kind: review.ScopeResource, Value: resource}
	case person != "":
		scope = review.Scope{Kind: review.ScopePerson, Value: person}
	}
	pol, err := workflow.LoadPolicyFile(c.PolicyFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	db, err := openDB(ctx, c.DatabaseURL)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess review %s: %v\n", sub, err)
		return 1
	}
	defer db.Close()
	svc := review.New(db, func() *workflow.Policy { return pol }, review.Options{Thresholds: oc.Thresholds, ProvisionQueues: oc.ProvisionQueues,
		MaxPeriodRequests: oc.ReportMaxRequests})
	rep, err := svc.OperatorReport(ctx, scope, review.Period{Start: s, End: u})
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess review %s: %s\n", sub, workflow.ErrorMessage(err))
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if sub == "flags" {
			out := make([]review.FlagJSON, len(rep.Flags))
			for i, fl := range rep.Flags {
				out[i] = fl.ToJSON()
			}
			enc.Encode(out)
		} else {
			enc.Encode(api.ReportJSONOf(rep))
		}
		return 0
	}
	if sub == "flags" {
		printFlags(rep.Flags, stdout)
		return 0
	}
	printReport(rep, stdout)
	return 0
}

func printFlags(flags []review.Flag, stdout io.Writer) {
	if len(flags) == 0 {
		fmt.Fprintln(stdout, "no anomaly flags")
		return
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tKIND\tPERSON\tRESOURCE\tREQUESTS\tWHY")
	for _, f := range flags {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.At.Format(time.RFC3339), f.Kind, dash(f.Person), dash(f.Resource), dash(strings.Join(f.RequestIDs, ",")), f.Reason)
	}
	tw.Flush()
}

func printReport(rep *review.Report, stdout io.Writer) {
	fmt.Fprintf(stdout, "Access review of %s from %s to %s\n", rep.Scope, rep.Period.Start.Format(time.RFC3339), rep.Period.End.Format(time.RFC3339))
	fmt.Fprintf(stdout, "%d requests filed, %d grants; report digest %s\n\n", rep.Counts.Requested, len(rep.Grants), rep.Digest)
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tTIER\tPERSON\tGRANTS\tTOTAL\tAPPROVED BY\tREASONS")
	for _, r := range rep.ByResource {
		for _, l := range r.Lines {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", l.Resource, l.Tier, l.Person, l.Grants, workflow.FormatDuration(l.Total.Round(time.Second)),
				strings.Join(l.Approvers, ", "), strings.Join(l.Reasons, " | "))
		}
	}
	tw.Flush()
	if len(rep.Standing) > 0 {
		fmt.Fprintln(stdout, "\nStanding exceptions:")
		for _, s := range rep.Standing {
			fmt.Fprintln(stdout, "  - "+s.Message)
		}
	}
	fmt.Fprintln(stdout, "\nAnomaly flags:")
	printFlags(rep.Flags, stdout)
}
