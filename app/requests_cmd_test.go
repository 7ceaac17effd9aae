package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestRequestsListShowsScheduledAndExtends: `jitaccess requests list`
// shows a scheduled grant with its start and an extension with the grant
// it extends.
func TestRequestsListShowsScheduledAndExtends(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		if code, _, errOut := run(t, "migrate", "--database", u); code != 0 {
			t.Fatalf("migrate: %d %s", code, errOut)
		}
		ctx := context.Background()
		db, err := store.Open(ctx, u, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		pol, err := workflow.ParsePolicy("p.yaml", []byte(strings.Replace(goodPolicy, "agents: [alice@example.com]", "agents: [alice@example.com, bob@example.com]", 1)))
		if err != nil {
			t.Fatal(err)
		}
		svc := workflow.NewService(db, pol, workflow.Options{})
		start := workflow.Now().Add(2 * time.Hour).Truncate(time.Second)
		sched, err := svc.Submit(ctx, workflow.User("bob@example.com"), workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "later", StartAt: &start})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Approve(ctx, workflow.User("carol@example.com"), sched.ID, ""); err != nil {
			t.Fatal(err)
		}
		g, err := svc.Submit(ctx, workflow.User("alice@example.com"), workflow.SubmitInput{Resource: "crm-notes", Duration: time.Hour, Reason: "now"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Approve(ctx, workflow.User("carol@example.com"), g.ID, ""); err != nil {
			t.Fatal(err)
		}
		ext, err := svc.Extend(ctx, workflow.User("alice@example.com"), g.ID, workflow.ExtendInput{Duration: 30 * time.Minute, Reason: "longer"})
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, "requests", "list", "--database", u)
		if code != 0 {
			t.Fatalf("list: %d %s", code, errOut)
		}
		var schedLine, extLine string
		for _, l := range strings.Split(out, "\n") {
			switch {
			case strings.HasPrefix(l, sched.ID):
				schedLine = l
			case strings.HasPrefix(l, ext.ID):
				extLine = l
			}
		}
		if !strings.Contains(schedLine, "scheduled") || !strings.Contains(schedLine, start.Format(time.RFC3339)+" (in 2h)") {
			t.Fatalf("scheduled line %q in\n%s", schedLine, out)
		}
		if !strings.Contains(extLine, "pending") || !strings.Contains(extLine, "+30m") || !strings.HasSuffix(strings.TrimSpace(extLine), g.ID) {
			t.Fatalf("extension line %q in\n%s", extLine, out)
		}
		if code, out, _ := run(t, "requests", "list", "--database", u, "--state", "scheduled"); code != 0 || strings.Count(out, "\n") != 2 {
			t.Fatalf("--state scheduled: %d %q", code, out)
		}
		if code, _, _ := run(t, "requests", "list", "--database", u, "--state", "nope"); code != 2 {
			t.Fatalf("bad state: exit %d", code)
		}
	})
}
