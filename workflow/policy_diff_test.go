package workflow_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/workflow"
)

func summaryOf(t *testing.T, yaml string) workflow.PolicySummary {
	t.Helper()
	p, err := workflow.ParsePolicy("p.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return workflow.SummarizePolicy(p)
}

const diffBase = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com, erin@example.com]
resources:
  - id: crm-payments
    tier: high
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
  - id: crm-notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

func TestDiffPolicies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		new     string
		want    workflow.PolicyDiff
		lowered bool
		text    string
	}{
		{name: "same", new: diffBase, want: workflow.PolicyDiff{}, text: "no change to resources, groups or admins"},
		{name: "comment and duration only", new: strings.Replace(diffBase, "max_duration: 1h", "max_duration: 2h # longer", 1),
			want: workflow.PolicyDiff{}, text: "no change"},
		{name: "tier high to medium", new: strings.Replace(diffBase, "tier: high", "tier: medium", 1), lowered: true,
			want: workflow.PolicyDiff{Resources: []workflow.ResourceChange{{ID: "crm-payments",
				Tier: &workflow.TierChange{From: "high", To: "medium"}, Approvals: &workflow.IntChange{From: 2, To: 1},
				Lowered: true, TwoPersonRuleRemoved: true}}},
			text: "crm-payments tier high → medium (LOWERED); crm-payments approvals_required 2 → 1 (LOWERED: two-person rule removed)"},
		{name: "tier raised", new: strings.Replace(diffBase, "tier: medium", "tier: high", 1),
			want: workflow.PolicyDiff{Resources: []workflow.ResourceChange{{ID: "crm-notes",
				Tier: &workflow.TierChange{From: "medium", To: "high"}, Approvals: &workflow.IntChange{From: 1, To: 2}}}},
			text: "crm-notes tier medium → high; crm-notes approvals_required 1 → 2"},
		{name: "member removed", new: strings.Replace(diffBase, "carol@example.com, ", "", 1),
			want: workflow.PolicyDiff{Groups: []workflow.GroupChange{{Name: "managers", MembersRemoved: []string{"carol@example.com"}}},
				Access: []workflow.AccessChange{
					{Resource: "crm-notes", Approvers: &workflow.ListChange{Removed: []string{"carol@example.com"}}},
					{Resource: "crm-payments", Approvers: &workflow.ListChange{Removed: []string{"carol@example.com"}}}}},
			text: "group managers: -carol@example.com; crm-notes may approve: -carol@example.com; crm-payments may approve: -carol@example.com"},
		{name: "resource and group added, admin changed",
			new: strings.Replace(strings.Replace(diffBase, "root@", "boss@", 1), "  managers:", "  contractors: [zed@example.com]\n  managers:", 1) +
				"  - id: kb\n    tier: low\n    max_duration: 1h\n    requesters: [agents, contractors]\n    auto_approve: true\n",
			want: workflow.PolicyDiff{ResourcesAdded: []string{"kb"}, GroupsAdded: []string{"contractors"},
				Admins: &workflow.ListChange{Added: []string{"boss@example.com"}, Removed: []string{"root@example.com"}},
				Access: []workflow.AccessChange{{Resource: "kb", Requesters: &workflow.ListChange{Added: []string{"alice@example.com", "zed@example.com"}}}}},
			text: "+resource kb; +group contractors; admins: +boss@example.com -root@example.com; kb may request: +alice@example.com +zed@example.com"},
		{name: "resource removed, requesters changed",
			new: strings.Replace(diffBase[:strings.Index(diffBase, "  - id: crm-notes")], "requesters: [agents]", "requesters: [agents, managers]", 1),
			want: workflow.PolicyDiff{ResourcesRemoved: []string{"crm-notes"}, Resources: []workflow.ResourceChange{{ID: "crm-payments",
				Requesters: &workflow.ListChange{Added: []string{"managers"}}}},
				Access: []workflow.AccessChange{
					{Resource: "crm-notes", Requesters: &workflow.ListChange{Removed: []string{"alice@example.com"}},
						Approvers: &workflow.ListChange{Removed: []string{"carol@example.com", "dave@example.com", "erin@example.com"}}},
					{Resource: "crm-payments", Requesters: &workflow.ListChange{Added: []string{"carol@example.com", "dave@example.com", "erin@example.com"}}}}},
			text: "-resource crm-notes; crm-payments requesters: +managers; crm-notes may request: -alice@example.com; " +
				"crm-notes may approve: -carol@example.com -dave@example.com -erin@example.com; crm-payments may request: +carol@example.com +dave@example.com +erin@example.com"},
		{name: "rules added: condition, purposes, ticket, timeout, classification",
			new: strings.Replace(diffBase, "    approvers: [managers]\n  - id: crm-notes",
				"    approvers: [managers]\n    conditions:\n      - {expr: \"request.duration <= duration('30m')\", message: short}\n"+
					"    purposes: [refund, chargeback]\n    ticket_required: true\n    review_timeout: 2h\n"+
					"    classification: {level: restricted}\n  - id: crm-notes", 1),
			want: workflow.PolicyDiff{Resources: []workflow.ResourceChange{{ID: "crm-payments",
				Conditions: &workflow.ListChange{Added: []string{"request.duration <= duration('30m')"}},
				Purposes:   &workflow.ListChange{Added: []string{"chargeback", "refund"}},
				Settings: []workflow.StringChange{{Key: "review_timeout", To: "2h"}, {Key: "classification", To: "restricted"},
					{Key: "ticket", To: "required"}}}}},
			text: "crm-payments conditions: +request.duration <= duration('30m'); crm-payments purposes: +chargeback +refund; " +
				"crm-payments review_timeout (none) → 2h; crm-payments classification (none) → restricted; crm-payments ticket (none) → required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := workflow.DiffPolicies(summaryOf(t, diffBase), summaryOf(t, tc.new))
			if !reflect.DeepEqual(d, tc.want) {
				t.Errorf("diff\n got %+v\nwant %+v", d, tc.want)
			}
			if d.Lowered() != tc.lowered {
				t.Errorf("lowered %v, want %v", d.Lowered(), tc.lowered)
			}
			if !strings.HasPrefix(d.String(), tc.text) {
				t.Errorf("text %q, want %q", d.String(), tc.text)
			}
		})
	}
}

func TestFirstPolicyDiffAndLongText(t *testing.T) {
	s := summaryOf(t, diffBase)
	d := workflow.FirstPolicyDiff(s)
	if !d.First || d.Lowered() || d.String() != "first recorded version (2 resources, 2 groups, 1 admins)" {
		t.Fatalf("first: %+v %q", d, d.String())
	}
	big := workflow.PolicySummary{Groups: map[string][]string{}}
	for i := 0; i < 200; i++ {
		big.Groups[strings.Repeat("g", 1+i%50)+string(rune('a'+i%26))] = nil
	}
	if txt := workflow.DiffPolicies(workflow.PolicySummary{}, big).String(); len(txt) > 800 || !strings.Contains(txt, "more changes") {
		t.Fatalf("long diff not bounded: %d %q", len(txt), txt)
	}
}

// TestDiffRemovedConditionIsLowered: taking a condition away asks less of
// a resource, like lowering its tier, so it raises the alert.
func TestDiffRemovedConditionIsLowered(t *testing.T) {
	with := strings.Replace(diffBase, "    approvers: [managers]\n  - id: crm-notes",
		"    approvers: [managers]\n    approver_conditions:\n      - {expr: \"approver.email != requester.email\"}\n  - id: crm-notes", 1)
	d := workflow.DiffPolicies(summaryOf(t, with), summaryOf(t, diffBase))
	if !d.Lowered() || !strings.Contains(d.String(), "crm-payments approver_conditions: -approver.email != requester.email (LOWERED)") {
		t.Fatalf("lowered %v: %s", d.Lowered(), d.String())
	}
	if same := workflow.DiffPolicies(summaryOf(t, with), summaryOf(t, with)); !same.Empty() {
		t.Fatalf("same policy differs: %s", same.String())
	}
}
