package workflow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// conditionPolicy builds a policy whose resource "db" has the given
// conditions (YAML list items, already indented for the list).
func conditionPolicy(t *testing.T, conditions, approverConditions string) *workflow.Policy {
	t.Helper()
	src := `groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
working_hours:
  - groups: [agents]
    timezone: Europe/Berlin
    days: mon-fri
    hours: "09:00-17:00"
resources:
  - id: db
    tier: medium
    max_duration: 4h
    requesters: [agents]
    approvers: [managers]
    tags: {team: payments, env: prod}
`
	if conditions != "" {
		src += "    conditions:\n" + conditions
	}
	if approverConditions != "" {
		src += "    approver_conditions:\n" + approverConditions
	}
	p, err := workflow.ParsePolicy("conditions.yaml", []byte(src))
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, src)
	}
	return p
}

func cond(expr string) string {
	return "      - expr: '" + strings.ReplaceAll(expr, "'", "''") + "'\n        message: refused by " + strings.ReplaceAll(expr, ":", "") + "\n"
}

// Monday 23 November 2026, 09:00 UTC is 10:00 in Berlin (CET, UTC+1).
var condNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func TestConditionVariables(t *testing.T) {
	requester := workflow.User("alice@example.com")
	requester.DirectoryGroups = []string{"sre"}
	requester.Attributes = map[string]string{"region": "eu", "department": "support", "title": "Agent",
		"manager": "m-1", "organization": "Acme", "division": "Ops", "employee_number": "42", "badge": "blue"}
	req := &workflow.Request{Duration: 2 * time.Hour, Reason: "case 1234", Ticket: "INC-7"}
	cases := []struct {
		expr  string
		holds bool
	}{
		{`requester.email == 'alice@example.com'`, true},
		{`'agents' in requester.groups && 'sre' in requester.groups`, true},
		{`'managers' in requester.groups`, false},
		{`requester.attributes.region == 'eu'`, true},
		{`requester.attributes.department == 'support' && requester.attributes.title == 'Agent'`, true},
		{`requester.attributes.manager == 'm-1' && requester.attributes.organization == 'Acme'`, true},
		{`requester.attributes.division == 'Ops' && requester.attributes.employee_number == '42'`, true},
		{`requester.attributes.badge == 'blue'`, true}, // a custom attribute
		{`has(requester.attributes.region)`, true},
		{`has(requester.attributes.cost_center)`, false},
		{`request.duration <= duration('2h')`, true},
		{`request.duration < duration('1h')`, false},
		{`request.purpose == ''`, true},
		{`request.ticket.startsWith('INC-')`, true},
		{`request.reason.contains('1234')`, true},
		{`request.start == now`, true},
		{`resource.id == 'db' && resource.tier == 'medium'`, true},
		{`resource.tags.team == 'payments' && resource.tags['env'] == 'prod'`, true},
		{`resource.classification == ''`, true},
		{`now == timestamp('2026-11-23T09:00:00Z')`, true},
		{`now.getHours() == 9`, true}, // UTC
		{`now.getHours('Europe/Berlin') == 10`, true},
		{`now.getHours('America/New_York') == 4`, true},
		{`now.getDayOfWeek('Europe/Berlin') == 1`, true}, // Monday
		{`now.getDayOfWeek('Pacific/Kiritimati') == 1`, true},
		{`within_working_hours(requester)`, true},
		{`request.start + request.duration < timestamp('2026-11-23T10:00:00Z')`, false},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			pol := conditionPolicy(t, cond(tc.expr), "")
			got := workflow.ConditionRefusal(pol, "db", requester, nil, req, condNow)
			if holds := got == ""; holds != tc.holds {
				t.Fatalf("%s: refusal %q, want holds=%v", tc.expr, got, tc.holds)
			}
			if !tc.holds && got != "refused by "+strings.ReplaceAll(tc.expr, ":", "") {
				t.Fatalf("refusal %q is not the condition's message", got)
			}
		})
	}
}

// within_working_hours reads the policy's working_hours (Europe/Berlin,
// mon-fri 09:00-17:00 for agents); someone with none is always within.
func TestConditionWithinWorkingHours(t *testing.T) {
	pol := conditionPolicy(t, cond(`within_working_hours(requester)`), cond(`within_working_hours(approver)`))
	alice, carol := workflow.User("alice@example.com"), workflow.User("carol@example.com")
	req := &workflow.Request{Duration: time.Hour}
	cases := []struct {
		name  string
		at    time.Time
		holds bool
	}{
		{"monday 10:00 Berlin", condNow, true},
		{"monday 08:30 Berlin", time.Date(2026, 11, 23, 7, 30, 0, 0, time.UTC), false},
		{"monday 17:00 Berlin", time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC), false},
		{"saturday 10:00 Berlin", time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), false},
		{"summer: 16:30 Berlin is 14:30 UTC", time.Date(2026, 7, 1, 14, 30, 0, 0, time.UTC), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := workflow.ConditionRefusal(pol, "db", alice, nil, req, tc.at); (got == "") != tc.holds {
				t.Fatalf("refusal %q, want holds=%v", got, tc.holds)
			}
			// carol has no working hours: always within them.
			if got := workflow.ConditionRefusal(pol, "db", alice, &carol, req, tc.at); got != "" {
				t.Fatalf("approver without working hours refused: %q", got)
			}
		})
	}
}

// A missing map key is an evaluation error, and an evaluation error is a
// refusal naming the condition (fail closed).
func TestConditionMissingAttributeRefuses(t *testing.T) {
	pol := conditionPolicy(t, cond(`requester.attributes.region == 'eu'`), cond(`approver.attributes.region == requester.attributes.region`))
	req := &workflow.Request{Duration: time.Hour}
	noRegion := workflow.User("alice@example.com")
	got := workflow.ConditionRefusal(pol, "db", noRegion, nil, req, condNow)
	if !strings.HasPrefix(got, `condition "requester.attributes.region == 'eu'" could not be evaluated: `) || !strings.Contains(got, "region") {
		t.Fatalf("refusal = %q", got)
	}
	eu := noRegion
	eu.Attributes = map[string]string{"region": "eu"}
	us := workflow.User("carol@example.com")
	us.Attributes = map[string]string{"region": "us"}
	euApprover := workflow.User("dave@example.com")
	euApprover.Attributes = map[string]string{"region": "eu"}
	for _, tc := range []struct {
		name     string
		approver workflow.Principal
		want     string
	}{
		{"same region", euApprover, ""},
		{"other region", us, "refused by approver.attributes.region == requester.attributes.region"},
		{"no region", workflow.User("dave@example.com"), `condition "approver.attributes.region == requester.attributes.region" could not be evaluated`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := workflow.ConditionRefusal(pol, "db", eu, &tc.approver, req, condNow)
			if tc.want == "" && got != "" || !strings.HasPrefix(got, tc.want) {
				t.Fatalf("refusal %q, want %q", got, tc.want)
			}
		})
	}
}

// Expressions are compiled and type-checked at load: every mistake is an
// error at its file:line:col, and none panics.
func TestConditionCompileErrors(t *testing.T) {
	head := `groups:
  agents: [alice@example.com]
  managers: [carol@example.com]
resources:
  - id: db
    tier: low
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown variable", "    conditions:\n      - expr: user.region == 'eu'\n", "conditions.yaml:11:15: condition: undeclared reference to 'user'"},
		{"approver outside approver_conditions", "    conditions:\n      - expr: approver.email == ''\n", "conditions.yaml:11:15: condition: undeclared reference to 'approver'"},
		{"not boolean", "    conditions:\n      - expr: request.duration\n", `conditions.yaml:11:15: condition "request.duration" must be true or false`},
		{"string result", "    conditions:\n      - {expr: \"'yes'\", message: m}\n", `conditions.yaml:11:17: condition "'yes'" must be true or false, but it is of type string`},
		{"syntax error", "    conditions:\n      - expr: now.getHours( == 3\n", "conditions.yaml:11:29: condition: Syntax error"},
		{"column inside the expression", "    approver_conditions:\n      - expr: approver.email == '' && nobody.x\n", "conditions.yaml:11:39: condition: undeclared reference to 'nobody'"},
		{"wrong argument type", "    conditions:\n      - expr: now.getHours(1) == 3\n", "conditions.yaml:11:27: condition: found no matching overload for 'getHours'"},
		{"no expr", "    conditions:\n      - message: hi\n", "conditions.yaml:11: a condition needs an expr"},
		{"unknown key", "    conditions:\n      - {expr: 'true', why: x}\n", `conditions.yaml:11: unknown key "why" in a condition`},
		{"not a list", "    conditions: true\n", "conditions.yaml:10: conditions must be a list of {expr, message}"},
		{"tags not a mapping", "    tags: [a]\n", "conditions.yaml:10: tags must map names to values"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workflow.ParsePolicy("conditions.yaml", []byte(head+tc.yaml))
			var perrs workflow.PolicyErrors
			if !errors.As(err, &perrs) {
				t.Fatalf("err = %v, want PolicyErrors", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
