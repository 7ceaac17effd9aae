package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// TestReadAuditKeepsTheChain: check and mask records, written in batches
// beside ordinary audit records, are chained like them, so the whole log
// verifies with nothing unhashed.
func TestReadAuditKeepsTheChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := workflow.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := 0; w < 4; w++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					batch := []*workflow.AuditRecord{
						{At: now, Actor: "service:helpdesk", Action: workflow.ActionCheck, Resource: "crm-payments", Subject: fmt.Sprintf("u%d@example.com", i), Reason: "denied: no live grant"},
						{At: now, Actor: "service:helpdesk", Action: "mask", Resource: "crm-payments", Subject: "a@example.com", Reason: "masked"},
					}
					if err := db.AppendReadAudit(ctx, batch...); err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					err := db.InTx(ctx, func(tx workflow.Tx) error {
						return tx.AppendAudit(ctx, &workflow.AuditRecord{At: now.Add(time.Duration(i)), Actor: "cli:test", Action: workflow.ActionTokenCreate, Reason: "x"})
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		res, err := audit.Verify(ctx, db)
		if err != nil || !res.OK || res.Records != 4*10*3 || res.Legacy != 0 {
			t.Fatalf("verify: %+v, %v", res, err)
		}
	})
}

// TestChainHashesAwkwardContent: records with multi-byte text, control
// whitespace, quotes and empty fields chain and verify on both databases:
// what is stored reads back exactly as it was hashed.
func TestChainHashesAwkwardContent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		at := time.Date(2026, 11, 23, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
		odd := []*workflow.AuditRecord{
			{At: at, Actor: "alice@example.com", Action: "submit", RequestID: "01900000-0000-7000-8000-000000000001", Resource: "crm-payments", Subject: "alice@example.com", ToState: "pending", Reason: "Überweisung für Kunde 42 — “zurück”\nzweite Zeile\ttab"},
			{At: at, Actor: "system", Action: "expire", Resource: "", Subject: "", Reason: ""},
			{At: at, Actor: "service:helpdesk", Action: "check", Subject: "😀@example.com", Reason: strings.Repeat("x", 1000) + `"quoted" \backslash`},
		}
		if err := db.InTx(ctx, func(tx workflow.Tx) error { return tx.AppendAudit(ctx, odd...) }); err != nil {
			t.Fatal(err)
		}
		res, err := audit.Verify(ctx, db)
		if err != nil || !res.OK || res.Records != 3 {
			t.Fatalf("verify: %+v %v", res, err)
		}
		recs, err := db.AuditChain(ctx, 0, 10)
		if err != nil || len(recs) != 3 {
			t.Fatal(recs, err)
		}
		prev := ""
		for i, r := range recs {
			want := audit.Hash(prev, &r.AuditRecord)
			if r.Hash != want || r.PrevHash != prev || r.ID != int64(i+1) {
				t.Fatalf("record %d: hash %s prev %s, want %s after %s", r.ID, r.Hash, r.PrevHash, want, prev)
			}
			prev = r.Hash
		}
	})
}
