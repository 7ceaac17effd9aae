package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Step-up MFA. A resource's require_mfa (or its tier's) names the actions
// on it that need a second factor proved recently: a passkey assertion in
// the web session, or an OpenID Connect sign-in whose amr names a strong
// method, within the service's MFAMaxAge. A static API token and a Slack
// click prove none, so they are refused those actions (CodeMFARequired)
// and sent to the web UI.

// Actions require_mfa may name.
const (
	MFAApprove    = "approve"
	MFADeny       = "deny"
	MFARevoke     = "revoke"  // an approver or admin ending live access (not the requester giving it up)
	MFARequest    = "request" // filing a request (Submit)
	MFABreakGlass = "break_glass"
)

// MFAActions lists every action require_mfa may name.
var MFAActions = []string{MFAApprove, MFADeny, MFARevoke, MFARequest, MFABreakGlass}

// How a person signed in (Principal.Auth) and proved a second factor
// (Principal.MFA), as audit records of decisions say.
const (
	AuthSession = "session"
	AuthToken   = "token"
	AuthSlack   = "slack"

	MFAWebAuthn = "webauthn"
	MFAOIDC     = "oidc_amr"
	MFANone     = "none"
)

// ActionMFARefused is the audit record of an action refused for want of a
// fresh second factor. It is not a decision: nothing else is written.
const ActionMFARefused = "mfa.refused"

// DefaultMFAMaxAge is how recent a second factor must be (--mfa-max-age).
const DefaultMFAMaxAge = 5 * time.Minute

// mfaSkew is how far in the future an identity provider's auth_time may
// be and still count (clocks differ).
const mfaSkew = time.Minute

// RequiresMFA reports whether action on resource id needs a second factor.
func (p *Policy) RequiresMFA(id, action string) bool {
	r, ok := p.Resource(id)
	return ok && slices.Contains(r.RequireMFA, action)
}

// MFAFresh reports whether who proved a second factor within maxAge at
// now.
func MFAFresh(who Principal, now time.Time, maxAge time.Duration) bool {
	if who.MFA == "" || who.MFA == MFANone || who.MFAAt.IsZero() {
		return false
	}
	age := now.Sub(who.MFAAt)
	return age <= maxAge && age >= -mfaSkew
}

// mfaOf is what a decision's audit record says of who's second factor:
// the method when it was fresh, else none.
func (s *Service) mfaOf(who Principal, now time.Time) string {
	if MFAFresh(who, now, s.mfaMaxAge) {
		return who.MFA
	}
	return MFANone
}

// MFAMaxAge is how recent a second factor must be.
func (s *Service) MFAMaxAge() time.Duration { return s.mfaMaxAge }

// checkMFA refuses who's action on req when its resource's require_mfa
// names it and who has no fresh second factor (CodeMFARequired, with what
// to do for the way they signed in). The system never needs one.
func (s *Service) checkMFA(who Principal, req *Request, res *Resource, action string, now time.Time) error {
	if res == nil || who.IsSystem() || !slices.Contains(res.RequireMFA, action) || MFAFresh(who, now, s.mfaMaxAge) {
		return nil
	}
	what := mfaWhat(action, res.ID)
	page := s.requestPage(req)
	var msg string
	switch who.Auth {
	case AuthToken:
		msg = fmt.Sprintf("%s needs a second factor (require_mfa), which an API token cannot prove: do it in the web UI at %s", what, page)
	case AuthSlack:
		msg = fmt.Sprintf("%s needs a second factor (require_mfa), which Slack cannot prove: do it in the web UI at %s", what, page)
	case AuthSession:
		msg = fmt.Sprintf("%s needs a second factor proved within the last %s: confirm with your passkey or sign in again", what, FormatDuration(s.mfaMaxAge))
	default:
		msg = fmt.Sprintf("%s needs a second factor (require_mfa): do it in the web UI at %s", what, page)
	}
	return &Error{Code: CodeMFARequired, Message: msg, Err: mfaNeeded{action}}
}

// mfaNeeded is the cause of a CodeMFARequired refusal: which action.
type mfaNeeded struct{ action string }

func (m mfaNeeded) Error() string { return m.action + " needs MFA" }

// mfaActionOf is the action a CodeMFARequired refusal was for (def if
// err does not say).
func mfaActionOf(err error, def string) string {
	var need mfaNeeded
	if errors.As(err, &need) {
		return need.action
	}
	return def
}

func mfaWhat(action, resource string) string {
	switch action {
	case MFABreakGlass:
		return "emergency (break-glass) access to " + resource
	case MFAApprove:
		return "approving a request for " + resource
	case MFADeny:
		return "denying a request for " + resource
	case MFARevoke:
		return "revoking access to " + resource
	case MFARequest:
		return "requesting " + resource
	}
	return strings.ReplaceAll(action, "_", "-") + " on " + resource
}

// SetWebURL says where the web UI is (Options.WebURL), once it is known
// (a server listening on a port picked at start).
func (s *Service) SetWebURL(u string) {
	u = strings.TrimRight(u, "/")
	s.webURL.Store(&u)
}

// WebURL is where the web UI is ("" when unknown).
func (s *Service) WebURL() string { return *s.webURL.Load() }

// requestPage is the web UI's page of req (the new-request page for a
// request not yet filed).
func (s *Service) requestPage(req *Request) string {
	if req == nil || req.ID == "" {
		return s.WebURL() + "/requests/new"
	}
	return s.WebURL() + "/requests/" + req.ID
}

// auditMFARefused records a refusal for want of MFA in a transaction of
// its own: the use case's was rolled back.
func (s *Service) auditMFARefused(ctx context.Context, who Principal, req *Request, action string, why error) {
	if who.Auth == "" {
		who.Auth = "internal"
	}
	s.auditAttempt(ctx, who, req, ActionMFARefused, action+" refused: "+ErrorMessage(why))
}

// stampAuth sets on the changes who made how they were verified, for
// their audit records.
func (s *Service) stampAuth(who Principal, changes []Change, now time.Time) {
	if who.Auth == "" {
		return
	}
	for i := range changes {
		if changes[i].Actor == who.Name() {
			changes[i].Auth, changes[i].MFA = who.Auth, s.mfaOf(who, now)
		}
	}
}

// requireMFA reads a require_mfa list: known, distinct actions.
func (d *policyDecoder) requireMFA(v *yaml.Node, what string) []string {
	if v.Kind != yaml.SequenceNode {
		d.errorAt(v, "%s must be a list of actions, like [approve, deny], not %s", what, kindName(v))
		return nil
	}
	out := []string{}
	for _, c := range v.Content {
		a := d.str(c, "each entry of "+what)
		switch {
		case a == "":
		case !slices.Contains(MFAActions, a):
			d.errorAt(c, "unknown action %q in %s; use %s", a, what, strings.Join(MFAActions, ", "))
		case slices.Contains(out, a):
			d.errorAt(c, "action %q listed twice in %s", a, what)
		default:
			out = append(out, a)
		}
	}
	return out
}

// Warnings are what `policy check` points out about a valid policy that
// may not be what its author meant: break_glass.skip_conditions, and a
// critical resource without require_mfa.
func (p *Policy) Warnings() []string {
	return append(p.breakGlassWarnings(), p.mfaWarnings()...)
}

// mfaWarnings: a critical resource whose approvals need no second factor.
func (p *Policy) mfaWarnings() []string {
	var out []string
	for _, r := range p.Resources {
		if r.Tier == TierCritical && len(r.RequireMFA) == 0 {
			out = append(out, fmt.Sprintf("resource %q (line %d) is critical but has no require_mfa: its approvals need no second factor, and Slack can approve it", r.ID, r.Line))
		}
	}
	return out
}
