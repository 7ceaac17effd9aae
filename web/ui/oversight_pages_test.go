package ui_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web/ui"
	"github.com/jitaccess/jitaccess/workflow"
)

// apiToken makes a bearer token for who.
func (e *uiEnv) apiToken(t *testing.T, who string) string {
	t.Helper()
	secret, _, err := e.db.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: who, Actor: "test"}, e.clock())
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// apiPost calls the JSON API and returns its status and error message.
func (e *uiEnv) apiPost(t *testing.T, token, path, body string) (int, string) {
	t.Helper()
	return e.apiCall(t, http.MethodPost, token, path, body)
}

func (e *uiEnv) apiCall(t *testing.T, method, token, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Error struct{ Message string } `json:"error"`
	}
	decodeBody(t, resp, &out)
	return resp.StatusCode, out.Error.Message
}

// sameAsAPI checks that a refused UI action says what the API says (as a
// sentence: workflow.Sentence), with the same status.
func sameAsAPI(t *testing.T, what string, p page, apiStatus int, apiMsg string, want string) {
	t.Helper()
	uiMsg := html.UnescapeString(excerpt(p.body))
	if p.status != apiStatus || uiMsg != workflow.Sentence(apiMsg) || !strings.Contains(apiMsg, want) {
		t.Errorf("%s: UI %d %q, API %d %q; want the same, saying %q", what, p.status, uiMsg, apiStatus, apiMsg, want)
	}
}

// TestReviewInTheUI opens a review, marks and resolves a follow-up, and
// signs it off through the pages: a reviewer who had access in the review
// is refused (as the API refuses), the sign-off is audited, and every
// refusal says what the API says.
func TestReviewInTheUI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		ctx := context.Background()
		// ann, a reviewer, was also an agent for a day (a group from her
		// identity provider), and had access to the CRM notes.
		annAgent := workflow.Principal{Email: "ann@example.com", Groups: []string{"agents"}}
		own, err := e.svc.Submit(ctx, annAgent, workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "covering the queue"})
		if err != nil {
			t.Fatal(err)
		}
		e.approve(t, carol, own.ID)
		e.advance(time.Hour)
		rootUI, annUI := e.signIn(t, "root@example.com"), e.signIn(t, "ann@example.com")
		annToken := e.apiToken(t, "ann@example.com")

		// The report first, then a review of it.
		p := rootUI.get(t, "/reviews/report?"+dayPeriod+"&view=grants")
		if p.status != 200 || !strings.Contains(p.body, own.ID) || !strings.Contains(p.body, "covering the queue") {
			t.Fatalf("report: %d %s", p.status, excerpt(p.body))
		}
		p = rootUI.post(t, "/reviews", url.Values{"since": {day}, "until": {day}})
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/reviews/") {
			t.Fatalf("open: %d %s", p.status, excerpt(p.body))
		}
		id := strings.TrimPrefix(p.location, "/reviews/")
		rev, err := db.GetReview(ctx, id)
		if err != nil || rev.Period != theDay || rev.Scope.Kind != review.ScopeAll || rev.CreatedBy != "root@example.com" {
			t.Fatalf("opened review: %+v %v", rev, err)
		}
		if p := rootUI.get(t, p.location); !strings.Contains(p.body, "Review opened.") || !strings.Contains(p.body, "23 Nov 2026") {
			t.Errorf("review page after opening: %s", excerpt(p.body))
		}

		// ann may read it but not sign off her own access: the page says
		// why, and the action is refused as the API refuses it.
		p = annUI.get(t, "/reviews/"+id)
		if p.status != 200 || strings.Contains(p.body, `/signoff"`) || !strings.Contains(p.body, "another reviewer must sign it off") {
			t.Fatalf("ann's view of the review: %d %s", p.status, excerpt(p.body))
		}
		p = annUI.post(t, "/reviews/"+id+"/signoff", url.Values{"notes": {"looks fine"}})
		status, msg := e.apiPost(t, annToken, "/api/v1/reviews/"+id+"/signoff", `{"notes":"looks fine"}`)
		sameAsAPI(t, "self sign-off", p, status, msg, "you had access in this review (request "+own.ID+" for crm-notes)")
		if strings.Contains(p.body, `/signoff"`) {
			t.Error("the refusal offers the sign-off form again")
		}

		// Follow-ups: a bad one is refused as the API refuses it; a good
		// one is listed, and resolved.
		p = rootUI.post(t, "/reviews/"+id+"/followups", url.Values{"kind": {"request"}, "ref": {own.ID}, "note": {"  "}})
		status, msg = e.apiPost(t, e.apiToken(t, "root@example.com"), "/api/v1/reviews/"+id+"/followups", `{"kind":"request","ref":"`+own.ID+`","note":"  "}`)
		sameAsAPI(t, "follow-up without a note", p, status, msg, "required")
		p = rootUI.post(t, "/reviews/"+id+"/followups", url.Values{"kind": {"team"}, "ref": {"x"}, "note": {"n"}})
		status, msg = e.apiPost(t, annToken, "/api/v1/reviews/"+id+"/followups", `{"kind":"team","ref":"x","note":"n"}`)
		sameAsAPI(t, "follow-up of an unknown kind", p, status, msg, "item kind must be")
		p = rootUI.post(t, "/reviews/"+id+"/followups", url.Values{"kind": {"request"}, "ref": {own.ID}, "note": {"a reviewer with access"}})
		if p.status != http.StatusSeeOther || p.location != "/reviews/"+id+"#followups" {
			t.Fatalf("follow-up: %d %s", p.status, excerpt(p.body))
		}
		rev, _ = db.GetReview(ctx, id)
		if len(rev.FollowUps) != 1 || rev.FollowUps[0].CreatedBy != "root@example.com" {
			t.Fatalf("follow-ups: %+v", rev.FollowUps)
		}
		fu := rev.FollowUps[0]
		p = rootUI.get(t, "/reviews/"+id+"?view=grants")
		if !strings.Contains(p.body, "a reviewer with access") || !strings.Contains(p.body, `href="/requests/`+own.ID+`"`) ||
			!strings.Contains(p.body, "Follow-up open") {
			t.Errorf("the follow-up is not shown: %s", excerpt(p.body))
		}
		p = annUI.post(t, "/followups/"+fu.ID+"/resolve", url.Values{"resolution": {"she covered the queue that day"}, "review": {id}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("resolve: %d %s", p.status, excerpt(p.body))
		}
		p = rootUI.post(t, "/followups/"+fu.ID+"/resolve", url.Values{"resolution": {"again"}, "review": {id}})
		status, msg = e.apiPost(t, annToken, "/api/v1/followups/"+fu.ID+"/resolve", `{"resolution":"again"}`)
		sameAsAPI(t, "second resolution", p, status, msg, "already resolved by ann@example.com")

		// Notes too long: refused as the API refuses them, and kept.
		long := strings.Repeat("n", 1001)
		p = rootUI.post(t, "/reviews/"+id+"/signoff", url.Values{"notes": {long}})
		status, msg = e.apiPost(t, e.apiToken(t, "root@example.com"), "/api/v1/reviews/"+id+"/signoff", `{"notes":"`+long+`"}`)
		sameAsAPI(t, "long notes", p, status, msg, "the limit is 1000")
		if !strings.Contains(p.body, ">"+long+"</textarea>") {
			t.Error("the refused sign-off lost the notes")
		}

		// Another reviewer (the admin) signs it off: audited, shown, final.
		p = rootUI.post(t, "/reviews/"+id+"/signoff", url.Values{"notes": {"ann's own access checked with her manager"}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("sign off: %d %s", p.status, excerpt(p.body))
		}
		p = rootUI.get(t, p.location)
		if !strings.Contains(p.body, "Review signed off.") || !strings.Contains(p.body, `id="signed-off-by">root@example.com`) ||
			!strings.Contains(p.body, "ann&#39;s own access checked with her manager") || strings.Contains(p.body, `/signoff"`) {
			t.Fatalf("signed-off review: %s", excerpt(p.body))
		}
		recs, _, err := e.svc.Audit(ctx, root, workflow.AuditQuery{Action: review.ActionReviewSignOff})
		if err != nil || len(recs) != 1 || recs[0].Actor != "root@example.com" || !strings.Contains(recs[0].Reason, "review "+id) ||
			!strings.Contains(recs[0].Reason, "ann's own access checked with her manager") {
			t.Fatalf("sign-off not audited: %+v %v", recs, err)
		}
		for _, action := range []string{review.ActionReviewOpen, review.ActionFollowUp, review.ActionFollowUpDone} {
			if recs, _, _ := e.svc.Audit(ctx, root, workflow.AuditQuery{Action: action}); len(recs) != 1 {
				t.Errorf("%s: %d audit records", action, len(recs))
			}
		}
		p = annUI.post(t, "/reviews/"+id+"/signoff", nil)
		status, msg = e.apiPost(t, annToken, "/api/v1/reviews/"+id+"/signoff", `{}`)
		sameAsAPI(t, "second sign-off", p, status, msg, "already signed off by root@example.com")

		// Opening a review needs a real period; the message is the API's.
		p = rootUI.post(t, "/reviews", url.Values{"since": {"2026-11-24"}, "until": {"2026-11-22"}})
		status, msg = e.apiPost(t, annToken, "/api/v1/reviews", `{"since":"2026-11-24T00:00:00Z","until":"2026-11-23T00:00:00Z"}`)
		sameAsAPI(t, "backwards period", p, status, msg, "the period must end after it starts")
		if p := rootUI.post(t, "/reviews", url.Values{"since": {"last week"}, "until": {day}}); p.status != 400 || !strings.Contains(p.body, "is not a time") {
			t.Errorf("bad date: %d %s", p.status, excerpt(p.body))
		}
		if p := rootUI.get(t, "/reviews/report?"+dayPeriod+"&view=pie"); p.status != 400 {
			t.Errorf("unknown view: %d", p.status)
		}
		if p := rootUI.get(t, "/reviews/report?since=2025-01-01&until="+day); p.status != 400 || !strings.Contains(p.body, "at most 400 days") ||
			!strings.Contains(p.body, `value="2025-01-01"`) {
			t.Errorf("a long period keeps the form and says why: %d %s", p.status, excerpt(p.body))
		}
		// The list shows it, signed off.
		if p := annUI.get(t, "/reviews"); !strings.Contains(p.body, `id="review-`+id+`"`) || !strings.Contains(p.body, "Signed off") {
			t.Errorf("the review list: %s", excerpt(p.body))
		}
	})
}

// flagFixture makes three flags: two rubber stamps (carol and dave approve
// bob's high-tier request within seconds) and a forced revoke (dave ends
// alice's notes early).
func (e *uiEnv) flagFixture(t *testing.T) (stamped, revoked *workflow.Request) {
	t.Helper()
	stamped = e.submit(t, bob, "crm-payments", time.Hour)
	e.advance(3 * time.Second)
	e.approve(t, carol, stamped.ID)
	e.approve(t, dave, stamped.ID)
	e.advance(10 * time.Minute)
	revoked = e.submit(t, alice, "crm-notes", time.Hour)
	e.advance(5 * time.Minute)
	e.approve(t, carol, revoked.ID)
	e.advance(5 * time.Minute)
	if _, err := e.svc.Revoke(context.Background(), dave, revoked.ID, "not needed any more"); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)
	return stamped, revoked
}

// TestFlagsPage: flags say what and why, newest first, filter sensibly,
// and link to request pages that open for the people who read them.
func TestFlagsPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		stamped, revoked := e.flagFixture(t)
		annUI := e.signIn(t, "ann@example.com")
		rows := regexp.MustCompile(`<tr id="flag-([a-z_]+):`)
		kinds := func(p page) []string {
			var out []string
			for _, m := range rows.FindAllStringSubmatch(p.body, -1) {
				out = append(out, m[1])
			}
			return out
		}
		p := annUI.get(t, "/flags")
		if got := strings.Join(kinds(p), ","); got != "forced_revoke,rubber_stamp,rubber_stamp" {
			t.Fatalf("flags, newest first: %s", got)
		}
		for _, want := range []string{`href="/requests/` + stamped.ID + `"`, `href="/requests/` + revoked.ID + `"`, "Forced revoke", "Rubber stamp",
			"dave@example.com revoked alice@example.com&#39;s access", "approved bob@example.com&#39;s high request for crm-payments 3s after it was filed"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("flags page lacks %q", want)
			}
		}
		// The links open for the reviewer, the admin and the approvers of
		// the resource.
		for _, who := range []string{"ann@example.com", "root@example.com", "carol@example.com"} {
			for _, id := range []string{stamped.ID, revoked.ID} {
				if p := e.signIn(t, who).get(t, "/requests/"+id); p.status != 200 {
					t.Errorf("%s following a flag to %s: %d", who, id, p.status)
				}
			}
		}
		for _, tc := range []struct {
			query string
			want  string
		}{
			{"kind=forced_revoke", "forced_revoke"},
			{"kind=rubber_stamp&person=bob@example.com", "rubber_stamp,rubber_stamp"},
			{"person=alice@example.com", "forced_revoke"},
			{"resource=crm-payments", "rubber_stamp,rubber_stamp"},
			{"since=2026-11-24&until=2026-11-30", ""},
			{dayPeriod, "forced_revoke,rubber_stamp,rubber_stamp"},
		} {
			if got := strings.Join(kinds(annUI.get(t, "/flags?"+tc.query)), ","); got != tc.want {
				t.Errorf("flags?%s: %s, want %s", tc.query, got, tc.want)
			}
		}
		// An approver starts on a resource they approve, and may pick
		// another of theirs.
		carolUI := e.signIn(t, "carol@example.com")
		if got := strings.Join(kinds(carolUI.get(t, "/flags")), ","); got != "rubber_stamp,rubber_stamp" {
			t.Errorf("carol's flags: %s", got)
		}
		if got := strings.Join(kinds(carolUI.get(t, "/flags?resource=crm-notes")), ","); got != "forced_revoke" {
			t.Errorf("carol's crm-notes flags: %s", got)
		}
		for _, tc := range []struct {
			query, want string
		}{
			{"kind=ufo", "Unknown flag kind"},
			{"since=yesterday", "is not a time"},
			{"since=2025-01-01&until=2026-11-23", "at most 400 days"},
			{"resource=crm-notes&person=bob@example.com", "Pass resource or person, not both"},
		} {
			if p := annUI.get(t, "/flags?"+tc.query); p.status != 400 || !strings.Contains(html.UnescapeString(excerpt(p.body)), tc.want) {
				t.Errorf("flags?%s: %d %q", tc.query, p.status, excerpt(p.body))
			}
		}
		if p := annUI.get(t, "/flags?team=x"); p.status != 400 {
			t.Errorf("unknown parameter: %d", p.status)
		}
	})
}

// TestLongListsArePaged: a period's flags and a report's grants come a
// page at a time, with their filters kept.
func TestLongListsArePaged(t *testing.T) {
	defer ui.SetPageSizes(1, 2)()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		stamped, revoked := e.flagFixture(t) // three flags, two grants
		annUI := e.signIn(t, "ann@example.com")
		rows := regexp.MustCompile(`<tr id="(flag|grant)-`)
		next := regexp.MustCompile(`href="([^"]+)">Next page`)
		p := annUI.get(t, "/flags?"+dayPeriod)
		m := next.FindStringSubmatch(p.body)
		if n := len(rows.FindAllString(p.body, -1)); n != 2 || m == nil || !strings.Contains(p.body, "3 flags; 2 on this page") {
			t.Fatalf("first page of flags: %d rows, next %v", n, m)
		}
		p = annUI.get(t, html.UnescapeString(m[1]))
		if n := len(rows.FindAllString(p.body, -1)); n != 1 || !strings.Contains(p.body, "since=2026-11-23") || !strings.Contains(p.body, "First page") ||
			strings.Contains(p.body, "Next page") || !strings.Contains(p.body, `href="/requests/`+stamped.ID+`"`) {
			t.Fatalf("second page of flags: %d rows", n)
		}
		if p := annUI.get(t, "/flags?page=9"); p.status != 200 || !strings.Contains(p.body, "No more flags") {
			t.Errorf("past the end: %d", p.status)
		}
		for _, bad := range []string{"0", "two"} {
			if p := annUI.get(t, "/flags?page="+bad); p.status != 400 || !strings.Contains(p.body, "Page must be a number from 1") {
				t.Errorf("page=%s: %d", bad, p.status)
			}
		}
		p = annUI.get(t, "/reviews/report?"+dayPeriod+"&view=grants")
		m = next.FindStringSubmatch(p.body)
		if n := len(rows.FindAllString(p.body, -1)); n != 1 || m == nil || !strings.Contains(p.body, `id="grant-`+stamped.ID) {
			t.Fatalf("first page of grants: %d rows", n)
		}
		p = annUI.get(t, html.UnescapeString(m[1]))
		if n := len(rows.FindAllString(p.body, -1)); n != 1 || !strings.Contains(p.body, `id="grant-`+revoked.ID) || strings.Contains(p.body, "Next page") {
			t.Fatalf("second page of grants: %d rows", n)
		}
		// The tabs start again at the first page.
		if strings.Contains(p.body, "page=2#access") {
			t.Error("a tab keeps the page")
		}
	})
}

// TestDashboardPage: the charts render from the data, inline and without
// inline style, for admins and reviewers; others get the API's refusal.
func TestDashboardPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		e.flagFixture(t)
		slow := e.submit(t, bob, "crm-notes", time.Hour)
		e.advance(2 * time.Hour)
		if _, err := e.svc.Deny(context.Background(), carol, slow.ID, "no"); err != nil {
			t.Fatal(err)
		}
		e.submit(t, alice, "kb-drafts", time.Hour) // live now (approved by policy: no decision)
		p := e.signIn(t, "root@example.com").get(t, "/dashboard?"+dayPeriod)
		if p.status != 200 {
			t.Fatalf("dashboard: %d %s", p.status, excerpt(p.body))
		}
		if n := strings.Count(p.body, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 260" role="img"`); n != 5 { // decisions, volume, live, flags, emergency
			t.Errorf("%d charts", n)
		}
		for _, want := range []string{
			"Time to decision (3 decisions, median 5m, 90% within 2h)", "&lt; 1m: 1; 1-5m: 0; 5-15m: 1; 15m-1h: 0; 1-4h: 1", // 3s, 5 min, 2 h
			"Requests by resource and tier", "Live grants", "Anomaly flags by kind",
			`<span class="stat-value" id="median-decision">5 min</span>`, `<span class="stat-value" id="flag-count">3</span>`,
			`<span class="stat-value" id="live-now">1</span>`, "crm-payments (high): 1", "rubber stamp: 2",
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("dashboard lacks %q", want)
			}
		}
		if m := regexp.MustCompile(`\s(on[a-z]+|style)=`).FindString(p.body); m != "" {
			t.Errorf("the dashboard has inline style or script: %q", m)
		}
		// Default period: the last 30 days.
		if p := e.signIn(t, "ann@example.com").get(t, "/dashboard"); p.status != 200 || !strings.Contains(p.body, `class="active" aria-current="true">Last 30 days`) ||
			!strings.Contains(p.body, "25 Oct 2026 – 23 Nov 2026") {
			t.Errorf("default dashboard: %d %s", p.status, excerpt(p.body))
		}
		if p := e.signIn(t, "root@example.com").get(t, "/dashboard?since=2026-11-24&until=2026-11-01"); p.status != 400 ||
			!strings.Contains(excerpt(p.body), "The period must end after it starts") {
			t.Errorf("backwards period: %d %s", p.status, excerpt(p.body))
		}
		p = e.signIn(t, "carol@example.com").get(t, "/dashboard")
		status, msg := e.apiCall(t, http.MethodGet, e.apiToken(t, "carol@example.com"), "/api/v1/dashboard", "")
		sameAsAPI(t, "approver's dashboard", p, status, msg, "only admins and reviewers may see the dashboard")
	})
}

// TestAuditChainStatus: the audit page shows the last verification to
// admins and reviewers, and Verify now runs one.
func TestAuditChainStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		e.flagFixture(t)
		rootUI := e.signIn(t, "root@example.com")
		status := func() string {
			p := rootUI.get(t, "/audit")
			i := strings.Index(p.body, `id="chain-status"`)
			if i < 0 {
				t.Fatalf("no chain status on the audit page")
			}
			return html.UnescapeString(regexp.MustCompile(`\s+`).ReplaceAllString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(p.body[i:i+1500], " "), " "))
		}
		if s := status(); !strings.Contains(s, "Audit chain not verified yet") {
			t.Errorf("before any verification: %s", s)
		}
		at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		e.setLastVerify(&audit.Result{OK: true, Records: 1234, Head: audit.Checkpoint{ID: 1234, Hash: strings.Repeat("ab", 32)}, At: at,
			Took: audit.Duration(1500 * time.Millisecond)})
		if s := status(); !strings.Contains(s, "Audit chain verified") || !strings.Contains(s, "1,234 records") ||
			!strings.Contains(s, "head 1234:abababababab…") || !strings.Contains(s, "2026-11-23 08:00:00 UTC") || !strings.Contains(s, "in 1.5s") {
			t.Errorf("a good verification: %s", s)
		}
		e.setLastVerify(&audit.Result{Break: &audit.Break{ID: 7, Kind: audit.BreakHash, Message: "record 7's content does not match its hash"}, At: at})
		if s := status(); !strings.Contains(s, "Audit chain BROKEN at record 7 (hash_mismatch)") || !strings.Contains(s, "record 7's content does not match its hash") {
			t.Errorf("a broken chain: %s", s)
		}
		// Verify now: the real chain holds, and the status says so.
		p := rootUI.post(t, "/audit/verify", nil)
		if p.status != http.StatusSeeOther || p.location != "/audit" {
			t.Fatalf("verify: %d %s", p.status, excerpt(p.body))
		}
		var n int64
		if err := db.Gorm().Table("audit_records").Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		last := e.lastVerify()
		if last == nil || !last.OK || last.Records != n {
			t.Fatalf("verify now: %+v, %d records", last, n)
		}
		p = rootUI.get(t, "/audit")
		if !strings.Contains(p.body, "Audit chain verified: "+fmt.Sprint(last.Records)+" records checked") {
			t.Errorf("no message after verify now: %s", excerpt(p.body))
		}
		if s := status(); !strings.Contains(s, "Audit chain verified "+fmt.Sprint(last.Records)+" records hold together") {
			t.Errorf("after verify now: %s", s)
		}
		// Someone edits a record behind jitaccess's back: Verify now finds it.
		tamperAudit(t, db, "UPDATE audit_records SET reason = 'nothing to see' WHERE id = 3")
		rootUI.post(t, "/audit/verify", nil)
		if s := status(); !strings.Contains(s, "Audit chain BROKEN at record 3 (hash_mismatch)") {
			t.Errorf("after tampering: %s", s)
		}
		if last := e.lastVerify(); last.OK || last.Break.ID != 3 {
			t.Errorf("tampering not found: %+v", last)
		}
	})
}

// tamperAudit changes the audit log as someone with direct access to the
// database could (triggers off), as audit's tamper tests do.
func tamperAudit(t *testing.T, db *store.DB, stmt string) {
	t.Helper()
	err := db.Gorm().Transaction(func(g *gorm.DB) error {
		if db.Kind() == store.Postgres {
			if err := g.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
				return err
			}
		} else if err := g.Exec("DROP TRIGGER IF EXISTS audit_records_no_update").Error; err != nil {
			return err
		}
		return g.Exec(stmt).Error
	})
	if err != nil {
		t.Fatal(err)
	}
}
