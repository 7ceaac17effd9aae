package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// GET /api/v1/policy/explain: admins and reviewers only; the answer is
// workflow.Explain's.
func TestAPIPolicyExplain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newOversightEnv(t, db)
		for _, tc := range []struct {
			name, who, query string
			status           int
			code, msg        string
		}{
			{"admin", "root", "?user=alice@example.com&resource=crm-payments", 200, "", ""},
			{"reviewer", "ann", "?user=alice@example.com&resource=crm-payments", 200, "", ""},
			{"not an admin", "alice", "?user=alice@example.com&resource=crm-payments", 403, "forbidden", "only admins and reviewers"},
			{"approver is no admin", "carol", "?user=alice@example.com&resource=crm-payments", 403, "forbidden", "only admins and reviewers"},
			{"unknown resource", "root", "?user=alice@example.com&resource=crm-nope", 404, "not_found", `unknown resource "crm-nope"`},
			{"missing user", "root", "?resource=crm-payments", 400, "invalid_argument", "user is required"},
			{"missing resource", "root", "?user=alice@example.com", 400, "invalid_argument", "resource is required"},
			{"unknown parameter", "root", "?user=alice@example.com&resource=crm-payments&at=now", 400, "invalid_argument", `unknown query parameter "at"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _, body := e.get(t, "/api/v1/policy/explain"+tc.query, tc.who)
				if status != tc.status {
					t.Fatalf("status %d, want %d: %s", status, tc.status, body)
				}
				if tc.status != 200 {
					var out struct {
						Error struct{ Code, Message string }
					}
					if err := json.Unmarshal([]byte(body), &out); err != nil || out.Error.Code != tc.code || !strings.Contains(out.Error.Message, tc.msg) {
						t.Fatalf("body %s, want %s %q", body, tc.code, tc.msg)
					}
					return
				}
				var x workflow.Explanation
				if err := json.Unmarshal([]byte(body), &x); err != nil {
					t.Fatal(err)
				}
				var approvers []string
				for _, a := range x.Approvers {
					approvers = append(approvers, a.Email)
				}
				if !x.CanRequest || x.Tier != workflow.TierHigh || x.ApprovalsRequired != 2 || x.ReviewTimeout != "24h" ||
					strings.Join(approvers, ",") != "carol@example.com,dave@example.com,erin@example.com" {
					t.Fatalf("explanation %s", body)
				}
			})
		}
	})
}
