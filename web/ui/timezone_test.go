package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestTimeZoneRemembered: the zone a browser reports is kept in its
// session (not in anyone else's), pages are then drawn in it by the server
// with UTC kept in the title, the request form reads its start time in it,
// and names that are not IANA zones are refused without changing what is
// kept.
func TestTimeZoneRemembered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		alice, bob := e.signIn(t, "alice@example.com"), e.signIn(t, "bob@example.com")
		req := e.submit(t, alice.principal(), "crm-notes", time.Hour)
		created := req.CreatedAt.UTC()
		utcText := created.Format("2006-01-02 15:04:05 UTC")
		tokyo, _ := time.LoadLocation("Asia/Tokyo")
		tokyoText := created.In(tokyo).Format("2006-01-02 15:04:05 JST")

		p := alice.get(t, "/requests/"+req.ID)
		if p.status != http.StatusOK || !strings.Contains(p.body, `<body data-tz="">`) || !strings.Contains(p.body, ">"+utcText+"</time>") {
			t.Fatalf("before: %d, want the page in UTC with %q: %s", p.status, utcText, excerpt(p.body))
		}

		if p := alice.post(t, "/account/time-zone", url.Values{"zone": {"Asia/Tokyo"}}); p.status != http.StatusNoContent {
			t.Fatalf("set zone: %d %s", p.status, excerpt(p.body))
		}
		p = alice.get(t, "/requests/"+req.ID)
		if !strings.Contains(p.body, `<body data-tz="Asia/Tokyo">`) || !strings.Contains(p.body, ">"+tokyoText+"</time>") {
			t.Fatalf("after: want the page in Asia/Tokyo with %q: %s", tokyoText, excerpt(p.body))
		}
		if !strings.Contains(p.body, `title="`+utcText+`"`) {
			t.Errorf("the title should stay UTC (%q)", utcText)
		}
		if p := bob.get(t, "/grants"); !strings.Contains(p.body, `<body data-tz="">`) {
			t.Errorf("another session took alice's zone")
		}

		for _, bad := range []string{"", "Mars/Olympus_Mons", "Local", "../../etc/passwd", strings.Repeat("A", 100)} {
			if p := alice.post(t, "/account/time-zone", url.Values{"zone": {bad}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "IANA time zone") {
				t.Errorf("zone %q: %d, want 400 naming IANA zones", bad, p.status)
			}
		}
		if p := alice.postRaw(t, "/account/time-zone", url.Values{"zone": {"Europe/Paris"}}, "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"); p.status != http.StatusForbidden {
			t.Errorf("without the CSRF token: %d, want 403", p.status)
		}
		if p := e.anonymous().post(t, "/account/time-zone", url.Values{"zone": {"Europe/Paris"}}); p.status == http.StatusNoContent {
			t.Errorf("without a session the zone was taken")
		}
		if p := alice.get(t, "/requests/"+req.ID); !strings.Contains(p.body, `<body data-tz="Asia/Tokyo">`) {
			t.Errorf("a refused zone changed the one kept")
		}

		// The form's start time is read in the viewer's zone, and its
		// label says which.
		if p := alice.get(t, "/requests/new?resource=kb-drafts"); !strings.Contains(p.body, "(optional, Asia/Tokyo)") {
			t.Errorf("the start field should name the zone: %s", excerpt(p.body))
		}
		startTokyo := e.clock().In(tokyo).Add(3 * time.Hour).Truncate(time.Minute)
		p = alice.post(t, "/requests", url.Values{"resource": {"kb-drafts"}, "duration": {"1h"}, "reason": {"case 42"},
			"start_at": {startTokyo.Format("2006-01-02T15:04")}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("submit with a start: %d %s", p.status, excerpt(p.body))
		}
		d, err := e.svc.Get(context.Background(), alice.principal(), strings.TrimPrefix(p.location, "/requests/"))
		if err != nil {
			t.Fatal(err)
		}
		if d.StartAt == nil || !d.StartAt.Equal(startTokyo) {
			t.Fatalf("start_at = %v, want %v (%s read in Asia/Tokyo)", d.StartAt, startTokyo.UTC(), startTokyo.Format("15:04"))
		}
		if d.State != workflow.StateScheduled {
			t.Errorf("state %s, want scheduled (kb-drafts approves itself)", d.State)
		}
	})
}
