package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

func TestLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		steps := []struct {
			holder string
			at     time.Duration
			want   bool
		}{
			{"a", 0, true},                 // free
			{"b", time.Second, false},      // a holds it
			{"a", 30 * time.Second, true},  // a renews
			{"b", 60 * time.Second, false}, // renewed until 90s
			{"b", 90 * time.Second, true},  // lapsed: b takes over
			{"a", 91 * time.Second, false},
		}
		for _, s := range steps {
			got, err := db.TakeLease(ctx, "reconcile", s.holder, time.Minute, t0.Add(s.at))
			if err != nil || got != s.want {
				t.Fatalf("%s at %s: %v, %v; want %v", s.holder, s.at, got, err, s.want)
			}
		}
		// Many replicas at once: exactly one wins a free lease.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := db.TakeLease(ctx, "race", string(rune('a'+i)), time.Minute, t0)
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
			t.Fatalf("%d holders of one lease", wins.Load())
		}
	})
}
