package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func seedPerson(t testing.TB, db *store.DB, p workflow.Person, now time.Time) {
	t.Helper()
	if _, err := db.SeedPerson(context.Background(), p, now); err != nil {
		t.Fatalf("seed %s: %v", p.UserName, err)
	}
}

// TestAPIDirectoryStanding: the directory decides who may use a token and
// which groups they are in, on every API call.
func TestAPIDirectoryStanding(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		deleted := e.now.Add(-time.Hour)
		// bob is an agent and dave a manager in the policy file, but the
		// directory has deactivated bob and deleted dave; gina is a
		// manager in the directory alone; carol is active there.
		seedPerson(t, db, workflow.Person{UserName: "bob@example.com", Active: false}, e.now)
		seedPerson(t, db, workflow.Person{UserName: "dave@example.com", Active: true, DeletedAt: &deleted}, e.now)
		seedPerson(t, db, workflow.Person{UserName: "gina@example.com", Emails: []string{"g.w@example.com"}, Active: true, Groups: []string{"managers"}}, e.now)
		seedPerson(t, db, workflow.Person{UserName: "carol@example.com", Active: true}, e.now)
		secret, _, err := db.CreateToken(context.Background(), identity.NewToken{Kind: identity.TokenUser, Subject: "gina@example.com", Actor: "test"}, e.now)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens["gina"] = secret

		for _, tc := range []struct {
			who, method, path string
			status            int
			message           string
		}{
			{"bob", "GET", "/api/v1/me", http.StatusUnauthorized, "bob@example.com is deactivated in the directory"},
			{"bob", "POST", "/api/v1/requests", http.StatusUnauthorized, "bob@example.com is deactivated in the directory"},
			{"dave", "GET", "/api/v1/requests", http.StatusUnauthorized, "dave@example.com is deactivated in the directory"},
			{"carol", "GET", "/api/v1/me", http.StatusOK, ""},
			{"gina", "GET", "/api/v1/me", http.StatusOK, ""},
			{"alice", "GET", "/api/v1/me", http.StatusOK, ""}, // not in the directory: the policy file decides
			{"helpdesk", "GET", "/api/v1/grants/check?user=bob@example.com&resource=crm-notes", http.StatusOK, ""},
		} {
			var body any
			if tc.method == "POST" {
				body = map[string]string{"resource": "crm-notes", "duration": "1h", "reason": "case 1"}
			}
			r := e.call(t, tc.method, tc.path, tc.who, body)
			if r.status != tc.status || tc.message != "" && (r.errCode() != "unauthenticated" || r.errMessage() != tc.message) {
				t.Errorf("%s %s as %s: %d %s", tc.method, tc.path, tc.who, r.status, r.raw)
			}
		}

		// gina approves as a manager through the directory, though the
		// policy file does not list her.
		id := e.create(t, "alice", "crm-payments", "1h")
		r := e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "gina", nil)
		if r.status != http.StatusOK || len(r.body["approvals"].([]any)) != 1 {
			t.Fatalf("gina's approval: %d %s", r.status, r.raw)
		}
		// dave, a manager by the file, may not: his token is refused.
		if r := e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "dave", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("dave's approval: %d %s", r.status, r.raw)
		}
		if r := e.call(t, "POST", "/api/v1/requests/"+id+"/approve", "carol", nil); r.status != http.StatusOK || r.str("state") != "approved" {
			t.Fatalf("carol's approval: %d %s", r.status, r.raw)
		}
	})
}
