package workflow

import (
	"context"
	"fmt"
	"time"
)

// PolicyTrigger says what made the server load its policy.
type PolicyTrigger string

const (
	TriggerStart      PolicyTrigger = "start"
	TriggerSIGHUP     PolicyTrigger = "sighup"
	TriggerFileChange PolicyTrigger = "file_change"
)

// ActionPolicyLoadRefused records a policy file that was refused (it had
// errors); the policy in force stays.
const ActionPolicyLoadRefused = "policy.load_refused"

// PolicyVersion is one entry of the policy history: a distinct content,
// numbered from 1, with what changed from the version before.
type PolicyVersion struct {
	Version  int
	SHA256   string
	Source   string
	Trigger  PolicyTrigger // of the load that first put this content in force
	Summary  PolicySummary
	Diff     PolicyDiff // from the previous version
	Lowered  bool       // Diff.Lowered()
	LoadedAt time.Time
	LoadedBy string // host/pid of the server that first loaded it
}

// PolicyVersionQuery pages the policy history, newest first.
type PolicyVersionQuery struct {
	Limit  int
	Cursor string
}

// PolicyVersionReader reads the policy history.
type PolicyVersionReader interface {
	// ListPolicyVersions returns one page of versions, newest first, and
	// the cursor of the next page ("" on the last).
	ListPolicyVersions(ctx context.Context, q PolicyVersionQuery) ([]*PolicyVersion, string, error)
}

// PolicyVersionTx writes the policy history.
type PolicyVersionTx interface {
	// LockPolicyVersions holds the policy history against every other
	// loader (on every replica) until the transaction ends, and returns
	// the latest version, or nil when there is none.
	LockPolicyVersions(ctx context.Context) (*PolicyVersion, error)
	// InsertPolicyVersion adds a version; a version number that exists is
	// CodeConflict.
	InsertPolicyVersion(ctx context.Context, v *PolicyVersion) error
}

// PolicyLoad describes one load of a policy.
type PolicyLoad struct {
	Trigger  PolicyTrigger
	LoadedBy string // e.g. host/pid
}

// PolicyLoadResult is what LoadPolicy did.
type PolicyLoadResult struct {
	Policy  *Policy        // now in force, with Version and SHA256 set
	Version *PolicyVersion // its entry in the history
	New     bool           // this load started the version (a content change)
}

// LoadPolicy records a load of pol in the policy history and the audit log
// (a policy.load record), in one transaction, and then puts it in force
// with its Version and SHA256 set. Content equal to the latest version's
// (same SHA-256) keeps that version's number; other content gets the next
// number, with the diff from the latest. Loaders on several replicas take
// turns (LockPolicyVersions), so each content transition gets one number.
// pol.SHA256 should be the hash of the file's bytes; when empty (a policy
// built by a program), the summary's hash stands in.
//
// Errors: those of the store (CodeUnavailable, CodeInternal); pol is then
// not put in force.
func (s *Service) LoadPolicy(ctx context.Context, pol *Policy, load PolicyLoad) (PolicyLoadResult, error) {
	cp := *pol // Policy is immutable once in force: set the fields on a copy
	summary := SummarizePolicy(&cp)
	if cp.SHA256 == "" {
		cp.SHA256 = summary.Hash()
	}
	var res PolicyLoadResult
	err := s.inTx(ctx, func(tx Tx) error {
		now := s.now()
		latest, err := tx.LockPolicyVersions(ctx)
		if err != nil {
			return err
		}
		v := latest
		isNew := latest == nil || latest.SHA256 != cp.SHA256
		if isNew {
			v = &PolicyVersion{Version: 1, SHA256: cp.SHA256, Source: cp.Source, Trigger: load.Trigger, Summary: summary,
				Diff: FirstPolicyDiff(summary), LoadedAt: now, LoadedBy: load.LoadedBy}
			if latest != nil {
				v.Version = latest.Version + 1
				v.Diff = DiffPolicies(latest.Summary, summary)
			}
			v.Lowered = v.Diff.Lowered()
			if err := tx.InsertPolicyVersion(ctx, v); err != nil {
				return err
			}
		}
		diff := "unchanged"
		if isNew {
			diff = v.Diff.String()
		}
		reason := fmt.Sprintf("version %d (%s) sha256 %s…: %s", v.Version, load.Trigger, shortSHA(cp.SHA256), diff)
		tx.(*recordingTx).audit = append(tx.(*recordingTx).audit, &AuditRecord{At: now, Actor: System.Name(),
			Action: ActionPolicyLoaded, Reason: reason})
		res = PolicyLoadResult{Version: v, New: isNew}
		return nil
	})
	if err != nil {
		return PolicyLoadResult{}, err
	}
	cp.Version = res.Version.Version
	res.Policy = &cp
	s.SetPolicy(&cp)
	return res, nil
}

// RefusePolicy records in the audit log (policy.load_refused) that a
// policy file with errors was not loaded; the policy in force stays.
// sha is the hash of the refused bytes ("" when they could not be read).
//
// Errors: those of the store.
func (s *Service) RefusePolicy(ctx context.Context, source, sha string, load PolicyLoad, problem error) error {
	msg := problem.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	in := s.Policy()
	rec := &AuditRecord{At: s.now(), Actor: System.Name(), Action: ActionPolicyLoadRefused,
		Reason: fmt.Sprintf("%s (%s) sha256 %s… refused, version %d stays in force: %s", source, load.Trigger, shortSHA(sha), in.Version, msg)}
	return s.store.InTx(ctx, func(tx Tx) error { return tx.AppendAudit(ctx, rec) })
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// CanReadPolicyHistory reports whether who may list the policy versions:
// admins and reviewers, as for the whole audit log.
func CanReadPolicyHistory(pol *Policy, who Principal) bool { return CanReadAllAudit(pol, who) }

// PolicyVersions lists the policy history, newest first.
//
// Errors: CodeForbidden (not an admin or reviewer), CodeInvalid (bad cursor).
func (s *Service) PolicyVersions(ctx context.Context, who Principal, q PolicyVersionQuery) ([]*PolicyVersion, string, error) {
	if !CanReadPolicyHistory(s.Policy(), who) {
		return nil, "", Errorf(CodeForbidden, "only admins and reviewers may read the policy history")
	}
	q.Limit = pageSize(q.Limit)
	return s.store.ListPolicyVersions(ctx, q)
}
