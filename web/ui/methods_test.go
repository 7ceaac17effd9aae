package ui_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestMethodNotAllowedWithUI: with the web UI mounted (its catch-all
// not-found route matches every path), a wrong method is still 405.
func TestMethodNotAllowedWithUI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		for _, tc := range []struct {
			method, path string
			status       int
			allow        string
		}{
			{"DELETE", "/api/v1/requests/01900000-0000-7000-8000-000000000000", 405, "GET"},
			{"PUT", "/api/v1/reviews", 405, "GET, POST"},
			{"GET", "/api/v1/reviews/x/signoff", 405, "POST"},
			{"DELETE", "/api/v1/nothing", 404, ""},
			{"DELETE", "/requests/01900000-0000-7000-8000-000000000000", 405, "GET"},
		} {
			req, _ := http.NewRequest(tc.method, e.base+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Allow") != tc.allow {
				t.Errorf("%s %s: %d Allow %q, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.status, tc.allow)
			}
			if tc.status == 405 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s: 405 is not JSON: %s", tc.method, tc.path, resp.Header.Get("Content-Type"))
			}
		}
	})
}
