package provision_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// slowTarget is a webhook receiver that takes its time over every call
// and notes any call that starts while another about the same grant is in
// flight, and any grant call that starts after its revoke call did (the
// removal overtook its apply, leaving access in place).
type slowTarget struct {
	srv      *httptest.Server
	delay    time.Duration
	mu       sync.Mutex
	inFlight map[string]int  // request id → calls in flight
	answered map[string]bool // idempotency key → answered 200
	calls    map[string]int  // idempotency key → calls
	problems []string
}

func newSlowTarget(t *testing.T, delay time.Duration) *slowTarget {
	st := &slowTarget{delay: delay, inFlight: map[string]int{}, answered: map[string]bool{}, calls: map[string]int{}}
	st.srv = httptest.NewServer(http.HandlerFunc(st.serve))
	t.Cleanup(st.srv.Close)
	return st
}

func (st *slowTarget) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev provision.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	st.mu.Lock()
	st.calls[ev.ID]++
	if st.inFlight[ev.RequestID] > 0 {
		st.problems = append(st.problems, fmt.Sprintf("%s started while a call about the same grant was in flight", ev.ID))
	}
	if ev.Type == provision.EventGrant && st.calls[ev.RequestID+":"+provision.EventRevoke] > 0 {
		st.problems = append(st.problems, fmt.Sprintf("%s started after its revoke had", ev.ID))
	}
	st.inFlight[ev.RequestID]++
	st.mu.Unlock()
	defer func() { st.mu.Lock(); st.inFlight[ev.RequestID]--; st.mu.Unlock() }()
	select {
	case <-time.After(st.delay):
	case <-r.Context().Done():
		return // the sender gave up
	}
	st.mu.Lock()
	st.answered[ev.ID] = true
	st.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// TestSlowTargetTwoWorkers is the queue-fencing defect as seen from
// outside: a target that answers after three leases, a webhook timeout
// longer than the lease (as a grant recorded under an older policy may
// carry), and two workers on one database. Each step reaches the target
// without another call about the same grant in flight, and no apply
// reaches it after its removal did. (An apply whose lease could not be
// extended is abandoned; when it runs again after the revoke it finds the
// grant ended and only the removal is sent, as for any grant revoked
// before its apply ran.)
func TestSlowTargetTwoWorkers(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		target := newSlowTarget(t, 600*time.Millisecond)
		e := newEnv(t, db, webhookPolicy(target.srv.URL, 5*time.Second), map[string]string{"CRM_SECRET": webhookSecret})
		ctx := context.Background()
		grants := []*workflow.Request{e.approve(t, alice, "crm-payments"), e.approve(t, workflow.User("bob@example.com"), "crm-payments")}

		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range 2 {
			r := e.pipeline.Runner(storetest.OpenURL(t, u), 200*time.Millisecond, 50*time.Millisecond)
			r.PollInterval, r.BaseBackoff = 10*time.Millisecond, 10*time.Millisecond
			wg.Add(1)
			go func() { defer wg.Done(); r.Run(rctx) }()
		}
		defer func() { cancel(); wg.Wait() }()
		waitFor := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s", what)
				}
			}
		}
		// Revoke while the grants are in flight: the removals queue
		// behind their applies.
		waitFor("the grant calls", func() bool {
			target.mu.Lock()
			defer target.mu.Unlock()
			return target.inFlight[grants[0].ID] > 0 && target.inFlight[grants[1].ID] > 0
		})
		for _, g := range grants {
			if _, err := e.svc.Revoke(ctx, carol, g.ID, "case closed"); err != nil {
				t.Fatal(err)
			}
		}
		waitFor("the grants to be removed", func() bool {
			return e.status(t, grants[0].ID).Status == provision.StatusRemoved && e.status(t, grants[1].ID).Status == provision.StatusRemoved
		})
		target.mu.Lock()
		defer target.mu.Unlock()
		if len(target.problems) > 0 {
			t.Fatalf("deliveries overlapped or ran out of order (calls %v):\n%s", target.calls, strings.Join(target.problems, "\n"))
		}
		for _, g := range grants {
			if !target.answered[g.ID+":revoke"] {
				t.Fatalf("the revoke of %s was never answered: %v", g.ID, target.answered)
			}
		}
	})
}
