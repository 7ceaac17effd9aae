package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// pageAll reads a listing page by page and returns the ids in the order
// read and the number of pages.
func pageAll(t *testing.T, limit int, list func(limit int, cursor string) ([]string, string, error)) ([]string, int) {
	t.Helper()
	var ids []string
	pages := 0
	for cursor := ""; ; {
		page, next, err := list(limit, cursor)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page) > limit {
			t.Fatalf("page of %d, limit %d", len(page), limit)
		}
		ids = append(ids, page...)
		if next == "" {
			return ids, pages
		}
		if pages > 100 {
			t.Fatal("the listing does not end")
		}
		cursor = next
	}
}

// TestTokenAndSessionPaging: paged listings give every item once, in the
// order of one long page, across pages that split items created at the
// same instant; a bad cursor is CodeInvalid.
func TestTokenAndSessionPaging(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		idle := time.Hour
		// 11 of each, in 4 distinct instants: ties on the time are broken
		// by id, also across a page boundary.
		for i := range 11 {
			at := now.Add(time.Duration(i/3) * time.Minute)
			if _, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: fmt.Sprintf("u%d@example.com", i), Actor: "test"}, at); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.CreateSession(ctx, identity.NewSession{Email: fmt.Sprintf("u%d@example.com", i), Method: identity.SessionDemo, TTL: time.Hour}, at, idle); err != nil {
				t.Fatal(err)
			}
		}
		listNow := now.Add(5 * time.Minute)
		tokens := func(limit int, cursor string) ([]string, string, error) {
			toks, next, err := db.ListTokens(ctx, limit, cursor)
			ids := make([]string, len(toks))
			for i, tk := range toks {
				ids[i] = tk.ID
			}
			return ids, next, err
		}
		sessions := func(limit int, cursor string) ([]string, string, error) {
			list, next, err := db.ListSessions(ctx, listNow, idle, limit, cursor)
			ids := make([]string, len(list))
			for i, s := range list {
				ids[i] = s.ID
			}
			return ids, next, err
		}
		for name, list := range map[string]func(int, string) ([]string, string, error){"tokens": tokens, "sessions": sessions} {
			all, pages := pageAll(t, identity.MaxListLimit, list)
			if len(all) != 11 || pages != 1 {
				t.Fatalf("%s: %d in %d pages, want 11 in 1", name, len(all), pages)
			}
			for _, limit := range []int{1, 2, 3, 4, 10, 11} {
				got, pages := pageAll(t, limit, list)
				if !slices.Equal(got, all) || pages != (11+limit-1)/limit {
					t.Errorf("%s limit %d: %d pages\n got %v\nwant %v", name, limit, pages, got, all)
				}
			}
			// The default page is DefaultListLimit.
			if first, next, err := list(0, ""); err != nil || len(first) != 11 || next != "" {
				t.Errorf("%s default page: %d %q %v", name, len(first), next, err)
			}
			if _, _, err := list(3, "not-a-cursor"); workflow.ErrorCode(err) != workflow.CodeInvalid {
				t.Errorf("%s bad cursor: %v", name, err)
			}
		}
		// Newest first.
		toks, _, _ := db.ListTokens(ctx, 1, "")
		if len(toks) != 1 || !toks[0].CreatedAt.Equal(now.Add(3*time.Minute)) {
			t.Fatalf("first token: %+v", toks)
		}
	})
}
