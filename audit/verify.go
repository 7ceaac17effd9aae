package audit

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Anchor stands in for pruned records: the last record pruned (ThroughID)
// and its hash, which the first remaining record's prev_hash must equal.
type Anchor struct {
	ID          int64
	At          time.Time // when the prune ran
	Actor       string
	FirstID     int64 // first record this prune removed
	ThroughID   int64 // last record this prune removed
	ThroughHash string
	ThroughAt   time.Time // the time of record ThroughID
	Pruned      int64
}

// Log is the audit log as the verifier reads it. store.DB implements it.
type Log interface {
	// AuditChain returns up to limit records with id > afterID, in id order.
	AuditChain(ctx context.Context, afterID int64, limit int) ([]Record, error)
	// AuditAnchors returns every prune anchor, oldest first.
	AuditAnchors(ctx context.Context) ([]Anchor, error)
}

// Problem kinds.
const (
	BreakHash      = "hash_mismatch"  // the record's content or hash was changed
	BreakLink      = "broken_link"    // prev_hash is not the previous record's hash
	BreakMissing   = "missing"        // ids skip: records were deleted
	BreakOrder     = "out_of_order"   // ids go backwards (exports only)
	BreakUnhashed  = "unhashed"       // a record without a hash after the chain began
	BreakTruncated = "truncated"      // a checkpoint past the end of the log
	BreakMismatch  = "checkpoint"     // a checkpoint's hash differs
	BreakRead      = "unreadable"     // the log could not be read
	BreakAnchor    = "anchor_missing" // records start after genesis with no anchor
)

// Break is the first problem found: the id of the first bad record, what
// is wrong and, in words, what probably happened.
type Break struct {
	ID      int64  `json:"id"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (b *Break) Error() string {
	return fmt.Sprintf("audit chain broken at record %d: %s", b.ID, b.Message)
}

// Checkpoint is a record id and the hash it had when someone wrote it down
// (from a previous verify, a log line, a security channel message). A
// chain that still contains it unchanged has not been rewritten up to it,
// and a log that ends before it has lost records at its end.
type Checkpoint struct {
	ID   int64
	Hash string
}

func (c Checkpoint) String() string {
	if c.ID == 0 {
		return ""
	}
	return fmt.Sprintf("%d:%s", c.ID, c.Hash)
}

// MarshalText writes ID:HASH ("" for none).
func (c Checkpoint) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// ParseCheckpoint reads "ID:HASH".
func ParseCheckpoint(s string) (Checkpoint, error) {
	id, h, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 || len(h) != 64 || strings.Trim(strings.ToLower(h), "0123456789abcdef") != "" {
		return Checkpoint{}, fmt.Errorf("checkpoint %q is not ID:HASH (a record id and its 64-hex-digit hash, as audit verify prints)", s)
	}
	return Checkpoint{ID: n, Hash: strings.ToLower(h)}, nil
}

// Result is the outcome of a verification.
type Result struct {
	OK      bool         `json:"ok"`
	Records int64        `json:"records"`        // records whose hash was checked
	Legacy  int64        `json:"legacy_records"` // records from before the chain existed: not verifiable
	FirstID int64        `json:"first_id"`       // the first record read
	Head    Checkpoint   `json:"head"`           // the last record checked, as ID:HASH ("" for none)
	Anchor  *Anchor      `json:"anchor,omitempty"`
	Break   *Break       `json:"break,omitempty"`
	Took    Duration     `json:"took"`
	At      time.Time    `json:"verified_at,omitzero"` // when Verify began (zero for files)
	Checked []int64      `json:"checkpoints_checked,omitempty"`
	Expect  []Checkpoint `json:"-"`
	// Unsealed is what was committed but not yet sealed when the
	// verification ended (ReadBacklog): not covered by this result.
	Unsealed *Backlog `json:"unsealed,omitempty"`
}

// Duration marshals as a Go duration string.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Verifier checks records in id order, one at a time (Add) or a batch at
// a time (AddBatch, which hashes on every core). It serves the database
// walk (Verify) and exported files (VerifyExport) alike.
type Verifier struct {
	anchors []Anchor
	expect  map[int64][]string // several hashes for one id: copies of a witness that disagree
	expects []Checkpoint
	x       *Hasher
	xs      []*Hasher // AddBatch's workers' hashers, one each
	match   []bool    // AddBatch: record i matches its own hash
	minPar  int       // parallelMin unless a test says otherwise
	workers int       // GOMAXPROCS unless a test says otherwise
	res     Result
	prevID  int64
	prev    string
	started bool // a hashed record has been seen
	any     bool // any record has been seen
}

// NewVerifier returns a verifier for a log with these anchors (oldest
// first) and checkpoints.
func NewVerifier(anchors []Anchor, expect ...Checkpoint) *Verifier {
	v := &Verifier{anchors: anchors, expect: map[int64][]string{}, x: NewHasher(), minPar: parallelMin}
	for _, c := range expect {
		v.expect[c.ID] = append(v.expect[c.ID], c.Hash)
	}
	v.expects = expect
	return v
}

// anchorBefore returns the newest anchor that ends before id.
func (v *Verifier) anchorBefore(id int64) *Anchor {
	var best *Anchor
	for i := range v.anchors {
		if a := &v.anchors[i]; a.ThroughID < id && (best == nil || a.ThroughID > best.ThroughID) {
			best = a
		}
	}
	return best
}

func (v *Verifier) fail(id int64, kind, format string, args ...any) error {
	v.res.Break = &Break{ID: id, Kind: kind, Message: fmt.Sprintf(format, args...)}
	return v.res.Break
}

// Add checks the next record. It returns a *Break at the first problem;
// after that the verifier stays broken.
func (v *Verifier) Add(r *Record) error { return v.add(r, hashUnknown) }

// How add learns whether a record matches its own hash.
const (
	hashUnknown = iota // add hashes it
	hashMatches        // AddBatch did: it matches
	hashDiffers        // AddBatch did: it does not
)

// parallelMin is the smallest batch AddBatch spreads over the cores, and
// the least each worker gets: below it, starting goroutines costs more
// than it saves.
const parallelMin = 256

// AddBatch checks the next records, in order. It finds what Add would,
// record by record: the same first broken record, with the same kind and
// message, and the same Result. The costly part, hashing, needs nothing
// from the record before (each record is hashed against its own stored
// prev_hash), so it runs first, on every core; the checks that follow the
// chain (order, gaps, links to the previous hash, anchors, checkpoints,
// unhashed records) then run in order on the outcomes, and stop at the
// first problem as Add does.
func (v *Verifier) AddBatch(recs []Record) error {
	if v.res.Break != nil {
		return v.res.Break
	}
	if len(recs) < v.minPar || v.maxWorkers() == 1 {
		for i := range recs {
			if err := v.add(&recs[i], hashUnknown); err != nil {
				return err
			}
		}
		return nil
	}
	match := v.hashAll(recs)
	for i := range recs {
		m := hashDiffers
		if match[i] {
			m = hashMatches
		}
		if err := v.add(&recs[i], m); err != nil {
			return err
		}
	}
	return nil
}

// hashAll reports, for each record, whether it matches its own hash
// (against its stored prev_hash), on up to GOMAXPROCS goroutines with a
// hasher each. An unhashed record reports false; add never asks.
func (v *Verifier) hashAll(recs []Record) []bool {
	v.match = slices.Grow(v.match[:0], len(recs))[:len(recs)]
	workers := min(v.maxWorkers(), max(1, len(recs)/v.minPar))
	for len(v.xs) < workers {
		v.xs = append(v.xs, NewHasher())
	}
	part := func(w int) {
		x, lo, hi := v.xs[w], len(recs)*w/workers, len(recs)*(w+1)/workers
		for i := lo; i < hi; i++ {
			r := &recs[i]
			v.match[i] = r.Hash != "" && x.Matches(r.PrevHash, &r.AuditRecord, r.Hash)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() { part(w) })
	}
	part(0)
	wg.Wait()
	return v.match
}

func (v *Verifier) maxWorkers() int {
	if v.workers > 0 {
		return v.workers
	}
	return runtime.GOMAXPROCS(0)
}

// add is Add, with the record's own hash already checked unless m is
// hashUnknown.
func (v *Verifier) add(r *Record, m int) error {
	if v.res.Break != nil {
		return v.res.Break
	}
	if v.any && r.ID <= v.prevID {
		return v.fail(r.ID, BreakOrder, "record %d comes after record %d: records were reordered", r.ID, v.prevID)
	}
	if !v.any {
		v.res.FirstID = r.ID
	}
	first := !v.any
	v.any = true
	if r.Hash == "" {
		if v.started {
			return v.fail(r.ID, BreakUnhashed, "record %d has no hash although the chain began before it: it was inserted or its hash was removed", r.ID)
		}
		v.res.Legacy++
		v.prevID = r.ID
		return nil
	}
	want := ""
	switch {
	case v.started:
		want = v.prev
		if r.ID != v.prevID+1 {
			if v.prevID+1 == r.ID-1 {
				return v.fail(v.prevID+1, BreakMissing, "record %d is missing between %d and %d: it was deleted", v.prevID+1, v.prevID, r.ID)
			}
			return v.fail(v.prevID+1, BreakMissing, "records %d to %d are missing between %d and %d: they were deleted", v.prevID+1, r.ID-1, v.prevID, r.ID)
		}
	case first || v.res.Legacy > 0:
		if a := v.anchorBefore(r.ID); a != nil {
			v.res.Anchor = a
			want = a.ThroughHash
			if first && r.ID != a.ThroughID+1 {
				return v.fail(a.ThroughID+1, BreakMissing, "the log starts at record %d but the last prune (anchor %d) ended at record %d: records %d to %d were deleted",
					r.ID, a.ID, a.ThroughID, a.ThroughID+1, r.ID-1)
			}
		} else if first && r.PrevHash != "" {
			return v.fail(r.ID, BreakAnchor, "the log starts at record %d, which follows a record that is gone, and no prune anchor accounts for it: earlier records were deleted", r.ID)
		}
	}
	if r.PrevHash != want {
		return v.fail(r.ID, BreakLink, "record %d does not follow record %d (prev_hash differs): a record before it was changed, removed or inserted", r.ID, v.prevID)
	}
	if m == hashUnknown && v.x.Matches(r.PrevHash, &r.AuditRecord, r.Hash) {
		m = hashMatches
	}
	if m != hashMatches {
		return v.fail(r.ID, BreakHash, "record %d's content does not match its hash: it was changed after it was written", r.ID)
	}
	if hs, ok := v.expect[r.ID]; ok {
		for _, h := range hs {
			if h != r.Hash {
				return v.fail(r.ID, BreakMismatch, "record %d's hash is not the checkpoint's: the log was rewritten up to it", r.ID)
			}
		}
		v.res.Checked = append(v.res.Checked, r.ID)
	}
	v.started = true
	v.prevID, v.prev = r.ID, r.Hash
	v.res.Records++
	v.res.Head = Checkpoint{ID: r.ID, Hash: r.Hash}
	return nil
}

// Finish checks what can only be checked at the end (checkpoints not
// reached) and returns the result.
func (v *Verifier) Finish() Result {
	if v.res.Break == nil {
		for _, c := range v.expects {
			switch {
			case v.res.Head.ID != 0 && c.ID <= v.res.Head.ID && c.ID >= v.res.FirstID:
				// checked on the way (or legacy)
			case c.ID > v.res.Head.ID:
				v.fail(c.ID, BreakTruncated, "checkpoint %d is past the end of the log (last record %d): records were removed from its end", c.ID, v.res.Head.ID)
			default:
				if a := v.anchorCovering(c.ID); a != nil && a.ThroughID == c.ID && a.ThroughHash != c.Hash {
					v.fail(c.ID, BreakMismatch, "anchor %d records a different hash for record %d than the checkpoint: the log was rewritten up to it", a.ID, c.ID)
				}
			}
			if v.res.Break != nil {
				break
			}
		}
	}
	v.res.OK = v.res.Break == nil
	return v.res
}

func (v *Verifier) anchorCovering(id int64) *Anchor {
	for i := range v.anchors {
		if a := &v.anchors[i]; a.FirstID <= id && id <= a.ThroughID {
			return a
		}
	}
	return nil
}

// BatchSize is how many records Verify reads per query: small enough that
// a verify inside serve never holds SQLite's one connection for long.
const BatchSize = 5000

// readBatch is BatchSize, but for tests (SetReadBatch).
var readBatch = BatchSize

// Verify walks the whole log and returns the first problem, if any. A
// read error is reported as a Break of kind BreakRead and also returned.
func Verify(ctx context.Context, log Log, expect ...Checkpoint) (res Result, err error) {
	start := time.Now()
	defer func() { res.At = start.UTC() }()
	anchors, err := log.AuditAnchors(ctx)
	if err != nil {
		return Result{Break: &Break{Kind: BreakRead, Message: "cannot read the prune anchors"}}, err
	}
	return walk(ctx, log, NewVerifier(anchors, expect...), 0, start)
}

// VerifyFrom checks the log from the oldest of the checkpoints on, not
// from its first record: that record must still be there with the
// checkpoint's hash (and match its own hash), every record after it must
// follow on, and the other checkpoints must be passed with their hashes or
// lie past the end (truncated). It is what serve's witness runs every
// minute: it reads only what was appended since the last check. When the
// oldest checkpoint's record is gone (pruned, deleted, or the log ends
// before it) it verifies the whole log against the checkpoints instead,
// which tells a prune from a deletion. Without checkpoints it is Verify.
// The result's Records and FirstID count from the checkpoint.
func VerifyFrom(ctx context.Context, log Log, expect ...Checkpoint) (Result, error) {
	start := time.Now()
	expect = slices.DeleteFunc(slices.Clone(expect), func(c Checkpoint) bool { return c.ID == 0 }) // an empty log's: nothing to hold
	if len(expect) == 0 {
		return Verify(ctx, log)
	}
	from := expect[0]
	for _, c := range expect[1:] {
		if c.ID < from.ID {
			from = c
		}
	}
	recs, err := log.AuditChain(ctx, from.ID-1, 1)
	if err != nil {
		return Result{At: start.UTC(), Break: &Break{ID: from.ID, Kind: BreakRead, Message: "the log could not be read: " + err.Error()}}, err
	}
	if len(recs) == 0 || recs[0].ID != from.ID || recs[0].Hash == "" {
		return Verify(ctx, log, expect...)
	}
	v := NewVerifier(nil, expect...)
	// Resume the chain just before the checkpoint's record: Add then
	// checks its hash, the checkpoint, and everything after it.
	v.started, v.any = true, true
	v.prevID, v.prev = from.ID-1, recs[0].PrevHash
	v.res.FirstID = from.ID
	res, err := walk(ctx, log, v, from.ID-1, start)
	res.At = start.UTC()
	return res, err
}

// ReadAhead is what a Log may tell the verifier: how many batches it
// serves well at once. store.DB says 1 on SQLite (one connection, which
// a verify inside serve must not hold for long) and more on PostgreSQL.
// A Log that does not say is read one batch ahead.
type ReadAhead interface {
	AuditReadAhead() int
}

// ChainInto is what a Log may offer besides AuditChain: the same records
// read into dst's memory (its length ignored), so that a verify reuses
// the batches it has checked instead of allocating a million records'
// worth for the GC to collect.
type ChainInto interface {
	AuditChainInto(ctx context.Context, afterID int64, limit int, dst []Record) ([]Record, error)
}

type batch struct {
	recs []Record
	err  error
}

// recycler hands batches that have been checked back to the reads.
type recycler chan []Record

func (f recycler) get() []Record {
	select {
	case b := <-f:
		return b
	default:
		return nil
	}
}

func (f recycler) put(b []Record) {
	select {
	case f <- b:
	default:
	}
}

func (f recycler) read(ctx context.Context, log Log, afterID int64) ([]Record, error) {
	if ci, ok := log.(ChainInto); ok {
		return ci.AuditChainInto(ctx, afterID, readBatch, f.get())
	}
	return log.AuditChain(ctx, afterID, readBatch)
}

// readBatches reads the log after afterID, readBatch records a query, in
// order, on the returned channel, with up to depth queries in flight,
// until the end of the log (a batch that comes back short) or an error.
// The first batch says where the records start; after it, query k asks
// for the records of the ids (base+(k-1)·readBatch, base+k·readBatch]
// (AuditChain after the range's start, what it returns past the range's
// end dropped): ranges that tile the ids, so the batches together are
// every record, in order, whatever gaps the ids have, and a log without
// gaps (an intact chain) is read with no query wasted. stop ends the
// reading and waits for the queries in flight.
func readBatches(ctx context.Context, log Log, afterID int64, depth int, free recycler) (<-chan batch, func()) {
	out := make(chan batch, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		stopped := func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		send := func(b batch) bool {
			if stopped() {
				return false
			}
			select {
			case out <- b:
				return true
			case <-done:
				return false
			}
		}
		first, err := free.read(ctx, log, afterID)
		if !send(batch{first, err}) || err != nil || len(first) < readBatch {
			return
		}
		base := first[len(first)-1].ID
		type result struct {
			batch
			end bool // the log ends here
		}
		// The queries in flight, in range order: the one awaited and
		// depth-1 more.
		inflight := make(chan chan result, depth-1)
		wg.Go(func() {
			defer close(inflight)
			for k := int64(0); ; k++ {
				ch := make(chan result, 1)
				if stopped() {
					return
				}
				select {
				case inflight <- ch:
				case <-done:
					return
				}
				lo, hi := base+k*int64(readBatch), base+(k+1)*int64(readBatch)
				wg.Go(func() {
					recs, err := free.read(ctx, log, lo)
					// A short answer ends the log, unless it reached past
					// the range: the later ranges hold those records.
					end := len(recs) < readBatch && (len(recs) == 0 || recs[len(recs)-1].ID <= hi)
					for len(recs) > 0 && recs[len(recs)-1].ID > hi {
						recs = recs[:len(recs)-1]
					}
					ch <- result{batch{recs, err}, end}
				})
			}
		})
		for ch := range inflight {
			r := <-ch
			if !send(r.batch) || r.err != nil || r.end {
				return
			}
		}
	})
	var once sync.Once
	return out, func() {
		once.Do(func() { close(done) })
		for range out { // a batch already read, not wanted
		}
		wg.Wait()
	}
}

// walk feeds v the records after afterID, in batches read ahead (see
// readBatches), until the end of the log or the first problem.
func walk(ctx context.Context, log Log, v *Verifier, afterID int64, start time.Time) (Result, error) {
	depth := 1
	if ra, ok := log.(ReadAhead); ok {
		depth = max(1, ra.AuditReadAhead())
	}
	free := make(recycler, depth+2)
	batches, stop := readBatches(ctx, log, afterID, depth, free)
	defer stop()
	for b := range batches {
		if b.err != nil {
			res := v.Finish()
			res.OK = false
			res.Break = &Break{ID: v.prevID + 1, Kind: BreakRead, Message: "the log could not be read: " + b.err.Error()}
			res.Took = Duration(time.Since(start))
			return res, b.err
		}
		if v.AddBatch(b.recs) != nil {
			break
		}
		// Checked: nothing refers to the records any more (the verifier
		// keeps ids and hash strings, not the records).
		free.put(b.recs)
	}
	res := v.Finish()
	res.Took = Duration(time.Since(start))
	return res, nil
}

// UnmarshalText reads ID:HASH ("" for none), so that a Result read back
// from JSON keeps its head.
func (c *Checkpoint) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*c = Checkpoint{}
		return nil
	}
	cp, err := ParseCheckpoint(string(b))
	if err != nil {
		return err
	}
	*c = cp
	return nil
}
