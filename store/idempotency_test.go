package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

const (
	idemLock = time.Minute
	idemKeep = 24 * time.Hour
)

// TestIdempotencyKeys walks one key through its life, step by step on one
// clock: reserve, in use, complete, replay, mismatch, another caller's
// key, release, reclaim after a crash, expiry and pruning.
func TestIdempotencyKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		first := store.IdempotencyKey{Principal: "user:alice@example.com", Key: "k1", Fingerprint: "f1"}
		other := first
		other.Fingerprint = "f2"
		bob := first
		bob.Principal = "user:bob@example.com"
		resp := store.StoredResponse{Status: 201, ContentType: "application/json", Location: "/api/v1/requests/r1", Body: []byte(`{"id":"r1"}`)}

		reserve := func(k store.IdempotencyKey, at time.Duration, want store.IdempotencyOutcome) store.IdempotencyClaim {
			t.Helper()
			c, err := db.ReserveIdempotencyKey(ctx, k, t0.Add(at), idemLock, idemKeep)
			if err != nil {
				t.Fatal(err)
			}
			if c.Outcome != want {
				t.Fatalf("%+v at %s: outcome %d, want %d", k, at, c.Outcome, want)
			}
			return c
		}

		c := reserve(first, 0, store.IdempotencyReserved)
		if c.Reservation == "" {
			t.Fatal("reserved without a reservation")
		}
		reserve(first, time.Second, store.IdempotencyInUse)
		reserve(other, time.Second, store.IdempotencyMismatch) // a different body is refused even while running
		reserve(bob, time.Second, store.IdempotencyReserved)   // keys are per principal

		// Only the holder completes.
		if ok, err := db.CompleteIdempotencyKey(ctx, first, "not-the-holder", resp); err != nil || ok {
			t.Fatalf("complete by another reservation: %v, %v", ok, err)
		}
		if ok, err := db.CompleteIdempotencyKey(ctx, first, c.Reservation, resp); err != nil || !ok {
			t.Fatalf("complete: %v, %v", ok, err)
		}
		got := reserve(first, 2*time.Second, store.IdempotencyReplay)
		if got.Response.Status != 201 || got.Response.ContentType != resp.ContentType || got.Response.Location != resp.Location || string(got.Response.Body) != string(resp.Body) {
			t.Fatalf("replay: %+v, want %+v", got.Response, resp)
		}
		reserve(other, 2*time.Second, store.IdempotencyMismatch)
		// A stored answer does not lapse with the lock: a day later it
		// still replays.
		reserve(first, idemKeep-time.Second, store.IdempotencyReplay)
		// Releasing a completed key does nothing.
		if err := db.ReleaseIdempotencyKey(ctx, first, c.Reservation); err != nil {
			t.Fatal(err)
		}
		reserve(first, 3*time.Second, store.IdempotencyReplay)
		// Expired (not yet pruned): the key is free again, for any body.
		reserve(other, idemKeep, store.IdempotencyReserved)

		// Release: the key is free at once.
		k2 := store.IdempotencyKey{Principal: "user:alice@example.com", Key: "k2", Fingerprint: "f1"}
		c2 := reserve(k2, 0, store.IdempotencyReserved)
		if err := db.ReleaseIdempotencyKey(ctx, k2, c2.Reservation); err != nil {
			t.Fatal(err)
		}
		c2 = reserve(k2, time.Second, store.IdempotencyReserved)

		// A crashed request: running past its lock is reclaimed, and the
		// crashed holder can no longer complete or release it.
		reserve(k2, idemLock, store.IdempotencyInUse)
		c3 := reserve(k2, idemLock+time.Second, store.IdempotencyReserved)
		if c3.Reservation == c2.Reservation {
			t.Fatal("reclaimed with the same reservation")
		}
		if ok, err := db.CompleteIdempotencyKey(ctx, k2, c2.Reservation, resp); err != nil || ok {
			t.Fatalf("complete by the crashed holder: %v, %v", ok, err)
		}
		if err := db.ReleaseIdempotencyKey(ctx, k2, c2.Reservation); err != nil {
			t.Fatal(err)
		}
		reserve(k2, idemLock+2*time.Second, store.IdempotencyInUse)

		// Prune: rows older than the cutoff go, younger ones stay.
		n, err := db.PruneIdempotencyKeys(ctx, t0.Add(idemLock))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 { // bob's k1 (t0+1s); alice's k1 was taken again at t0+24h, k2 at t0+61s
			t.Fatalf("pruned %d, want 1", n)
		}
		reserve(bob, idemLock, store.IdempotencyReserved)
		reserve(k2, idemLock+3*time.Second, store.IdempotencyInUse)
	})
}

// TestIdempotencyKeyRace: replicas racing one key, exactly one runs; the
// others are told it is in use.
func TestIdempotencyKeyRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		k := store.IdempotencyKey{Principal: "service:helpdesk", Key: "race", Fingerprint: "f"}
		var mu sync.Mutex
		outcomes := map[store.IdempotencyOutcome]int{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := db.ReserveIdempotencyKey(ctx, k, now, idemLock, idemKeep)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				outcomes[c.Outcome]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if outcomes[store.IdempotencyReserved] != 1 || outcomes[store.IdempotencyInUse] != 7 {
			t.Fatalf("outcomes %v, want one reserved and seven in use", outcomes)
		}
	})
}
