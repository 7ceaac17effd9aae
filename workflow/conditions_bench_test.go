package workflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// benchConditions are five conditions of the kinds a policy writes: a
// directory attribute, a group, the duration, the ticket, a time of day
// in a time zone.
const benchConditions = `    tags: {team: payments}
    conditions:
      - expr: has(requester.attributes.region) && requester.attributes.region == 'eu'
        message: EU staff only
      - expr: "'agents' in requester.groups"
        message: agents only
      - expr: request.duration <= duration('2h')
        message: two hours at most
      - expr: request.ticket.startsWith('INC-') && resource.tags.team == 'payments'
        message: an incident ticket is required
      - expr: now.getHours('Europe/Berlin') >= 6 && within_working_hours(requester)
        message: not at night
`

// BenchmarkSubmitConditions measures a whole Submit on PostgreSQL (one
// transaction: the directory read, insert and audit) for a resource with
// no conditions and with five, in the same run. The requester is in the
// directory in both, so the directory read is the same. The request is
// cancelled between iterations, off the timer.
func BenchmarkSubmitConditions(b *testing.B) {
	for _, v := range []struct{ name, conditions string }{{"none", ""}, {"five", benchConditions}} {
		b.Run(v.name, func(b *testing.B) {
			src := strings.Replace(testPolicy, "  - id: crm-notes\n    tier: medium\n    max_duration: 8h\n    requesters: [agents]\n    approvers: [managers]\n",
				"  - id: crm-notes\n    tier: medium\n    max_duration: 8h\n    requesters: [agents]\n    approvers: [managers]\n"+v.conditions, 1)
			pol, err := workflow.ParsePolicy("bench.yaml", []byte(src))
			if err != nil {
				b.Fatal(err)
			}
			if res, _ := pol.Resource("crm-notes"); len(res.Conditions) != strings.Count(v.conditions, "expr:") {
				b.Fatalf("crm-notes has %d conditions", len(res.Conditions))
			}
			db := storetest.Open(b, store.Postgres)
			svc := workflow.NewService(db, pol, workflow.Options{Now: newClock().Now})
			ctx := context.Background()
			if _, _, err := svc.CreateDirectoryUser(ctx, idp, workflow.PersonInput{UserName: alice.Email, Emails: []string{alice.Email}, Active: true,
				Attributes: map[string]string{workflow.AttrRegion: "eu", workflow.AttrDepartment: "support"}}); err != nil {
				b.Fatal(err)
			}
			in := workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "case 1234: customer cannot pay", Ticket: "INC-7"}
			for b.Loop() {
				req, err := svc.Submit(ctx, alice, in)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := svc.Cancel(ctx, alice, req.ID, ""); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkConditionsEval measures judging the five conditions alone.
func BenchmarkConditionsEval(b *testing.B) {
	src := strings.Replace(testPolicy, "    requesters: [agents]\n    approvers: [managers]\n  - id: kb-drafts",
		"    requesters: [agents]\n    approvers: [managers]\n"+benchConditions+"  - id: kb-drafts", 1)
	pol, err := workflow.ParsePolicy("bench.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	who := alice
	who.Attributes = map[string]string{workflow.AttrRegion: "eu"}
	req := &workflow.Request{Duration: time.Hour, Ticket: "INC-7"}
	now := newClock().Now()
	b.ReportAllocs()
	for b.Loop() {
		if why := workflow.ConditionRefusal(pol, "crm-notes", who, nil, req, now); why != "" {
			b.Fatal(why)
		}
	}
}
