package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/workflow"
)

// auditChainPgx is AuditChain on PostgreSQL outside a transaction, read
// with pgx itself rather than through database/sql: database/sql makes a
// string (an allocation) of every column of every row, and at a million
// records that was most of audit verify's time. Here a batch's text
// columns go into one buffer, made one string, and every field is a slice
// of it: one allocation per batch instead of fourteen per record. ok is
// false when the reader is a transaction (or the driver not pgx): the
// caller reads through database/sql then.
func (r reader) auditChainPgx(ctx context.Context, afterID int64, limit int, dst []audit.Record) (out []audit.Record, ok bool, err error) {
	pool, isDB := r.db.Statement.ConnPool.(*sql.DB)
	if !isDB || r.kind != Postgres {
		return nil, false, nil
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, true, mapError(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, isPgx := dc.(*stdlib.Conn)
		if !isPgx {
			return errNotPgx
		}
		out, err = readAuditChain(ctx, c.Conn(), afterID, limit, dst)
		return err
	})
	if err == errNotPgx {
		return nil, false, nil
	}
	return out, true, mapError(err)
}

var errNotPgx = fmt.Errorf("not a pgx connection")

// The text columns of auditColumns, in order, after id and at.
const auditTextColumns = 14

func readAuditChain(ctx context.Context, c *pgx.Conn, afterID int64, limit int, dst []audit.Record) ([]audit.Record, error) {
	rows, err := c.Query(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE id > $1 ORDER BY id LIMIT $2", afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	if len(fds) != 2+auditTextColumns {
		return nil, fmt.Errorf("audit_records: %d columns, want %d", len(fds), 2+auditTextColumns)
	}
	m := c.TypeMap()
	out := dst[:0]
	if cap(out) < limit {
		out = make([]audit.Record, 0, limit)
	}
	sc := getScratch()
	defer putScratch(sc)
	buf, ends := sc.buf[:0], sc.ends[:0] // the text, and where each field ends in it
	for rows.Next() {
		vals := rows.RawValues()
		id, err := scanInt8(m, fds[0], vals[0])
		if err != nil {
			return nil, err
		}
		out = append(out, audit.Record{AuditRecord: workflow.AuditRecord{ID: id, At: scanTimestamptz(m, fds[1], vals[1])}})
		for i := 2; i < len(vals); i++ {
			if fds[i].DataTypeOID == pgtype.UUIDOID && fds[i].Format == pgtype.BinaryFormatCode && len(vals[i]) == 16 {
				buf = appendUUID(buf, vals[i])
			} else {
				buf = append(buf, vals[i]...) // text, in either format; NULL is ""
			}
			ends = append(ends, int32(len(buf)))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sc.buf, sc.ends = buf, ends
	s := string(buf) // exactly the batch's text: the scratch is used again
	start := 0
	field := func(k int) string {
		end := int(ends[k])
		f := s[start:end]
		start = end
		return f
	}
	for i := range out {
		rec, k := &out[i], i*auditTextColumns
		rec.Actor, rec.Action, rec.RequestID, rec.Resource, rec.Subject = field(k), field(k+1), field(k+2), field(k+3), field(k+4)
		rec.FromState, rec.ToState = workflow.State(field(k+5)), workflow.State(field(k+6))
		rec.Reason, rec.PrevHash, rec.Hash = field(k+7), field(k+8), field(k+9)
		rec.Purpose, rec.Auth, rec.MFA, rec.Source = field(k+10), field(k+11), field(k+12), field(k+13)
	}
	return out, nil
}

// scratch is a batch's text while it is read, kept for the next batch:
// what a verify allocates sets how often the GC runs. They are kept on a
// list of their own rather than in a sync.Pool, which the GC empties,
// and a verify runs the GC often.
type scratch struct {
	buf  []byte
	ends []int32
}

var scratches = make(chan *scratch, 8)

func getScratch() *scratch {
	select {
	case sc := <-scratches:
		return sc
	default:
		return new(scratch)
	}
}

func putScratch(sc *scratch) {
	if cap(sc.buf) > 16<<20 { // an odd batch of huge records: not kept
		return
	}
	select {
	case scratches <- sc:
	default:
	}
}

func scanInt8(m *pgtype.Map, fd pgconn.FieldDescription, raw []byte) (int64, error) {
	if fd.DataTypeOID == pgtype.Int8OID && fd.Format == pgtype.BinaryFormatCode && len(raw) == 8 {
		return int64(binary.BigEndian.Uint64(raw)), nil
	}
	if fd.Format == pgtype.TextFormatCode {
		return strconv.ParseInt(string(raw), 10, 64)
	}
	var id int64 // escapes (m.Scan): on the heap only on this path
	err := m.Scan(fd.DataTypeOID, fd.Format, raw, &id)
	return id, err
}

// pgEpoch is where PostgreSQL's binary timestamps count from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// scanTimestamptz reads at; a value that is not a time reads as the zero
// time, so that the record fails its hash (as looseTime does).
func scanTimestamptz(m *pgtype.Map, fd pgconn.FieldDescription, raw []byte) time.Time {
	if fd.DataTypeOID == pgtype.TimestamptzOID && fd.Format == pgtype.BinaryFormatCode && len(raw) == 8 {
		us := int64(binary.BigEndian.Uint64(raw))
		if us == math.MaxInt64 || us == math.MinInt64 { // ±infinity
			return time.Time{}
		}
		return time.Unix(pgEpoch+us/1e6, (us%1e6)*1e3).UTC()
	}
	var t time.Time
	if err := m.Scan(fd.DataTypeOID, fd.Format, raw, &t); err != nil {
		return parseLooseTime(string(raw))
	}
	return t.UTC()
}

func appendUUID(b, u []byte) []byte {
	b = append(b, make([]byte, 36)...) // no allocation: append grows b
	s := b[len(b)-36:]
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:16])
	return b
}
