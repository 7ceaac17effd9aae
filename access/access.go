// Package access answers the questions integrations ask on every read:
// may this user use this resource now (the check API), and what of this
// record may they see (the mask API). Help desks and CRMs call it on each
// record they show, so it is built for rate:
//
//   - Decisions are cached in memory per (user, resource). A change that
//     starts or ends a grant on this replica invalidates the entry at once
//     (Hook, run in the change's transaction), and the entry is not cached
//     again until the change is seen committed, so that no read taken
//     before the commit can be cached after it. Other replicas learn of a
//     change when their entry expires: entries live at most one TTL (by
//     default one sweep interval), and an allowed entry never outlives its
//     grant's expires_at.
//   - Audit records of check and mask calls are group-committed: a call
//     returns only once its record is committed, but calls that arrive
//     while a commit is in progress share the next transaction. A read
//     that cannot be audited is refused.
//
// Who may ask, and the masking rules, come from the policy in force.
package access

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitaccess/jitaccess/masking"
	"github.com/jitaccess/jitaccess/workflow"
)

// ActionMask is the audit action of a mask call; check calls use
// workflow.ActionCheck.
const ActionMask = "mask"

// Options configure a Checker.
type Options struct {
	// TokenKey keys the token mask style (at least masking.MinKeyLen
	// bytes). Without one, token fields are redacted.
	TokenKey []byte
	// EncryptKeys keys the encrypt mask style and the detokenize API.
	// Without them, encrypt fields are redacted and nothing opens.
	EncryptKeys *masking.Keyring
	// AuditMode says which calls are audited: all, allowed (checks that
	// found a live grant, mask calls that returned fields unmasked) or
	// none. Default all.
	AuditMode workflow.CheckAuditMode
	// CacheTTL is how long a decision is cached; 0 disables the cache.
	CacheTTL time.Duration
	// AuditFlush, when positive, stops answers from waiting for their
	// audit record: records are queued in memory and committed in batches
	// at least this often. A crash (not a graceful stop, which flushes:
	// Close) loses at most the records of the last AuditFlush. Zero, the
	// default, makes every answer wait until its record is committed.
	AuditFlush time.Duration
	Logger     *slog.Logger
}

// ReadAuditStore writes the audit records of reads in one statement;
// store.DB implements it.
type ReadAuditStore interface {
	AppendReadAudit(ctx context.Context, recs ...*workflow.AuditRecord) error
}

// auditWriter writes the audit records of check and mask calls.
type auditWriter interface {
	write(ctx context.Context, rec *workflow.AuditRecord) error
	close(ctx context.Context) error
}

// Checker answers check and mask calls.
type Checker struct {
	svc    *workflow.Service
	masker *masking.Masker
	mode   workflow.CheckAuditMode
	cache  *cache
	audit  auditWriter
	log    *slog.Logger
	rules  atomic.Pointer[compiledRules]
	// keyWarned is set once a missing token key has been logged.
	keyWarned atomic.Bool
	// encryptWarned is set once missing encrypt keys have been logged.
	encryptWarned atomic.Bool
}

// New returns a checker over svc. Register its Hook with svc.OnChange
// when caching, so that grants that start or end invalidate decisions.
func New(svc *workflow.Service, opts Options) *Checker {
	if opts.AuditMode == "" {
		opts.AuditMode = workflow.AuditAllChecks
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Checker{
		svc:    svc,
		masker: masking.NewMasker(opts.TokenKey),
		mode:   opts.AuditMode,
		log:    opts.Logger,
	}
	c.masker.UseKeyring(opts.EncryptKeys)
	commit := appender(svc.Store())
	if opts.AuditFlush > 0 {
		c.audit = newAsyncAudit(commit, opts.AuditFlush, opts.Logger)
	} else {
		c.audit = &groupCommit{commit: commit}
	}
	if opts.CacheTTL > 0 {
		c.cache = newCache(opts.CacheTTL)
	}
	return c
}

// Close commits the audit records still queued (with AuditFlush). Call it
// after the HTTP server has stopped and before the database closes.
func (c *Checker) Close(ctx context.Context) error { return c.audit.close(ctx) }

// CanTokenize reports whether the token style has a key.
func (c *Checker) CanTokenize() bool { return c.masker.CanTokenize() }

// Hook invalidates the cached decisions of grants that start or end in a
// change. It runs inside the change's transaction.
func (c *Checker) Hook(ctx context.Context, tx workflow.Tx, changes []workflow.Change) error {
	if c.cache == nil {
		return nil
	}
	for _, k := range heldKeys(changes, c.cache) {
		c.cache.hold(k)
	}
	return nil
}

// Committed is the commit hook (workflow.Service.OnCommit): once the
// transaction has ended, committed or not, its keys may be cached again;
// a read after this point sees the committed state.
func (c *Checker) Committed(changes []workflow.Change, committed bool) {
	if c.cache == nil {
		return
	}
	if keys := heldKeys(changes, nil); len(keys) > 0 {
		c.cache.release(keys)
	}
}

// heldKeys returns the cache keys a change to or from live access holds
// until its transaction ends. Expiries only drop their key (through drop,
// when cache is given): an allowed entry never outlives expires_at, so no
// read can be stale.
func heldKeys(changes []workflow.Change, drop *cache) []cacheKey {
	var keys []cacheKey
	for _, ch := range changes {
		if ch.From != workflow.StateApproved && ch.To != workflow.StateApproved || ch.From == ch.To && ch.Event != workflow.EventExtend {
			continue
		}
		k := cacheKey{ch.Request.Requester, ch.Request.Resource}
		if ch.Event == workflow.EventExpire {
			if drop != nil {
				drop.drop(k)
			}
			continue
		}
		keys = append(keys, k)
	}
	return keys
}

// decide judges whether user may use res at now under pol (see
// workflow.JudgeCheck), from the cache when it can: a cached decision
// counts only under the policy it was made under.
func (c *Checker) decide(ctx context.Context, pol *workflow.Policy, res *workflow.Resource, user string, now time.Time) (workflow.CheckResult, error) {
	k := cacheKey{user, res.ID}
	var gen uint64
	cacheable := false
	if c.cache != nil {
		if d, ok := c.cache.get(k, pol, now); ok {
			return d, nil
		}
		gen, cacheable = c.cache.begin(k)
	}
	out, err := c.svc.CheckDecision(ctx, pol, res, user, now)
	if err != nil {
		return workflow.CheckResult{}, err
	}
	if cacheable {
		c.cache.put(k, pol, out, now, gen)
	}
	return out, nil
}

// Check reports whether user may use resource now: a live grant, the
// person still eligible under the rules in force, and the grant applied at
// the target when the resource has a provisioner (workflow.JudgeCheck).
// Admins and service tokens with the check scope may ask. Calls are
// audited as configured, before the answer is given.
//
// Errors: CodeForbidden, CodeInvalid (missing user), CodeNotFound
// (unknown resource), CodeUnavailable/CodeInternal (cannot read or audit).
func (c *Checker) Check(ctx context.Context, who workflow.Principal, user, resource string) (workflow.CheckResult, error) {
	pol := c.svc.Policy()
	res, user, err := workflow.CheckCaller(pol, who, user, resource)
	if err != nil {
		return workflow.CheckResult{}, err
	}
	now := c.svc.Clock()()
	out, err := c.decide(ctx, pol, res, user, now)
	if err != nil {
		return workflow.CheckResult{}, err
	}
	if c.audited(out.Allowed) {
		rec := &workflow.AuditRecord{At: now, Actor: who.Name(), Action: workflow.ActionCheck, RequestID: out.RequestID,
			Resource: resource, Subject: user, Reason: out.Outcome}
		if err := c.audit.write(ctx, rec); err != nil {
			return workflow.CheckResult{}, err
		}
	}
	return out, nil
}

func (c *Checker) audited(allowed bool) bool {
	return c.mode == workflow.AuditAllChecks || c.mode == workflow.AuditAllowedChecks && allowed
}

// MaskResult is the answer to a mask call.
type MaskResult struct {
	workflow.CheckResult
	// Record is the record, with every declared field masked unless the
	// user holds a live grant; every other byte as it was sent.
	Record json.RawMessage
	// Masked lists the paths of the masked values.
	Masked []string
	// Views names the groups whose views (workflow.FieldView) applied to
	// the reader, sorted; empty when every field got its default mask or a
	// grant's view.
	Views []string
}

// Mask returns record (a JSON object) with each field that resource
// declares masked as user may see it (workflow.FieldView): without a live
// grant, the most revealing view among user's groups (as Resolve gives
// them, directory groups included), else the field's mask; with one,
// clear or the field's granted: view. Undeclared fields pass through. Same callers, errors and audit rules as Check; with
// AuditMode allowed, only reads that returned the fields unmasked are
// audited.
func (c *Checker) Mask(ctx context.Context, who workflow.Principal, user, resource string, record json.RawMessage) (MaskResult, error) {
	pol := c.svc.Policy()
	res, user, err := workflow.CheckCaller(pol, who, user, resource)
	if err != nil {
		return MaskResult{}, err
	}
	switch trimmed := bytes.TrimLeft(record, " \t\r\n"); {
	case len(trimmed) == 0 || bytes.HasPrefix(trimmed, []byte("null")):
		return MaskResult{}, workflow.Errorf(workflow.CodeInvalid, "record is required (a JSON object)")
	case trimmed[0] != '{':
		return MaskResult{}, workflow.Errorf(workflow.CodeInvalid, "record must be a JSON object")
	}
	now := c.svc.Clock()()
	d, err := c.decide(ctx, pol, res, user, now)
	if err != nil {
		return MaskResult{}, err
	}
	out := MaskResult{CheckResult: d, Record: record, Masked: []string{}}
	rs, views, err := c.readerRules(ctx, pol, res, user, d.Allowed)
	if err != nil {
		return MaskResult{}, err
	}
	out.Views = views
	if !d.Allowed {
		// Free text in any other field is masked by the same detectors
		// that mask what people type: a field hidden here is hidden
		// everywhere, free text included.
		rs = rs.WithFreeText(pol.SensitivePatterns)
	}
	if rs.Empty() {
		if !json.Valid(record) {
			return MaskResult{}, workflow.Errorf(workflow.CodeInvalid, "record is not valid JSON")
		}
	} else {
		masked, m, err := c.masker.MaskJSON(record, rs)
		if err != nil {
			return MaskResult{}, workflow.Errorf(workflow.CodeInvalid, "record is not valid JSON")
		}
		out.Record = masked
		if m.Masked != nil {
			out.Masked = m.Masked
		}
		if m.KeyMissing && !c.keyWarned.Swap(true) {
			c.log.Warn("token-style fields are redacted: no mask token key is configured (JITACCESS_MASK_TOKEN_KEY)", "resource", resource)
		}
		if m.EncryptKeyMissing && !c.encryptWarned.Swap(true) {
			c.log.Warn("encrypt-style fields are redacted: no mask encrypt keys are configured (JITACCESS_MASK_ENCRYPT_KEYS or --mask-encrypt-keys-file)", "resource", resource)
		}
	}
	if c.audited(d.Allowed) {
		outcome := maskOutcome(d, out.Masked, out.Views)
		rec := &workflow.AuditRecord{At: now, Actor: who.Name(), Action: ActionMask, RequestID: d.RequestID,
			Resource: resource, Subject: user, Reason: outcome}
		if err := c.audit.write(ctx, rec); err != nil {
			return MaskResult{}, err
		}
	}
	return out, nil
}

// maskOutcome words a mask call for the audit log.
func maskOutcome(d workflow.CheckResult, masked, views []string) string {
	why := "no live grant"
	switch {
	case d.Allowed && len(masked) == 0:
		return "unmasked: live grant until " + d.ExpiresAt.Format(time.RFC3339) + " (provisioning " + string(d.Provisioning) + ")"
	case d.Allowed:
		why = "live grant until " + d.ExpiresAt.Format(time.RFC3339) + " (provisioning " + string(d.Provisioning) + "), granted views"
	case d.Outcome == workflow.OutcomeIneligible:
		why = "no longer eligible"
	case d.RequestID != "":
		why = "live grant not applied at the target (provisioning " + string(d.Provisioning) + ")"
	}
	if len(masked) == 0 {
		return why + "; no declared field in the record"
	}
	var viewed string
	if len(views) > 0 {
		viewed = " (views: " + strings.Join(views, ", ") + ")"
	}
	outcome := fmt.Sprintf("%s; masked %d%s: %s", why, len(masked), viewed, strings.Join(masked, ", "))
	return workflow.Clip(outcome, 1000)
}

// compiledRules holds the masking rules of one policy, compiled: the
// default masks per resource, and the rules of each distinct combination
// of views a reader has been given (keyed by resource and the style of
// every field), up to maxViewRules of them.
type compiledRules struct {
	policy *workflow.Policy
	byID   map[string]*masking.Rules
	mu     sync.Mutex
	views  map[string]*masking.Rules
}

// maxViewRules bounds the compiled per-view rules of one policy; beyond
// it, rules are compiled per call.
const maxViewRules = 1024

func (c *Checker) compiled(pol *workflow.Policy) *compiledRules {
	cr := c.rules.Load()
	if cr == nil || cr.policy != pol {
		cr = &compiledRules{policy: pol, byID: make(map[string]*masking.Rules, len(pol.Resources)), views: map[string]*masking.Rules{}}
		for _, r := range pol.Resources {
			cr.byID[r.ID] = masking.CompileFor(r.ID, r.MaskRules())
		}
		c.rules.Store(cr)
	}
	return cr
}

func (c *Checker) rulesFor(pol *workflow.Policy, res *workflow.Resource) *masking.Rules {
	if rs, ok := c.compiled(pol).byID[res.ID]; ok {
		return rs
	}
	return masking.CompileFor(res.ID, res.MaskRules())
}

// readerRules returns the rules user reads res under (allowed: with a
// live grant), and the groups whose views applied. Without a grant and
// without views on res, these are the resource's default masks; otherwise
// the person is resolved (directory groups count) and their views
// compiled, from the cache when this combination was seen before.
func (c *Checker) readerRules(ctx context.Context, pol *workflow.Policy, res *workflow.Resource, user string, allowed bool) (*masking.Rules, []string, error) {
	if !allowed && !res.HasViews() {
		return c.rulesFor(pol, res), nil, nil
	}
	who := workflow.User(user)
	if !allowed {
		var err error
		if who, err = c.svc.Resolve(ctx, who); err != nil {
			return nil, nil, err
		}
	}
	rules, views := workflow.ViewRules(pol, who, res, allowed)
	var key strings.Builder
	key.WriteString(res.ID)
	for _, r := range rules {
		key.WriteString("\x00" + r.Field + "=" + string(r.Style))
	}
	cr := c.compiled(pol)
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if rs, ok := cr.views[key.String()]; ok {
		return rs, views, nil
	}
	rs := masking.Compile(rules)
	if len(cr.views) < maxViewRules {
		cr.views[key.String()] = rs
	}
	return rs, views, nil
}

// groupCommit writes audit records so that each caller returns once its
// record is committed, while the callers that arrive during a commit share
// the next one: one transaction per batch rather than per call.
type groupCommit struct {
	commit   func(ctx context.Context, recs []*workflow.AuditRecord) error
	mu       sync.Mutex
	next     *auditBatch
	flushing bool
}

// appender commits a batch of records in one transaction.
func appender(st workflow.Store) func(ctx context.Context, recs []*workflow.AuditRecord) error {
	if ra, ok := st.(ReadAuditStore); ok {
		return func(ctx context.Context, recs []*workflow.AuditRecord) error { return ra.AppendReadAudit(ctx, recs...) }
	}
	return func(ctx context.Context, recs []*workflow.AuditRecord) error {
		return st.InTx(ctx, func(tx workflow.Tx) error { return tx.AppendAudit(ctx, recs...) })
	}
}

func (g *groupCommit) close(context.Context) error { return nil }

type auditBatch struct {
	recs []*workflow.AuditRecord
	done chan struct{}
	err  error
}

func (g *groupCommit) write(ctx context.Context, rec *workflow.AuditRecord) error {
	workflow.StampSource(ctx, rec) // the batch is written in another call's context
	g.mu.Lock()
	if g.next == nil {
		g.next = &auditBatch{done: make(chan struct{})}
	}
	b := g.next
	b.recs = append(b.recs, rec)
	if !g.flushing {
		g.flushing = true
		go g.flush(context.WithoutCancel(ctx))
	}
	g.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		// The record may still be written; the caller has gone.
		return &workflow.Error{Code: workflow.CodeUnavailable, Message: "the audit log did not answer in time", Err: ctx.Err()}
	}
}

// flush commits batches until none is waiting.
func (g *groupCommit) flush(ctx context.Context) {
	for {
		g.mu.Lock()
		b := g.next
		g.next = nil
		if b == nil {
			g.flushing = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		b.err = g.commit(wctx, b.recs)
		cancel()
		close(b.done)
	}
}
