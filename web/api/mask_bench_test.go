package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/workflow"
)

// BenchmarkCheckMaskHandlers measures the server's own cost per call
// (router, token authentication, handler, JSON), without the network:
// a trivial authenticated handler (/api/v1/me), check and mask. The load
// test with latencies and throughput is cmd/checkload.
func BenchmarkCheckMaskHandlers(b *testing.B) {
	for _, kind := range storetest.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			db := storetest.Open(b, kind)
			pol, err := workflow.ParsePolicy("bench.yaml", []byte(strings.ReplaceAll(maskPolicy, "%URL%", "https://crm.example.com")))
			if err != nil {
				b.Fatal(err)
			}
			svc := workflow.NewService(db, pol, workflow.Options{})
			chk := access.New(svc, access.Options{TokenKey: []byte("0123456789abcdef0123456789abcdef"), CacheTTL: time.Minute,
				AuditMode: workflow.AuditNoChecks, Logger: slog.New(slog.DiscardHandler)})
			svc.OnChange(chk.Hook)
			srv := web.New(web.Config{Service: svc, Tokens: db, Logger: slog.New(slog.DiscardHandler)})
			srv.UseAccess(chk, nil)
			ctx := context.Background()
			tok, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "helpdesk", Scopes: []string{"check"}, Actor: "bench"}, workflow.Now())
			if err != nil {
				b.Fatal(err)
			}
			req, err := svc.Submit(ctx, workflow.User("alice@example.com"), workflow.SubmitInput{Resource: "kb-drafts", Duration: time.Hour, Reason: "bench"})
			if err != nil || req.State != workflow.StateApproved {
				b.Fatal(err)
			}
			bob := strings.Replace(customer, "alice@", "bob@", 1)
			for _, tc := range []struct {
				name, method, path, body string
			}{
				{"me", "GET", "/api/v1/me", ""},
				{"check", "GET", "/api/v1/grants/check?user=alice@example.com&resource=kb-drafts", ""},
				{"mask-masked", "POST", "/api/v1/mask", bob},
				{"mask-unmasked", "POST", "/api/v1/mask", strings.Replace(customer, "crm-payments", "kb-drafts", 1)},
			} {
				b.Run(tc.name, func(b *testing.B) {
					for b.Loop() {
						r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
						r.Header.Set("Authorization", "Bearer "+tok)
						w := httptest.NewRecorder()
						srv.ServeHTTP(w, r)
						if w.Code != http.StatusOK {
							b.Fatalf("%d %s", w.Code, w.Body)
						}
					}
				})
			}
		})
	}
}
