package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/masking"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/workflow"
)

// BenchmarkDetokenize measures POST /api/v1/detokenize of 100 tokens
// beside its same-run baseline, POST /api/v1/mask of the record the
// tokens came from (100 encrypt-style values, masked for a reader without
// a grant), through the server's handler (router, token authentication,
// decision cache, audit record committed before the answer, JSON), on
// both databases. It reports p50 and p99 per call in milliseconds.
//
//	go test ./web -run '^$' -bench Detokenize -benchtime 2000x
func BenchmarkDetokenize(b *testing.B) {
	for _, kind := range storetest.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			db := storetest.Open(b, kind)
			pol, err := workflow.ParsePolicy("detok.yaml", []byte(detokPolicy))
			if err != nil {
				b.Fatal(err)
			}
			ring, err := masking.NewKeyring([]masking.EncryptKey{detokK1})
			if err != nil {
				b.Fatal(err)
			}
			svc := workflow.NewService(db, pol, workflow.Options{})
			ctx := context.Background()
			tok, _, err := db.CreateToken(ctx, identity.NewToken{Kind: identity.TokenService, Subject: "crm", Scopes: []string{"check", "detokenize"}, Actor: "bench"}, workflow.Now())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Submit(ctx, workflow.User("alice@example.com"), workflow.SubmitInput{Resource: "crm-payments", Duration: time.Hour, Reason: "bench"}); err != nil {
				b.Fatal(err)
			}
			for _, audit := range []struct {
				name  string
				flush time.Duration
			}{{"audit-sync", 0}, {"audit-flush-100ms", 100 * time.Millisecond}} {
				b.Run(audit.name, func(b *testing.B) {
					chk := access.New(svc, access.Options{EncryptKeys: ring, CacheTTL: time.Minute, AuditFlush: audit.flush,
						Logger: slog.New(slog.DiscardHandler)})
					defer chk.Close(ctx)
					srv := web.New(web.Config{Service: svc, Tokens: db, Logger: slog.New(slog.DiscardHandler), BodyLimit: "1M"})
					srv.UseAccess(chk, nil)
					benchDetokenize(b, srv, tok)
				})
			}
		})
	}
}

func benchDetokenize(b *testing.B, srv http.Handler, tok string) {
	rows := make([]string, 100)
	for i := range rows {
		field := "payment_card"
		if i%2 == 1 {
			field = "iban"
		}
		rows[i] = fmt.Sprintf(`{"id": %d, %q: "4111 1111 1111 %04d"}`, i, field, i)
	}
	maskBody := `{"user": "bob@example.com", "resource": "crm-payments", "record": {"rows": [` + strings.Join(rows, ",") + `]}}`
	call := func(body string, path string) []byte {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		return w.Body.Bytes()
	}
	var masked struct {
		Record struct{ Rows []map[string]any }
	}
	if err := json.Unmarshal(call(maskBody, "/api/v1/mask"), &masked); err != nil || len(masked.Record.Rows) != 100 {
		b.Fatal(err)
	}
	var tokens []string
	for _, row := range masked.Record.Rows {
		for k, v := range row {
			if k != "id" {
				tokens = append(tokens, v.(string))
			}
		}
	}
	detok, _ := json.Marshal(map[string]any{"user": "alice@example.com", "resource": "crm-payments", "tokens": tokens})
	var check struct {
		Results []struct{ Value json.RawMessage }
	}
	if err := json.Unmarshal(call(string(detok), "/api/v1/detokenize"), &check); err != nil || len(check.Results) != 100 || check.Results[99].Value == nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, path, body string }{
		{"mask-100", "/api/v1/mask", maskBody},
		{"detokenize-100", "/api/v1/detokenize", string(detok)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				call(tc.body, tc.path)
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}
