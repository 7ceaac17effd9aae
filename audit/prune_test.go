package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

func exportTo(t *testing.T, db *store.DB, buf *bytes.Buffer, format string, f store.AuditFilter) {
	t.Helper()
	w, err := audit.NewWriter(buf, format)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ExportAudit(context.Background(), f, w.Write); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestPruneKeepsTheChainVerifiable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seed(t, db, 30, 7)
		now := t0.Add(24 * time.Hour)
		var archive bytes.Buffer
		res, err := audit.Prune(ctx, db, t0.Add(10*time.Minute+30*time.Second), "test", now, func(first, through int64) error {
			if first != 1 || through != 10 {
				t.Errorf("export range %d..%d, want 1..10", first, through)
			}
			exportTo(t, db, &archive, audit.FormatJSONL, store.AuditFilter{FromID: first, ThroughID: through})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Pruned != 10 || res.Anchor == nil || res.Anchor.ThroughID != 10 || !res.Verified.OK {
			t.Fatalf("%+v", res)
		}
		if n := strings.Count(archive.String(), "\n"); n != 10 {
			t.Fatalf("archived %d records, want 10", n)
		}
		// The archive verifies on its own, as the start of the chain.
		if vr, err := audit.VerifyExport(&archive, false, nil); err != nil || !vr.OK || vr.Head.ID != 10 || vr.Head.Hash != res.Anchor.ThroughHash {
			t.Fatalf("archive: %+v %v", vr, err)
		}
		after := verify(t, db)
		if !after.OK || after.FirstID != 11 || after.Anchor == nil || after.Records != 21 { // 20 left + the prune record
			t.Fatalf("after prune: %+v", after)
		}
		// The prune itself is in the chain, and appends go on.
		recs, _ := db.AuditChain(ctx, 30, 10)
		if len(recs) != 1 || recs[0].Action != store.ActionAuditPrune || !strings.Contains(recs[0].Reason, res.Anchor.ThroughHash) {
			t.Fatalf("prune record: %+v", recs)
		}
		seed(t, db, 3, 3)
		if r := verify(t, db); !r.OK || r.Head.ID != 34 {
			t.Fatalf("appends after prune: %+v", r)
		}
		// Nothing older: a second prune at the same cutoff does nothing.
		if r2, err := audit.Prune(ctx, db, t0.Add(10*time.Minute+30*time.Second), "test", now, nil); err != nil || r2.Pruned != 0 {
			t.Fatalf("second prune: %+v %v", r2, err)
		}
		// Records past the anchor still cannot be deleted, and deleting
		// them around the triggers is found.
		if err := db.Gorm().Exec("DELETE FROM audit_records WHERE id = 11").Error; err == nil {
			t.Fatal("deleting an unanchored record was allowed")
		}
		tamper(t, db, "DELETE FROM audit_records WHERE id <= 12")
		if r := verify(t, db); r.OK || r.Break.ID != 11 || r.Break.Kind != audit.BreakMissing {
			t.Fatalf("deletion after the anchor: %+v", r.Break)
		}
	})
}

func TestPruneRefusesABrokenChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db, 10, 10)
		tamper(t, db, "UPDATE audit_records SET reason = 'x' WHERE id = 3")
		_, err := audit.Prune(context.Background(), db, t0.Add(5*time.Minute+30*time.Second), "test", t0.Add(time.Hour), nil)
		if err == nil || !strings.Contains(err.Error(), "refusing to prune") || !strings.Contains(err.Error(), "record 3") {
			t.Fatalf("err = %v", err)
		}
		anchors, _ := db.AuditAnchors(context.Background())
		if len(anchors) != 0 {
			t.Fatal("an anchor was written over a broken chain")
		}
	})
}

func TestExportFormatsRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db, 12, 4)
		for _, format := range []string{audit.FormatCSV, audit.FormatJSONL} {
			var buf bytes.Buffer
			exportTo(t, db, &buf, format, store.AuditFilter{})
			full := buf.String()
			if r, err := audit.VerifyExport(strings.NewReader(full), false, nil); err != nil || !r.OK || r.Records != 12 {
				t.Fatalf("%s: %+v %v", format, r, err)
			}
			// A filtered export checks record by record.
			buf.Reset()
			exportTo(t, db, &buf, format, store.AuditFilter{Person: "user3@example.com"})
			r, err := audit.VerifyExport(&buf, true, nil)
			if err != nil || !r.OK || r.Records != 2 { // records 4 and 11
				t.Fatalf("%s filtered: %+v %v", format, r, err)
			}
			// An edited export is caught.
			edited := strings.Replace(full, "record 5", "record 6", 1)
			if r, _ := audit.VerifyExport(strings.NewReader(edited), false, nil); r.OK || r.Break.ID != 5 {
				t.Fatalf("%s edited: %+v", format, r.Break)
			}
		}
	})
}

func TestExportDefusesFormulas(t *testing.T) {
	var buf bytes.Buffer
	w, _ := audit.NewWriter(&buf, audit.FormatCSV)
	rec := audit.Seal(0, "", []*workflow.AuditRecord{{At: t0, Actor: "=HYPERLINK(\"x\")", Action: "approve", Reason: "'quoted"}})[0]
	if err := w.Write(&rec); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if strings.Contains(buf.String(), ",=HYPERLINK") {
		t.Fatalf("formula left live: %s", buf.String())
	}
	r, err := audit.VerifyExport(&buf, false, nil)
	if err != nil || !r.OK {
		t.Fatalf("escaped export does not verify: %+v %v", r, err)
	}
}

// TestExportPurposeColumn: the purpose travels in the CSV's last column
// and in JSON, and a CSV export made before that column existed (twelve
// columns) still reads and verifies.
func TestExportPurposeColumn(t *testing.T) {
	recs := audit.Seal(0, "", []*workflow.AuditRecord{
		{At: t0, Actor: "alice@example.com", Action: "submit", Reason: "case 1", Purpose: "refund"},
		{At: t0, Actor: "carol@example.com", Action: "approve"},
	})
	for _, format := range []string{audit.FormatCSV, audit.FormatJSONL} {
		var buf bytes.Buffer
		w, _ := audit.NewWriter(&buf, format)
		for i := range recs {
			if err := w.Write(&recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		var purposes []string
		if err := audit.ReadExport(bytes.NewReader(buf.Bytes()), func(r *audit.Record) error {
			purposes = append(purposes, r.Purpose)
			return nil
		}); err != nil || strings.Join(purposes, ",") != "refund," {
			t.Fatalf("%s: purposes %q, %v", format, purposes, err)
		}
		if r, err := audit.VerifyExport(bytes.NewReader(buf.Bytes()), false, nil); err != nil || !r.OK {
			t.Fatalf("%s does not verify: %+v %v", format, r, err)
		}
	}
	// An old export: no purpose column, records without purposes.
	old := audit.Seal(0, "", []*workflow.AuditRecord{{At: t0, Actor: "alice@example.com", Action: "submit", Reason: "case 1"}})
	var buf bytes.Buffer
	w, _ := audit.NewWriter(&buf, audit.FormatCSV)
	if err := w.Write(&old[0]); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	var twelve []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		cells := strings.Split(line, ",")
		twelve = append(twelve, strings.Join(cells[:12], ",")) // before purpose, auth and mfa
	}
	if !strings.HasSuffix(twelve[0], ",prev_hash,hash") {
		t.Fatalf("header %q", twelve[0])
	}
	if r, err := audit.VerifyExport(strings.NewReader(strings.Join(twelve, "\n")+"\n"), false, nil); err != nil || !r.OK || r.Records != 1 {
		t.Fatalf("a twelve-column export does not verify: %+v %v", r, err)
	}
}
