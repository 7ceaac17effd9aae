package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jitaccess/alert"
	"github.com/jitaccess/jitaccess/audit"
)

// The witness (docs/audit.md, "The witness"): serve keeps the highest
// head of the audit chain it has verified in three places, in memory, in
// the database (audit_witness) and, with --audit-witness FILE, in a local
// file, and checks every WitnessInterval, and at start, that the chain
// still holds each of them unchanged. Records deleted from the end of the
// log (the one change the chain alone cannot show) leave the log shorter
// than a witnessed head: alerted as truncated; a head with another hash is
// alerted as rewritten. Each copy needs its own attack to lower: the
// database row refuses to move back unless its triggers are disabled, the
// file is on this machine, the memory lasts as long as the process.
//
// The check is incremental (audit.VerifyFrom, from the oldest witnessed
// head to the current one), so every replica runs it for its own file and
// memory without a lease.

// WitnessInterval is how often serve checks the chain against its witness.
const WitnessInterval = time.Minute

// witness holds the memory and file copies; the database copy is read
// each time (another replica may have moved it on).
type witness struct {
	file string // "" without --audit-witness

	mu       sync.Mutex
	head     audit.Checkpoint // the highest head verified by this process
	fileHead audit.Checkpoint // what the file holds, as last read or written
	fileErr  error            // the file could not be read: left alone, alerted once
	alerted  bool             // fileErr was alerted on
}

// openWitness checks the witness file at start: its directory must exist,
// and a file that is there must be a checkpoint, so that a mistyped path
// or a damaged file stops serve instead of leaving it without its witness.
func openWitness(file string) (*witness, error) {
	w := &witness{file: file}
	if file == "" {
		return w, nil
	}
	if st, err := os.Stat(filepath.Dir(file)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--audit-witness %s: the directory %s does not exist", file, filepath.Dir(file))
	}
	cp, ok, err := readWitnessFile(file)
	if err != nil {
		return nil, fmt.Errorf("--audit-witness %s: %w (move it aside to start a new witness; after a deliberate restore of the database, that is expected)", file, err)
	}
	if ok {
		w.fileHead = cp.Head
	}
	return w, nil
}

// readWitnessFile reads the file; ok is false when there is none yet.
func readWitnessFile(file string) (cp audit.SignedCheckpoint, ok bool, err error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return cp, false, nil
	}
	if err != nil {
		return cp, false, err
	}
	cp, err = audit.ParseSignedCheckpoint(data)
	return cp, err == nil, err
}

// writeFileAtomic replaces file with data: a temporary file in the same
// directory, synced, then renamed over it, so that a crash leaves the old
// content or the new, never half of either.
func writeFileAtomic(file string, data []byte) error {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself, on file systems that need it
		d.Close()
	}
	return nil
}

// witnessed is one copy of the witnessed head and where it is kept.
type witnessed struct {
	head   audit.Checkpoint
	source string
}

type witnessHeads []witnessed

func (hs witnessHeads) checkpoints() []audit.Checkpoint {
	out := make([]audit.Checkpoint, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.head)
	}
	return out
}

// sources names the copies that witnessed record id.
func (hs witnessHeads) sources(id int64) string {
	var names []string
	for _, h := range hs {
		if h.head.ID == id {
			names = append(names, h.source)
		}
	}
	return strings.Join(names, "; ")
}

// witnessHeads collects the copies of the witnessed head. A copy that
// cannot be read is logged (the file's is also alerted on, once) and left
// out; the others still count.
func (a *App) witnessHeads(ctx context.Context) witnessHeads {
	w := a.oversight.witness
	var hs witnessHeads
	w.mu.Lock()
	if w.head.ID > 0 {
		hs = append(hs, witnessed{w.head, "this process's memory (" + w.head.String() + ")"})
	}
	w.mu.Unlock()
	if dw, err := a.DB.AuditWitness(ctx); err != nil {
		a.Logger.Error("audit witness: cannot read the database's copy", "err", err)
	} else if dw.Head.ID > 0 {
		hs = append(hs, witnessed{dw.Head, fmt.Sprintf("the database's audit_witness (%s, verified by %s at %s)", dw.Head, dw.By, dw.At.Format(time.RFC3339))})
	}
	if w.file == "" {
		return hs
	}
	cp, ok, err := readWitnessFile(w.file)
	w.mu.Lock()
	w.fileErr = err
	first := err != nil && !w.alerted
	if err != nil {
		w.alerted = true
	} else {
		w.alerted = false
		w.fileHead = cp.Head
	}
	w.mu.Unlock()
	if err != nil {
		a.Logger.Error("audit witness: cannot read the witness file; it is left as it is", "file", w.file, "err", err)
		if first {
			aerr := a.oversight.alerts.Send(ctx, alert.Alert{Kind: "audit_witness", Severity: alert.Critical, At: time.Now(),
				Summary: "Audit witness file unreadable: " + w.file,
				Details: err.Error() + "\nSomeone may have changed it. serve leaves it alone and goes on with the database's copy; move it aside to start a new one."})
			a.oversight.metrics.ObserveAlert(aerr)
		}
		return hs
	}
	if ok && cp.Head.ID > 0 {
		hs = append(hs, witnessed{cp.Head, fmt.Sprintf("the witness file %s (%s, verified at %s)", w.file, cp.Head, cp.Time.Format(time.RFC3339))})
	}
	return hs
}

// advanceWitness records head, just verified, in every copy that holds
// less. The caller holds verifyMu, so writes to the file take turns.
func (a *App) advanceWitness(ctx context.Context, head audit.Checkpoint, now time.Time) {
	if head.ID == 0 {
		return
	}
	w := a.oversight.witness
	w.mu.Lock()
	if head.ID > w.head.ID {
		w.head = head
	}
	writeFile := w.file != "" && w.fileErr == nil && head.ID > w.fileHead.ID
	w.mu.Unlock()
	if _, err := a.DB.AdvanceAuditWitness(ctx, head, a.holder, now); err != nil {
		a.Logger.Error("audit witness: cannot record the head in the database", "head", head.String(), "err", err)
	}
	a.oversight.metrics.ObserveWitness(head.ID)
	if !writeFile {
		return
	}
	data, _ := json.Marshal(audit.NewCheckpoint(head, now))
	if err := writeFileAtomic(w.file, append(data, '\n')); err != nil {
		a.Logger.Error("audit witness: cannot write the witness file", "file", w.file, "head", head.String(), "err", err)
		return
	}
	w.mu.Lock()
	w.fileHead = head
	w.mu.Unlock()
}

// CheckAuditWitness runs the witness check now, after any chain check in
// progress: the chain must still hold every witnessed head, unchanged,
// and follow on from it to its newest record, which becomes the witnessed
// head. A break is logged, alerted on (once) and shown as the last
// verification; the result says what was found.
func (a *App) CheckAuditWitness(ctx context.Context) (audit.Result, error) {
	o := a.oversight
	o.verifyMu.Lock()
	defer o.verifyMu.Unlock()
	return a.checkWitness(ctx)
}

// witnessJob is the periodic witness check (and the one at start); it is
// skipped while a full verification runs, which checks the witness too.
func (a *App) witnessJob() {
	o := a.oversight
	if !o.verifyMu.TryLock() {
		return
	}
	defer o.verifyMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, _ = a.checkWitness(ctx)
}

func (a *App) checkWitness(ctx context.Context) (audit.Result, error) {
	o := a.oversight
	heads := a.witnessHeads(ctx)
	res, err := audit.VerifyFrom(ctx, a.DB, heads.checkpoints()...)
	if err != nil {
		a.Logger.Error("audit witness check could not read the log", "err", err)
		return res, err
	}
	now := time.Now()
	if res.OK {
		a.Logger.Debug("audit witness check", "from", res.FirstID, "head", res.Head.String(), "records", res.Records)
		a.advanceWitness(ctx, res.Head, now)
		return res, nil
	}
	// A break is the chain's status until a full verification passes:
	// jitaccess_audit_chain_ok goes to 0 and /api/v1/audit/status shows it.
	o.metrics.ObserveVerify(res, now)
	o.mu.Lock()
	o.last = &res
	o.mu.Unlock()
	a.alertBreak(ctx, res, heads, now)
	return res, nil
}
