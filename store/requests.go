package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jitaccess/jitaccess/workflow"
)

// reader runs queries against a pool or a transaction.
type reader struct {
	db   *gorm.DB
	kind Kind
}

// tx is one transaction: reads and writes.
type tx struct {
	reader
	// pending is set when the transaction wrote unsealed audit records
	// (sealer.go), for InTx to wake the sealer once it has committed.
	pending bool
	// inline makes AppendAudit seal in this transaction, as on SQLite.
	inline bool
}

var _ workflow.Store = (*DB)(nil)
var _ workflow.Tx = (*tx)(nil)

func (r reader) ctx(ctx context.Context) *gorm.DB { return r.db.WithContext(ctx) }

// validID screens request ids before they reach PostgreSQL, where a
// malformed uuid is a syntax error rather than "no rows".
func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// inChunks calls fn with the ids that are valid request ids, at most 1000
// at a time: an IN list every database accepts.
func inChunks(ids []string, fn func(valid []string) error) error {
	for start := 0; start < len(ids); start += 1000 {
		var valid []string
		for _, id := range ids[start:min(start+1000, len(ids))] {
			if validID(id) {
				valid = append(valid, id)
			}
		}
		if len(valid) == 0 {
			continue
		}
		if err := fn(valid); err != nil {
			return err
		}
	}
	return nil
}

func notFound(id string) error {
	return workflow.Errorf(workflow.CodeNotFound, "request %s not found", id)
}

func (r reader) GetRequest(ctx context.Context, id string) (*workflow.Request, error) {
	return r.loadRequest(ctx, r.ctx(ctx), id)
}

// GetRequests returns requests by id, with their approvals, in the order
// of ids; unknown ids are left out.
func (r reader) GetRequests(ctx context.Context, ids []string) ([]*workflow.Request, error) {
	var out []*workflow.Request
	err := inChunks(ids, func(valid []string) error {
		var rows []requestRow
		if err := r.ctx(ctx).Where("id IN ?", valid).Find(&rows).Error; err != nil {
			return mapError(err)
		}
		byID := make(map[string]*workflow.Request, len(rows))
		batch := make([]*workflow.Request, len(rows))
		for i, row := range rows {
			batch[i] = row.toRequest()
			byID[row.ID] = batch[i]
		}
		if err := r.attachApprovals(ctx, batch...); err != nil {
			return err
		}
		for _, id := range valid {
			if req, ok := byID[id]; ok {
				out = append(out, req)
			}
		}
		return nil
	})
	return out, err
}

func (r reader) loadRequest(ctx context.Context, q *gorm.DB, id string) (*workflow.Request, error) {
	if !validID(id) {
		return nil, notFound(id)
	}
	var row requestRow
	err := q.Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, mapError(err)
	}
	req := row.toRequest()
	if err := r.attachApprovals(ctx, req); err != nil {
		return nil, err
	}
	return req, nil
}

func (r reader) attachApprovals(ctx context.Context, reqs ...*workflow.Request) error {
	if len(reqs) == 0 {
		return nil
	}
	ids := make([]string, len(reqs))
	byID := make(map[string]*workflow.Request, len(reqs))
	for i, q := range reqs {
		ids[i] = q.ID
		byID[q.ID] = q
	}
	var rows []approvalRow
	if err := r.ctx(ctx).Where("request_id IN ?", ids).Order("created_at, approver").Find(&rows).Error; err != nil {
		return mapError(err)
	}
	for _, a := range rows {
		q := byID[a.RequestID]
		q.Approvals = append(q.Approvals, workflow.Approval{Approver: a.Approver, Comment: a.Comment, At: a.CreatedAt.UTC(),
			WithdrawnAt: utcPtr(a.WithdrawnAt), WithdrawnReason: a.WithdrawnReason, ViaSession: a.ViaSession})
	}
	return r.attachReviews(ctx, reqs...)
}

// requestCursor marks the last row of a page: listings are ordered by
// (created_at, id), which is unique.
type requestCursor struct {
	T  time.Time `json:"t"`
	ID string    `json:"id"`
}

func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return workflow.Errorf(workflow.CodeInvalid, "cursor is not valid; pass the next_cursor of a previous page")
	}
	return nil
}

// filterRequests applies q's filters (not its order, limit or cursor).
func (r reader) filterRequests(ctx context.Context, q workflow.RequestQuery) *gorm.DB {
	db := r.ctx(ctx).Model(&requestRow{})
	if !q.All {
		switch {
		case q.Viewer != "" && len(q.ViewerResources) > 0:
			db = db.Where("(requester = ? OR resource IN ?)", q.Viewer, q.ViewerResources)
		case q.Viewer != "":
			db = db.Where("requester = ?", q.Viewer)
		case len(q.ViewerResources) > 0:
			db = db.Where("resource IN ?", q.ViewerResources)
		default:
			db = db.Where("1 = 0") // sees nothing
		}
	}
	if q.State != "" {
		db = db.Where("state = ?", string(q.State))
	}
	if q.Requester != "" {
		db = db.Where("requester = ?", q.Requester)
	}
	if q.Resource != "" {
		db = db.Where("resource = ?", q.Resource)
	}
	if q.Extends != "" {
		db = db.Where("extends = ?", q.Extends)
	}
	if q.ExcludeRequester != "" {
		db = db.Where("requester <> ?", q.ExcludeRequester)
	}
	if q.NotApprovedBy != "" {
		db = db.Where("NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = requests.id AND a.approver = ? AND a.withdrawn_at IS NULL)", q.NotApprovedBy)
	}
	if q.ApprovedBy != "" {
		db = db.Where("EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = requests.id AND a.approver = ? AND a.withdrawn_at IS NULL)", q.ApprovedBy)
	}
	if !q.OpenAt.IsZero() {
		at := q.OpenAt.UTC()
		db = db.Where("((state = ? AND review_deadline > ?) OR (state = ? AND expires_at > ?) OR state = ?)",
			string(workflow.StatePending), at, string(workflow.StateApproved), at, string(workflow.StateScheduled))
	}
	return db
}

func (r reader) CountRequests(ctx context.Context, q workflow.RequestQuery) (int, error) {
	var n int64
	if err := r.filterRequests(ctx, q).Count(&n).Error; err != nil {
		return 0, mapError(err)
	}
	return int(n), nil
}

func (r reader) ListRequests(ctx context.Context, q workflow.RequestQuery) ([]*workflow.Request, string, error) {
	db := r.filterRequests(ctx, q)
	op, order := "<", "created_at DESC, id DESC"
	if q.Oldest {
		op, order = ">", "created_at, id"
	}
	if q.Cursor != "" {
		var c requestCursor
		if err := decodeCursor(q.Cursor, &c); err != nil {
			return nil, "", err
		}
		db = db.Where(fmt.Sprintf("(created_at, id) %s (?, ?)", op), c.T, c.ID)
	}
	var rows []requestRow
	if err := db.Order(order).Limit(q.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		last := rows[len(rows)-1]
		next = encodeCursor(requestCursor{T: last.CreatedAt.UTC(), ID: last.ID})
	}
	reqs := make([]*workflow.Request, len(rows))
	for i, row := range rows {
		reqs[i] = row.toRequest()
	}
	if err := r.attachApprovals(ctx, reqs...); err != nil {
		return nil, "", err
	}
	return reqs, next, nil
}

func (r reader) LiveGrant(ctx context.Context, user, resource string, now time.Time) (*workflow.Request, error) {
	var rows []requestRow
	// An extension never reaches approved (it goes to extended), so the
	// check answers from the original grant only.
	err := r.ctx(ctx).Where("requester = ? AND resource = ? AND state = ? AND expires_at > ?",
		user, resource, string(workflow.StateApproved), now).Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, mapError(err)
	}
	return rows[0].toRequest(), nil
}

func (r reader) OpenRequest(ctx context.Context, user, resource string) (*workflow.Request, error) {
	var rows []requestRow
	err := r.ctx(ctx).Where("requester = ? AND resource = ? AND state IN ? AND extends = ''",
		user, resource, []string{string(workflow.StatePending), string(workflow.StateApproved), string(workflow.StateScheduled)}).Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, mapError(err)
	}
	return rows[0].toRequest(), nil
}

// LockRequest takes the row lock first and reads the approvals in a second
// statement. They cannot be joined into one: after waiting for the lock,
// PostgreSQL re-checks only the locked row, so a joined read of approvals
// would come from the snapshot taken before the wait and miss approvals
// committed meanwhile.
func (t *tx) LockRequest(ctx context.Context, id string) (*workflow.Request, error) {
	q := t.ctx(ctx)
	if t.kind == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return t.loadRequest(ctx, q, id)
}

func (t *tx) InsertRequest(ctx context.Context, req *workflow.Request) error {
	row := toRequestRow(req)
	err := t.ctx(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// requests_open_idx: another submission for the same person and
		// resource committed first; requests_extension_open_idx: the grant
		// has a pending extension.
		if req.Extends != "" {
			return workflow.Errorf(workflow.CodeInvalidState, "request %s already has a pending extension; it must be decided first", req.Extends)
		}
		return workflow.Errorf(workflow.CodeInvalidState, "you already have an open request for %s", req.Resource)
	}
	return mapError(err)
}

func (t *tx) UpdateRequest(ctx context.Context, req *workflow.Request, prevVersion int64) error {
	res := t.ctx(ctx).Exec(`UPDATE requests SET state = ?, version = ?, updated_at = ?, approved_at = ?, expires_at = ?,
		ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ? AND version = ?`,
		string(req.State), prevVersion+1, req.UpdatedAt, req.ApprovedAt, req.ExpiresAt,
		req.EndedAt, req.EndedBy, req.EndReason, req.ID, prevVersion)
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return workflow.Errorf(workflow.CodeConflict, "request %s was changed by someone else; reload and retry", req.ID)
	}
	req.Version = prevVersion + 1
	return nil
}

func (t *tx) ExtendsOf(ctx context.Context, id string) (string, error) {
	if !validID(id) {
		return "", nil
	}
	var ext []string
	if err := t.ctx(ctx).Raw(`SELECT extends FROM requests WHERE id = ?`, id).Scan(&ext).Error; err != nil {
		return "", mapError(err)
	}
	if len(ext) == 0 {
		return "", nil
	}
	return ext[0], nil
}

func (t *tx) ExtendGrant(ctx context.Context, req *workflow.Request, prevVersion int64, now time.Time) error {
	// The one compare-and-set of an extension: it moves expires_at only
	// while the grant is still live (approved and not yet expired) and
	// unchanged since it was read.
	res := t.ctx(ctx).Exec(`UPDATE requests SET expires_at = ?, extended_seconds = ?, version = ?, updated_at = ?
		WHERE id = ? AND version = ? AND state = ? AND expires_at > ?`,
		req.ExpiresAt, int64(req.Extended/time.Second), prevVersion+1, req.UpdatedAt,
		req.ID, prevVersion, string(workflow.StateApproved), now)
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		var rows []requestRow
		if err := t.ctx(ctx).Where("id = ?", req.ID).Limit(1).Find(&rows).Error; err != nil {
			return mapError(err)
		}
		st := "gone"
		if len(rows) == 1 {
			st = rows[0].toRequest().EffectiveState(now).String()
		}
		return workflow.Errorf(workflow.CodeInvalidState, "request %s is %s; only a live grant can be extended", req.ID, st)
	}
	req.Version = prevVersion + 1
	return nil
}

func (t *tx) CancelExtensions(ctx context.Context, ids []string, now time.Time, reason string) ([]*workflow.Request, error) {
	var out []*workflow.Request
	err := inChunks(ids, func(valid []string) error {
		reqs, err := t.updateReturning(ctx, `UPDATE requests
			SET state = ?, version = version + 1, updated_at = ?, ended_at = ?, ended_by = 'system', end_reason = ?
			WHERE extends IN ? AND state = ?
			RETURNING *`, string(workflow.StateCancelled), now, now, reason, valid, string(workflow.StatePending))
		out = append(out, reqs...)
		return err
	})
	return out, err
}

func (t *tx) ActivateDue(ctx context.Context, now time.Time, limit int) ([]*workflow.Request, error) {
	// As EndDue: the inner SELECT picks due rows no other sweeper holds;
	// the claim is the compare-and-set (claimedIDs).
	query := fmt.Sprintf(`UPDATE requests
		SET state = %[1]s, version = version + 1, updated_at = ?
		WHERE %[2]s
		RETURNING *`, stateLit(workflow.StateApproved), claimedIDs(t.kind, fmt.Sprintf(
		`SELECT id FROM requests WHERE state = %s AND start_at <= ? ORDER BY start_at, id LIMIT ? %s`, stateLit(workflow.StateScheduled), skipLocked(t.kind))))
	return t.updateReturning(ctx, query, now, now, limit)
}

// stateLit is a state as an SQL literal, for the predicates that must
// match a partial index's (WHERE state = 'approved'): with a bound
// parameter a generic plan (a prepared statement run often) cannot prove
// that the predicate implies the index's, and cannot use the index.
// States are this program's constants, never input.
func stateLit(s workflow.State) string { return "'" + string(s) + "'" }

// claimedIDs is the WHERE of an UPDATE that claims the rows an inner
// SELECT of ids picks (ending in skipLocked). On PostgreSQL it is
// id = ANY(ARRAY(sub)): the inner SELECT runs once, as an init plan, and
// the update finds its rows by primary key. With id IN (sub) the planner
// may join instead, and when its statistics say that no row is due
// (ANALYZE ran while the table held only finished rows) it picks a nested
// loop that runs the inner SELECT, lock and sort included, once per due
// row: a 10k sweep took 18 s instead of about 1 (BENCHMARKS.md, "The
// sweep's plan"). SQLite runs an IN subquery once.
//
// The UPDATE does not check the state again: on PostgreSQL the inner
// SELECT ... FOR UPDATE SKIP LOCKED returns only rows it has locked and
// re-checked at the lock (READ COMMITTED re-evaluates the WHERE on the
// newest version), so no one can change them before this transaction
// ends; on SQLite the statement runs under the one writer's lock. The
// claim is the compare-and-set. An outer "state = 'approved'" would let
// the planner read the rows to update from the partial index (or the state
// index), testing each live grant against the whole list, instead of by
// primary key.
func claimedIDs(k Kind, sub string) string {
	if k == Postgres {
		return "id = ANY(ARRAY(" + sub + "))"
	}
	return "id IN (" + sub + ")"
}

// skipLocked ends an inner SELECT of rows to claim so that it passes over
// rows another transaction holds (PostgreSQL; SQLite has one writer).
func skipLocked(k Kind) string {
	if k == Postgres {
		return "FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// updateReturning runs an UPDATE of requests … RETURNING * and returns the
// requests it changed, with their approvals.
func (t *tx) updateReturning(ctx context.Context, query string, args ...any) ([]*workflow.Request, error) {
	var rows []requestRow
	if err := t.ctx(ctx).Raw(query, args...).Scan(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	reqs := make([]*workflow.Request, len(rows))
	for i, row := range rows {
		reqs[i] = row.toRequest()
	}
	if err := t.attachApprovals(ctx, reqs...); err != nil {
		return nil, err
	}
	return reqs, nil
}

func (t *tx) InsertApproval(ctx context.Context, requestID string, a workflow.Approval) error {
	// An approver whose earlier approval was withdrawn and who may approve
	// again gives a fresh one in its place. The update comes first: a
	// failed INSERT would abort a PostgreSQL transaction.
	res := t.ctx(ctx).Model(&approvalRow{}).
		Where("request_id = ? AND approver = ? AND withdrawn_at IS NOT NULL", requestID, a.Approver).
		Updates(map[string]any{"comment": a.Comment, "created_at": a.At, "withdrawn_at": nil, "withdrawn_reason": "", "via_session": a.ViaSession})
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	row := approvalRow{RequestID: requestID, Approver: a.Approver, Comment: a.Comment, CreatedAt: a.At, ViaSession: a.ViaSession}
	err := t.ctx(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return workflow.Errorf(workflow.CodeDuplicate, "%s has already approved this request", a.Approver)
	}
	return mapError(err)
}

func (t *tx) WithdrawApproval(ctx context.Context, requestID, approver string, at time.Time, reason string) error {
	res := t.ctx(ctx).Model(&approvalRow{}).
		Where("request_id = ? AND approver = ? AND withdrawn_at IS NULL", requestID, approver).
		Updates(map[string]any{"withdrawn_at": at, "withdrawn_reason": reason})
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return workflow.Errorf(workflow.CodeConflict, "approval of %s by %s is not in force", requestID, approver)
	}
	return nil
}

func (t *tx) EndDue(ctx context.Context, from, to workflow.State, now time.Time, limit int) ([]*workflow.Request, error) {
	return t.updateReturning(ctx, endDueQuery(t.kind, from, to), now, now, limit)
}

// endDueQuery is EndDue's statement (arguments: now, now, limit). The
// inner SELECT picks due rows no other sweeper holds, in the order of the
// partial index on the due column (requests_expiry_idx, (expires_at, id)
// WHERE state = 'approved'; requests_deadline_idx for pending), so that it
// reads the first limit rows of the index and sorts nothing; its state
// check is a literal that matches the index's predicate (stateLit). The
// claim is the compare-and-set (claimedIDs).
func endDueQuery(k Kind, from, to workflow.State) string {
	due := "expires_at"
	if from == workflow.StatePending {
		due = "review_deadline"
	}
	sub := fmt.Sprintf(`SELECT id FROM requests WHERE state = %[1]s AND %[2]s <= ? ORDER BY %[2]s, id LIMIT ? %[3]s`,
		stateLit(from), due, skipLocked(k))
	return fmt.Sprintf(`UPDATE requests
		SET state = %[1]s, version = version + 1, updated_at = ?, ended_at = %[2]s, ended_by = 'system', end_reason = ''
		WHERE %[3]s
		RETURNING *`, stateLit(to), due, claimedIDs(k, sub))
}

// ExplainEndDue returns the plan of the sweeper's expiry statement (EndDue
// from approved), as EXPLAIN prints it: for benchmarks and tests that
// check it uses the partial index. It runs EXPLAIN only, not the update.
func (d *DB) ExplainEndDue(ctx context.Context, now time.Time, limit int) (string, error) {
	q := endDueQuery(d.kind, workflow.StateApproved, workflow.StateExpired)
	explain := "EXPLAIN "
	if d.kind == SQLite {
		explain = "EXPLAIN QUERY PLAN "
	}
	rows, err := d.ctx(ctx).Raw(explain+q, now, now, limit).Rows()
	if err != nil {
		return "", mapError(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		// PostgreSQL: one column, a line of the plan; SQLite: id, parent,
		// notused, detail.
		fmt.Fprintf(&b, "%v\n", vals[len(vals)-1])
	}
	return b.String(), rows.Err()
}

// NextDue returns the earliest time a live grant expires or a scheduled
// grant starts, or false when there is none: when the sweeper has work
// next. Two reads of one partial index each (requests_expiry_idx,
// requests_start_idx), the first row of each.
func (r reader) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	found := false
	for _, q := range []string{
		`SELECT expires_at FROM requests WHERE state = 'approved' ORDER BY expires_at LIMIT 1`,
		`SELECT start_at FROM requests WHERE state = 'scheduled' ORDER BY start_at LIMIT 1`,
	} {
		var ts []time.Time
		if err := r.ctx(ctx).Raw(q).Scan(&ts).Error; err != nil {
			return time.Time{}, false, mapError(err)
		}
		if len(ts) == 1 && (!found || ts[0].Before(next)) {
			next, found = ts[0].UTC(), true
		}
	}
	return next, found, nil
}

func (t *tx) Enqueue(ctx context.Context, jobs ...workflow.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	// A hand-written multi-row INSERT: the sweeper enqueues thousands of
	// notifications per transaction, and GORM's reflection costs more
	// than the database does.
	now := workflow.Now()
	const perStatement = 500
	for start := 0; start < len(jobs); start += perStatement {
		batch := jobs[start:min(start+perStatement, len(jobs))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO jobs (queue, order_key, payload, state, attempts, run_at, created_at) VALUES `)
		args := make([]any, 0, 6*len(batch))
		for i, j := range batch {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, 'pending', 0, ?, ?)")
			runAt := j.RunAt
			if runAt.IsZero() {
				runAt = now
			}
			args = append(args, j.Queue, j.Key, string(j.Payload), runAt.UTC(), now)
		}
		if err := t.ctx(ctx).Exec(sb.String(), args...).Error; err != nil {
			return mapError(err)
		}
	}
	return nil
}
