package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/workflow"
)

// AppendAudit appends records to the audit log. On PostgreSQL they are
// written unsealed (sealer.go), atomically with the transaction's change
// and without a lock shared with other writers; the sealer chains them.
// On SQLite, which has one writer at a time, and in a sealing transaction
// (tx.inline) they are chained here: ids are the last id + 1, so that each
// hash covers its id.
func (t *tx) AppendAudit(ctx context.Context, recs ...*workflow.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		workflow.StampSource(ctx, r)
	}
	if !t.inline {
		return t.appendPending(ctx, recs)
	}
	lastID, lastHash, err := t.lockChain(ctx)
	if err != nil {
		return err
	}
	return t.insertSealed(ctx, audit.Seal(lastID, lastHash, recs))
}

// insertSealed inserts chained records.
func (t *tx) insertSealed(ctx context.Context, sealed []audit.Record) error {
	return t.insertRows(ctx, "audit_records", auditColumns, 16, len(sealed), func(args []any, i int) []any {
		r := &sealed[i]
		return append(args, r.ID, r.At, r.Actor, r.Action, nullID(r.RequestID), r.Resource, r.Subject, string(r.FromState), string(r.ToState),
			r.Reason, r.PrevHash, r.Hash, r.Purpose, r.Auth, r.MFA, r.Source)
	})
}

// insertRows inserts n rows of width columns into table: one multi-row
// INSERT per 500 rows, built by hand, because the sweeper and the sealer
// append hundreds of audit records at a time and reflection would cost
// more than the hashing. row appends row i's values to args.
func (t *tx) insertRows(ctx context.Context, table, columns string, width, n int, row func(args []any, i int) []any) error {
	const per = 500
	tuple := "(" + strings.Repeat("?,", width-1) + "?)"
	var sql strings.Builder
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		sql.Reset()
		sql.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
		args := make([]any, 0, (end-start)*width)
		for i := start; i < end; i++ {
			if i > start {
				sql.WriteString(",")
			}
			sql.WriteString(tuple)
			args = row(args, i)
		}
		if err := t.ctx(ctx).Exec(sql.String(), args...).Error; err != nil {
			return mapError(err)
		}
	}
	return nil
}

// nullID is a request id as a column value: NULL for none.
func nullID(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// lockChain locks the chain's head (PostgreSQL: the audit_chain_head row,
// which only sealing transactions and prunes take, never writers) and
// returns the id and hash of the newest record, or of the last pruned one
// when the log is empty after a prune, or 0 and "" for a new log.
func (t *tx) lockChain(ctx context.Context) (int64, string, error) {
	db := t.ctx(ctx)
	if t.kind == Postgres {
		if err := db.Exec("SELECT id FROM audit_chain_head WHERE id = 1 FOR UPDATE").Error; err != nil {
			return 0, "", mapError(err)
		}
	}
	var last struct {
		ID   int64
		Hash string
	}
	err := db.Raw("SELECT id, hash FROM audit_records ORDER BY id DESC LIMIT 1").Take(&last).Error
	if err == nil {
		return last.ID, last.Hash, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, "", mapError(err)
	}
	var a auditAnchorRow
	err = db.Order("through_id DESC").Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", mapError(err)
	}
	return a.ThroughID, a.ThroughHash, nil
}

type auditCursor struct {
	ID int64 `json:"id"`
}

// auditColumns are read by ListAudit, AuditChain and ExportAudit.
const auditColumns = "id, at, actor, action, request_id, resource, subject, from_state, to_state, reason, prev_hash, hash, purpose, auth, mfa, source"

func (r reader) ListAudit(ctx context.Context, q workflow.AuditQuery) ([]*workflow.AuditRecord, string, error) {
	db := r.ctx(ctx).Model(&auditRow{})
	if q.RequestID != "" {
		if !validID(q.RequestID) {
			return nil, "", nil
		}
		db = db.Where("request_id = ?", q.RequestID)
	}
	if q.Actor != "" {
		db = db.Where("actor = ?", q.Actor)
	}
	if q.Subject != "" {
		db = db.Where("subject = ?", q.Subject)
	}
	if q.Person != "" {
		// Each side of the OR has its own index; asking each for its
		// newest rows keeps this fast however long the log is.
		db = db.Where("id IN (?)", r.personIDs(ctx, q))
	}
	if q.Resource != "" {
		db = db.Where("resource = ?", q.Resource)
	}
	if q.Action != "" {
		db = db.Where("action = ?", q.Action)
	}
	if !q.Since.IsZero() {
		db = db.Where("at >= ?", q.Since.UTC())
	}
	if !q.Until.IsZero() {
		db = db.Where("at < ?", q.Until.UTC())
	}
	op, order := "<", "id DESC"
	if q.Ascending {
		op, order = ">", "id"
	}
	if q.Cursor != "" {
		var c auditCursor
		if err := decodeCursor(q.Cursor, &c); err != nil {
			return nil, "", err
		}
		db = db.Where("id "+op+" ?", c.ID)
	}
	var rows []auditRow
	if err := db.Order(order).Limit(q.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		next = encodeCursor(auditCursor{ID: rows[len(rows)-1].ID})
	}
	out := make([]*workflow.AuditRecord, len(rows))
	for i, row := range rows {
		out[i] = row.toRecord()
	}
	return out, next, nil
}

// personIDs is the subquery of records where q.Person is the actor or the
// subject. Without other filters each side is limited to one page, read
// from its index in order; with filters the whole OR is left to the
// planner.
func (r reader) personIDs(ctx context.Context, q workflow.AuditQuery) *gorm.DB {
	side := func(col string) *gorm.DB {
		s := r.ctx(ctx).Model(&auditRow{}).Select("id").Where(col+" = ?", q.Person)
		if q.Cursor != "" {
			var c auditCursor
			if decodeCursor(q.Cursor, &c) == nil {
				if q.Ascending {
					s = s.Where("id > ?", c.ID)
				} else {
					s = s.Where("id < ?", c.ID)
				}
			}
		}
		simple := q.RequestID == "" && q.Actor == "" && q.Subject == "" && q.Resource == "" && q.Action == "" && q.Since.IsZero() && q.Until.IsZero()
		if simple && q.Limit > 0 {
			order := "id DESC"
			if q.Ascending {
				order = "id"
			}
			s = s.Order(order).Limit(q.Limit + 1)
		}
		return s
	}
	if r.kind == SQLite {
		// SQLite does not take ORDER BY/LIMIT in the arms of a UNION.
		return r.ctx(ctx).Raw("SELECT id FROM (?) UNION SELECT id FROM (?)", side("actor"), side("subject"))
	}
	return r.ctx(ctx).Raw("(?) UNION (?)", side("actor"), side("subject"))
}

// AuditChain implements audit.Log: up to limit records after afterID, in
// id order, read with database/sql rather than reflection so that a verify
// of millions of records is quick (on PostgreSQL, outside a transaction,
// with pgx itself: auditChainPgx).
func (r reader) AuditChain(ctx context.Context, afterID int64, limit int) ([]audit.Record, error) {
	return r.AuditChainInto(ctx, afterID, limit, nil)
}

// AuditChainInto implements audit.ChainInto: AuditChain into dst's
// memory (the pgx path; the database/sql one allocates anew).
func (r reader) AuditChainInto(ctx context.Context, afterID int64, limit int, dst []audit.Record) ([]audit.Record, error) {
	if out, ok, err := r.auditChainPgx(ctx, afterID, limit, dst); ok {
		return out, err
	}
	return r.auditChainSQL(ctx, afterID, limit)
}

// AuditChainSQL is AuditChain read through database/sql, as every read
// was before the pgx path (auditChainPgx) and as reads in a transaction
// still are: the "before" of bench verify, and what the store's tests hold
// the pgx path to.
func (d *DB) AuditChainSQL(ctx context.Context, afterID int64, limit int) ([]audit.Record, error) {
	return d.auditChainSQL(ctx, afterID, limit)
}

func (r reader) auditChainSQL(ctx context.Context, afterID int64, limit int) ([]audit.Record, error) {
	rows, err := r.ctx(ctx).Raw("SELECT "+auditColumns+" FROM audit_records WHERE id > ? ORDER BY id LIMIT ?", afterID, limit).Rows()
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	out := make([]audit.Record, 0, limit)
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, mapError(err)
		}
		out = append(out, rec)
	}
	return out, mapError(rows.Err())
}

func scanRecord(rows *sql.Rows) (audit.Record, error) {
	var (
		rec   audit.Record
		at    looseTime
		reqID sql.NullString
		from  string
		to    string
	)
	err := rows.Scan(&rec.ID, &at, &rec.Actor, &rec.Action, &reqID, &rec.Resource, &rec.Subject,
		&from, &to, &rec.Reason, &rec.PrevHash, &rec.Hash, &rec.Purpose, &rec.Auth, &rec.MFA, &rec.Source)
	rec.At = at.t.UTC()
	rec.RequestID = reqID.String
	rec.FromState, rec.ToState = workflow.State(from), workflow.State(to)
	return rec, err
}

// AuditReadAhead implements audit.ReadAhead: how many batches a verify
// reads at once. SQLite has one connection, which serve's other work must
// not wait behind; on PostgreSQL the queries run on several backends
// (and cores) while the verifier hashes.
func (d *DB) AuditReadAhead() int {
	if d.kind == SQLite {
		return 1
	}
	return min(max(2, runtime.GOMAXPROCS(0)), 4)
}

// AuditAnchors implements audit.Log.
func (r reader) AuditAnchors(ctx context.Context) ([]audit.Anchor, error) {
	var rows []auditAnchorRow
	if err := r.ctx(ctx).Order("through_id").Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := make([]audit.Anchor, len(rows))
	for i, a := range rows {
		out[i] = a.toAnchor()
	}
	return out, nil
}

// AuditFilter selects records to export.
type AuditFilter struct {
	Since, Until time.Time // at >= Since, at < Until
	Person       string    // actor or subject
	Actor        string
	Subject      string
	Resource     string
	RequestID    string
	Action       string
	FromID       int64 // id >= FromID
	ThroughID    int64 // id <= ThroughID
}

// AuditFilterOf is the export filter that selects what q selects.
func AuditFilterOf(q workflow.AuditQuery) AuditFilter {
	return AuditFilter{Since: q.Since, Until: q.Until, Person: q.Person, Actor: q.Actor, Subject: q.Subject, Resource: q.Resource,
		RequestID: q.RequestID, Action: q.Action}
}

// ExportAudit calls fn with every record matching f, in id order, reading
// in batches so that an export of any size holds no connection for long.
func (d *DB) ExportAudit(ctx context.Context, f AuditFilter, fn func(*audit.Record) error) error {
	if f.RequestID != "" && !validID(f.RequestID) {
		return nil
	}
	after := f.FromID - 1
	for {
		db := d.ctx(ctx).Table("audit_records").Select(auditColumns).Where("id > ?", after)
		if f.ThroughID > 0 {
			db = db.Where("id <= ?", f.ThroughID)
		}
		if !f.Since.IsZero() {
			db = db.Where("at >= ?", f.Since.UTC())
		}
		if !f.Until.IsZero() {
			db = db.Where("at < ?", f.Until.UTC())
		}
		if f.Person != "" {
			db = db.Where("(actor = ? OR subject = ?)", f.Person, f.Person)
		}
		for _, kv := range [][2]string{{"actor", f.Actor}, {"subject", f.Subject}, {"resource", f.Resource}, {"request_id", f.RequestID}, {"action", f.Action}} {
			if kv[1] != "" {
				db = db.Where(kv[0]+" = ?", kv[1])
			}
		}
		rows, err := db.Order("id").Limit(audit.BatchSize).Rows()
		if err != nil {
			return mapError(err)
		}
		var batch []audit.Record
		for rows.Next() {
			rec, err := scanRecord(rows)
			if err != nil {
				rows.Close()
				return mapError(err)
			}
			batch = append(batch, rec)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return mapError(err)
		}
		for i := range batch {
			if err := fn(&batch[i]); err != nil {
				return err
			}
		}
		if len(batch) < audit.BatchSize {
			return nil
		}
		after = batch[len(batch)-1].ID
	}
}

// PrunePlan says which records a prune at cutoff would remove: the oldest
// records, up to (not including) the first one at or after cutoff, so that
// what remains is one unbroken chain. n is 0 when nothing is that old.
func (d *DB) PrunePlan(ctx context.Context, cutoff time.Time) (first, through, n int64, err error) {
	var r struct {
		First, Last, Keep sql.NullInt64
	}
	err = d.ctx(ctx).Raw(`SELECT (SELECT min(id) FROM audit_records) AS first,
		(SELECT max(id) FROM audit_records) AS last,
		(SELECT min(id) FROM audit_records WHERE at >= ?) AS keep`, cutoff.UTC()).Scan(&r).Error
	if err != nil || !r.First.Valid {
		return 0, 0, 0, mapError(err)
	}
	through = r.Last.Int64
	if r.Keep.Valid {
		through = r.Keep.Int64 - 1
	}
	if through < r.First.Int64 {
		return r.First.Int64, 0, 0, nil
	}
	return r.First.Int64, through, through - r.First.Int64 + 1, nil
}

// ActionAuditPrune is the audit action of a prune.
const ActionAuditPrune = "audit.prune"

// PruneAudit removes records up to and including throughID in one
// transaction: it appends an audit.prune record to the chain, writes the
// anchor (the hash of record throughID, from which the first remaining
// record follows), then deletes. The database triggers refuse to delete
// any record that no anchor covers. Verify the chain first (audit.Prune
// does): an anchor over a tampered chain would hide the tampering.
func (d *DB) PruneAudit(ctx context.Context, throughID int64, actor string, now time.Time) (audit.Anchor, error) {
	var anchor audit.Anchor
	// What is pending goes into the chain first, so that the prune
	// record, chained inline below, follows it.
	if _, err := d.SealPending(ctx); err != nil {
		return anchor, err
	}
	err := d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		t.inline = true
		if _, _, err := t.lockChain(ctx); err != nil {
			return err
		}
		var first sql.NullInt64
		if err := t.ctx(ctx).Raw("SELECT min(id) FROM audit_records").Scan(&first).Error; err != nil {
			return mapError(err)
		}
		var last auditRow
		err := t.ctx(ctx).Where("id = ?", throughID).Take(&last).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || !first.Valid || first.Int64 > throughID {
			return workflow.Errorf(workflow.CodeInvalidState, "record %d is not in the audit log; nothing to prune up to it", throughID)
		}
		if err != nil {
			return mapError(err)
		}
		row := auditAnchorRow{At: now, Actor: actor, FirstID: first.Int64, ThroughID: throughID, ThroughHash: last.Hash,
			ThroughAt: last.At.UTC(), Pruned: throughID - first.Int64 + 1}
		rec := &workflow.AuditRecord{At: now, Actor: actor, Action: ActionAuditPrune,
			Reason: pruneReason(row)}
		if err := t.AppendAudit(ctx, rec); err != nil {
			return err
		}
		if err := t.ctx(ctx).Create(&row).Error; err != nil {
			return mapError(err)
		}
		if err := t.ctx(ctx).Exec("DELETE FROM audit_records WHERE id <= ?", throughID).Error; err != nil {
			return mapError(err)
		}
		anchor = row.toAnchor()
		return nil
	})
	return anchor, err
}

func pruneReason(a auditAnchorRow) string {
	return fmt.Sprintf("pruned records %d to %d (%d records up to %s); anchor hash %s",
		a.FirstID, a.ThroughID, a.Pruned, a.ThroughAt.UTC().Format(time.RFC3339), a.ThroughHash)
}

// looseTime reads a timestamp that may not be one: a row written around
// the application (SQLite keeps whatever text it is given) must show up
// as a record that fails its hash, not as a verify that cannot read.
type looseTime struct{ t time.Time }

func (l *looseTime) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		l.t = v
	case string:
		l.t = parseLooseTime(v)
	case []byte:
		l.t = parseLooseTime(string(v))
	default:
		l.t = time.Time{}
	}
	return nil
}

func parseLooseTime(s string) time.Time {
	for _, f := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(f, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
