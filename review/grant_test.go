package review_test

import (
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestGrantOfExtensionsAndScheduledStarts: an extension is no grant of its
// own; a scheduled grant's access counts from its start, and one that
// ended before it started gave none.
func TestGrantOfExtensionsAndScheduledStarts(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	p := review.Period{Start: t0, End: t0.Add(24 * time.Hour)}
	now := p.End
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	base := workflow.Request{ID: "g", Requester: "alice@example.com", Resource: "crm-notes", Duration: time.Hour}

	plain := base
	plain.State, plain.ApprovedAt, plain.ExpiresAt, plain.EndedAt = workflow.StateExpired, at(time.Hour), at(150*time.Minute), at(150*time.Minute)
	plain.Extended = 30 * time.Minute
	if g, ok := review.GrantOf(&plain, p, now); !ok || g.InPeriod != 90*time.Minute {
		t.Fatalf("extended grant: %v %s", ok, g.InPeriod)
	}
	ext := base
	ext.ID, ext.Extends, ext.State, ext.ApprovedAt, ext.ExpiresAt, ext.EndedAt = "e", "g", workflow.StateExtended, at(90*time.Minute), at(150*time.Minute), at(90*time.Minute)
	if _, ok := review.GrantOf(&ext, p, now); ok {
		t.Fatal("an extension counted as a grant of its own")
	}
	sched := base
	sched.State, sched.ApprovedAt, sched.StartAt, sched.ExpiresAt, sched.EndedAt = workflow.StateExpired, at(time.Hour), at(5*time.Hour), at(6*time.Hour), at(6*time.Hour)
	if g, ok := review.GrantOf(&sched, p, now); !ok || g.InPeriod != time.Hour {
		t.Fatalf("scheduled grant: %v %s", ok, g.InPeriod)
	}
	cancelled := sched
	cancelled.State, cancelled.EndedAt = workflow.StateCancelled, at(2*time.Hour)
	if _, ok := review.GrantOf(&cancelled, p, now); ok {
		t.Fatal("a scheduled grant cancelled before its start counted as access")
	}
}
