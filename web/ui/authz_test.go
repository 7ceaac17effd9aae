package ui_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// The roles of the authorization matrix, for a request by alice for
// crm-payments (approved by managers) and a live grant of bob's for
// crm-notes. The reviewer is in the policy's reviewers group.
var roles = []string{"requester", "other requester", "approver", "approver elsewhere", "admin", "reviewer", "signed out"}

var roleEmail = map[string]string{
	"requester": "alice@example.com", "other requester": "bob@example.com", "approver": "carol@example.com",
	"approver elsewhere": "frank@example.com", "admin": "root@example.com", "reviewer": "ann@example.com",
}

// fixture is what every cell of the matrix starts from.
type fixture struct {
	pending *workflow.Request // alice, crm-payments, no approvals
	live    *workflow.Request // bob, crm-notes, approved by dave
	other   *workflow.Request // alice, prod-db (frank decides)
}

func (e *uiEnv) fixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{pending: e.submit(t, alice, "crm-payments", time.Hour)}
	f.live = e.submit(t, bob, "crm-notes", time.Hour)
	e.approve(t, dave, f.live.ID)
	f.other = e.submit(t, alice, "prod-db", time.Hour)
	return f
}

// reset ends whatever the fixture left open, so that the next cell can
// start again (one open request per person and resource).
func (e *uiEnv) reset(t *testing.T, f fixture) {
	t.Helper()
	ctx := context.Background()
	for _, r := range []*workflow.Request{f.pending, f.live, f.other} {
		cur, err := e.db.GetRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch cur.State {
		case workflow.StatePending:
			_, err = e.svc.Cancel(ctx, workflow.User(cur.Requester), cur.ID, "")
		case workflow.StateApproved:
			_, err = e.svc.Revoke(ctx, root, cur.ID, "reset")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Submissions made by the cell.
	reqs, _, err := e.db.ListRequests(ctx, workflow.RequestQuery{All: true, OpenAt: e.clock(), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if r.State == workflow.StatePending {
			_, err = e.svc.Cancel(ctx, workflow.User(r.Requester), r.ID, "")
		} else {
			_, err = e.svc.Revoke(ctx, root, r.ID, "reset")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (e *uiEnv) clientFor(t *testing.T, role string) *client {
	if role == "signed out" {
		return e.anonymous()
	}
	return e.signIn(t, roleEmail[role])
}

const (
	ok        = http.StatusOK
	redirect  = http.StatusSeeOther
	forbidden = http.StatusForbidden
	notFound  = http.StatusNotFound
	toSignIn  = -1 // a redirect to the sign-in page
)

// TestAuthorizationMatrixPages opens every page as every role.
func TestAuthorizationMatrixPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		f := e.fixture(t)
		pages := []struct {
			path string
			want map[string]int
			// see and hide: text that must (not) appear, per role.
			see, hide map[string][]string
		}{
			{path: "/", want: map[string]int{"requester": redirect, "other requester": redirect, "approver": redirect,
				"approver elsewhere": redirect, "admin": redirect, "reviewer": redirect}},
			{path: "/decisions", see: map[string][]string{"approver": {f.pending.ID}, "approver elsewhere": {f.other.ID}},
				hide: map[string][]string{"requester": {f.pending.ID, f.other.ID}, "other requester": {f.pending.ID}, "approver": {f.other.ID},
					"approver elsewhere": {f.pending.ID}, "admin": {f.pending.ID}, "reviewer": {f.pending.ID}}},
			{path: "/requests", see: map[string][]string{"requester": {f.pending.ID, f.other.ID}, "other requester": {f.live.ID}},
				hide: map[string][]string{"other requester": {f.pending.ID}, "requester": {f.live.ID}}},
			{path: "/requests/new", see: map[string][]string{"requester": {"crm-payments"}},
				hide: map[string][]string{"approver": {`data-resource="crm-payments"`}, "reviewer": {`data-resource="crm-payments"`}}},
			{path: "/requests/new?resource=crm-payments", want: map[string]int{"approver": forbidden, "approver elsewhere": forbidden, "admin": forbidden, "reviewer": forbidden}},
			{path: "/requests/" + f.pending.ID, want: map[string]int{"other requester": notFound, "approver elsewhere": notFound},
				see: map[string][]string{"approver": {`action="/requests/` + f.pending.ID + `/approve"`, `action="/requests/` + f.pending.ID + `/deny"`},
					"requester": {`action="/requests/` + f.pending.ID + `/cancel"`}},
				hide: map[string][]string{"requester": {"/approve\"", "/deny\""}, "admin": {"/approve\"", "/deny\"", "/cancel\""},
					"reviewer": {"/approve\"", "/deny\"", "/cancel\""}}},
			{path: "/requests/" + f.live.ID, want: map[string]int{"requester": notFound, "approver elsewhere": notFound},
				see:  map[string][]string{"approver": {"/revoke\""}, "admin": {"/revoke\""}, "other requester": {"Give up my access"}},
				hide: map[string][]string{"reviewer": {"/revoke\""}}},
			{path: "/requests/" + f.other.ID, want: map[string]int{"other requester": notFound, "approver": notFound}},
			{path: "/requests/00000000-0000-0000-0000-000000000000", want: map[string]int{"requester": notFound, "other requester": notFound,
				"approver": notFound, "approver elsewhere": notFound, "admin": notFound, "reviewer": notFound}},
			{path: "/requests/not-an-id", want: map[string]int{"requester": notFound, "other requester": notFound,
				"approver": notFound, "approver elsewhere": notFound, "admin": notFound, "reviewer": notFound}},
			{path: "/grants", see: map[string][]string{"approver": {f.live.ID}, "admin": {f.live.ID}, "other requester": {f.live.ID}, "reviewer": {f.live.ID}},
				hide: map[string][]string{"requester": {f.live.ID}, "approver elsewhere": {f.live.ID}}},
			{path: "/audit", see: map[string][]string{"admin": {"alice@example.com", "bob@example.com"}, "requester": {"alice@example.com"},
				"reviewer": {"alice@example.com", "bob@example.com"}},
				hide: map[string][]string{"requester": {"bob@example.com"}, "other requester": {"alice@example.com"}, "approver elsewhere": {"alice@example.com"}}},
			{path: "/audit/export?format=csv", see: map[string][]string{"admin": {"alice@example.com", "bob@example.com"}, "reviewer": {"alice@example.com", "bob@example.com"}},
				hide: map[string][]string{"requester": {"bob@example.com"}, "other requester": {"alice@example.com"}}},
			{path: "/policy", want: map[string]int{"requester": forbidden, "other requester": forbidden, "approver": forbidden, "approver elsewhere": forbidden,
				"reviewer": forbidden}, see: map[string][]string{"admin": {"frank@example.com", `<span class="chip">auditors</span>`}}},
			{path: "/sessions", want: map[string]int{"requester": forbidden, "other requester": forbidden, "approver": forbidden, "approver elsewhere": forbidden,
				"reviewer": forbidden}},
		}
		for _, pg := range pages {
			for _, role := range roles {
				c := e.clientFor(t, role)
				want, set := pg.want[role]
				if !set {
					want = ok
				}
				if role == "signed out" {
					want = toSignIn
				}
				p := c.get(t, pg.path)
				checkStatus(t, "GET "+pg.path, role, p, want)
				checkShown(t, "GET "+pg.path, role, p, pg.see[role], pg.hide[role])
			}
		}
	})
}

// checkShown checks that a page shows every text of see and none of hide.
func checkShown(t *testing.T, what, role string, p page, see, hide []string) {
	t.Helper()
	for _, s := range see {
		if !strings.Contains(p.body, s) {
			t.Errorf("%s as %s: %q is missing", what, role, s)
		}
	}
	for _, s := range hide {
		if strings.Contains(p.body, s) {
			t.Errorf("%s as %s: %q is shown", what, role, s)
		}
	}
}

func checkStatus(t *testing.T, what, role string, p page, want int) {
	t.Helper()
	switch want {
	case toSignIn:
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/sign-in") {
			t.Errorf("%s as %s: %d → %q, want a redirect to the sign-in page", what, role, p.status, p.location)
		}
	case redirect:
		if p.status != http.StatusSeeOther || strings.HasPrefix(p.location, "/sign-in") {
			t.Errorf("%s as %s: %d → %q, want a redirect", what, role, p.status, p.location)
		}
	default:
		if p.status != want {
			t.Errorf("%s as %s: status %d, want %d\n%s", what, role, p.status, want, excerpt(p.body))
		}
	}
}

// excerpt is the message of an error page, or the start of a body.
func excerpt(body string) string {
	if i := strings.Index(body, `id="error-message">`); i >= 0 {
		rest := body[i+len(`id="error-message">`):]
		return rest[:strings.Index(rest, "<")]
	}
	if i := strings.Index(body, `id="refusal">`); i >= 0 {
		rest := body[i+len(`id="refusal">`):]
		return rest[:strings.Index(rest, "<")]
	}
	if len(body) > 300 {
		return body[:300]
	}
	return body
}

// TestAuthorizationMatrixActions takes every action as every role, each
// on a fresh fixture, and checks both the answer and what was stored.
func TestAuthorizationMatrixActions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		type action struct {
			name   string
			path   func(f fixture) string
			form   url.Values
			want   map[string]int // status; redirect = done
			target func(f fixture) *workflow.Request
			after  map[string]workflow.State // state of target when done
		}
		reason := url.Values{"comment": {"case closed"}}
		actions := []action{
			{name: "approve", path: func(f fixture) string { return "/requests/" + f.pending.ID + "/approve" },
				want: map[string]int{"requester": forbidden, "other requester": notFound, "approver": redirect, "approver elsewhere": notFound, "admin": forbidden,
					"reviewer": forbidden},
				target: func(f fixture) *workflow.Request { return f.pending }},
			{name: "deny", path: func(f fixture) string { return "/requests/" + f.pending.ID + "/deny" }, form: reason,
				want: map[string]int{"requester": forbidden, "other requester": notFound, "approver": redirect, "approver elsewhere": notFound, "admin": forbidden,
					"reviewer": forbidden},
				target: func(f fixture) *workflow.Request { return f.pending }, after: map[string]workflow.State{"approver": workflow.StateDenied}},
			{name: "cancel", path: func(f fixture) string { return "/requests/" + f.pending.ID + "/cancel" },
				want: map[string]int{"requester": redirect, "other requester": notFound, "approver": forbidden, "approver elsewhere": notFound, "admin": forbidden,
					"reviewer": forbidden},
				target: func(f fixture) *workflow.Request { return f.pending }, after: map[string]workflow.State{"requester": workflow.StateCancelled}},
			{name: "revoke", path: func(f fixture) string { return "/requests/" + f.live.ID + "/revoke" }, form: reason,
				want: map[string]int{"requester": notFound, "other requester": redirect, "approver": redirect, "approver elsewhere": notFound, "admin": redirect,
					"reviewer": forbidden},
				target: func(f fixture) *workflow.Request { return f.live },
				after:  map[string]workflow.State{"other requester": workflow.StateRevoked, "approver": workflow.StateRevoked, "admin": workflow.StateRevoked}},
			{name: "extend", path: func(f fixture) string { return "/requests/" + f.live.ID + "/extend" },
				form: url.Values{"duration": {"30m"}, "reason": {"the call runs long"}},
				want: map[string]int{"requester": notFound, "other requester": redirect, "approver": forbidden, "approver elsewhere": notFound, "admin": forbidden,
					"reviewer": forbidden},
				target: func(f fixture) *workflow.Request { return f.live },
				after:  map[string]workflow.State{"other requester": workflow.StateApproved}},
			{name: "submit", path: func(fixture) string { return "/requests" },
				form: url.Values{"resource": {"crm-notes"}, "duration": {"1h"}, "reason": {"case 77"}},
				want: map[string]int{"requester": redirect, "other requester": http.StatusConflict, "approver": forbidden, "approver elsewhere": forbidden, "admin": forbidden,
					"reviewer": forbidden}},
			{name: "end sessions", path: func(fixture) string { return "/sessions/end" }, form: url.Values{"email": {"bob@example.com"}},
				want: map[string]int{"requester": forbidden, "other requester": forbidden, "approver": forbidden, "approver elsewhere": forbidden, "admin": redirect,
					"reviewer": forbidden}},
			{name: "sign out", path: func(fixture) string { return "/sign-out" },
				want: map[string]int{"requester": toSignIn, "other requester": toSignIn, "approver": toSignIn, "approver elsewhere": toSignIn, "admin": toSignIn,
					"reviewer": toSignIn}},
		}
		for _, a := range actions {
			for _, role := range roles {
				f := e.fixture(t)
				c := e.clientFor(t, role)
				form := url.Values{}
				for k, v := range a.form {
					form[k] = v
				}
				var before workflow.State
				var beforeApprovals int
				if a.target != nil {
					before, beforeApprovals = e.state(t, a.target(f).ID)
				}
				want := a.want[role]
				if role == "signed out" {
					want = toSignIn
				}
				p := c.post(t, a.path(f), form)
				checkStatus(t, "POST "+a.name, role, p, want)
				if a.target != nil {
					st, n := e.state(t, a.target(f).ID)
					switch {
					case want == redirect && a.name == "approve":
						if n != beforeApprovals+1 {
							t.Errorf("%s as %s: %d approvals, want %d", a.name, role, n, beforeApprovals+1)
						}
					case want == redirect:
						if st != a.after[role] {
							t.Errorf("%s as %s: state %s, want %s", a.name, role, st, a.after[role])
						}
					default: // refused: nothing changed
						if st != before || n != beforeApprovals {
							t.Errorf("refused %s as %s changed the request: %s/%d, was %s/%d", a.name, role, st, n, before, beforeApprovals)
						}
					}
				}
				e.reset(t, f)
			}
		}
	})
}

// TestRefusalsShowTheAPIMessage checks that a refused action says in the
// UI exactly what the API says, starting as a sentence (workflow.Sentence),
// with the same status.
func TestRefusalsShowTheAPIMessage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		ctx := context.Background()
		tokens := map[string]string{}
		for _, who := range []string{"alice", "carol"} {
			secret, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: who + "@example.com", Actor: "test"}, e.clock())
			if err != nil {
				t.Fatal(err)
			}
			tokens[who] = secret
		}
		req := e.submit(t, alice, "crm-payments", time.Hour)
		e.approve(t, carol, req.ID)
		carolUI, aliceUI := e.signIn(t, "carol@example.com"), e.signIn(t, "alice@example.com")
		for _, tc := range []struct {
			ui           *client
			token, path  string
			form         url.Values
			json         string
			wantStatus   int
			wantContains string
		}{
			{carolUI, tokens["carol"], "/requests/" + req.ID + "/approve", nil, `{}`, http.StatusConflict, "already approved"},
			{carolUI, tokens["carol"], "/requests/" + req.ID + "/deny", url.Values{"comment": {"  "}}, `{"comment":"  "}`, http.StatusUnprocessableEntity, "a reason is required to deny"},
			{aliceUI, tokens["alice"], "/requests/" + req.ID + "/approve", nil, `{}`, http.StatusForbidden, "you cannot approve your own request"},
			{aliceUI, tokens["alice"], "/requests/" + req.ID + "/revoke", nil, `{}`, http.StatusConflict, "request is pending"},
			{aliceUI, tokens["alice"], "/requests", url.Values{"resource": {"crm-payments"}, "duration": {"4h"}, "reason": {"x"}},
				`{"resource":"crm-payments","duration":"4h","reason":"x"}`, http.StatusUnprocessableEntity, "longer than the maximum of 2h"},
			{aliceUI, tokens["alice"], "/requests", url.Values{"resource": {"crm-notes"}, "duration": {"1h"}, "reason": {" "}},
				`{"resource":"crm-notes","duration":"1h","reason":" "}`, http.StatusUnprocessableEntity, "a reason is required"},
			{aliceUI, tokens["alice"], "/requests", url.Values{"resource": {"crm-notes"}, "duration": {"an hour"}, "reason": {"x"}},
				`{"resource":"crm-notes","duration":"an hour","reason":"x"}`, http.StatusBadRequest, "is not a duration"},
		} {
			p := tc.ui.post(t, tc.path, tc.form)
			apiReq, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1"+tc.path, strings.NewReader(tc.json))
			apiReq.Header.Set("Authorization", "Bearer "+tc.token)
			resp, err := http.DefaultClient.Do(apiReq)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Error struct{ Message string } `json:"error"`
			}
			decodeBody(t, resp, &body)
			uiMsg := html.UnescapeString(excerpt(p.body))
			if p.status != tc.wantStatus || resp.StatusCode != tc.wantStatus {
				t.Errorf("%s: UI %d, API %d, want %d", tc.path, p.status, resp.StatusCode, tc.wantStatus)
			}
			if !strings.Contains(body.Error.Message, tc.wantContains) || uiMsg != workflow.Sentence(body.Error.Message) {
				t.Errorf("%s: UI says %q, API says %q", tc.path, uiMsg, body.Error.Message)
			}
		}
		// The refused deny kept what was typed, and nothing changed.
		if st, n := e.state(t, req.ID); st != workflow.StatePending || n != 1 {
			t.Fatalf("refusals changed the request: %s %d", st, n)
		}
	})
}

func decodeBody(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", resp.Request.URL.Path, err)
	}
}
