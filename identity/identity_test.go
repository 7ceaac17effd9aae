package identity_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func TestSessionClaimGroups(t *testing.T) {
	s := identity.Session{Email: "bob@example.com", Groups: []string{"managers"}, GroupsAt: t0}
	for _, tc := range []struct {
		name   string
		at     time.Duration
		maxAge time.Duration
		stale  bool
	}{
		{"fresh", 10 * time.Minute, 15 * time.Minute, false},
		{"at the limit", 15 * time.Minute, 15 * time.Minute, false},
		{"older", 15*time.Minute + time.Second, 15 * time.Minute, true},
		{"no limit", 100 * time.Hour, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(tc.at)
			if got := s.GroupsStale(now, tc.maxAge); got != tc.stale {
				t.Fatalf("GroupsStale = %v", got)
			}
			p := s.PrincipalAt(now, tc.maxAge)
			if want := !tc.stale; slices.Equal(p.Groups, []string{"managers"}) != want || p.Email != "bob@example.com" {
				t.Fatalf("PrincipalAt = %+v", p)
			}
			if !slices.Equal(s.Principal().Groups, []string{"managers"}) {
				t.Fatal("Principal lost the claim")
			}
		})
	}
	if (identity.Session{GroupsAt: t0}).GroupsStale(t0.Add(time.Hour), time.Minute) {
		t.Fatal("a session without claim groups is stale")
	}
}

func TestSessionLiveness(t *testing.T) {
	s := identity.Session{LastSeenAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}
	for _, tc := range []struct {
		at   time.Duration
		idle time.Duration
		live bool
	}{
		{59 * time.Minute, time.Hour, true},
		{time.Hour, time.Hour, false},
		{90 * time.Minute, 0, true},
		{2 * time.Hour, 0, false},
		{2 * time.Hour, 8 * time.Hour, false},
	} {
		if got := s.LiveAt(t0.Add(tc.at), tc.idle); got != tc.live {
			t.Errorf("at +%s idle %s: live %v", tc.at, tc.idle, got)
		}
	}
	exp, idle := identity.PurgeCutoffs(t0, time.Hour)
	if !exp.Equal(t0) || !idle.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("cutoffs %s %s", exp, idle)
	}
	if _, idle := identity.PurgeCutoffs(t0, 0); !idle.IsZero() {
		t.Fatal("no idle timeout has an idle cutoff")
	}
}

func TestNewTokenValidate(t *testing.T) {
	for _, tc := range []struct {
		nt      identity.NewToken
		subject string // "" when invalid
	}{
		{identity.NewToken{Kind: identity.TokenUser, Subject: " Alice@Example.com "}, "alice@example.com"},
		{identity.NewToken{Kind: identity.TokenUser, Subject: "alice"}, ""},
		{identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Scopes: []string{"check"}}, ""},
		{identity.NewToken{Kind: identity.TokenService, Subject: " helpdesk ", Scopes: []string{workflow.ScopeCheck}}, "helpdesk"},
		{identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk"}, ""},
		{identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"root"}}, ""},
		{identity.NewToken{Kind: identity.TokenService, Subject: "help desk", Scopes: []string{"check"}}, ""},
		{identity.NewToken{Kind: "robot", Subject: "x"}, ""},
	} {
		nt := tc.nt
		err := nt.Validate()
		if tc.subject == "" {
			if workflow.ErrorCode(err) != workflow.CodeInvalid {
				t.Errorf("%+v: %v", tc.nt, err)
			}
			continue
		}
		if err != nil || nt.Subject != tc.subject {
			t.Errorf("%+v: %v, subject %q", tc.nt, err, nt.Subject)
		}
	}
}

func TestCheckActive(t *testing.T) {
	off := workflow.User("alice@example.com")
	off.Disabled = true
	for _, tc := range []struct {
		who     workflow.Principal
		refused bool
	}{
		{workflow.User("alice@example.com"), false},
		{off, true},
		{workflow.ServiceAccount("helpdesk", "check"), false},
		{workflow.System, false},
	} {
		err := identity.CheckActive(tc.who)
		if (err != nil) != tc.refused {
			t.Errorf("%s: %v", tc.who.Name(), err)
		}
		if tc.refused && (workflow.ErrorCode(err) != workflow.CodeUnauthenticated || !errors.Is(err, identity.ErrDeactivated) ||
			workflow.ErrorMessage(err) != "alice@example.com is deactivated in the directory") {
			t.Errorf("refusal: %v", err)
		}
	}
}
