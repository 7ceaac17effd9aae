package slackapp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// breakGlassSlackPolicy is the environment's policy with a break_glass
// block on crm-notes for bob (oncall).
var breakGlassSlackPolicy = strings.Replace(slacktest.Policy, "  managers: [carol@example.com, dave@example.com, erin@example.com]\n",
	"  managers: [carol@example.com, dave@example.com, erin@example.com]\n  oncall: [bob@example.com]\n", 1) + `    break_glass:
      groups: [oncall]
      max_duration: 1h
      reviewers_required: 2
      review_within: 24h
`

// TestSlashCommandEmergency: /access --emergency RESOURCE DURATION REASON
// is break-glass: live at once for a member of the break_glass groups, an
// Emergency message in the approvers' channel, and refusals in the
// service's words for everyone else.
func TestSlashCommandEmergency(t *testing.T) {
	if !strings.Contains(breakGlassSlackPolicy, "oncall: [bob@example.com]") {
		t.Fatal("policy edit did not apply")
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{Policy: breakGlassSlackPolicy})
		for _, tc := range []struct{ who, text, want string }{
			{"alice", "--emergency mgr-reports 30m prod down", "alice@example.com may not use emergency access to mgr-reports: only members of oncall may"},
			{"bob", "--emergency mgr-reports 2h prod down", "longer than the maximum of 1h for emergency access to mgr-reports"},
			{"bob", "--emergency crm-notes 30m prod down", "crm-notes has no break-glass access"},
			{"bob", "--emergency mgr-reports 30m", "A reason is required"},
			{"bob", "--emergency", "Say which resource you need"},
		} {
			contains(t, tc.who+" "+tc.text, answered(t, e, e.Command(tc.who, tc.text)), tc.want)
		}
		if n := len(requestsOf(t, e)); n != 0 {
			t.Fatalf("%d requests after refusals", n)
		}
		got := answered(t, e, e.Command("bob", "--emergency mgr-reports 30m INC-7: the reports job is down"))
		contains(t, "answer", got, "*Emergency* access to `mgr-reports` is live until", "2 reviewers must sign off the post-hoc review by")
		reqs := requestsOf(t, e)
		if len(reqs) != 1 || !reqs[0].Emergency || reqs[0].State != workflow.StateApproved || reqs[0].Duration != 30*time.Minute ||
			reqs[0].Reason != "INC-7: the reports job is down" {
			t.Fatalf("requests: %+v", reqs)
		}
		e.Deliver()
		m := e.ChannelMessage("#access-requests", reqs[0].ID)
		contains(t, "channel message", m.Text, "EMERGENCY access from bob@example.com")
		contains(t, "channel blocks", string(m.Blocks), "Emergency access: mgr-reports", "*Emergency*", "0 of 2 sign-offs")
		contains(t, "list", answered(t, e, e.Command("bob", "list")), "*Emergency*", "review due in 23 h", "0 of 2 sign-offs")
	})
}
