package ui_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

func TestMaskedReasonFlash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newUIEnv(t, db)
		c := e.signIn(t, "alice@example.com")
		p := c.post(t, "/requests", url.Values{"resource": {"crm-payments"}, "duration": {"1h"}, "reason": {"card 4111-1111-1111-1111 declined"}})
		if p.status != 303 {
			t.Fatalf("submit: %d %s", p.status, excerpt(p.body))
		}
		d := c.get(t, p.location)
		if !strings.Contains(d.body, "Note: a card number in your reason was masked.") || !strings.Contains(d.body, "card [card ending 1111] declined") ||
			strings.Contains(d.body, "4111-1111") {
			t.Fatalf("after submit: %s", excerpt(d.body))
		}
	})
}
