package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// requestsCmd is `jitaccess requests list`: the requests in the database,
// newest first, for an operator at the console. It shows scheduled grants
// with their start and extensions with the grant they extend.
func requestsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprintln(stderr, "usage: jitaccess requests list [--state STATE] [--requester EMAIL] [--resource ID] [--limit N]")
		return 2
	}
	var c commonFlags
	f := newFlagSet("requests list")
	f.common(&c, store.DefaultURL)
	var state, requester, resource string
	var limit int
	f.StringVar(&state, "state", "", "only requests in this state (pending, scheduled, approved, extended, ...)")
	f.StringVar(&requester, "requester", "", "only this person's requests")
	f.StringVar(&resource, "resource", "", "only requests for this resource")
	f.IntVar(&limit, "limit", 50, "at most this many, newest first (1 to 500)")
	if err := f.parse(args[1:]); err != nil {
		return usageError(stderr, "requests list", err)
	}
	st, err := workflow.ParseState(state)
	if err != nil {
		return usageError(stderr, "requests list", errors.New(workflow.ErrorMessage(err)))
	}
	if limit < 1 || limit > workflow.MaxPageSize {
		return usageError(stderr, "requests list", fmt.Errorf("--limit must be 1 to %d", workflow.MaxPageSize))
	}
	db, err := openDB(ctx, c.DatabaseURL)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess requests list: %v\n", err)
		return 1
	}
	defer db.Close()
	reqs, _, err := db.ListRequests(ctx, workflow.RequestQuery{All: true, State: st, Requester: workflow.NormalizeEmail(requester),
		Resource: resource, Limit: limit})
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess requests list: %s\n", workflow.ErrorMessage(err))
		return 1
	}
	writeRequests(stdout, reqs, workflow.Now())
	return 0
}

// writeRequests prints requests as a table.
func writeRequests(w io.Writer, reqs []*workflow.Request, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREQUESTER\tRESOURCE\tSTATE\tDURATION\tSTARTS\tEXPIRES\tEXTENDS")
	for _, r := range reqs {
		dur := workflow.FormatDuration(r.Duration)
		switch {
		case r.IsExtension():
			dur = "+" + dur
		case r.Extended > 0:
			dur += " (+" + workflow.FormatDuration(r.Extended) + ")"
		}
		starts, expires, extends := "-", "-", "-"
		if r.StartAt != nil {
			starts = r.StartAt.Format(time.RFC3339)
			if r.State == workflow.StateScheduled {
				starts += " (in " + workflow.FormatDuration(max(r.StartAt.Sub(now).Round(time.Minute), 0)) + ")"
			}
		}
		if r.ExpiresAt != nil && !r.IsExtension() {
			expires = r.ExpiresAt.Format(time.RFC3339)
		}
		if r.IsExtension() {
			extends = r.Extends
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Requester, r.Resource, r.EffectiveState(now), dur, starts, expires, extends)
	}
	tw.Flush()
}
