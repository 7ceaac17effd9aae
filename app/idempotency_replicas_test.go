package app_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// TestIdempotencyKeyAcrossReplicas: two real servers on one PostgreSQL.
// A create retried on the other replica is replayed from the shared
// table, and the same key sent to both at once files one request: each
// answer is the 201 or a replay of it, or 409 while the first runs.
func TestIdempotencyKeyAcrossReplicas(t *testing.T) {
	u := storetest.NewURL(t, store.Postgres)
	policy := writeFile(t, "p.yaml", goodPolicy+"  - {id: kb-drafts, tier: low, max_duration: 1h, requesters: [agents], approvers: [managers]}\n")
	a, baseA := boot(t, app.Config{DatabaseURL: u, PolicyFile: policy})
	_, baseB := boot(t, app.Config{DatabaseURL: u, PolicyFile: policy})
	tok := makeTokens(t, a.DB)
	post := func(base, key, body string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/api/v1/requests", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok["alice"])
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, "", nil
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), resp.Header
	}
	const body = `{"resource":"crm-notes","duration":"1h","reason":"case 7"}`
	code, first, _ := post(baseA, "retry-elsewhere", body)
	if code != 201 {
		t.Fatalf("first: %d %s", code, first)
	}
	code, again, h := post(baseB, "retry-elsewhere", body)
	if code != 201 || again != first || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry on the other replica: %d replayed=%q\n%s\nwant\n%s", code, h.Get("Idempotent-Replayed"), again, first)
	}
	if code, _, _ := post(baseB, "retry-elsewhere", strings.Replace(body, "case 7", "case 8", 1)); code != 422 {
		t.Fatalf("another body on the other replica: %d, want 422", code)
	}

	// The same new key to both replicas at once, for a resource alice has
	// no request for yet: one request is filed.
	const other = `{"resource":"kb-drafts","duration":"1h","reason":"case 9"}`
	var wg sync.WaitGroup
	codes := make([]int, 8)
	bodies := make([]string, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := baseA
			if i%2 == 1 {
				base = baseB
			}
			codes[i], bodies[i], _ = post(base, "both-at-once", other)
		}()
	}
	wg.Wait()
	created := ""
	for i, c := range codes {
		switch c {
		case 201:
			if created != "" && bodies[i] != created {
				t.Fatalf("two different 201 answers for one key:\n%s\n%s", created, bodies[i])
			}
			created = bodies[i]
		case 409:
			if !strings.Contains(bodies[i], "idempotency_key_in_use") {
				t.Fatalf("409 that is not idempotency_key_in_use: %s", bodies[i])
			}
		default:
			t.Fatalf("answer %d: %d %s", i, c, bodies[i])
		}
	}
	if created == "" {
		t.Fatalf("no answer was the 201: %v", codes)
	}
	code, list := httpJSON(t, "GET", baseA+"/api/v1/requests?resource=kb-drafts", tok["alice"], "")
	if reqs, _ := list["requests"].([]any); code != 200 || len(reqs) != 1 {
		t.Fatalf("kb-drafts requests: %d %v, want exactly one", code, list)
	}
}
