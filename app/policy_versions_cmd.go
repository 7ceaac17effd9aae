package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// policyVersionJSON is one line of `jitaccess policy versions --json`,
// shaped as GET /api/v1/policy/versions.
type policyVersionJSON struct {
	Version  int                 `json:"version"`
	SHA256   string              `json:"sha256"`
	Trigger  string              `json:"trigger"`
	LoadedAt time.Time           `json:"loaded_at"`
	LoadedBy string              `json:"loaded_by"`
	Source   string              `json:"source"`
	Diff     workflow.PolicyDiff `json:"diff"`
	Summary  string              `json:"summary"`
	Lowered  bool                `json:"lowered"`
}

// policyVersionsCmd is `jitaccess policy versions`: the policy history in
// the database, newest first.
func policyVersionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	f := newFlagSet("policy versions")
	f.common(&c, store.DefaultURL)
	var limit int
	var asJSON bool
	f.IntVar(&limit, "limit", 20, "how many versions to list, newest first (0: all)")
	f.BoolVar(&asJSON, "json", false, "print JSON (one array) instead of a table")
	if err := f.parse(args); err != nil {
		return usageError(stderr, "policy versions", err)
	}
	if f.NArg() > 0 || limit < 0 {
		return usageError(stderr, "policy versions", fmt.Errorf("takes no arguments and a --limit of 0 or more"))
	}
	db, err := openDB(ctx, c.DatabaseURL)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess policy versions: %v\n", err)
		return 1
	}
	defer db.Close()
	var all []*workflow.PolicyVersion
	cursor := ""
	for {
		page := workflow.MaxPageSize
		if limit > 0 {
			page = min(page, limit-len(all))
		}
		vs, next, err := db.ListPolicyVersions(ctx, workflow.PolicyVersionQuery{Limit: page, Cursor: cursor})
		if err != nil {
			fmt.Fprintf(stderr, "jitaccess policy versions: %v\n", err)
			return 1
		}
		all = append(all, vs...)
		if next == "" || (limit > 0 && len(all) >= limit) {
			break
		}
		cursor = next
	}
	if asJSON {
		out := make([]policyVersionJSON, len(all))
		for i, v := range all {
			out[i] = policyVersionJSON{Version: v.Version, SHA256: v.SHA256, Trigger: string(v.Trigger), LoadedAt: v.LoadedAt,
				LoadedBy: v.LoadedBy, Source: v.Source, Diff: v.Diff, Summary: v.Diff.String(), Lowered: v.Lowered}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return 1
		}
		return 0
	}
	if len(all) == 0 {
		fmt.Fprintln(stdout, "no policy versions recorded yet (they are recorded when serve loads its policy)")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tLOADED AT\tTRIGGER\tSHA256\tLOWERED\tCHANGES")
	for _, v := range all {
		lowered := ""
		if v.Lowered {
			lowered = "LOWERED"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.LoadedAt.Format(time.RFC3339), v.Trigger, v.SHA256[:min(12, len(v.SHA256))],
			lowered, v.Diff.String())
	}
	tw.Flush()
	return 0
}
