package ui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// seedPending stores n pending requests for crm-payments from n different
// agents, oldest first, one second apart; every other one already has
// dave's approval (so the page shows "1 of 2" and "0 of 2" rows). Rows go
// in with multi-row INSERTs: the service's own path would take minutes,
// and what is measured is the read.
func seedPending(tb testing.TB, db *store.DB, now time.Time, n int) {
	tb.Helper()
	const batch = 500
	for start := 0; start < n; start += batch {
		var reqs, apprs []string
		var reqArgs, apprArgs []any
		for i := start; i < min(start+batch, n); i++ {
			id := uuid.Must(uuid.NewV7()).String()
			created := now.Add(-time.Duration(n-i) * time.Second)
			reqs = append(reqs, "(?, ?, 'crm-payments', 'high', ?, '', 3600, 'pending', 2, 1, ?, ?, ?)")
			reqArgs = append(reqArgs, id, fmt.Sprintf("agent%05d@example.com", i), fmt.Sprintf("case %d: customer cannot pay", i),
				created, created, now.Add(12*time.Hour))
			if i%2 == 1 {
				apprs = append(apprs, "(?, 'dave@example.com', '', ?)")
				apprArgs = append(apprArgs, id, created)
			}
		}
		if err := db.Gorm().Exec(`INSERT INTO requests (id, requester, resource, tier, reason, ticket, duration_seconds, state,
			required_approvals, version, created_at, updated_at, review_deadline) VALUES `+strings.Join(reqs, ","), reqArgs...).Error; err != nil {
			tb.Fatal(err)
		}
		if len(apprs) > 0 {
			if err := db.Gorm().Exec(`INSERT INTO approvals (request_id, approver, comment, created_at) VALUES `+strings.Join(apprs, ","), apprArgs...).Error; err != nil {
				tb.Fatal(err)
			}
		}
	}
	if db.Kind() == store.Postgres {
		if err := db.Gorm().Exec("ANALYZE requests; ANALYZE approvals").Error; err != nil {
			tb.Fatal(err)
		}
	}
}

var benchRow = regexp.MustCompile(`<tr id="req-`)

// benchDecisions measures the server-side render of "Needs my decision"
// for an approver facing 10,000 pending requests: session lookup, policy,
// the count, one page of 50 with their approvals, and the template. The
// request goes straight to the handler (no network).
func benchDecisions(b *testing.B, kind store.Kind, page2 bool) {
	db := storetest.Open(b, kind)
	e := newUIEnv(b, db)
	seedPending(b, db, e.clock(), 10000)
	c := e.signIn(b, "carol@example.com")
	h := e.srv.Config.Handler
	secret := ""
	for _, ck := range c.http.Jar.Cookies(mustURL(e.base)) {
		if ck.Name == "__Host-jitaccess-session" {
			secret = ck.Value
		}
	}
	path := "/decisions"
	render := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(&http.Cookie{Name: "__Host-jitaccess-session", Value: secret})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := render()
	body := rec.Body.String()
	if rec.Code != 200 || len(benchRow.FindAllString(body, -1)) != 50 || !strings.Contains(body, "10,000 requests wait for you") ||
		!strings.Contains(body, "1 of 2") || !strings.Contains(body, "0 of 2") {
		b.Fatalf("page: %d, %d rows", rec.Code, len(benchRow.FindAllString(body, -1)))
	}
	if page2 {
		next := regexp.MustCompile(`href="(/decisions\?cursor=[^"]+)">Next page`).FindStringSubmatch(body)
		if next == nil {
			b.Fatal("no next page")
		}
		path = strings.ReplaceAll(next[1], "&amp;", "&")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rec := render(); rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func BenchmarkDecisionsPage10kPostgres(b *testing.B)      { benchDecisions(b, store.Postgres, false) }
func BenchmarkDecisionsPage10kPostgresPage2(b *testing.B) { benchDecisions(b, store.Postgres, true) }
func BenchmarkDecisionsPage10kSQLite(b *testing.B)        { benchDecisions(b, store.SQLite, false) }
