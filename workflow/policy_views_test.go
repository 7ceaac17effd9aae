package workflow_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/masking"
	"github.com/jitaccess/jitaccess/workflow"
)

const viewsPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com, bob@example.com, erin@example.com]
  escalation: [erin@example.com, ivan@example.com]
  compliance: [heidi@example.com, ivan@example.com]
  managers: [carol@example.com, dave@example.com]
resources:
  - id: crm-payments
    tier: high
    max_duration: 2h
    requesters: [agents]
    approvers: [managers]
    fields:
      - {name: payment_card, mask: redact, views: {escalation: last4, compliance: token}}
      - {name: iban, mask: redact, views: {compliance: token}, granted: last4}
      - {name: notes, mask: redact}
  - id: kb
    tier: low
    max_duration: 1h
    requesters: [agents]
    auto_approve: true
`

func TestFieldView(t *testing.T) {
	pol, err := workflow.ParsePolicy("views.yaml", []byte(viewsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	res, _ := pol.Resource("crm-payments")
	card, iban, notes := res.Fields[0], res.Fields[1], res.Fields[2]
	disabled := workflow.User("erin@example.com")
	disabled.Disabled = true
	dir := workflow.User("zoe@example.com")
	dir.DirectoryGroups = []string{"escalation"}
	sso := workflow.User("yan@example.com")
	sso.Groups = []string{"compliance"}
	cases := []struct {
		name    string
		who     workflow.Principal
		f       workflow.FieldRule
		granted bool
		want    masking.Style
	}{
		{"no group with a view: the mask", workflow.User("alice@example.com"), card, false, masking.Redact},
		{"stranger: the mask", workflow.User("nobody@example.com"), card, false, masking.Redact},
		{"escalation member: last4", workflow.User("erin@example.com"), card, false, masking.Last4},
		{"compliance member: token", workflow.User("heidi@example.com"), card, false, masking.Token},
		{"two groups: the most revealing", workflow.User("ivan@example.com"), card, false, masking.Last4},
		{"two groups, one view", workflow.User("ivan@example.com"), iban, false, masking.Token},
		{"directory group counts", dir, card, false, masking.Last4},
		{"identity provider group counts", sso, card, false, masking.Token},
		{"disabled: the mask", disabled, card, false, masking.Redact},
		{"field without views", workflow.User("ivan@example.com"), notes, false, masking.Redact},
		{"live grant: clear", workflow.User("alice@example.com"), card, true, workflow.Clear},
		{"live grant: granted view", workflow.User("alice@example.com"), iban, true, masking.Last4},
		{"live grant beats views", workflow.User("heidi@example.com"), iban, true, masking.Last4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := workflow.FieldView(pol, tc.who, tc.f, tc.granted); got != tc.want {
				t.Fatalf("FieldView = %s, want %s", got, tc.want)
			}
		})
	}

	rules, views := workflow.ViewRules(pol, workflow.User("ivan@example.com"), res, false)
	want := []masking.Rule{{Field: "payment_card", Style: masking.Last4}, {Field: "iban", Style: masking.Token}, {Field: "notes", Style: masking.Redact}}
	if !slices.Equal(rules, want) || !slices.Equal(views, []string{"compliance", "escalation"}) {
		t.Fatalf("ViewRules = %v %v", rules, views)
	}
	rules, views = workflow.ViewRules(pol, workflow.User("ivan@example.com"), res, true)
	if !slices.Equal(rules, []masking.Rule{{Field: "iban", Style: masking.Last4}}) || len(views) != 0 {
		t.Fatalf("granted ViewRules = %v %v", rules, views)
	}
	if !res.HasViews() {
		t.Fatal("crm-payments has views")
	}
	if kb, _ := pol.Resource("kb"); kb.HasViews() {
		t.Fatal("kb has no views")
	}
	// The token view needs a key.
	if r, f := pol.NeedsMaskKey(); r == nil || f.Name != "payment_card" {
		t.Fatalf("NeedsMaskKey = %v %v", r, f)
	}
}

func TestRevealingOrder(t *testing.T) {
	order := []masking.Style{workflow.Clear, masking.Last4, masking.Token, masking.Redact}
	for i := range order {
		for j := range order {
			if got := workflow.MoreRevealing(order[i], order[j]); got != (i < j) {
				t.Errorf("MoreRevealing(%s, %s) = %v", order[i], order[j], got)
			}
		}
	}
	if workflow.MoreRevealing("encrypt", masking.Token) || workflow.MoreRevealing(masking.Token, "encrypt") ||
		!workflow.MoreRevealing("encrypt", masking.Redact) || !workflow.MoreRevealing(masking.Last4, "encrypt") {
		t.Error("encrypt must rank with token")
	}
	// Every style masking knows has a place: none ranks above clear.
	for _, st := range masking.Styles {
		if workflow.MoreRevealing(st, workflow.Clear) || !workflow.MoreRevealing(workflow.Clear, st) {
			t.Errorf("style %s ranks with or above clear", st)
		}
	}
}

func TestViewMatrix(t *testing.T) {
	pol, err := workflow.ParsePolicy("views.yaml", []byte(viewsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	res, _ := pol.Resource("crm-payments")
	m := pol.Matrix(res)
	if !slices.Equal(m.Groups, []string{"agents", "compliance", "escalation", "managers"}) || len(m.Fields) != 3 {
		t.Fatalf("matrix = %+v", m)
	}
	card := m.Fields[0]
	if card.Field != "payment_card" || card.Mask != masking.Redact || card.Granted != workflow.Clear ||
		!slices.Equal(card.Cells, []masking.Style{masking.Redact, masking.Token, masking.Last4, masking.Redact}) ||
		card.Views["escalation"] != masking.Last4 {
		t.Fatalf("payment_card row = %+v", card)
	}
	if m.Fields[1].Granted != masking.Last4 || m.Fields[1].Views["compliance"] != masking.Token || m.Fields[1].Views["agents"] != masking.Redact {
		t.Fatalf("iban row = %+v", m.Fields[1])
	}
}

func TestViewErrors(t *testing.T) {
	res := func(fields string) string {
		return "groups:\n  agents: [alice@example.com]\n  managers: [carol@example.com]\nresources:\n" +
			"  - id: a\n    tier: medium\n    max_duration: 1h\n    requesters: [agents]\n    approvers: [managers]\n    fields:\n" + fields
	}
	// The fields start at line 11.
	cases := []struct {
		name string
		yaml string
		line int
		msg  string
	}{
		{"unknown group", res("      - {name: card, mask: redact, views: {escalation: last4}}\n"), 11, `group "escalation" is not defined under groups`},
		{"unknown group, block style", res("      - name: card\n        mask: redact\n        views:\n          agents: last4\n          esc: token\n"), 15, `group "esc" is not defined under groups`},
		{"unknown style", res("      - {name: card, mask: redact, views: {agents: first6}}\n"), 11, `view of group "agents": unknown style "first6"`},
		{"clear view", res("      - {name: card, mask: redact, views: {agents: clear}}\n"), 11, "a standing view cannot be clear"},
		{"view no better than the mask", res("      - {name: card, mask: last4, views: {agents: token}}\n"), 11, `the view token of group "agents" reveals no more than the mask last4`},
		{"view equal to the mask", res("      - {name: card, mask: last4, views: {agents: last4}}\n"), 11, "reveals no more than the mask"},
		{"view beyond the grant", res("      - {name: card, mask: redact, granted: token, views: {agents: last4}}\n"), 11, "reveals more than a live grant gives (granted: token)"},
		{"views not a mapping", res("      - {name: card, mask: redact, views: [agents]}\n"), 11, "views must map group names to mask styles"},
		{"view not a string", res("      - name: card\n        mask: redact\n        views:\n          agents: [last4]\n"), 14, "must be a string"},
		{"granted unknown", res("      - {name: card, mask: redact, granted: full}\n"), 11, `granted: unknown style "full"; use clear or one of`},
		{"granted no better than the mask", res("      - {name: card, mask: last4, granted: redact}\n"), 11, "granted: redact reveals no more than its mask last4"},
		{"group twice", res("      - name: card\n        mask: redact\n        views:\n          agents: last4\n          agents: token\n"), 15, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflow.ParsePolicy("team.yaml", []byte(tc.yaml))
			var perrs workflow.PolicyErrors
			if !errors.As(err, &perrs) {
				t.Fatalf("err = %v, want PolicyErrors", err)
			}
			for _, e := range perrs {
				if e.Line == tc.line && strings.Contains(e.Msg, tc.msg) && strings.HasPrefix(e.Error(), "team.yaml:") {
					return
				}
			}
			t.Fatalf("want team.yaml:%d: ...%s...; got\n%v", tc.line, tc.msg, err)
		})
	}
}
