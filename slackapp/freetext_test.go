package slackapp_test

import (
	"testing"

	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// A card number in a reason typed in Slack is masked before it is stored,
// and the confirmation says so.
func TestSlackReasonMasked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := slacktest.NewEnv(t, db, slacktest.Options{})
		got := answered(t, e, e.Command("alice", "crm-notes 2h card 4111 1111 1111 1111 declined"))
		contains(t, "answer", got, "is filed", "Note: a card number in your reason was masked.")
		reqs := requestsOf(t, e)
		if len(reqs) != 1 || reqs[0].Reason != "card [card ending 1111] declined" {
			t.Fatalf("requests: %+v", reqs)
		}
	})
}
