package store_test

import (
	"context"
	"fmt"
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
