package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// The day the fixtures happen on (the env's clock starts at 09:00).
const (
	day       = "2026-11-23"
	dayPeriod = "since=" + day + "&until=" + day
)

var theDay = review.Period{Start: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)}

// reviewFixture is the request fixture and three reviews of its day:
// everything (opened by the admin), crm-notes (by carol, who approves
// it; bob had access) and prod-db (by frank), and a follow-up on the
// crm-notes one.
type reviewFixture struct {
	fixture
	all, notes, prod *review.Review
	followUp         *review.FollowUp
}

func (e *uiEnv) reviewFixture(t *testing.T) reviewFixture {
	t.Helper()
	ctx := context.Background()
	f := reviewFixture{fixture: e.fixture(t)}
	open := func(who workflow.Principal, scope review.Scope) *review.Review {
		r, err := e.reviews.Open(ctx, who, scope, theDay)
		if err != nil {
			t.Fatalf("open %s by %s: %v", scope, who.Email, err)
		}
		return r
	}
	f.all = open(root, review.Scope{Kind: review.ScopeAll})
	f.notes = open(carol, review.Scope{Kind: review.ScopeResource, Value: "crm-notes"})
	f.prod = open(frank, review.Scope{Kind: review.ScopeResource, Value: "prod-db"})
	fu, err := e.reviews.MarkFollowUp(ctx, carol, f.notes.ID, review.ItemRequest, f.live.ID, "granted at night?")
	if err != nil {
		t.Fatal(err)
	}
	f.followUp = fu
	return f
}

// TestAuthorizationMatrixOversightPages opens every oversight page as
// every role: package review decides, the pages show what it allows and
// refuse the rest with its status.
func TestAuthorizationMatrixOversightPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		f := e.reviewFixture(t)
		requesters := map[string]int{"requester": forbidden, "other requester": forbidden}
		with := func(m map[string]int, more map[string]int) map[string]int {
			out := map[string]int{}
			for k, v := range m {
				out[k] = v
			}
			for k, v := range more {
				out[k] = v
			}
			return out
		}
		hidden := func(roles ...string) map[string]int {
			out := map[string]int{}
			for _, r := range roles {
				out[r] = notFound
			}
			return out
		}
		pages := []struct {
			path      string
			want      map[string]int
			see, hide map[string][]string
		}{
			{path: "/reviews", want: requesters,
				see: map[string][]string{"approver": {f.notes.ID}, "approver elsewhere": {f.prod.ID}, "admin": {f.all.ID, f.notes.ID, f.prod.ID},
					"reviewer": {f.all.ID, f.notes.ID, f.prod.ID}},
				hide: map[string][]string{"approver": {f.all.ID, f.prod.ID, "All resources"}, "approver elsewhere": {f.all.ID, f.notes.ID}}},
			// Without a scope, approvers start on a resource they approve.
			{path: "/reviews/report?" + dayPeriod + "&view=grants", want: requesters,
				see:  map[string][]string{"admin": {f.live.ID}, "reviewer": {f.live.ID}, "approver": {"Access to crm-payments"}, "approver elsewhere": {"Access to prod-db"}},
				hide: map[string][]string{"approver": {f.live.ID}}},
			{path: "/reviews/report?" + dayPeriod + "&resource=crm-notes&view=grants", want: with(requesters, map[string]int{"approver elsewhere": forbidden}),
				see: map[string][]string{"approver": {f.live.ID}, "admin": {f.live.ID}, "reviewer": {f.live.ID}}},
			{path: "/reviews/report?" + dayPeriod + "&resource=prod-db", want: with(requesters, map[string]int{"approver": forbidden})},
			{path: "/reviews/report?" + dayPeriod + "&person=bob@example.com", want: with(requesters, map[string]int{"approver": forbidden, "approver elsewhere": forbidden})},
			{path: "/reviews/" + f.all.ID, want: hidden("requester", "other requester", "approver", "approver elsewhere"),
				see: map[string][]string{"admin": {`action="/reviews/` + f.all.ID + `/signoff"`}, "reviewer": {`action="/reviews/` + f.all.ID + `/signoff"`}}},
			{path: "/reviews/" + f.notes.ID + "?view=grants", want: hidden("requester", "other requester", "approver elsewhere"),
				see: map[string][]string{"approver": {f.live.ID, "granted at night?", `action="/followups/` + f.followUp.ID + `/resolve"`},
					"admin": {"granted at night?"}, "reviewer": {"granted at night?"}}},
			{path: "/reviews/" + f.prod.ID, want: hidden("requester", "other requester", "approver")},
			{path: "/reviews/00000000-0000-0000-0000-000000000000", want: hidden("requester", "other requester", "approver", "approver elsewhere", "admin", "reviewer")},
			{path: "/reviews/not-an-id", want: hidden("requester", "other requester", "approver", "approver elsewhere", "admin", "reviewer")},
			{path: "/flags", want: requesters},
			{path: "/flags?resource=crm-notes", want: with(requesters, map[string]int{"approver elsewhere": forbidden})},
			{path: "/dashboard", want: with(requesters, map[string]int{"approver": forbidden, "approver elsewhere": forbidden}),
				see: map[string][]string{"admin": {`id="charts"`}, "reviewer": {`id="charts"`}}},
			{path: "/audit", see: map[string][]string{"admin": {`id="chain-status"`}, "reviewer": {`id="chain-status"`}},
				hide: map[string][]string{"requester": {`id="chain-status"`}, "other requester": {`id="chain-status"`}, "approver": {`id="chain-status"`},
					"approver elsewhere": {`id="chain-status"`}}},
		}
		for _, pg := range pages {
			for _, role := range roles {
				want, set := pg.want[role]
				if !set {
					want = ok
				}
				if role == "signed out" {
					want = toSignIn
				}
				p := e.clientFor(t, role).get(t, pg.path)
				checkStatus(t, "GET "+pg.path, role, p, want)
				checkShown(t, "GET "+pg.path, role, p, pg.see[role], pg.hide[role])
			}
		}
		// The navigation offers the pages to those who may use them.
		nav := map[string][]string{
			"requester": nil, "other requester": nil,
			"approver": {"/reviews", "/flags"}, "approver elsewhere": {"/reviews", "/flags"},
			"admin": {"/dashboard", "/reviews", "/flags"}, "reviewer": {"/dashboard", "/reviews", "/flags"},
		}
		for role, links := range nav {
			p := e.clientFor(t, role).get(t, "/grants")
			for _, path := range []string{"/dashboard", "/reviews", "/flags"} {
				shown := strings.Contains(p.body, `<a href="`+path+`"`)
				if want := contains(links, path); shown != want {
					t.Errorf("%s's navigation: %s shown %v, want %v", role, path, shown, want)
				}
			}
		}
		// A reviewer who is nothing else starts on the reviews.
		if p := e.clientFor(t, "reviewer").get(t, "/"); p.location != "/reviews" {
			t.Errorf("the reviewer starts at %q", p.location)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestAuthorizationMatrixOversightActions takes every oversight action as
// every role, each on a fresh fixture, and checks both the answer and
// what was stored.
func TestAuthorizationMatrixOversightActions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		ctx := context.Background()
		countReviews := func() int {
			var n int64
			if err := db.Gorm().Table("reviews").Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
		type action struct {
			name  string
			path  func(f reviewFixture) string
			form  url.Values
			want  map[string]int // status; redirect = done
			check func(t *testing.T, f reviewFixture, done bool, reviewsBefore int)
		}
		state := func(id string) *review.Review {
			r, err := db.GetReview(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		readers := func(none int, who ...string) map[string]int {
			m := map[string]int{"requester": none, "other requester": none, "approver": none, "approver elsewhere": none, "admin": none, "reviewer": none}
			for _, w := range who {
				m[w] = redirect
			}
			return m
		}
		period := url.Values{"since": {day}, "until": {day}}
		actions := []action{
			{name: "open a review of everything", path: func(reviewFixture) string { return "/reviews" }, form: period,
				want: readers(forbidden, "admin", "reviewer"),
				check: func(t *testing.T, f reviewFixture, done bool, before int) {
					if got, want := countReviews(), before+b2i(done); got != want {
						t.Errorf("%d reviews, want %d", got, want)
					}
				}},
			{name: "open a review of crm-notes", path: func(reviewFixture) string { return "/reviews" },
				form: url.Values{"since": {day}, "until": {day}, "resource": {"crm-notes"}},
				want: readers(forbidden, "approver", "admin", "reviewer"),
				check: func(t *testing.T, f reviewFixture, done bool, before int) {
					if got, want := countReviews(), before+b2i(done); got != want {
						t.Errorf("%d reviews, want %d", got, want)
					}
				}},
			{name: "sign off", path: func(f reviewFixture) string { return "/reviews/" + f.notes.ID + "/signoff" }, form: url.Values{"notes": {"ok"}},
				want: readers(notFound, "approver", "admin", "reviewer"),
				check: func(t *testing.T, f reviewFixture, done bool, _ int) {
					if r := state(f.notes.ID); (r.State == review.StateSignedOff) != done {
						t.Errorf("review state %s", r.State)
					}
				}},
			{name: "mark for follow-up", path: func(f reviewFixture) string { return "/reviews/" + f.notes.ID + "/followups" },
				form: url.Values{"kind": {"person"}, "ref": {"bob@example.com"}, "note": {"ask why"}},
				want: readers(notFound, "approver", "admin", "reviewer"),
				check: func(t *testing.T, f reviewFixture, done bool, _ int) {
					if n := len(state(f.notes.ID).FollowUps); n != 1+b2i(done) {
						t.Errorf("%d follow-ups", n)
					}
				}},
			{name: "resolve a follow-up", path: func(f reviewFixture) string { return "/followups/" + f.followUp.ID + "/resolve" },
				form: url.Values{"resolution": {"it was on call"}},
				want: readers(notFound, "approver", "admin", "reviewer"),
				check: func(t *testing.T, f reviewFixture, done bool, _ int) {
					if fu := state(f.notes.ID).FollowUps[0]; (fu.ResolvedAt != nil) != done {
						t.Errorf("follow-up resolved: %v", fu.ResolvedAt)
					}
				}},
			{name: "verify the audit chain", path: func(reviewFixture) string { return "/audit/verify" },
				want: readers(forbidden, "admin", "reviewer"),
				check: func(t *testing.T, f reviewFixture, done bool, _ int) {
					if got := e.lastVerify() != nil; got != done {
						t.Errorf("verification recorded: %v", got)
					}
					e.setLastVerify(nil)
				}},
		}
		for _, a := range actions {
			for _, role := range roles {
				f := e.reviewFixture(t)
				before := countReviews()
				want := a.want[role]
				if role == "signed out" {
					want = toSignIn
				}
				form := url.Values{}
				for k, v := range a.form {
					form[k] = v
				}
				p := e.clientFor(t, role).post(t, a.path(f), form)
				checkStatus(t, "POST "+a.name, role, p, want)
				t.Run(a.name+"/"+role, func(t *testing.T) { a.check(t, f, want == redirect, before) })
				e.reset(t, f.fixture)
			}
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestOversightCSRF: every new form carries the session's token, and
// every new action refuses a request without it, changing nothing.
func TestOversightCSRF(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		f := e.reviewFixture(t)
		rootUI := e.signIn(t, "root@example.com")
		postForms := regexp.MustCompile(`(?s)<form[^>]*method="post".*?</form>`)
		for _, tc := range []struct {
			path    string
			actions []string // forms the page must have
		}{
			{"/reviews", nil},
			{"/reviews/report?" + dayPeriod, []string{`action="/reviews"`}},
			{"/reviews/" + f.notes.ID, []string{`/signoff"`, `/resolve"`, `/followups"`}},
			{"/reviews/" + f.all.ID + "?view=grants", []string{`/followups"`}},
			{"/reviews/" + f.notes.ID + "?view=person", []string{`/followups"`}},
			{"/flags", nil}, {"/dashboard", nil},
			{"/audit", []string{`action="/audit/verify"`}},
		} {
			p := rootUI.get(t, tc.path)
			forms := postForms.FindAllString(p.body, -1)
			for _, want := range tc.actions {
				found := false
				for _, form := range forms {
					found = found || strings.Contains(form, want)
				}
				if !found {
					t.Errorf("%s: no form %s", tc.path, want)
				}
			}
			for _, form := range forms {
				if !strings.Contains(form, `name="csrf_token" value="`+rootUI.csrf+`"`) {
					t.Errorf("%s: a form without the CSRF token: %s", tc.path, form)
				}
			}
		}
		for _, tc := range []struct {
			path string
			form url.Values
		}{
			{"/reviews", url.Values{"since": {day}, "until": {day}}},
			{"/reviews/" + f.notes.ID + "/signoff", url.Values{"notes": {"x"}}},
			{"/reviews/" + f.notes.ID + "/followups", url.Values{"kind": {"person"}, "ref": {"bob@example.com"}, "note": {"x"}}},
			{"/followups/" + f.followUp.ID + "/resolve", url.Values{"resolution": {"x"}}},
			{"/audit/verify", nil},
		} {
			for _, token := range []string{"", flipFirst(rootUI.csrf)} {
				form := url.Values{"csrf_token": {token}}
				for k, v := range tc.form {
					form[k] = v
				}
				p := rootUI.postRaw(t, tc.path, form, "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
				if p.status != http.StatusForbidden {
					t.Errorf("POST %s with token %q: %d, want 403", tc.path, token, p.status)
				}
			}
			// Cross-site, with the right token.
			form := url.Values{"csrf_token": {rootUI.csrf}}
			for k, v := range tc.form {
				form[k] = v
			}
			if p := rootUI.postRaw(t, tc.path, form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); p.status != http.StatusForbidden {
				t.Errorf("POST %s cross-site: %d, want 403", tc.path, p.status)
			}
		}
		r, err := db.GetReview(context.Background(), f.notes.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != review.StateOpen || len(r.FollowUps) != 1 || r.FollowUps[0].ResolvedAt != nil || e.lastVerify() != nil {
			t.Fatalf("a refused request changed something: %+v", r)
		}
		var n int64
		if err := db.Gorm().Table("reviews").Count(&n).Error; err != nil || n != 3 {
			t.Fatalf("%d reviews, want 3 (%v)", n, err)
		}
	})
}
