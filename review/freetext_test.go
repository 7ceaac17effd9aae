package review_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// Review notes, follow-up notes and resolutions are masked before they
// are stored, in the review row and in the audit log.
func TestReviewTextMasked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		r1, _ := e.activity(t)
		period := review.Period{Start: mon.Add(-time.Hour), End: mon.Add(24 * time.Hour)}
		rev, err := e.rv.Open(ctx, ann, review.Scope{Kind: review.ScopeAll}, period)
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.rv.MarkFollowUp(ctx, ann, rev.ID, review.ItemRequest, r1, "customer card 4111 1111 1111 1111 was read")
		if err != nil {
			t.Fatal(err)
		}
		if f.Note != "customer card [card ending 1111] was read" || !slices.Equal(f.Notices, []string{"a card number in your note was masked"}) {
			t.Fatalf("follow-up: %q %q", f.Note, f.Notices)
		}
		done, err := e.rv.ResolveFollowUp(ctx, root, f.ID, "refunded to DE89370400440532013000")
		if err != nil {
			t.Fatal(err)
		}
		if done.Resolution != "refunded to [IBAN DE… 3000]" || len(done.Notices) != 1 {
			t.Fatalf("resolution: %q %q", done.Resolution, done.Notices)
		}
		signed, err := e.rv.SignOff(ctx, ann, rev.ID, "see 5555 5555 5555 4444; order 4111111111111112 fine")
		if err != nil {
			t.Fatal(err)
		}
		if signed.Notes != "see [card ending 4444]; order 4111111111111112 fine" || len(signed.Notices) != 1 {
			t.Fatalf("sign-off: %q %q", signed.Notes, signed.Notices)
		}
		stored, err := db.GetReview(ctx, rev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Notes != signed.Notes || len(stored.FollowUps) != 1 || stored.FollowUps[0].Note != f.Note || stored.FollowUps[0].Resolution != done.Resolution {
			t.Fatalf("stored: %+v", stored)
		}
		recs, _, err := db.ListAudit(ctx, workflow.AuditQuery{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			for _, clear := range []string{"4111 1111", "DE8937", "5555 5555"} {
				if strings.Contains(r.Reason, clear) {
					t.Errorf("audit record %d holds %q: %q", r.ID, clear, r.Reason)
				}
			}
		}
	})
}
