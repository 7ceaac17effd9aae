package app_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// openApp builds a jitaccess without running it (no background checks),
// with its log kept, so that the test alone decides when the witness
// checks. Its database closes with closeApp or at the end of the test.
func openApp(t *testing.T, cfg app.Config) (*app.App, *syncBuffer) {
	t.Helper()
	cfg.LogLevel, cfg.LogFormat, cfg.AuditChecks = "info", "text", workflow.AuditAllChecks
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.SweepSchedule == "" {
		cfg.SweepSchedule = "@every 1h"
	}
	var logs syncBuffer
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.DB.Close() })
	return a, &logs
}

func checkWitness(t *testing.T, a *app.App) audit.Result {
	t.Helper()
	res, err := a.CheckAuditWitness(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readWitness(t *testing.T, file string) audit.SignedCheckpoint {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.ParseSignedCheckpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func wantBreak(t *testing.T, res audit.Result, kind string, id int64) {
	t.Helper()
	if res.OK || res.Break == nil || res.Break.Kind != kind || res.Break.ID != id {
		t.Fatalf("want %s at record %d, got OK=%v %+v", kind, id, res.OK, res.Break)
	}
}

// TestAuditWitnessCatchesTruncation deletes the newest audit record
// around jitaccess (as a DBA could) and checks that the witness reports
// it: from the copy in memory and the file while the server runs, from
// the database's copy after a restart without the file, and from the
// file after a restart where the database's copy was lowered too.
func TestAuditWitnessCatchesTruncation(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", goodPolicy)
		u := storetest.NewURL(t, kind)
		file := filepath.Join(t.TempDir(), "witness.json")
		cfg := app.Config{DatabaseURL: u, PolicyFile: policy, Oversight: app.OversightConfig{WitnessFile: file}}
		a, logs := openApp(t, cfg)
		seedLifecycles(t, a.DB, 2) // records 2 to 7, after the start's policy.load
		res := checkWitness(t, a)
		if !res.OK || res.Head.ID != 7 {
			t.Fatalf("first check: %+v %+v", res, res.Break)
		}
		ctx := context.Background()
		if dw, err := a.DB.AuditWitness(ctx); err != nil || dw.Head != res.Head {
			t.Fatalf("database copy %+v %v, want %s", dw, err, res.Head)
		}
		if cp := readWitness(t, file); cp.Head != res.Head || cp.Size != 7 || len(cp.Signature) != 0 {
			t.Fatalf("file copy %+v, want %s", cp, res.Head)
		}
		// The witness file is a checkpoint that audit verify takes.
		if code, out, errOut := run(t, "audit", "verify", "--database", u, "--checkpoint", file); code != 0 {
			t.Fatalf("verify against the witness file: %d %q %q", code, out, errOut)
		}
		// The newest record deleted while serve runs.
		sneak(t, a.DB, "DELETE FROM audit_records WHERE id = 7")
		wantBreak(t, checkWitness(t, a), audit.BreakTruncated, 7)
		wantBreak(t, checkWitness(t, a), audit.BreakTruncated, 7)
		if l := logs.String(); strings.Count(l, "ALERT: Audit log truncated: record 7") != 1 || !strings.Contains(l, "level=ERROR") ||
			!strings.Contains(l, "the witness file "+file) || !strings.Contains(l, "audit_witness") {
			t.Fatalf("want one alert naming the copies, log:\n%s", l)
		}
		if cp := readWitness(t, file); cp.Head.ID != 7 {
			t.Fatalf("the witness file moved back: %+v", cp)
		}
		a.DB.Close()

		// A restart without the file: the database's copy remembers. (The
		// start appends a policy.load record, id 7 again, so two records
		// go this time: the log ends at 6, before the witnessed 7.)
		sdb := storetest.OpenURL(t, u)
		sneak(t, sdb, "DELETE FROM audit_records WHERE id = 6")
		sdb.Close()
		noFile := cfg
		noFile.Oversight.WitnessFile = ""
		b, blogs := openApp(t, noFile)
		wantBreak(t, checkWitness(t, b), audit.BreakTruncated, 7)
		if l := blogs.String(); !strings.Contains(l, "ALERT: Audit log truncated") || !strings.Contains(l, "the database's audit_witness") {
			t.Fatalf("database copy: no alert naming it:\n%s", l)
		}
		// The database's copy lowered as well, as someone covering their
		// tracks would (around its triggers, see TestAuditWitnessOnlyMovesForward),
		// and b's policy.load (record 6) deleted again.
		sneak(t, b.DB, "UPDATE audit_witness SET head_id = 5, head_hash = (SELECT hash FROM audit_records WHERE id = 5)")
		sneak(t, b.DB, "DELETE FROM audit_records WHERE id = 6")
		b.DB.Close()

		c, clogs := openApp(t, cfg) // with the file
		wantBreak(t, checkWitness(t, c), audit.BreakTruncated, 7)
		if l := clogs.String(); !strings.Contains(l, "ALERT: Audit log truncated") || !strings.Contains(l, "the witness file "+file) {
			t.Fatalf("file copy: no alert naming it:\n%s", l)
		}
		c.DB.Close()
		// Without the file nothing is left to tell: the file is what caught it.
		d, _ := openApp(t, noFile)
		if res := checkWitness(t, d); !res.OK {
			t.Fatalf("without the file: %+v", res.Break)
		}
	})
}

// TestAuditWitnessCatchesFork replaces the newest record: the log is as
// long as before, but the witnessed head has another hash.
func TestAuditWitnessCatchesFork(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		policy := writeFile(t, "policy.yaml", goodPolicy)
		a, logs := openApp(t, app.Config{DatabaseURL: storetest.NewURL(t, kind), PolicyFile: policy})
		seedLifecycles(t, a.DB, 1) // records 1 to 4
		if res := checkWitness(t, a); !res.OK || res.Head.ID != 4 {
			t.Fatalf("first check: %+v", res.Break)
		}
		sneak(t, a.DB, "DELETE FROM audit_records WHERE id = 4")
		seedLifecycles(t, a.DB, 1) // records 4 to 6: another 4
		wantBreak(t, checkWitness(t, a), audit.BreakMismatch, 4)
		if l := logs.String(); !strings.Contains(l, "ALERT: Audit log rewritten: record 4") {
			t.Fatalf("no alert:\n%s", l)
		}
		// The same break again: no second alert.
		res, err := a.CheckAuditWitness(context.Background())
		if err != nil || res.OK {
			t.Fatalf("second check: %v %+v", err, res)
		}
		if n := strings.Count(logs.String(), "ALERT:"); n != 1 {
			t.Fatalf("%d alerts for one break:\n%s", n, logs.String())
		}
	})
}

// TestAuditWitnessInServe: serve checks at start, so the file holds the
// head verified then without waiting for the first minute; the scheduled
// full verification advances it too.
func TestAuditWitnessInServe(t *testing.T) {
	policy := writeFile(t, "policy.yaml", goodPolicy)
	waitWitness := func(file string, id int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if data, err := os.ReadFile(file); err == nil {
				if cp, err := audit.ParseSignedCheckpoint(data); err == nil && cp.Head.ID == id {
					return
				}
			}
			if time.Now().After(deadline) {
				data, _ := os.ReadFile(file)
				t.Fatalf("the witness file never reached record %d: %s", id, data)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Run("at start", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "witness.json")
		boot(t, app.Config{DatabaseURL: storetest.NewURL(t, store.SQLite), PolicyFile: policy,
			Oversight: app.OversightConfig{WitnessFile: file, VerifySchedule: "off"}})
		waitWitness(file, 1) // the start's policy.load
	})
	t.Run("by the scheduled verification", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "witness.json")
		a, _ := boot(t, app.Config{DatabaseURL: storetest.NewURL(t, store.SQLite), PolicyFile: policy,
			Oversight: app.OversightConfig{WitnessFile: file, VerifySchedule: "@every 1s"}})
		seedLifecycles(t, a.DB, 1)
		waitWitness(file, 4) // the witness check itself waits a minute
	})
}

func TestAuditWitnessFlag(t *testing.T) {
	policy := writeFile(t, "policy.yaml", goodPolicy)
	db := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	code, _, errOut := run(t, "serve", "--policy", policy, "--database", db, "--listen", "127.0.0.1:0", "--audit-witness", "/nonexistent/dir/witness.json")
	if code != 1 || !strings.Contains(errOut, "--audit-witness /nonexistent/dir/witness.json: the directory /nonexistent/dir does not exist") {
		t.Fatalf("missing directory: %d %q", code, errOut)
	}
	damaged := writeFile(t, "witness.json", "{not json")
	t.Setenv("JITACCESS_AUDIT_WITNESS", damaged)
	code, _, errOut = run(t, "serve", "--policy", policy, "--database", db, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "--audit-witness "+damaged+": not a checkpoint") || !strings.Contains(errOut, "move it aside") {
		t.Fatalf("damaged file from the environment: %d %q", code, errOut)
	}
}
