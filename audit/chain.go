// Package audit makes the audit log tamper-evident and hands it to
// auditors: the hash chain (this file), verification (verify.go), export
// as CSV or JSON lines (export.go) and retention with anchors (prune.go).
//
// Every audit record carries the hash of its canonical content and of the
// previous record's hash:
//
//	hash(n) = SHA-256(canonical(record n) with prev_hash = hash(n-1))
//
// The first record of a log has prev_hash "" (genesis); the first record
// left after a prune has the prev_hash of the last pruned record, kept in
// an anchor. Editing, deleting, inserting or reordering records breaks the
// chain at the first record touched. Nothing here touches a database: the
// store computes hashes with Hash when it appends, and the verifier reads
// the log through the Log interface.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strconv"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Record is an audit record with its place in the chain.
type Record struct {
	workflow.AuditRecord
	PrevHash string
	Hash     string
}

// Version names the canonical encoding. It is the first field hashed, so
// that a future encoding cannot be confused with this one.
const Version = "jitaccess-audit-v1"

// TimeFormat is how At is written in the canonical encoding: UTC,
// microseconds (the precision both databases keep).
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// CanonicalTime returns t as it is stored and hashed: UTC, truncated to
// microseconds.
func CanonicalTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Hasher computes record hashes, reusing its buffers; it is not safe for
// concurrent use.
type Hasher struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// NewHasher returns a Hasher.
func NewHasher() *Hasher { return &Hasher{h: sha256.New(), buf: make([]byte, 0, 512)} }

// Hash returns the hex SHA-256 of rec's canonical encoding, chained to
// prevHash. The encoding is the concatenation of these fields, each as an
// 8-byte big-endian length followed by its bytes:
//
//	Version, prev_hash, id (decimal), at (TimeFormat), actor, action,
//	request_id, resource, subject, from_state, to_state, reason
//	[, purpose — only when it is not empty, or when auth or source is set]
//	[, auth, mfa — only when auth or source is not empty]
//	[, source — only when it is not empty]
//
// A record with auth set always carries the purpose field, even empty, and
// one with a source carries purpose, auth and mfa, so that the number of
// fields tells the four shapes apart.
//
// Lengths make the encoding unambiguous whatever the text holds.
func (x *Hasher) Hash(prevHash string, rec *workflow.AuditRecord) string {
	x.digest(prevHash, rec)
	return hex.EncodeToString(x.sum[:])
}

// Matches reports whether hash is the hex SHA-256 of rec chained to
// prevHash (Hash(prevHash, rec) == hash), without allocating.
func (x *Hasher) Matches(prevHash string, rec *workflow.AuditRecord, hash string) bool {
	if len(hash) != 2*sha256.Size {
		return false
	}
	x.digest(prevHash, rec)
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], x.sum[:])
	return string(h[:]) == hash
}

// digest leaves the SHA-256 of rec's canonical encoding in x.sum.
func (x *Hasher) digest(prevHash string, rec *workflow.AuditRecord) {
	x.buf = AppendCanonical(x.buf[:0], prevHash, rec)
	x.h.Reset()
	x.h.Write(x.buf)
	x.h.Sum(x.sum[:0])
}

// AppendCanonical appends rec's canonical encoding, chained to prevHash,
// to b: the bytes whose SHA-256 is the record's hash (see Hasher.Hash).
func AppendCanonical(b []byte, prevHash string, rec *workflow.AuditRecord) []byte {
	b = field(b, Version)
	b = field(b, prevHash)
	n := len(b) // the id's length goes before it, once it is written
	b = binary.BigEndian.AppendUint64(b, 0)
	b = strconv.AppendInt(b, rec.ID, 10)
	binary.BigEndian.PutUint64(b[n:], uint64(len(b)-n-8))
	b = binary.BigEndian.AppendUint64(b, uint64(len(TimeFormat)))
	b = appendTime(b, CanonicalTime(rec.At))
	for _, s := range []string{rec.Actor, rec.Action, rec.RequestID, rec.Resource, rec.Subject,
		string(rec.FromState), string(rec.ToState), rec.Reason} {
		b = field(b, s)
	}
	// The purpose came later: a record without one hashes as before, so
	// that older records still verify.
	if rec.Purpose != "" || rec.Auth != "" || rec.Source != "" {
		b = field(b, rec.Purpose)
	}
	// So did how the person was verified (auth, mfa): likewise only when
	// set.
	if rec.Auth != "" || rec.Source != "" {
		b = field(b, rec.Auth)
		b = field(b, rec.MFA)
	}
	// And the way in (source): likewise.
	if rec.Source != "" {
		b = field(b, rec.Source)
	}
	return b
}

// appendTime appends t (UTC, microseconds) in TimeFormat, as AppendFormat
// would, without parsing the layout for every record (a third of a
// record's hashing).
func appendTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeFormat)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends n >= 0 in decimal, zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var d [8]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

func field(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// Hash is Hasher.Hash with a fresh hasher.
func Hash(prevHash string, rec *workflow.AuditRecord) string { return NewHasher().Hash(prevHash, rec) }

// Seal sets the ids, times and hashes of recs, which are about to be
// appended after the record with id lastID and hash lastHash: ids follow
// on from lastID, each record chains to the one before. It returns the
// sealed records, in order.
func Seal(lastID int64, lastHash string, recs []*workflow.AuditRecord) []Record {
	x := NewHasher()
	out := make([]Record, len(recs))
	prev := lastHash
	for i, r := range recs {
		r.ID = lastID + int64(i) + 1
		r.At = CanonicalTime(r.At)
		h := x.Hash(prev, r)
		out[i] = Record{AuditRecord: *r, PrevHash: prev, Hash: h}
		prev = h
	}
	return out
}
