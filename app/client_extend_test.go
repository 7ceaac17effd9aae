package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestClientExtendAndStart: `jitaccess request --start` files access that
// starts later, which `requests` shows as scheduled with its start;
// `jitaccess extend` files an extension that `requests` shows as "+30m"
// extending the grant; asking anew for a live grant names it.
func TestClientExtendAndStart(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		e := newClientEnv(t, kind, app.Config{})
		ctx := context.Background()
		start := time.Now().UTC().Add(3 * time.Hour).Truncate(time.Second).Format(time.RFC3339)
		var sched struct{ ID, State string }
		if err := json.Unmarshal([]byte(e.must(t, "alice", "request", "payments", "--for", "30m", "--reason", "tonight", "--start", start, "--json")), &sched); err != nil {
			t.Fatal(err)
		}
		e.must(t, "carol", "approve", sched.ID)
		out := e.must(t, "dave", "approve", sched.ID)
		if !strings.Contains(out, "scheduled") || !strings.Contains(out, "starts in 2h") {
			t.Fatalf("approved scheduled request:\n%s", out)
		}

		g := e.file(t, "crm-notes")
		e.must(t, "carol", "approve", g)
		code, _, errOut := e.as(ctx, "alice", "request", "crm-notes", "--for", "30m", "--reason", "again")
		if code != 1 || !strings.Contains(errOut, "already_live") || !strings.Contains(errOut, g) {
			t.Fatalf("second request: %d %s", code, errOut)
		}
		out = e.must(t, "alice", "extend", g, "--for", "30m", "--reason", "the call runs long")
		if !strings.Contains(out, "pending") || !strings.Contains(out, "+30m") || !strings.Contains(out, "extends "+g) {
			t.Fatalf("extend:\n%s", out)
		}
		if code, _, errOut := e.as(ctx, "alice", "extend", g); code != 2 || !strings.Contains(errOut, "--for is required") {
			t.Fatalf("extend without --for: %d %s", code, errOut)
		}
		out = e.must(t, "alice", "requests", "--mine")
		for _, want := range []string{"scheduled", "starts in 2h", "+30m", "extends " + g} {
			if !strings.Contains(out, want) {
				t.Errorf("requests --mine lacks %q:\n%s", want, out)
			}
		}
	})
}
