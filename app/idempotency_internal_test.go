package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestIdempotencyKeysServedAndPruned: the served API keeps Idempotency-Key
// answers in the database (a retried create replays), and the sweeper's
// job deletes keys older than a day, not younger ones.
func TestIdempotencyKeysServedAndPruned(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		ctx := context.Background()
		pol, err := workflow.ParsePolicy("p.yaml", []byte("groups: {agents: [alice@example.com], managers: [carol@example.com]}\n"+
			"resources: [{id: crm-payments, tier: medium, max_duration: 2h, requesters: [agents], approvers: [managers]}]\n"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(ctx, Config{DatabaseURL: storetest.NewURL(t, kind), Policy: pol, SweepSchedule: "@every 1h",
			LogLevel: "info", LogFormat: "text", AuditChecks: workflow.AuditAllChecks}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.DB.Close() })
		srv := httptest.NewServer(a.Web)
		t.Cleanup(srv.Close)
		alice, _, err := a.DB.CreateToken(ctx, identity.NewToken{Kind: identity.TokenUser, Subject: "alice@example.com", Actor: "test"}, workflow.Now())
		if err != nil {
			t.Fatal(err)
		}
		post := func() (int, string, http.Header) {
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/requests", strings.NewReader(`{"resource":"crm-payments","duration":"1h","reason":"case 81"}`))
			req.Header.Set("Authorization", "Bearer "+alice)
			req.Header.Set(api.HeaderIdempotencyKey, "served")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b), resp.Header
		}
		s1, b1, _ := post()
		s2, b2, h2 := post()
		if s1 != 201 || s2 != 201 || b1 != b2 || h2.Get(api.HeaderIdempotentReplayed) != "true" {
			t.Fatalf("first %d %s; repeat %d %v %s", s1, b1, s2, h2, b2)
		}

		old := store.IdempotencyKey{Principal: "user:bob@example.com", Key: "old", Fingerprint: "f"}
		if _, err := a.DB.ReserveIdempotencyKey(ctx, old, workflow.Now().Add(-api.IdempotencyKeep-time.Minute), api.IdempotencyLock, api.IdempotencyKeep); err != nil {
			t.Fatal(err)
		}
		a.pruneIdempotencyKeys()
		var keys []string
		if err := a.DB.Gorm().Raw(`SELECT key FROM idempotency_keys ORDER BY key`).Scan(&keys).Error; err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0] != "served" {
			t.Fatalf("keys after pruning: %v, want [served]", keys)
		}
	})
}
