package slackapp_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/slackapp"
	"github.com/jitaccess/jitaccess/slackapp/slacktest"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func newTestHandler(t *testing.T, fake *slacktest.Server) *slackapp.Handler {
	t.Helper()
	db := storetest.Open(t, store.SQLite)
	pol, err := workflow.ParsePolicy("p.yaml", []byte("groups:\n  g: [a@example.com]\nresources:\n  - id: r\n    tier: low\n    max_duration: 1h\n    requesters: [g]\n    auto_approve: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	client := fake.Client()
	h, err := slackapp.New(slackapp.Config{Service: workflow.NewService(db, pol, workflow.Options{}), Store: db, Client: client,
		Directory: &slackapp.Directory{Client: client}, SigningSecret: "s", ResponseURLPrefixes: []string{fake.URL + "/"},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestResponseURLLimits: a response_url is used at most 5 times and for
// 30 minutes; past that, and for an address that is not Slack's, the user
// gets a direct message instead.
func TestResponseURLLimits(t *testing.T) {
	fake := slacktest.NewServer(t)
	fake.AddPerson("U1", "a@example.com")
	h := newTestHandler(t, fake)
	ctx := context.Background()
	for i := range 7 {
		h.ReplyToCommand(ctx, "U1", fake.ResponseURL("x"), time.Now(), fmt.Sprintf("answer %d", i))
	}
	if n := len(fake.Responses("x")); n != slackapp.ResponseURLUses {
		t.Fatalf("%d posts to the response_url, want %d", n, slackapp.ResponseURLUses)
	}
	dms := fake.Messages(slacktest.DMChannel("U1"))
	if len(dms) != 2 || dms[1].Text != "answer 6" {
		t.Fatalf("direct messages: %+v", dms)
	}

	h.ReplyToCommand(ctx, "U1", fake.ResponseURL("old"), time.Now().Add(-31*time.Minute), "late")
	h.ReplyToCommand(ctx, "U1", "https://attacker.example/hook", time.Now(), "elsewhere")
	if n := len(fake.Responses("old")); n != 0 {
		t.Fatalf("an expired response_url was used")
	}
	dms = fake.Messages(slacktest.DMChannel("U1"))
	if len(dms) != 4 || dms[2].Text != "late" || dms[3].Text != "elsewhere" {
		t.Fatalf("direct messages: %+v", dms)
	}
}

func TestNewRefusesEmptySecret(t *testing.T) {
	fake := slacktest.NewServer(t)
	_, err := slackapp.New(slackapp.Config{Client: fake.Client()})
	if err == nil || !strings.Contains(err.Error(), "signing secret is empty") {
		t.Fatalf("err = %v", err)
	}
}

// TestDirectoryCaches: users.info is called once per user within the
// TTL, again after it, and Slack failures are not cached.
func TestDirectoryCaches(t *testing.T) {
	fake := slacktest.NewServer(t)
	fake.AddPerson("U1", "A@Example.com")
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	d := &slackapp.Directory{Client: fake.Client(), TTL: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()
	for range 3 {
		u, err := d.Lookup(ctx, "U1")
		if err != nil || u.Email != "a@example.com" {
			t.Fatalf("lookup: %+v %v", u, err)
		}
	}
	if n := len(fake.Calls("users.info")); n != 1 {
		t.Fatalf("%d users.info calls, want 1", n)
	}
	now = now.Add(2 * time.Minute)
	d.Lookup(ctx, "U1")
	if n := len(fake.Calls("users.info")); n != 2 {
		t.Fatalf("%d users.info calls after the TTL, want 2", n)
	}
	fake.SetFail(func(string) *slacktest.Fault { return &slacktest.Fault{Status: 500} })
	if _, err := d.Lookup(ctx, "U2"); err == nil || slackapp.IsUnmapped(err) {
		t.Fatalf("a Slack failure: %v", err)
	}
	fake.SetFail(nil)
	fake.AddUser(slack.User{ID: "U2", Deleted: true, Profile: slack.UserProfile{Email: "b@example.com"}})
	if _, err := d.Lookup(ctx, "U2"); !slackapp.IsUnmapped(err) || !strings.Contains(err.Error(), "deactivated") {
		t.Fatalf("a deactivated user: %v", err)
	}
}
