package provision_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestLongNonASCIIFailureReason is the sweep's reproduction: a webhook
// whose URL is 900 characters long answers 500 with an error page in a
// non-Latin script. The failure reason is cut to fit; it used to be cut in
// the middle of a character, which PostgreSQL refuses (SQLSTATE 22021), so
// the grant never reached failed. Two URLs one byte apart make sure one of
// them puts the cut inside a two-byte character.
func TestLongNonASCIIFailureReason(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		page := strings.Repeat("Внутренняя ошибка сервера. ", 40)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, page)
		}))
		t.Cleanup(srv.Close)
		for _, pad := range []int{0, 1} {
			t.Run(fmt.Sprint("pad ", pad), func(t *testing.T) {
				url := srv.URL + "/" + strings.Repeat("p", 900-len(srv.URL)+pad)
				pol := strings.Replace(webhookPolicy(url, time.Second), "/hooks/jitaccess", "", 1)
				e := newEnv(t, db, pol, map[string]string{"CRM_SECRET": webhookSecret})
				e.pipeline.FailAfter = 2
				who := []workflow.Principal{alice, workflow.User("bob@example.com")}[pad]
				req := e.approve(t, who, "crm-payments")
				e.runUntil(t, "the grant to fail", func() bool { return e.status(t, req.ID).Status == provision.StatusFailed })
				st := e.status(t, req.ID)
				if !utf8.ValidString(st.LastError) || len(st.LastError) > 1000 || !strings.Contains(st.LastError, "Внутренняя") {
					t.Fatalf("last error (%d bytes, valid %v): %q", len(st.LastError), utf8.ValidString(st.LastError), st.LastError)
				}
				if actions := e.auditActions(t, req.ID); !slices.Contains(actions, provision.ActionFailed) {
					t.Fatalf("no %s audit record: %v", provision.ActionFailed, actions)
				}
			})
		}
	})
}
