package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestSlackInboundClaims: of many concurrent claims of one delivery,
// exactly one wins; a released claim can be taken again; old claims are
// pruned.
func TestSlackInboundClaims(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := db.ClaimSlackInbound(ctx, "hash-1", "command", now)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d claims won, want 1", wins.Load())
		}
		if err := db.ReleaseSlackInbound(ctx, "hash-1"); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.ClaimSlackInbound(ctx, "hash-1", "command", now); !ok || err != nil {
			t.Fatalf("claim after release: %v %v", ok, err)
		}
		if ok, _ := db.ClaimSlackInbound(ctx, "hash-2", "command", now.Add(2*time.Hour)); !ok {
			t.Fatal("second claim")
		}
		n, err := db.PruneSlackInbound(ctx, now.Add(time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d, %v", n, err)
		}
		if ok, _ := db.ClaimSlackInbound(ctx, "hash-2", "command", now); ok {
			t.Fatal("a recent claim was pruned")
		}
	})
}

// TestSlackMessages: where a request's message is, replaced whole on a
// new post; an unknown or malformed id is simply none.
func TestSlackMessages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pol, err := workflow.ParsePolicy("p.yaml", []byte("groups:\n  g: [a@example.com]\nresources:\n  - id: r\n    tier: low\n    max_duration: 1h\n    requesters: [g]\n    auto_approve: true\n"))
		if err != nil {
			t.Fatal(err)
		}
		svc := workflow.NewService(db, pol, workflow.Options{})
		req, err := svc.Submit(ctx, workflow.User("a@example.com"), workflow.SubmitInput{Resource: "r", Duration: time.Hour, Reason: "x"})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{req.ID, "not-a-uuid", "01a2081c-0000-7000-8000-000000000001"} {
			if m, err := db.SlackMessage(ctx, id); m != nil || err != nil {
				t.Fatalf("%s: %+v %v before any post", id, m, err)
			}
		}
		at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		first := store.SlackMessage{RequestID: req.ID, Channel: "C1", TS: "1.1", Version: 1, PostedAt: at, UpdatedAt: at}
		if err := db.SaveSlackMessage(ctx, first); err != nil {
			t.Fatal(err)
		}
		second := store.SlackMessage{RequestID: req.ID, Channel: "C2", TS: "2.2", Version: 3, PostedAt: at.Add(time.Hour), UpdatedAt: at.Add(time.Hour)}
		if err := db.SaveSlackMessage(ctx, second); err != nil {
			t.Fatal(err)
		}
		got, err := db.SlackMessage(ctx, req.ID)
		if err != nil || *got != second {
			t.Fatalf("got %+v %v, want %+v", got, err, second)
		}
		if err := db.SaveSlackMessage(ctx, store.SlackMessage{RequestID: "nope"}); workflow.ErrorCode(err) != workflow.CodeInvalid {
			t.Fatalf("malformed id: %v", err)
		}
	})
}
