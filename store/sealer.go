package store

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/workflow"
)

// The audit sealer (docs/audit.md, "Sealing"). On PostgreSQL a use case's
// transaction writes its audit records to audit_pending, unnumbered and
// unhashed, without any lock shared with other writers; the sealer moves
// them into the chain (audit_records) in batches, one transaction each,
// numbering and hashing them after the head. Writers therefore commit,
// and flush, in parallel, and the only serial work left is the sealer's,
// which does hundreds of records per commit. SQLite has one writer at a
// time and seals inline, as before.

// SealerLease is the lease that elects the one sealer of a cluster.
const SealerLease = "audit-sealer"

// SealBatchSize is the most records one sealing transaction moves.
const SealBatchSize = 1000

const pendingColumns = "at, actor, action, request_id, resource, subject, from_state, to_state, reason, purpose, auth, mfa, source"

// appendPending writes recs to audit_pending, for the sealer.
func (t *tx) appendPending(ctx context.Context, recs []*workflow.AuditRecord) error {
	err := t.insertRows(ctx, "audit_pending", pendingColumns, 13, len(recs), func(args []any, i int) []any {
		r := recs[i]
		r.ID, r.At = 0, audit.CanonicalTime(r.At)
		return append(args, r.At, r.Actor, r.Action, nullID(r.RequestID), r.Resource, r.Subject, string(r.FromState), string(r.ToState),
			r.Reason, r.Purpose, r.Auth, r.MFA, r.Source)
	})
	if err != nil {
		return err
	}
	t.pending = true
	return nil
}

// afterPending runs after a transaction that wrote unsealed records has
// committed: it wakes this process's sealer, if one runs.
func (d *DB) afterPending(context.Context) {
	select {
	case d.sealWake <- struct{}{}:
	default:
	}
}

// SealResult is what one sealing transaction did.
type SealResult struct {
	Records int
	Head    audit.Checkpoint // the last record sealed
	Delays  []time.Duration  // per record: from its transaction's start to its seal
}

// SealPending seals every committed pending record, a batch at a time,
// and returns how many it sealed.
func (d *DB) SealPending(ctx context.Context) (int, error) { return d.sealAll(ctx, nil) }

// sealAll is SealPending, reporting each batch to sealed (if not nil).
func (d *DB) sealAll(ctx context.Context, sealed func(SealResult)) (int, error) {
	total := 0
	for {
		res, err := d.SealBatch(ctx, SealBatchSize)
		total += res.Records
		if err == nil && res.Records > 0 && sealed != nil {
			sealed(res)
		}
		if err != nil || res.Records < SealBatchSize || ctx.Err() != nil {
			return total, err
		}
	}
}

// SealBatch seals up to limit pending records in one transaction: it
// locks the chain's head (audit_chain_head), takes the oldest pending
// records out of audit_pending and appends them to the chain after the
// head. Either all of it commits or none: a sealer that dies midway
// leaves the records pending for the next one, and none is sealed twice.
func (d *DB) SealBatch(ctx context.Context, limit int) (SealResult, error) {
	var res SealResult
	if d.kind != Postgres {
		return res, nil
	}
	err := d.db.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		t := &tx{reader: reader{db: g, kind: d.kind}, inline: true}
		if err := g.Exec("SET LOCAL jitaccess.sealing = 'on'").Error; err != nil {
			return err
		}
		lastID, lastHash, err := t.lockChain(ctx)
		if err != nil {
			return err
		}
		recs, delays, err := t.takePending(ctx, limit)
		if err != nil || len(recs) == 0 {
			return err
		}
		if d.sealHook != nil {
			d.sealHook(ctx)
		}
		sealed := audit.Seal(lastID, lastHash, recs)
		if err := t.insertSealed(ctx, sealed); err != nil {
			return err
		}
		last := sealed[len(sealed)-1]
		res = SealResult{Records: len(sealed), Head: audit.Checkpoint{ID: last.ID, Hash: last.Hash}, Delays: delays}
		return nil
	})
	if err != nil {
		return SealResult{}, mapError(err)
	}
	return res, nil
}

// takePending deletes and returns the oldest pending records, whole
// transactions of them (about limit records), each transaction's records
// together and in the order written, transactions in the order of their
// first record.
func (t *tx) takePending(ctx context.Context, limit int) ([]*workflow.AuditRecord, []time.Duration, error) {
	rows, err := t.ctx(ctx).Raw(`DELETE FROM audit_pending WHERE xact IN (SELECT xact FROM audit_pending ORDER BY id LIMIT ?)
		RETURNING id, xact, extract(epoch FROM clock_timestamp() - written_at)::float8, `+pendingColumns, limit).Rows()
	if err != nil {
		return nil, nil, mapError(err)
	}
	defer rows.Close()
	type taken struct {
		id    int64
		xact  int64
		delay time.Duration
		rec   *workflow.AuditRecord
	}
	var all []taken
	for rows.Next() {
		var (
			tk    taken
			secs  float64
			at    looseTime
			reqID sql.NullString
			from  string
			to    string
			r     workflow.AuditRecord
		)
		if err := rows.Scan(&tk.id, &tk.xact, &secs, &at, &r.Actor, &r.Action, &reqID, &r.Resource, &r.Subject, &from, &to,
			&r.Reason, &r.Purpose, &r.Auth, &r.MFA, &r.Source); err != nil {
			return nil, nil, mapError(err)
		}
		r.At, r.RequestID = at.t.UTC(), reqID.String
		r.FromState, r.ToState = workflow.State(from), workflow.State(to)
		tk.delay, tk.rec = time.Duration(secs*float64(time.Second)), &r
		all = append(all, tk)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, mapError(err)
	}
	first := map[int64]int64{} // xact → its first record's id
	for _, tk := range all {
		if f, ok := first[tk.xact]; !ok || tk.id < f {
			first[tk.xact] = tk.id
		}
	}
	slices.SortFunc(all, func(a, b taken) int {
		return cmp.Or(cmp.Compare(first[a.xact], first[b.xact]), cmp.Compare(a.id, b.id))
	})
	recs := make([]*workflow.AuditRecord, len(all))
	delays := make([]time.Duration, len(all))
	for i, tk := range all {
		recs[i], delays[i] = tk.rec, tk.delay
	}
	return recs, delays, nil
}

// AuditBacklog implements audit.BacklogLog: the records written but not
// yet sealed, and the age of the oldest (by the database's clock).
func (r reader) AuditBacklog(ctx context.Context) (audit.Backlog, error) {
	if r.kind != Postgres {
		return audit.Backlog{}, nil
	}
	var row struct {
		N      int64
		Oldest sql.NullFloat64
	}
	err := r.ctx(ctx).Raw(`SELECT count(*) AS n, extract(epoch FROM clock_timestamp() - min(written_at))::float8 AS oldest FROM audit_pending`).Scan(&row).Error
	if err != nil {
		return audit.Backlog{}, mapError(err)
	}
	return audit.Backlog{Records: row.N, Oldest: audit.Duration(time.Duration(row.Oldest.Float64 * float64(time.Second)))}, nil
}

// SealerConfig configures RunSealer.
type SealerConfig struct {
	Interval time.Duration // the longest a committed record waits for its seal, when nothing wakes the sealer sooner
	Holder   string        // this replica's name in the lease
	// Sealed, Failed and Lease report to the caller (metrics, logs).
	Sealed func(SealResult)
	Failed func(error)
	Lease  func(held bool)
}

// SealerLeaseTTL is how long the sealer's lease lasts without renewal:
// the longest a cluster goes without a sealer when the holder dies.
func SealerLeaseTTL(interval time.Duration) time.Duration { return max(time.Second, 5*interval) }

// RunSealer runs this replica's sealer until ctx ends: every Interval,
// and whenever a transaction of this process has written audit records,
// it takes (or renews) the sealer lease and, if it holds it, seals what
// is pending. Safe on every replica: one holds the lease, and even two
// sealers at once would take turns at the chain's head.
func (d *DB) RunSealer(ctx context.Context, cfg SealerConfig) {
	if d.kind != Postgres || cfg.Interval <= 0 {
		return
	}
	ttl := SealerLeaseTTL(cfg.Interval)
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	var held bool
	var renewAt time.Time
	defer func() {
		if held {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = d.ReleaseLease(rctx, SealerLease, cfg.Holder)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.sealWake:
		}
		now := time.Now()
		if !held || !now.Before(renewAt) {
			ok, err := d.TakeLease(ctx, SealerLease, cfg.Holder, ttl, now)
			if err != nil {
				if cfg.Failed != nil && ctx.Err() == nil {
					cfg.Failed(err)
				}
				held = false
				continue
			}
			if ok != held && cfg.Lease != nil {
				cfg.Lease(ok)
			}
			held, renewAt = ok, now.Add(ttl/4)
		}
		if !held {
			continue
		}
		if _, err := d.sealAll(ctx, cfg.Sealed); err != nil && cfg.Failed != nil && ctx.Err() == nil {
			cfg.Failed(err)
		}
	}
}
