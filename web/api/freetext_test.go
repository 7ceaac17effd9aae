package api_test

import (
	"net/http"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// A card number typed into a reason is masked before it is stored, and
// the person is told so: in the API's notices and in the web UI's flash.
func TestMaskedReasonNotices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		r := e.call(t, "POST", "/api/v1/requests", "alice", map[string]string{
			"resource": "crm-payments", "duration": "1h", "reason": "customer card 4111 1111 1111 1111, order 4111111111111112"})
		if r.status != http.StatusCreated || r.str("reason") != "customer card [card ending 1111], order 4111111111111112" {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		if n, _ := r.body["notices"].([]any); len(n) != 1 || n[0] != "a card number in your reason was masked" {
			t.Fatalf("notices: %s", r.raw)
		}
		got := e.call(t, "GET", "/api/v1/requests/"+r.str("id"), "alice", nil)
		if got.str("reason") != r.str("reason") || got.body["notices"] != nil {
			t.Fatalf("read back: %s", got.raw)
		}
		d := e.call(t, "POST", "/api/v1/requests/"+r.str("id")+"/deny", "carol", map[string]string{"reason": "IBAN DE89 3704 0044 0532 0130 00 is not ours"})
		if d.status != http.StatusOK || d.str("end_reason") != "IBAN [IBAN DE… 3000] is not ours" {
			t.Fatalf("deny: %d %s", d.status, d.raw)
		}
		if n, _ := d.body["notices"].([]any); len(n) != 1 || n[0] != "an IBAN in your reason was masked" {
			t.Fatalf("deny notices: %s", d.raw)
		}
	})
}
