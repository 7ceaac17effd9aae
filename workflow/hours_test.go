package workflow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

const hoursPolicy = `admins: [root@example.com]
reviewers: [auditors]
groups:
  agents-emea: [alice@example.com]
  agents-us: [bob@example.com]
  night: [nina@example.com]
  auditors: [ann@example.com]
working_hours:
  - groups: [agents-emea]
    timezone: Europe/Paris
    days: mon-fri
    hours: "08:00-19:00"
  - groups: [night]
    timezone: UTC
    days: [mon, tue, wed, thu, fri]
    hours: "22:00-06:00"
  - timezone: America/New_York
    days: mon-fri
    hours: "09:00-17:30"
resources:
  - id: crm
    tier: medium
    max_duration: 1h
    requesters: [agents-emea, agents-us, night]
    approvers: [auditors]
`

func TestWorkingHours(t *testing.T) {
	p, err := workflow.ParsePolicy("p.yaml", []byte(hoursPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsReviewer(workflow.User("ann@example.com")) || p.IsReviewer(workflow.User("alice@example.com")) {
		t.Error("reviewers")
	}
	for _, tc := range []struct {
		who  string
		at   string
		want bool
	}{
		{"alice@example.com", "2026-11-23T07:30:00Z", true},  // Mon 08:30 Paris
		{"alice@example.com", "2026-11-23T06:59:00Z", false}, // Mon 07:59 Paris
		{"alice@example.com", "2026-11-23T18:00:00Z", false}, // Mon 19:00 Paris: the end is excluded
		{"alice@example.com", "2026-11-28T10:00:00Z", false}, // Saturday
		{"alice@example.com", "2026-07-06T06:30:00Z", true},  // Mon 08:30 Paris in summer time
		{"bob@example.com", "2026-11-23T14:00:00Z", true},    // Mon 09:00 New York (everyone else)
		{"bob@example.com", "2026-11-23T13:59:00Z", false},
		{"zed@example.com", "2026-11-23T22:29:00Z", true},   // not in any group: the catch-all, 17:29 NY
		{"nina@example.com", "2026-11-23T23:00:00Z", true},  // Mon 23:00, a shift that starts Monday
		{"nina@example.com", "2026-11-24T05:59:00Z", true},  // Tue 05:59, still Monday's shift
		{"nina@example.com", "2026-11-24T06:00:00Z", false}, // shift over
		{"nina@example.com", "2026-11-23T05:00:00Z", false}, // Mon 05:00 belongs to Sunday's shift: no shift on Sunday
		{"nina@example.com", "2026-11-28T23:00:00Z", false}, // Saturday night
		{"nina@example.com", "2026-11-28T03:00:00Z", true},  // Sat 03:00: Friday's shift
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		w := p.WorkingHoursOf(tc.who)
		if w == nil {
			t.Fatalf("%s has no working hours", tc.who)
		}
		if got := w.Contains(at); got != tc.want {
			t.Errorf("%s at %s (%s, %s): %v, want %v", tc.who, tc.at, w.Local(at), w, got, tc.want)
		}
	}
	none, _ := workflow.ParsePolicy("p.yaml", []byte(strings.Split(hoursPolicy, "working_hours:")[0]+"resources:"+strings.Split(hoursPolicy, "resources:")[1]))
	if none == nil || none.WorkingHoursOf("alice@example.com") != nil {
		t.Error("without working_hours nobody has working hours")
	}
}

func TestWorkingHoursErrors(t *testing.T) {
	base := strings.Split(hoursPolicy, "working_hours:")[0]
	res := "resources:" + strings.Split(hoursPolicy, "resources:")[1]
	for _, tc := range []struct {
		name, hours, want string
	}{
		{"bad zone", "working_hours:\n  - timezone: Mars/Olympus\n    days: mon-fri\n    hours: 08:00-18:00\n", "p.yaml:9: timezone \"Mars/Olympus\" is not a time zone"},
		{"bad day", "working_hours:\n  - days: mon-fry\n    hours: 08:00-18:00\n", "p.yaml:9: days: \"mon-fry\" is not a day"},
		{"bad hours", "working_hours:\n  - days: mon-fri\n    hours: 8am-6pm\n", "p.yaml:10: hours \"8am-6pm\" must be a range"},
		{"empty hours", "working_hours:\n  - days: mon-fri\n    hours: 08:00-08:00\n", "p.yaml:10: hours \"08:00-08:00\" is empty"},
		{"no days", "working_hours:\n  - hours: 08:00-18:00\n", "p.yaml:9: working_hours entry has no days"},
		{"no hours", "working_hours:\n  - days: mon-fri\n", "p.yaml:9: working_hours entry has no hours"},
		{"unknown key", "working_hours:\n  - days: mon-fri\n    hours: 08:00-18:00\n    zone: UTC\n", "p.yaml:11: unknown key \"zone\" in a working_hours entry"},
		{"unknown group", "working_hours:\n  - groups: [ghosts]\n    days: mon-fri\n    hours: 08:00-18:00\n", "p.yaml:9: group \"ghosts\" is not defined"},
		{"unreachable", "working_hours:\n  - days: mon-fri\n    hours: 08:00-18:00\n  - groups: [night]\n    days: mon-fri\n    hours: 08:00-18:00\n", "p.yaml:11: this working_hours entry can never apply: the entry at line 9"},
		{"not a list", "working_hours: 9-5\n", "p.yaml:8: working_hours must be a list"},
		{"reviewers group", "reviewers2: x\n", "p.yaml:8: unknown key \"reviewers2\" in the policy"},
	} {
		_, err := workflow.ParsePolicy("p.yaml", []byte(base+tc.hours+res))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v\nwant %q", tc.name, err, tc.want)
		}
	}
	bad := strings.Replace(hoursPolicy, "reviewers: [auditors]", "reviewers: [nobody-here]", 1)
	if _, err := workflow.ParsePolicy("p.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "p.yaml:2: group \"nobody-here\" is not defined") {
		t.Errorf("undefined reviewers group: %v", err)
	}
}
