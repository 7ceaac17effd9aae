package app

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// The audit command line: jitaccess audit verify|checkpoint|export|prune.

const auditUsage = `usage:
  jitaccess audit verify [--checkpoint ID:HASH|FILE]... [--public-key PEMFILE] [--file EXPORT [--partial]] [--json]
  jitaccess audit checkpoint [--sign KEYFILE] [--output FILE]
  jitaccess audit export [--format jsonl|csv] [--since TIME] [--until TIME] [--person EMAIL] [--resource ID] [--request ID] [--output FILE]
  jitaccess audit prune (--older-than 400d | --before TIME) [--export FILE] [--yes]
TIME is RFC 3339 (2026-01-02T15:04:05Z) or a date (2026-01-02, midnight UTC).`

// auditCmd is `jitaccess audit verify|export|prune|checkpoint`. verify
// exits 1 when the chain is broken or a checkpoint's signature is bad.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, auditUsage)
		return 2
	}
	sub, rest := args[0], args[1:]
	var c commonFlags
	f := newFlagSet("audit " + sub)
	f.common(&c, store.DefaultURL)
	var (
		checkpoints           []audit.Checkpoint
		file, format, output  string
		since, until, before  string
		person, resource, req string
		olderThan, exportFile string
		partial, asJSON, yes  bool
		cpFiles               []checkpointFile
		publicKey, signKey    string
	)
	switch sub {
	case "verify":
		f.Func("checkpoint", "ID:HASH of a record written down earlier (from a previous verify), or a checkpoint FILE (from audit checkpoint, or serve's --audit-witness file); repeatable", func(s string) error {
			cp, err := audit.ParseCheckpoint(s)
			if err == nil {
				checkpoints = append(checkpoints, cp)
				return nil
			}
			cf, ferr := readCheckpointFile(s)
			if ferr != nil {
				return fmt.Errorf("%v, nor a checkpoint file: %v", err, ferr)
			}
			cpFiles = append(cpFiles, cf)
			return nil
		})
		f.StringVar(&publicKey, "public-key", "", "Ed25519 public key (PEM, as openssl pkey -pubout writes it): every checkpoint FILE must be signed with its private key")
		f.StringVar(&file, "file", "", "verify an export file instead of the database")
		f.BoolVar(&partial, "partial", false, "the file is a filtered export: check each record's own hash only")
		f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	case "export":
		f.StringVar(&format, "format", audit.FormatJSONL, "jsonl or csv")
		f.StringVar(&since, "since", "", "records at or after TIME")
		f.StringVar(&until, "until", "", "records before TIME")
		f.StringVar(&person, "person", "", "records where EMAIL acted or was the subject")
		f.StringVar(&resource, "resource", "", "records about resource ID")
		f.StringVar(&req, "request", "", "records about request ID")
		f.StringVar(&output, "output", "", "write to FILE instead of standard output")
	case "prune":
		f.StringVar(&olderThan, "older-than", "", "prune records older than this (400d, 9600h)")
		f.StringVar(&before, "before", "", "prune records before TIME")
		f.StringVar(&exportFile, "export", "", "first write the records to be pruned to FILE (JSON lines)")
		f.BoolVar(&yes, "yes", false, "prune; without it, only say what would be pruned")
	case "checkpoint":
		f.StringVar(&signKey, "sign", "", "sign with this Ed25519 private key (PEM PKCS #8, as openssl genpkey -algorithm ed25519 writes it); without it the checkpoint is unsigned")
		f.StringVar(&output, "output", "", "write to FILE (replaced atomically) instead of standard output")
	default:
		fmt.Fprintf(stderr, "jitaccess audit: unknown subcommand %q\n%s\n", sub, auditUsage)
		return 2
	}
	if err := f.parse(rest); err != nil {
		return usageError(stderr, "audit "+sub, err)
	}
	if f.NArg() > 0 {
		return usageError(stderr, "audit "+sub, fmt.Errorf("unexpected arguments %q", f.Args()))
	}
	if sub == "verify" {
		cps, code := checkCheckpointFiles(cpFiles, publicKey, stderr)
		if code != 0 {
			return code
		}
		checkpoints = append(checkpoints, cps...)
	}
	var key ed25519.PrivateKey
	if sub == "checkpoint" && signKey != "" {
		data, err := os.ReadFile(signKey)
		if err == nil {
			key, err = audit.ParsePrivateKeyPEM(data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "jitaccess audit checkpoint: --sign %s: %v\n", signKey, err)
			return 1
		}
	}
	if sub == "verify" && file != "" {
		return verifyFile(file, partial, asJSON, checkpoints, stdout, stderr)
	}
	db, err := openDB(ctx, c.DatabaseURL)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess audit %s: %v\n", sub, err)
		return 1
	}
	defer db.Close()
	switch sub {
	case "verify":
		res, err := audit.Verify(ctx, db, checkpoints...)
		if err == nil {
			res.Unsealed, err = audit.ReadBacklog(ctx, db)
		}
		if err != nil {
			fmt.Fprintf(stderr, "jitaccess audit verify: %v\n", err)
			return 1
		}
		return printVerify(res, asJSON, stdout)
	case "checkpoint":
		return checkpointCmd(ctx, db, key, output, stdout, stderr)
	case "export":
		return exportCmd(ctx, db, format, since, until, person, resource, req, output, stdout, stderr)
	default:
		return pruneCmd(ctx, db, olderThan, before, exportFile, yes, stdout, stderr)
	}
}

func verifyFile(file string, partial, asJSON bool, checkpoints []audit.Checkpoint, stdout, stderr io.Writer) int {
	fh, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess audit verify: %v\n", err)
		return 1
	}
	defer fh.Close()
	res, err := audit.VerifyExport(fh, partial, nil, checkpoints...)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess audit verify: %s: %v\n", file, err)
		return 1
	}
	return printVerify(res, asJSON, stdout)
}

func printVerify(res audit.Result, asJSON bool, stdout io.Writer) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else if res.OK {
		fmt.Fprintf(stdout, "audit chain OK: %d records verified", res.Records)
		if res.Records > 0 && res.Legacy == 0 {
			fmt.Fprintf(stdout, " (ids %d to %d)", res.FirstID, res.Head.ID)
		}
		if res.Anchor != nil {
			fmt.Fprintf(stdout, ", following prune anchor %d (records up to %d pruned)", res.Anchor.ID, res.Anchor.ThroughID)
		}
		if res.Legacy > 0 {
			fmt.Fprintf(stdout, "; %d older records predate the chain and cannot be verified", res.Legacy)
		}
		fmt.Fprintf(stdout, " in %s\n", time.Duration(res.Took).Round(time.Millisecond))
		if res.Head.ID != 0 {
			fmt.Fprintf(stdout, "head: %s\n(keep this checkpoint outside the database; pass it to a later verify with --checkpoint)\n", res.Head)
		}
	} else {
		fmt.Fprintf(stdout, "audit chain BROKEN at record %d (%s): %s\n", res.Break.ID, res.Break.Kind, res.Break.Message)
	}
	if u := res.Unsealed; u != nil && !asJSON {
		if u.Records == 0 {
			fmt.Fprintf(stdout, "unsealed: none (every committed record is in the chain)\n")
		} else {
			fmt.Fprintf(stdout, "unsealed: %d records committed but not yet sealed, the oldest %s old (not covered by this verify)\n",
				u.Records, time.Duration(u.Oldest).Round(time.Millisecond))
		}
	}
	if !res.OK {
		return 1
	}
	return 0
}

// parseTime reads RFC 3339 or a date (midnight UTC).
func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: use RFC 3339 (2026-01-02T15:04:05Z) or a date (2026-01-02)", flag, s)
}

func exportCmd(ctx context.Context, db *store.DB, format, since, until, person, resource, req, output string, stdout, stderr io.Writer) int {
	if err := audit.CheckFormat(format); err != nil {
		return usageError(stderr, "audit export", errors.New(workflow.ErrorMessage(err)))
	}
	s, err := parseTime("since", since)
	if err != nil {
		return usageError(stderr, "audit export", err)
	}
	u, err := parseTime("until", until)
	if err != nil {
		return usageError(stderr, "audit export", err)
	}
	filter := store.AuditFilter{Since: s, Until: u, Person: workflow.NormalizeEmail(person), Resource: resource, RequestID: req}
	out := stdout
	if output != "" {
		fh, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "jitaccess audit export: %v\n", err)
			return 1
		}
		defer fh.Close()
		out = fh
	}
	if err := recordCLI(ctx, db, review.ActionAuditExport, "export "+format+" to "+dashIfEmpty(output, "standard output")); err != nil {
		fmt.Fprintf(stderr, "jitaccess audit export: %s\n", workflow.ErrorMessage(err))
		return 1
	}
	w, _ := audit.NewWriter(out, format)
	if err := db.ExportAudit(ctx, filter, w.Write); err != nil {
		fmt.Fprintf(stderr, "jitaccess audit export: %v\n", err)
		return 1
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "jitaccess audit export: %v\n", err)
		return 1
	}
	if output != "" {
		fmt.Fprintf(stderr, "exported %d records to %s\n", w.Count(), output)
	}
	return 0
}

func dashIfEmpty(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// recordCLI audits what an operator did from the command line.
func recordCLI(ctx context.Context, db *store.DB, action, what string) error {
	return db.InTx(ctx, func(tx workflow.Tx) error {
		return tx.AppendAudit(ctx, &workflow.AuditRecord{At: workflow.Now(), Actor: cliActor(), Action: action, Reason: what})
	})
}

func pruneCmd(ctx context.Context, db *store.DB, olderThan, before, exportFile string, yes bool, stdout, stderr io.Writer) int {
	if (olderThan == "") == (before == "") {
		return usageError(stderr, "audit prune", errors.New("pass exactly one of --older-than DURATION or --before TIME"))
	}
	now := workflow.Now()
	cutoff, err := parseTime("before", before)
	if err != nil {
		return usageError(stderr, "audit prune", err)
	}
	if olderThan != "" {
		d, err := parseRetention(olderThan)
		if err != nil || d == 0 {
			return usageError(stderr, "audit prune", fmt.Errorf("--older-than %q: use a number of days like 400d or a duration like 9600h", olderThan))
		}
		cutoff = now.Add(-d)
	}
	first, through, n, err := db.PrunePlan(ctx, cutoff)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess audit prune: %v\n", err)
		return 1
	}
	if n == 0 {
		fmt.Fprintf(stdout, "no audit records before %s; nothing to prune\n", cutoff.Format(time.RFC3339))
		return 0
	}
	if !yes {
		fmt.Fprintf(stdout, "would prune %d audit records (ids %d to %d, before %s); run again with --yes to prune\n", n, first, through, cutoff.Format(time.RFC3339))
		return 0
	}
	var export func(first, through int64) error
	if exportFile != "" {
		export = func(first, through int64) error {
			fh, err := os.OpenFile(exportFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			w, _ := audit.NewWriter(fh, audit.FormatJSONL)
			err = db.ExportAudit(ctx, store.AuditFilter{FromID: first, ThroughID: through}, w.Write)
			if err == nil {
				err = w.Flush()
			}
			if err == nil {
				err = fh.Sync()
			}
			return errors.Join(err, fh.Close())
		}
	}
	res, err := audit.Prune(ctx, db, cutoff, cliActor(), now, export)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess audit prune: %v\n", err)
		return 1
	}
	if res.Pruned == 0 {
		fmt.Fprintln(stdout, "nothing to prune")
		return 0
	}
	fmt.Fprintf(stdout, "pruned %d audit records (ids %d to %d); anchor %d keeps the chain verifiable: record %d had hash %s\n",
		res.Pruned, res.Anchor.FirstID, res.Anchor.ThroughID, res.Anchor.ID, res.Anchor.ThroughID, res.Anchor.ThroughHash)
	if exportFile != "" {
		fmt.Fprintf(stdout, "the pruned records are in %s (verify it with: jitaccess audit verify --file %s)\n", exportFile, exportFile)
	}
	return 0
}
