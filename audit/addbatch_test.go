package audit_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/workflow"
)

// sequential is the reference: Add, record by record.
func sequential(anchors []audit.Anchor, expect []audit.Checkpoint, recs []audit.Record) (audit.Result, error) {
	v := audit.NewVerifier(anchors, expect...)
	var first error
	for i := range recs {
		r := recs[i]
		if err := v.Add(&r); err != nil && first == nil {
			first = err
		}
	}
	return v.Finish(), first
}

// sameAsAdd checks that AddBatch, over recs cut into batches of several
// sizes and hashed by several workers (more than the machine's cores
// too), finds exactly what Add finds record by record: the same Result,
// the same first Break (id, kind, message). It returns Add's result.
func sameAsAdd(t *testing.T, anchors []audit.Anchor, expect []audit.Checkpoint, recs []audit.Record) audit.Result {
	t.Helper()
	want, wantErr := sequential(anchors, expect, recs)
	for _, size := range []int{1, 2, 3, 5, 7, 16, len(recs) + 1} {
		for _, workers := range []int{1, 2, 3, 4, 8} {
			v := audit.NewVerifier(anchors, expect...)
			audit.SetParallel(v, 1, workers)
			var gotErr error
			for lo := 0; lo < len(recs); lo += size {
				batch := append([]audit.Record(nil), recs[lo:min(lo+size, len(recs))]...)
				if err := v.AddBatch(batch); err != nil {
					if gotErr == nil {
						gotErr = err
					}
				} else if gotErr != nil {
					t.Fatalf("batches of %d, %d workers: AddBatch returned nil after a break", size, workers)
				}
			}
			got := v.Finish()
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("batches of %d, %d workers:\n AddBatch %+v (break %+v)\n Add      %+v (break %+v)", size, workers, got, got.Break, want, want.Break)
			}
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("batches of %d, %d workers: AddBatch error %v, Add error %v", size, workers, gotErr, wantErr)
			}
		}
	}
	// AddBatch's default (the machine's cores, batches over parallelMin).
	v := audit.NewVerifier(anchors, expect...)
	v.AddBatch(append([]audit.Record(nil), recs...))
	if got := v.Finish(); !reflect.DeepEqual(got, want) {
		t.Fatalf("one batch, defaults: AddBatch %+v, Add %+v", got.Break, want.Break)
	}
	return want
}

// chain returns n sealed records after lastID/lastHash, record i with
// reason "record i".
func chain(lastID int64, lastHash string, n int) []audit.Record {
	var recs []*workflow.AuditRecord
	for i := 1; i <= n; i++ {
		recs = append(recs, &workflow.AuditRecord{At: t0.Add(time.Duration(i) * time.Minute), Actor: fmt.Sprintf("user%d@example.com", i%5),
			Action: "approve", Resource: "crm-notes", Subject: "alice@example.com", Reason: fmt.Sprintf("record %d", lastID+int64(i))})
	}
	return audit.Seal(lastID, lastHash, recs)
}

// TestAddBatchSameAsAdd covers, in memory, what the database cases do not
// reach: several broken records in one batch (the first wins, whatever
// worker hashed it), every kind of problem, anchors, legacy records and
// checkpoints.
func TestAddBatchSameAsAdd(t *testing.T) {
	base := chain(0, "", 40)
	anchor := audit.Anchor{ID: 3, FirstID: 1, ThroughID: 10, ThroughHash: base[9].Hash, ThroughAt: base[9].At, Pruned: 10}
	legacy := func(ids ...int64) []audit.Record {
		var out []audit.Record
		for _, id := range ids {
			out = append(out, audit.Record{AuditRecord: workflow.AuditRecord{ID: id, At: t0, Actor: "old@example.com", Action: "submit"}})
		}
		return out
	}
	edit := func(recs []audit.Record, f func(r []audit.Record)) []audit.Record {
		out := append([]audit.Record(nil), recs...)
		f(out)
		return out
	}
	for _, tc := range []struct {
		name    string
		anchors []audit.Anchor
		expect  []audit.Checkpoint
		recs    []audit.Record
		kind    string // "" for OK
		id      int64
	}{
		{"intact", nil, nil, base, "", 0},
		{"empty", nil, nil, nil, "", 0},
		{"one edit", nil, nil, edit(base, func(r []audit.Record) { r[22].Reason = "x" }), audit.BreakHash, 23},
		{"several edits: the first wins", nil, nil, edit(base, func(r []audit.Record) {
			r[35].Reason, r[30].Actor, r[17].Reason, r[5].Subject = "x", "x", "x", "x"
		}), audit.BreakHash, 6},
		{"edits in the last worker's share and the first's", nil, nil, edit(base, func(r []audit.Record) {
			r[39].Reason, r[2].Reason = "x", "x"
		}), audit.BreakHash, 3},
		{"an edit after a gap: the gap first", nil, nil, edit(base, func(r []audit.Record) {
			r[30].Reason = "x"
			copy(r[12:], r[13:])
		})[:39], audit.BreakMissing, 13},
		{"a gap after an edit: the edit first", nil, nil, edit(base, func(r []audit.Record) {
			r[4].Reason = "x"
			copy(r[12:], r[13:])
		})[:39], audit.BreakHash, 5},
		{"several deleted", nil, nil, append(append([]audit.Record(nil), base[:8]...), base[20:]...), audit.BreakMissing, 9},
		{"a broken link and an edit after it", nil, nil, edit(base, func(r []audit.Record) {
			r[9].PrevHash = strings.Repeat("a", 64)
			r[25].Reason = "x"
		}), audit.BreakLink, 10},
		{"a forged record (rehashed): the next link breaks", nil, nil, edit(base, func(r []audit.Record) {
			r[14].Reason = "forged"
			r[14].Hash = audit.Hash(r[14].PrevHash, &r[14].AuditRecord)
		}), audit.BreakLink, 16},
		{"a hash of the wrong length", nil, nil, edit(base, func(r []audit.Record) { r[7].Hash = "abc" }), audit.BreakHash, 8},
		{"a hash in capitals", nil, nil, edit(base, func(r []audit.Record) { r[7].Hash = strings.ToUpper(r[7].Hash) }), audit.BreakHash, 8},
		{"swapped: the gap first", nil, nil, edit(base, func(r []audit.Record) { r[20], r[21] = r[21], r[20] }), audit.BreakMissing, 21},
		{"a record twice", nil, nil, append(base[:21:21], base[20:]...), audit.BreakOrder, 21},
		{"unhashed inside the chain", nil, nil, edit(base, func(r []audit.Record) { r[11].Hash = "" }), audit.BreakUnhashed, 12},
		{"first record gone, no anchor", nil, nil, base[1:], audit.BreakAnchor, 2},
		{"after a prune, with its anchor", []audit.Anchor{anchor}, nil, base[10:], "", 0},
		{"after a prune, an edit", []audit.Anchor{anchor}, nil, edit(base[10:], func(r []audit.Record) { r[3].Reason = "x" }), audit.BreakHash, 14},
		{"after a prune, more deleted than pruned", []audit.Anchor{anchor}, nil, base[13:], audit.BreakMissing, 11},
		{"after a prune, the anchor's hash differs", []audit.Anchor{{ID: 3, FirstID: 1, ThroughID: 10, ThroughHash: strings.Repeat("b", 64)}}, nil,
			base[10:], audit.BreakLink, 11},
		{"legacy records, then the chain", nil, nil, append(legacy(-9, -7, -4), base...), "", 0},
		{"legacy records, then an edit", nil, nil, append(legacy(-9, -7, -4), edit(base, func(r []audit.Record) { r[0].Reason = "x" })...), audit.BreakHash, 1},
		{"legacy records after a prune", []audit.Anchor{anchor}, nil, append(legacy(-3, -2), base[10:]...), "", 0},
		{"checkpoints held", nil, []audit.Checkpoint{{ID: 10, Hash: base[9].Hash}, {ID: 33, Hash: base[32].Hash}}, base, "", 0},
		{"a checkpoint differs", nil, []audit.Checkpoint{{ID: 33, Hash: strings.Repeat("c", 64)}}, base, audit.BreakMismatch, 33},
		{"a checkpoint differs after an edit: the edit first", nil, []audit.Checkpoint{{ID: 33, Hash: strings.Repeat("c", 64)}},
			edit(base, func(r []audit.Record) { r[34].Reason = "x"; r[20].Reason = "x" }), audit.BreakHash, 21},
		{"a checkpoint past the end", nil, []audit.Checkpoint{{ID: 41, Hash: strings.Repeat("d", 64)}}, base, audit.BreakTruncated, 41},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := sameAsAdd(t, tc.anchors, tc.expect, tc.recs)
			switch {
			case tc.kind == "" && !res.OK:
				t.Fatalf("broken: %+v", res.Break)
			case tc.kind != "" && (res.Break == nil || res.Break.Kind != tc.kind || res.Break.ID != tc.id):
				t.Fatalf("break %+v, want %d (%s)", res.Break, tc.id, tc.kind)
			}
		})
	}
}

// TestVerifyBreaksAtBatchBoundaries: Verify reads the log BatchSize
// records at a time and hashes each batch on every core; a problem on
// either side of a batch boundary, or spanning one, is still the first
// one Add finds, on both databases.
func TestVerifyBreaksAtBatchBoundaries(t *testing.T) {
	// The walk's batches are made small so that the boundaries come
	// after a few hundred records, not 10,000 (the suite runs with -race).
	B := 100
	defer audit.SetReadBatch(B)()
	n := 2*B + 2
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		for _, tc := range []struct {
			name  string
			stmts []string
			id    int64
			kind  string
		}{
			{"intact", nil, 0, ""},
			{"last of a batch edited", []string{fmt.Sprintf("UPDATE audit_records SET reason = 'x' WHERE id = %d", B)}, int64(B), audit.BreakHash},
			{"first of the next batch edited", []string{fmt.Sprintf("UPDATE audit_records SET reason = 'x' WHERE id IN (%d, %d)", B+1, 2*B)},
				int64(B + 1), audit.BreakHash},
			{"deleted across a boundary", []string{fmt.Sprintf("DELETE FROM audit_records WHERE id BETWEEN %d AND %d", B, B+1)},
				int64(B), audit.BreakMissing},
			{"a broken link at a boundary, edits after it", []string{
				fmt.Sprintf("UPDATE audit_records SET prev_hash = '%s' WHERE id = %d", strings.Repeat("e", 64), 2*B+1),
				fmt.Sprintf("UPDATE audit_records SET reason = 'x' WHERE id = %d", 2*B+2),
			}, int64(2*B + 1), audit.BreakLink},
		} {
			t.Run(tc.name, func(t *testing.T) {
				db := storetest.OpenURL(t, storetest.NewURL(t, kind))
				seed(t, db, n, 2000)
				if tc.stmts != nil {
					tamper(t, db, tc.stmts...)
				}
				recs, err := db.AuditChain(context.Background(), 0, 2*n)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := sequential(nil, nil, recs)
				got := verify(t, db)
				got.Took, got.At = 0, time.Time{}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("Verify %+v (break %+v), Add %+v (break %+v)", got, got.Break, want, want.Break)
				}
				if tc.kind == "" && !got.OK || tc.kind != "" && (got.Break == nil || got.Break.ID != tc.id || got.Break.Kind != tc.kind) {
					t.Fatalf("break %+v, want %d (%s)", got.Break, tc.id, tc.kind)
				}
			})
		}
	})
}

// TestVerifyExportBatched: an export longer than a batch verifies in
// batches, whole and partial, and names the record Add names.
func TestVerifyExportBatched(t *testing.T) {
	recs := chain(0, "", audit.BatchSize+300)
	recs[audit.BatchSize+10].Reason = "x"
	recs[audit.BatchSize+200].Reason = "x"
	var buf bytes.Buffer
	w, err := audit.NewWriter(&buf, audit.FormatJSONL)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want, _ := sequential(nil, nil, recs)
	for _, partial := range []bool{false, true} {
		got, err := audit.VerifyExport(bytes.NewReader(buf.Bytes()), partial, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.OK || !reflect.DeepEqual(got.Break, want.Break) || got.Records != want.Records || got.Head != want.Head {
			t.Fatalf("partial %v: %+v (break %+v), Add %+v (break %+v)", partial, got, got.Break, want, want.Break)
		}
	}
}

// memLog is a log in memory that reads ahead depth batches, counts its
// queries and can fail one.
type memLog struct {
	recs    []audit.Record
	depth   int
	failAt  int64 // AuditChain after this id fails (0: never)
	mu      sync.Mutex
	queries int
}

func (l *memLog) AuditChain(_ context.Context, afterID int64, limit int) ([]audit.Record, error) {
	l.mu.Lock()
	l.queries++
	l.mu.Unlock()
	if l.failAt != 0 && afterID >= l.failAt {
		return nil, errors.New("connection reset")
	}
	i, _ := slices.BinarySearchFunc(l.recs, afterID+1, func(r audit.Record, id int64) int { return cmp.Compare(r.ID, id) })
	return slices.Clone(l.recs[i:min(i+limit, len(l.recs))]), nil
}

func (l *memLog) AuditAnchors(context.Context) ([]audit.Anchor, error) { return nil, nil }
func (l *memLog) AuditReadAhead() int                                  { return l.depth }

// TestVerifyReadsAhead: Verify reads id ranges several at once; over logs
// whose ids have gaps, that end on a batch boundary or inside a batch, or
// whose reading fails, it finds what Add finds over the records in order,
// and it stops reading soon after it stops checking.
func TestVerifyReadsAhead(t *testing.T) {
	B := audit.BatchSize
	intact := chain(0, "", 3*B)
	legacy := func(n int) []audit.Record {
		var out []audit.Record
		for i := range n {
			out = append(out, audit.Record{AuditRecord: workflow.AuditRecord{ID: int64(3*i + 1), At: t0, Actor: "old@example.com", Action: "submit"}})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		recs   []audit.Record
		failAt int64
	}{
		{"empty", nil, 0},
		{"one short batch", intact[:B/2], 0},
		{"exactly one batch", intact[:B], 0},
		{"exactly three batches", intact, 0},
		{"two and a half batches", intact[:5*B/2], 0},
		{"a gap wider than a batch", append(append([]audit.Record(nil), intact[:B+10]...), intact[2*B+500:]...), 0},
		{"an edit in the third batch", edit3(intact, 2*B+7), 0},
		{"legacy records with gaps, then the chain", append(legacy(B+3), chain(int64(3*(B+3)), "", 2*B)...), 0},
		{"the third read fails", intact, int64(2 * B)},
		{"the first read fails", intact, -1 << 62},
	} {
		for _, depth := range []int{1, 2, 3, 8} {
			t.Run(fmt.Sprintf("%s/depth %d", tc.name, depth), func(t *testing.T) {
				log := &memLog{recs: tc.recs, depth: depth, failAt: tc.failAt}
				got, err := audit.Verify(context.Background(), log)
				if tc.failAt != 0 {
					if err == nil || got.OK || got.Break == nil || got.Break.Kind != audit.BreakRead {
						t.Fatalf("read failure: %+v %v", got.Break, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				want, _ := sequential(nil, nil, tc.recs)
				got.Took, got.At = 0, time.Time{}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("Verify %+v (break %+v)\n   Add %+v (break %+v)", got, got.Break, want, want.Break)
				}
				// Every id range is read once, and at most depth more past
				// the end or the break.
				span := int64(0)
				if n := len(tc.recs); n > 0 {
					span = tc.recs[n-1].ID - tc.recs[0].ID
				}
				if max := int(span)/B + 2 + depth; log.queries > max {
					t.Fatalf("%d queries, want at most %d", log.queries, max)
				}
			})
		}
	}
}

func edit3(recs []audit.Record, i int) []audit.Record {
	out := slices.Clone(recs)
	out[i].Reason = "x"
	return out
}
