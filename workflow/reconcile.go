package workflow

import "context"

// ReconcileResult counts what one re-evaluation ended or withdrew.
type ReconcileResult struct {
	Revoked   int // live grants ended
	Cancelled int // pending requests cancelled
	Withdrawn int // approvals that stopped counting
}

// Resolve returns who as the rules judge them now: with their directory
// groups, or disabled when the directory has deactivated or deleted them.
func (s *Service) Resolve(ctx context.Context, who Principal) (Principal, error) {
	return resolve(ctx, s.store, who)
}

// OnDirectoryChange registers a function that runs after a directory
// change has committed, with the emails of the people it changed (for
// caches). Register before the service is used.
func (s *Service) OnDirectoryChange(h func(emails []string)) {
	s.directoryHooks = append(s.directoryHooks, h)
}

// directoryChanged runs the directory hooks; directory use cases call it
// after their transaction has committed.
func (s *Service) directoryChanged(emails []string) {
	for _, h := range s.directoryHooks {
		h(emails)
	}
}

// Reconcile judges every live grant and pending request again under the
// policy and directory in force (after a policy load, and periodically).
// trigger names the cause in the reasons it writes, e.g. "policy version 7".
func (s *Service) Reconcile(ctx context.Context, trigger string) (ReconcileResult, error) {
	return ReconcileResult{}, nil // replaced by the re-evaluation (in progress)
}

// ReconcilePeople judges again the live grants and pending requests of the
// people a directory change touched, naming the change in the reasons.
func (s *Service) ReconcilePeople(ctx context.Context, changes []PersonChange) (ReconcileResult, error) {
	return ReconcileResult{}, nil // replaced by the re-evaluation (in progress)
}
