package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jitaccess/jitaccess/masking"
	"github.com/jitaccess/jitaccess/workflow"
)

// ActionDetokenize is the audit action of a detokenize call.
const ActionDetokenize = "detokenize"

// MaxDetokenize is the most tokens one detokenize call may open.
const MaxDetokenize = 500

// maxTokenLen bounds one token; longer ones are malformed.
const maxTokenLen = 8 << 10

// TokenResult is the answer for one token: Value (JSON) and Field, or Err.
type TokenResult struct {
	Token string
	// Field is the declared field the token belongs to; KeyID the key it
	// was made under (also set on some errors).
	Field, KeyID string
	Value        json.RawMessage
	// Err: CodeInvalid for a malformed token or one that opens as no
	// encrypt field of the resource (altered, or from another field or
	// resource), CodeNotFound for a key that is not configured.
	Err *workflow.Error
}

// DetokenizeResult is the answer to a detokenize call.
type DetokenizeResult struct {
	workflow.CheckResult
	// Results has one entry per token, in the order given.
	Results []TokenResult
}

// Detokenize opens encrypt-style tokens of resource for user: only a
// service token with the detokenize scope may ask, and only while user
// holds a live grant of resource, judged as Check judges it (same cache,
// same eligibility rule). Each token is answered on its own: a bad token
// is an error in its result, not of the call. Every release is audited
// (one record per call: user, resource, fields and key ids, never the
// values), whatever the audit mode, before the answer is given; so are
// refusals, unless the audit mode is allowed or none.
//
// Errors: CodeForbidden (wrong caller, or no live grant: the message says
// why), CodeInvalid (missing user, no tokens, more than MaxDetokenize),
// CodeNotFound (unknown resource), CodeUnavailable/CodeInternal.
func (c *Checker) Detokenize(ctx context.Context, who workflow.Principal, user, resource string, tokens []string) (DetokenizeResult, error) {
	if who.Service == "" || !who.HasScope(workflow.ScopeDetokenize) {
		return DetokenizeResult{}, workflow.Errorf(workflow.CodeForbidden, "only service tokens with the %q scope may detokenize", workflow.ScopeDetokenize)
	}
	user = workflow.NormalizeEmail(user)
	switch {
	case user == "":
		return DetokenizeResult{}, workflow.Errorf(workflow.CodeInvalid, "user is required")
	case len(user) > 320:
		return DetokenizeResult{}, workflow.Errorf(workflow.CodeInvalid, "user is longer than 320 characters")
	case resource == "":
		return DetokenizeResult{}, workflow.Errorf(workflow.CodeInvalid, "resource is required")
	case len(tokens) == 0:
		return DetokenizeResult{}, workflow.Errorf(workflow.CodeInvalid, "tokens is required (a list of tok2_ tokens)")
	case len(tokens) > MaxDetokenize:
		return DetokenizeResult{}, workflow.Errorf(workflow.CodeInvalid, "%d tokens; send at most %d per call", len(tokens), MaxDetokenize)
	}
	pol := c.svc.Policy()
	res, ok := pol.Resource(resource)
	if !ok {
		return DetokenizeResult{}, workflow.Errorf(workflow.CodeNotFound, "unknown resource %q", resource)
	}
	now := c.svc.Clock()()
	d, err := c.decide(ctx, pol, res, user, now)
	if err != nil {
		return DetokenizeResult{}, err
	}
	if !d.Allowed {
		why := refusal(d, user, resource)
		if c.audited(false) {
			rec := &workflow.AuditRecord{At: now, Actor: who.Name(), Action: ActionDetokenize, RequestID: d.RequestID,
				Resource: resource, Subject: user, Reason: "refused: " + why}
			if err := c.audit.write(ctx, rec); err != nil {
				return DetokenizeResult{}, err
			}
		}
		return DetokenizeResult{}, workflow.Errorf(workflow.CodeForbidden, "%s", why)
	}
	out := DetokenizeResult{CheckResult: d, Results: make([]TokenResult, len(tokens))}
	keys := c.masker.Keyring()
	fields := c.rulesFor(pol, res).EncryptFields()
	slices.Sort(fields)
	for i, tok := range tokens {
		out.Results[i] = open(keys, resource, fields, tok)
	}
	rec := &workflow.AuditRecord{At: now, Actor: who.Name(), Action: ActionDetokenize, RequestID: d.RequestID,
		Resource: resource, Subject: user, Reason: releaseOutcome(out.Results)}
	if err := c.audit.write(ctx, rec); err != nil {
		return DetokenizeResult{}, err
	}
	return out, nil
}

// open answers one token.
func open(keys *masking.Keyring, resource string, fields []string, tok string) TokenResult {
	r := TokenResult{Token: tok}
	switch {
	case len(tok) > maxTokenLen:
		r.Token = workflow.Clip(tok, 64) + "..."
		r.Err = workflow.Errorf(workflow.CodeInvalid, "malformed token: longer than %d bytes", maxTokenLen)
		return r
	case keys == nil:
		if _, _, err := masking.SplitToken(tok); err != nil {
			r.Err = workflow.Errorf(workflow.CodeInvalid, "%v", err)
		} else {
			r.Err = workflow.Errorf(workflow.CodeNotFound, "no encrypt keys are configured on this server")
		}
		return r
	}
	field, keyID, v, err := keys.DecryptToken(resource, fields, tok)
	r.KeyID = keyID
	switch {
	case err == nil:
		r.Field, r.Value = field, v
	case errors.Is(err, masking.ErrUnknownKey):
		r.Err = workflow.Errorf(workflow.CodeNotFound, "unknown token key %q (not configured, or removed)", keyID)
	case errors.Is(err, masking.ErrWrongField):
		r.Err = workflow.Errorf(workflow.CodeInvalid, "the token opens as no encrypt field of %q (another field's or resource's token, or altered)", resource)
	default:
		r.Err = workflow.Errorf(workflow.CodeInvalid, "%v", err)
	}
	return r
}

// refusal says why user may not see resource's values.
func refusal(d workflow.CheckResult, user, resource string) string {
	switch {
	case d.Outcome == workflow.OutcomeIneligible:
		return fmt.Sprintf("%s is no longer eligible for %s", user, resource)
	case d.RequestID != "":
		return fmt.Sprintf("%s's grant of %s is not applied at the target (provisioning %s)", user, resource, d.Provisioning)
	}
	return fmt.Sprintf("%s holds no live grant of %s", user, resource)
}

// releaseOutcome words a release for the audit log: counts, and the field
// and key id of each value released, never the values.
func releaseOutcome(results []TokenResult) string {
	n, failed := 0, 0
	seen := map[string]int{}
	var order []string
	for _, r := range results {
		if r.Err != nil {
			failed++
			continue
		}
		n++
		k := r.Field + " (key " + r.KeyID + ")"
		if seen[k] == 0 {
			order = append(order, k)
		}
		seen[k]++
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%s x%d", k, seen[k])
	}
	outcome := fmt.Sprintf("released %d of %d tokens", n, len(results))
	if failed > 0 {
		outcome += fmt.Sprintf(" (%d refused per token)", failed)
	}
	if len(parts) > 0 {
		outcome += ": " + strings.Join(parts, ", ")
	}
	outcome = workflow.Clip(outcome, 1000)
	return outcome
}
