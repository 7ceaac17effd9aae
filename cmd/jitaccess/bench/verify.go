package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/workflow"
)

// verifyOptions are the flags of `bench verify`.
type verifyOptions struct {
	n       int    // records to load into an empty log
	rounds  int    // timed rounds of each of the three
	server  string // PostgreSQL server for a fresh database, when --database is not given
	profile string // CPU profile of the parallel verify's rounds
}

// benchVerify is `jitaccess bench verify`: `audit verify` over a log of
// o.n records against the floor of hashing the same bytes, in the same
// run. It loads the records (through AppendAudit, the real chain) into a
// fresh PostgreSQL database, or into the one given when its log is
// empty; writes to a temporary file exactly the bytes the verifier
// hashes (every record's canonical encoding, chained to its stored
// prev_hash); and then, o.rounds times in turn, times `sha256sum FILE`
// (the real command), audit.Verify (hashing on every core, reading
// ahead) and Verify as it was before (verifySequential). It prints the
// medians and the ratios to sha256sum.
func benchVerify(ctx context.Context, dbURL string, o verifyOptions, out io.Writer) error {
	if o.n < 1 || o.rounds < 1 {
		return errors.New("--records and --rounds must be positive")
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		return fmt.Errorf("the baseline needs sha256sum on PATH: %w", err)
	}
	if dbURL == "" {
		u, drop, err := freshPostgres(ctx, o.server)
		if err != nil {
			return err
		}
		defer drop()
		dbURL = u
	}
	db, err := store.Open(ctx, dbURL, store.Options{MaxOpenConns: 4, SealInline: true}) // as `jitaccess audit verify` opens it; the load chains inline
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	have, err := db.AuditChain(ctx, 0, 1)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		t0 := time.Now()
		if err := loadAudit(ctx, db, o.n); err != nil {
			return err
		}
		fmt.Fprintf(out, "loaded:           %d records through AppendAudit in %.1fs (not timed)\n", o.n, time.Since(t0).Seconds())
	} else {
		fmt.Fprintln(out, "loaded:           nothing; the database's log is verified as it is")
	}

	dir, err := os.MkdirTemp("", "jitaccess-bench-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "canonical.bin")
	records, size, err := writeCanonical(ctx, db, file)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "database:         %s (%s)\n", db.Kind(), store.Redact(dbURL))
	fmt.Fprintf(out, "records:          %d; canonical bytes %d (%.1f MB, %.0f bytes a record) in %s\n",
		records, size, float64(size)/1e6, float64(size)/float64(max(records, 1)), file)
	fmt.Fprintf(out, "cores:            GOMAXPROCS %d, %d CPUs\n", runtime.GOMAXPROCS(0), runtime.NumCPU())

	shaRun := func() error {
		cmd := exec.CommandContext(ctx, "sha256sum", file)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		return cmd.Run()
	}
	parRun := func() error { return checkVerify(audit.Verify(ctx, db)) }
	seqRun := func() error { return checkVerify(verifySequential(ctx, db)) }
	// One untimed round of each: the file in the page cache, the table in
	// PostgreSQL's buffers, as for every timed round after it.
	for _, run := range []func() error{shaRun, parRun, seqRun} {
		if err := run(); err != nil {
			return err
		}
	}
	var sha, par, seq []time.Duration
	for r := 0; r < o.rounds; r++ {
		for _, m := range []struct {
			run func() error
			to  *[]time.Duration
		}{{shaRun, &sha}, {parRun, &par}, {seqRun, &seq}} {
			t0 := time.Now()
			if err := m.run(); err != nil {
				return err
			}
			*m.to = append(*m.to, time.Since(t0))
		}
	}
	if o.profile != "" {
		// After the timed rounds, as many again of the parallel verify
		// alone, profiled.
		if err := profileRuns(o.profile, o.rounds, parRun); err != nil {
			return err
		}
	}
	ms := func(ds []time.Duration) string {
		parts := make([]string, len(ds))
		for i, d := range ds {
			parts[i] = strconv.FormatFloat(d.Seconds()*1000, 'f', 0, 64)
		}
		return strings.Join(parts, " ")
	}
	mSha, mPar, mSeq := median(sha), median(par), median(seq)
	fmt.Fprintf(out, "rounds:           %d, each in turn: sha256sum, verify, verify as before\n", o.rounds)
	fmt.Fprintf(out, "sha256sum:        %.3fs median (ms: %s)\n", mSha.Seconds(), ms(sha))
	fmt.Fprintf(out, "verify:           %.3fs median (ms: %s), %.0f records/s\n", mPar.Seconds(), ms(par), float64(records)/mPar.Seconds())
	fmt.Fprintf(out, "verify as before: %.3fs median (ms: %s), %.0f records/s\n", mSeq.Seconds(), ms(seq), float64(records)/mSeq.Seconds())
	fmt.Fprintf(out, "before: %.2f (verify as before / sha256sum)\n", mSeq.Seconds()/mSha.Seconds())
	// Each round's own ratio too: a round's three runs are seconds apart,
	// so load that comes and goes (a shared machine) cancels out better.
	perRound := make([]float64, len(par))
	parts := make([]string, len(par))
	for i := range par {
		perRound[i] = par[i].Seconds() / sha[i].Seconds()
		parts[i] = strconv.FormatFloat(perRound[i], 'f', 2, 64)
	}
	slices.Sort(perRound)
	fmt.Fprintf(out, "per round:        verify / sha256sum median %.2f (rounds: %s)\n", perRound[len(perRound)/2], strings.Join(parts, " "))
	fmt.Fprintf(out, "ratio: %.2f (verify / sha256sum; bar <= 2.0, goal <= 1.2)\n", mPar.Seconds()/mSha.Seconds())
	return nil
}

// profileRuns writes a CPU profile of n runs of run to file.
func profileRuns(file string, n int, run func() error) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	for range n {
		if err := run(); err != nil {
			return err
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func checkVerify(res audit.Result, err error) error {
	if err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("the log does not verify: %v", res.Break)
	}
	return nil
}

// verifySequential is Verify as it was before issue 14's item 5: batches
// of audit.BatchSize read through database/sql (AuditChainSQL), the next
// one read while this one is checked, every record hashed and checked in
// turn by Add, on one core. It is the "before" of the comparison.
func verifySequential(ctx context.Context, db *store.DB) (audit.Result, error) {
	anchors, err := db.AuditAnchors(ctx)
	if err != nil {
		return audit.Result{}, err
	}
	v := audit.NewVerifier(anchors)
	type batch struct {
		recs []audit.Record
		err  error
	}
	next := make(chan batch, 1)
	fetch := func(after int64) {
		recs, err := db.AuditChainSQL(ctx, after, audit.BatchSize)
		next <- batch{recs, err}
	}
	go fetch(0)
	for {
		b := <-next
		if b.err != nil {
			return audit.Result{}, b.err
		}
		if len(b.recs) == audit.BatchSize {
			go fetch(b.recs[len(b.recs)-1].ID)
		}
		for i := range b.recs {
			if v.Add(&b.recs[i]) != nil {
				if len(b.recs) == audit.BatchSize {
					<-next
				}
				return v.Finish(), nil
			}
		}
		if len(b.recs) < audit.BatchSize {
			return v.Finish(), nil
		}
	}
}

// writeCanonical writes every record's canonical encoding, chained to its
// stored prev_hash (what the verifier hashes), to file, in id order.
func writeCanonical(ctx context.Context, db *store.DB, file string) (records, size int64, err error) {
	f, err := os.Create(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var buf []byte
	for after := int64(0); ; {
		recs, err := db.AuditChain(ctx, after, audit.BatchSize)
		if err != nil {
			return 0, 0, err
		}
		for i := range recs {
			if recs[i].Hash == "" {
				continue // legacy: not hashed
			}
			buf = audit.AppendCanonical(buf[:0], recs[i].PrevHash, &recs[i].AuditRecord)
			w.Write(buf)
			size += int64(len(buf))
			records++
		}
		if len(recs) < audit.BatchSize {
			break
		}
		after = recs[len(recs)-1].ID
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	return records, size, f.Close()
}

// loadAudit appends n records shaped like a busy installation's (as
// BenchmarkAudit1M's): four per request (submit, two approvals, expire),
// 2,000 people, 40 resources, a few seconds apart, 2,000 records per
// transaction through AppendAudit, so the chain is the real one.
func loadAudit(ctx context.Context, db *store.DB, n int) error {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	people := make([]string, 2000)
	for p := range people {
		people[p] = fmt.Sprintf("person%04d@example.com", p)
	}
	actions := []string{"submit", "approve", "approve", "expire"}
	const per = 2000
	var request string
	for i := 0; i < n; i += per {
		recs := make([]*workflow.AuditRecord, 0, per)
		for j := i; j < min(i+per, n); j++ {
			k := j / 4
			if j%4 == 0 {
				request = fmt.Sprintf("%08x-0000-7000-8000-%012d", 0xa0d17, k)
			}
			subject := people[k%len(people)]
			actor := subject
			switch j % 4 {
			case 1, 2:
				actor = people[(k*7+j%4)%len(people)]
			case 3:
				actor = "system"
			}
			at = at.Add(3 * time.Second)
			recs = append(recs, &workflow.AuditRecord{At: at, Actor: actor, Action: actions[j%4], RequestID: request,
				Resource: fmt.Sprintf("resource-%02d", k%40), Subject: subject, Reason: "ticket INC-" + strconv.Itoa(k)})
		}
		if err := db.InTx(ctx, func(tx workflow.Tx) error { return tx.AppendAudit(ctx, recs...) }); err != nil {
			return err
		}
	}
	if db.Kind() == store.Postgres {
		return db.Gorm().WithContext(ctx).Exec("VACUUM ANALYZE audit_records").Error
	}
	return nil
}

// freshPostgres creates an empty database on the PostgreSQL server at
// server (a URL to its maintenance database) and returns its URL and a
// function that drops it.
func freshPostgres(ctx context.Context, server string) (string, func(), error) {
	u, err := url.Parse(server)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		return "", nil, fmt.Errorf("--postgres %q is not a postgres:// URL", store.Redact(server))
	}
	admin, err := store.Open(ctx, server, store.Options{MaxOpenConns: 1})
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "jitaccess_bench_verify_" + hex.EncodeToString(b)
	if err := admin.Gorm().WithContext(ctx).Exec("CREATE DATABASE " + name).Error; err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		admin.Gorm().Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}
	return u.String(), drop, nil
}
