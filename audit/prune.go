package audit

import (
	"context"
	"fmt"
	"time"
)

// Pruner is a log whose oldest records can be removed behind an anchor.
// store.DB implements it.
type Pruner interface {
	Log
	// PrunePlan says which records a prune at cutoff removes: first to
	// through, n of them (0: nothing is that old).
	PrunePlan(ctx context.Context, cutoff time.Time) (first, through, n int64, err error)
	// PruneAudit writes the anchor for through and removes records up to
	// it, in one transaction.
	PruneAudit(ctx context.Context, throughID int64, actor string, now time.Time) (Anchor, error)
}

// PruneResult says what a prune did.
type PruneResult struct {
	Pruned   int64
	Anchor   *Anchor
	Verified Result
}

// Prune removes the records older than cutoff, keeping the chain
// verifiable: it first verifies the whole chain (and refuses to anchor a
// broken one, which would hide the break), then calls export (if not nil)
// with the id range it is about to remove, so that the records can be
// archived first, then writes the anchor and deletes, in one transaction.
func Prune(ctx context.Context, p Pruner, cutoff time.Time, actor string, now time.Time, export func(first, through int64) error) (PruneResult, error) {
	first, through, n, err := p.PrunePlan(ctx, cutoff)
	if err != nil || n == 0 {
		return PruneResult{}, err
	}
	res, err := Verify(ctx, p)
	if err != nil {
		return PruneResult{Verified: res}, err
	}
	if !res.OK {
		return PruneResult{Verified: res}, fmt.Errorf("refusing to prune: %w", res.Break)
	}
	if export != nil {
		if err := export(first, through); err != nil {
			return PruneResult{Verified: res}, fmt.Errorf("export before pruning: %w", err)
		}
	}
	a, err := p.PruneAudit(ctx, through, actor, now)
	if err != nil {
		return PruneResult{Verified: res}, err
	}
	return PruneResult{Pruned: a.Pruned, Anchor: &a, Verified: res}, nil
}
