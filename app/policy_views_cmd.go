package app

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jitaccess/jitaccess/workflow"
)

// policyViewsCmd is `jitaccess policy views [--resource ID] [--json]
// [--demo] [FILE]`: who sees what. For each resource that declares fields
// (or the one --resource names), the field × group matrix: the style each
// group's members get without a grant, and what a live grant shows. It
// reads the policy file (FILE, else --policy / JITACCESS_POLICY, else the
// demo policy with --demo); no database.
func policyViewsCmd(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	f := newFlagSet("policy views")
	f.common(&c, "")
	var resource string
	var asJSON, demo bool
	f.StringVar(&resource, "resource", "", "only this resource")
	f.BoolVar(&asJSON, "json", false, "print JSON (one array of matrices) instead of tables")
	f.BoolVar(&demo, "demo", false, "read the built-in demo policy")
	if err := f.parse(args); err != nil {
		return usageError(stderr, "policy views", err)
	}
	file := c.PolicyFile
	if f.NArg() == 1 {
		file = f.Arg(0)
	}
	if f.NArg() > 1 || file == "" && !demo || file != "" && demo {
		fmt.Fprintln(stderr, "usage: jitaccess policy views [--resource ID] [--json] FILE | --demo")
		return 2
	}
	var pol *workflow.Policy
	if demo {
		pol = DemoPolicy()
	} else {
		var err error
		if pol, err = workflow.LoadPolicyFile(file); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	var ms []workflow.ViewMatrix
	if resource != "" {
		r, ok := pol.Resource(resource)
		if !ok {
			fmt.Fprintf(stderr, "jitaccess policy views: unknown resource %q\n", resource)
			return 1
		}
		ms = append(ms, pol.Matrix(r))
	} else {
		for _, r := range pol.Resources {
			if len(r.Fields) > 0 {
				ms = append(ms, pol.Matrix(r))
			}
		}
	}
	if asJSON {
		if ms == nil {
			ms = []workflow.ViewMatrix{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ms); err != nil {
			fmt.Fprintf(stderr, "jitaccess policy views: %v\n", err)
			return 1
		}
		return 0
	}
	if len(ms) == 0 {
		fmt.Fprintln(stdout, "no resource declares fields: the mask API masks nothing")
		return 0
	}
	for i, m := range ms {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%s\n", m.Resource)
		if len(m.Fields) == 0 {
			fmt.Fprintln(stdout, "  no fields declared: records pass through unmasked")
			continue
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		head := append([]string{"FIELD", "DEFAULT"}, m.Groups...)
		fmt.Fprintln(tw, strings.Join(append(head, "WITH A LIVE GRANT"), "\t"))
		for _, row := range m.Fields {
			cells := []string{row.Field, string(row.Mask)}
			for _, st := range row.Cells {
				cells = append(cells, string(st))
			}
			fmt.Fprintln(tw, strings.Join(append(cells, string(row.Granted)), "\t"))
		}
		tw.Flush()
	}
	fmt.Fprintln(stdout, "\nSomeone in several groups gets the most revealing of their groups' styles (clear > last4 > token, encrypt > redact).")
	return 0
}
