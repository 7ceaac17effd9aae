package app_test

import (
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestSCIMInvalidText: NUL, invalid UTF-8 and control characters in a
// SCIM filter, path or body are 400 in SCIM's error shape on both
// databases, never a 500 from PostgreSQL.
func TestSCIMInvalidText(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		_, c, _ := bootSCIM(t, kind)
		for _, tc := range []struct{ method, path, body, want string }{
			{"GET", "/Users?filter=userName+eq+%22a%00b%22", "", `query parameter "filter" contains a NUL character`},
			{"GET", "/Users?filter=userName+eq+%22a%ffb%22", "", `query parameter "filter" is not valid UTF-8`},
			{"GET", "/Users/a%00b", "", `the path contains a NUL character`},
			{"POST", "/Users", strings.Replace(userBody("nulhere@example.com", true, ""), "nulhere", `a\u0000b`, 1), `field "userName" contains a NUL character`},
			{"POST", "/Users", strings.Replace(userBody("x@example.com", true, ""), "Alice Example", `Alice\u0001`, 1), `field "displayName" contains a control character (U+0001)`},
		} {
			got, e := c.do(tc.method, tc.path, tc.body)
			detail, _ := e["detail"].(string)
			if got != 400 || e["status"] != "400" || !strings.Contains(detail, tc.want) {
				t.Errorf("%s %s: %d %v, want 400 %q", tc.method, tc.path, got, e, tc.want)
			}
		}
	})
}
