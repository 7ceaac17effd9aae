package ui_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// approver_conditions in the web UI: an approver who does not meet them is
// not offered the request (not in "Needs my decision", no badge, no
// buttons) and is refused with the condition's message; one who meets
// them is offered it.
func TestUIApproverConditions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		e.svc.SetPolicy(mustParse(t, uiPolicy+`  - id: regional
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    approver_conditions:
      - expr: approver.email == 'dave@example.com'
        message: only dave decides regional requests
`))
		r := e.submit(t, alice, "regional", time.Hour)
		approveForm := `action="/requests/` + r.ID + `/approve"`
		carol, dave := e.signIn(t, "carol@example.com"), e.signIn(t, "dave@example.com")
		if p := carol.get(t, "/decisions"); strings.Contains(p.body, "req-"+r.ID) || !strings.Contains(p.body, `id="nav-count-decisions" data-live class="count zero">0<`) {
			t.Fatalf("carol is offered the request: %s", excerpt(p.body))
		}
		if p := carol.get(t, "/requests/"+r.ID); p.status != 200 || strings.Contains(p.body, approveForm) {
			t.Fatalf("carol's detail page: %d, approve offered: %v", p.status, strings.Contains(p.body, approveForm))
		}
		p := carol.post(t, "/requests/"+r.ID+"/approve", url.Values{"comment": {"ok"}})
		if p.location != "" {
			p = carol.get(t, p.location)
		}
		// The UI shows messages as sentences: capitalized.
		if p.status != 403 || !strings.Contains(p.body, "Only dave decides regional requests") {
			t.Fatalf("carol's approval: %d %s", p.status, excerpt(p.body))
		}
		if p := dave.get(t, "/decisions"); !strings.Contains(p.body, "req-"+r.ID) || !strings.Contains(p.body, `id="nav-count-decisions" data-live class="count">1<`) {
			t.Fatalf("dave is not offered the request: %s", excerpt(p.body))
		}
		if p := dave.get(t, "/requests/"+r.ID); !strings.Contains(p.body, approveForm) {
			t.Fatal("dave's detail page offers no approval")
		}
	})
}
