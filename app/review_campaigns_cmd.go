package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/workflow"
)

// reviewCampaignsCmd is `jitaccess review campaigns [--json] --policy
// FILE`: the review campaigns' runs of the last year, for operators with
// database access. The campaigns the policy has but has not opened yet are
// listed with when they will.
func reviewCampaignsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	f := newFlagSet("review campaigns")
	f.common(&c, store.DefaultURL)
	var asJSON bool
	f.BoolVar(&asJSON, "json", false, "print JSON")
	if err := f.parse(args); err != nil {
		return usageError(stderr, "review campaigns", err)
	}
	if f.NArg() > 0 {
		return usageError(stderr, "review campaigns", fmt.Errorf("unexpected argument %q", f.Arg(0)))
	}
	if c.PolicyFile == "" {
		return usageError(stderr, "review campaigns", errors.New("--policy FILE is required (the campaigns come from it)"))
	}
	pol, err := workflow.LoadPolicyFile(c.PolicyFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	db, err := openDB(ctx, c.DatabaseURL)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess review campaigns: %v\n", err)
		return 1
	}
	defer db.Close()
	svc := review.New(db, func() *workflow.Policy { return pol }, review.Options{})
	runs, err := svc.OperatorCampaignStatus(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess review campaigns: %s\n", workflow.ErrorMessage(err))
		return 1
	}
	now := workflow.Now()
	out := api.CampaignsJSON{Campaigns: make([]api.CampaignRunJSON, len(runs))}
	for i, r := range runs {
		out.Campaigns[i] = api.CampaignRunJSONOf(r, now)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return 0
	}
	if len(pol.ReviewCampaigns) == 0 {
		fmt.Fprintln(stdout, "the policy has no review_campaigns")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAMPAIGN\tOPENED FOR\tREVIEWS\tSIGNED OFF\tDUE\tSTATUS")
	for _, r := range out.Campaigns {
		status := "open"
		switch {
		case r.Overdue:
			status = "OVERDUE"
		case r.Open == 0:
			status = "done"
		}
		fmt.Fprintf(tw, "%s\t%s to %s\t%d\t%d\t%s\t%s\n", r.Campaign, r.PeriodStart.Format("2006-01-02"), r.PeriodEnd.Format("2006-01-02"),
			r.Reviews, r.SignedOff, r.DueAt.Format("2006-01-02 15:04"), status)
	}
	for _, camp := range pol.ReviewCampaigns {
		start, _ := camp.PeriodAt(now)
		opened := false
		for _, r := range runs {
			opened = opened || (r.Campaign == camp.Name && r.Start.Equal(start))
		}
		if !opened {
			fmt.Fprintf(tw, "%s\t%s (not opened yet: serve opens it within --campaign-schedule)\t\t\t\t\n", camp.Name, start.Format("2006-01-02"))
		}
	}
	tw.Flush()
	return 0
}
