package workflow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// bgPolicy is a policy with one resource whose break_glass block is
// BLOCK (indented under the resource, at line 12).
func bgPolicy(block string) string {
	return `admins: [root@example.com]
groups:
  oncall: [olga@example.com]
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: prod-db
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    break_glass:
` + block
}

func TestParseBreakGlass(t *testing.T) {
	p, err := workflow.ParsePolicy("p.yaml", []byte(bgPolicy("      groups: [oncall]\n      reviewers_required: 2\n      review_within: 12h\n")))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := p.Resource("prod-db")
	bg := r.BreakGlass
	if bg == nil || bg.MaxDuration != 2*time.Hour || bg.ReviewersRequired != 2 || bg.ReviewWithin != 12*time.Hour || bg.SkipConditions ||
		len(bg.Groups) != 1 || bg.Groups[0] != "oncall" {
		t.Fatalf("break_glass = %+v (max_duration defaults to the resource's)", bg)
	}
	if len(p.Warnings()) != 0 {
		t.Fatalf("warnings %v", p.Warnings())
	}
	p, err = workflow.ParsePolicy("p.yaml", []byte(bgPolicy("      groups: [oncall]\n      skip_conditions: true\n")))
	if err != nil {
		t.Fatal(err)
	}
	r, _ = p.Resource("prod-db")
	if r.BreakGlass.ReviewersRequired != 1 || r.BreakGlass.ReviewWithin != 24*time.Hour {
		t.Fatalf("defaults: %+v", r.BreakGlass)
	}
	if w := p.Warnings(); len(w) != 1 || !strings.Contains(w[0], "p.yaml:7: resource \"prod-db\": break_glass.skip_conditions is true") {
		t.Fatalf("warnings %q", w)
	}
}

func TestParseBreakGlassErrors(t *testing.T) {
	for _, tc := range []struct {
		name, block, want string
	}{
		{"no groups", "      max_duration: 1h\n", "p.yaml:13:7: break_glass has no groups"},
		{"empty groups", "      groups: []\n", "p.yaml:13:15: break_glass.groups is empty"},
		{"unknown group", "      groups: [oncall, pager]\n", `p.yaml:13:: group "pager" is not defined under groups`},
		{"longer than the resource", "      groups: [oncall]\n      max_duration: 3h\n", "p.yaml:14:21: break_glass.max_duration 3h of resource \"prod-db\" is longer than its max_duration 2h"},
		{"negative duration", "      groups: [oncall]\n      review_within: -1h\n", `p.yaml:14:22: break_glass.review_within must be positive, not "-1h"`},
		{"not a duration", "      groups: [oncall]\n      max_duration: soon\n", `p.yaml:14:21: break_glass.max_duration "soon" is not a duration`},
		{"no reviewers", "      groups: [oncall]\n      reviewers_required: 0\n", "p.yaml:14:27: break_glass.reviewers_required must be at least 1"},
		{"too few reviewers", "      groups: [oncall]\n      reviewers_required: 4\n", `p.yaml:14:27: resource "prod-db" needs 4 reviewers for each emergency use but its approvers and the admins are only 3 people`},
		{"unknown key", "      groups: [oncall]\n      skip: true\n", `p.yaml:14:7: unknown key "skip" in break_glass`},
		{"not a bool", "      groups: [oncall]\n      skip_conditions: yes please\n", `p.yaml:14:24: break_glass.skip_conditions must be true or false`},
		{"not a mapping", "      [oncall]\n", "p.yaml:13:7: break_glass must be a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflow.ParsePolicy("p.yaml", []byte(bgPolicy(tc.block)))
			if err == nil {
				t.Fatal("accepted")
			}
			want := strings.Replace(tc.want, "::", ":", 1)
			if tc.name == "unknown group" {
				// Group references are located by line, like every other.
				if !strings.Contains(err.Error(), "p.yaml:13:") || !strings.Contains(err.Error(), `group "pager" is not defined under groups`) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("got  %v\nwant %s", err, want)
			}
		})
	}
}

// TestDiffBreakGlass: adding a break_glass block, or making it skip the
// conditions, lowers the bar; the diff names the block before and after.
func TestDiffBreakGlass(t *testing.T) {
	parse := func(src string) workflow.PolicySummary {
		p, err := workflow.ParsePolicy("p.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return workflow.SummarizePolicy(p)
	}
	none := parse(strings.Replace(bgPolicy(""), "    break_glass:\n", "", 1))
	plain := parse(bgPolicy("      groups: [oncall]\n"))
	skip := parse(bgPolicy("      groups: [oncall]\n      skip_conditions: true\n"))
	for _, tc := range []struct {
		name     string
		old, new workflow.PolicySummary
		lowered  bool
		from, to string
	}{
		{"added", none, plain, true, "", "groups oncall, max 2h, 1 reviewer within 24h"},
		{"skips conditions", plain, skip, true, "groups oncall, max 2h, 1 reviewer within 24h", "groups oncall, max 2h, 1 reviewer within 24h, skips conditions"},
		{"removed", plain, none, false, "groups oncall, max 2h, 1 reviewer within 24h", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := workflow.DiffPolicies(tc.old, tc.new)
			if len(d.Resources) != 1 || d.Resources[0].Lowered != tc.lowered || len(d.Resources[0].Settings) != 1 {
				t.Fatalf("diff %+v", d)
			}
			if s := d.Resources[0].Settings[0]; s.Key != "break_glass" || s.From != tc.from || s.To != tc.to {
				t.Fatalf("setting %+v", s)
			}
		})
	}
	if workflow.DiffPolicies(plain, plain).Resources != nil {
		t.Fatal("no change reported as one")
	}
}
