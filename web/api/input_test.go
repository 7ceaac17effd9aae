package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestInvalidTextRefused replays the sweep's NUL probes (500 on PostgreSQL
// before the input check) and the other invalid text: each is 400 invalid
// with the JSON error shape, naming the parameter, on both databases.
func TestInvalidTextRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newOversightEnv(t, db)
		for _, tc := range []struct {
			method, path, who, body string
			want                    string // in the message
		}{
			{"GET", "/api/v1/requests?requester=%00", "root", "", `query parameter "requester" contains a NUL character`},
			{"GET", "/api/v1/requests?resource=%00", "root", "", `query parameter "resource" contains a NUL character`},
			{"GET", "/api/v1/audit?person=%00", "root", "", `query parameter "person" contains a NUL character`},
			{"GET", "/api/v1/audit?actor=%00", "root", "", `query parameter "actor"`},
			{"GET", "/api/v1/audit?subject=%00", "root", "", `query parameter "subject"`},
			{"GET", "/api/v1/audit?resource=%00", "root", "", `query parameter "resource"`},
			{"GET", "/api/v1/audit?action=%00", "root", "", `query parameter "action"`},
			{"GET", "/api/v1/audit/export?person=%00", "root", "", `query parameter "person" contains a NUL character`},
			{"GET", "/api/v1/grants/check?user=%00&resource=crm-payments", "root", "", `query parameter "user" contains a NUL character`},
			{"POST", "/api/v1/mask", "root", `{"user":"a\u0000b","resource":"crm-payments","record":{}}`, `field "user" contains a NUL character`},
			{"GET", "/api/v1/flags?person=%00", "root", "", `query parameter "person" contains a NUL character`},
			{"GET", "/api/v1/reviews/report?person=%00", "root", "", `query parameter "person" contains a NUL character`},
			// Beyond the sweep: other controls, invalid UTF-8, path parameters, JSON.
			{"GET", "/api/v1/requests?requester=a%01b", "root", "", `query parameter "requester" contains a control character (U+0001)`},
			{"GET", "/api/v1/requests?requester=a%0Ab", "root", "", `query parameter "requester" contains a control character (U+000A)`},
			{"GET", "/api/v1/requests?requester=%ff", "root", "", `query parameter "requester" is not valid UTF-8`},
			{"GET", "/api/v1/requests?re%00quester=x", "root", "", `a query parameter name contains a NUL character`},
			{"GET", "/api/v1/requests/%00", "root", "", `path parameter "id" contains a NUL character`},
			{"POST", "/api/v1/requests/%00/approve", "carol", "", `path parameter "id" contains a NUL character`},
			{"POST", "/api/v1/requests", "alice", `{"resource":"crm-notes","duration":"1h","reason":"a\u0000b"}`, `field "reason" contains a NUL character`},
			{"POST", "/api/v1/requests", "alice", `{"resource":"crm-notes","duration":"1h","reason":"a\u0007b"}`, `field "reason" contains a control character (U+0007)`},
			{"POST", "/api/v1/requests", "alice", "{\"resource\":\"crm-notes\",\"duration\":\"1h\",\"reason\":\"a\xffb\"}", `request body is not valid UTF-8`},
			{"POST", "/api/v1/mask", "root", `{"user":"alice@example.com","resource":"crm-payments","record":{"notes":["x","a\u0000"]}}`, `field "record.notes[1]" contains a NUL character`},
			{"POST", "/api/v1/mask", "root", `{"user":"alice@example.com","resource":"crm-payments","record":{"a\u0000":1}}`, `field name "record.a\x00"`},
		} {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				var body *strings.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				var r response
				if body != nil {
					r = e.send(t, tc.method, tc.path, "Bearer "+e.tokens[tc.who], body)
				} else {
					r = e.send(t, tc.method, tc.path, "Bearer "+e.tokens[tc.who], nil)
				}
				if r.status != http.StatusBadRequest || r.errCode() != "invalid_argument" || !strings.Contains(r.errMessage(), tc.want) {
					t.Fatalf("%s %s: %d %s, want 400 invalid_argument %q", tc.method, tc.path, r.status, r.raw, tc.want)
				}
			})
		}
		// Free text in JSON keeps newlines and tabs.
		r := e.call(t, "POST", "/api/v1/requests", "alice", `{"resource":"crm-notes","duration":"1h","reason":"line one\n\tline two"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("reason with a newline: %d %s", r.status, r.raw)
		}
	})
}
