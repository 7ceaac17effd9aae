package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Explain answers "what would happen if this person asked for this
// resource now?": whether they may request it (and why not), each of its
// conditions with its result, the tier and approvals it needs, how long a
// request waits for review, and everyone who could approve it today, each
// with the result of the resource's approver_conditions for this
// requester. The API, the CLI, the web UI and the tests inside a policy
// file (policy_tests.go) all read it from here, so they agree.

// Explanation is the answer of Explain.
type Explanation struct {
	User     string `json:"user"`
	Resource string `json:"resource"`
	// CanRequest is whether a request by User would be accepted now (the
	// duration, reason and ticket aside, and the purpose unless one was
	// given); Reasons say why not.
	CanRequest bool     `json:"can_request"`
	Reasons    []string `json:"reasons,omitempty"`
	// Purpose is the purpose judged ("" for none given); Purposes are the
	// resource's, one of which a request must name.
	Purpose  string   `json:"purpose,omitempty"`
	Purposes []string `json:"purposes,omitempty"`
	// InDirectory and Disabled are what the directory says of User.
	InDirectory bool `json:"in_directory"`
	Disabled    bool `json:"disabled,omitempty"`
	// Conditions are the resource's conditions, each with its result.
	Conditions        []ConditionResult `json:"conditions"`
	Tier              Tier              `json:"tier"`
	AutoApprove       bool              `json:"auto_approve,omitempty"`
	ApprovalsRequired int               `json:"approvals_required"`
	// ReviewTimeout is how long a request waits for its approvals before
	// it times out (Go duration text); empty where no server is asked
	// (policy tests).
	ReviewTimeout string `json:"review_timeout,omitempty"`
	// Approvers are the people in the resource's approver groups (the
	// policy file's and the directory's), active and not the requester,
	// each with the result of approver_conditions.
	Approvers []ApproverResult `json:"approvers"`
	// ApproversAvailable counts the approvers who pass; fewer than
	// ApprovalsRequired means a request could not be approved today.
	ApproversAvailable int `json:"approvers_available"`
	// BreakGlass, when the resource has a break_glass block, says whether
	// User may use emergency access (and the block in one line).
	BreakGlass *BreakGlassExplanation `json:"break_glass,omitempty"`
}

// BreakGlassExplanation is whether one person may use a resource's
// break-glass access.
type BreakGlassExplanation struct {
	CanUse  bool   `json:"can_use"`
	Summary string `json:"summary"`
}

// ConditionResult is one condition judged: Holds, or not, or Error when it
// could not be evaluated (which refuses, like false).
type ConditionResult struct {
	Expr    string `json:"expr"`
	Message string `json:"message"`
	Line    int    `json:"line"`
	Holds   bool   `json:"holds"`
	Error   string `json:"error,omitempty"`
}

// Result is "true", "false" or "error: ..." in one word or line.
func (c ConditionResult) Result() string {
	switch {
	case c.Error != "":
		return "error: " + c.Error
	case c.Holds:
		return "true"
	}
	return "false"
}

// ApproverResult is one person who could approve, and whether the
// resource's approver_conditions let them approve this requester.
type ApproverResult struct {
	Email  string `json:"email"`
	Passes bool   `json:"passes"`
	Reason string `json:"reason,omitempty"` // the failing approver condition's message
}

// CanExplain reports whether who may ask for explanations: admins and
// reviewers, who read the policy history and the whole audit log.
func CanExplain(pol *Policy, who Principal) bool { return CanReadAllAudit(pol, who) }

// explainInput is what one explanation reads: the requester and the
// candidate approvers as the rules judge them (resolved, or given by a
// policy test), the moment, and the request's purpose.
type explainInput struct {
	pol        *Policy
	res        *Resource
	requester  Principal
	candidates []Principal
	now        time.Time
	purpose    string
}

// explain is the pure judgement behind Explain and the policy tests.
func explain(in explainInput) Explanation {
	pol, res, who := in.pol, in.res, in.requester
	e := Explanation{User: who.Email, Resource: res.ID, InDirectory: who.InDirectory, Disabled: who.Disabled,
		Tier: res.Tier, AutoApprove: res.AutoApprove, ApprovalsRequired: res.ApprovalsRequired,
		Conditions: []ConditionResult{}, Approvers: []ApproverResult{}}
	switch {
	case !who.IsUser():
		e.Reasons = append(e.Reasons, fmt.Sprintf("only people can request access, not %s", who.Name()))
	case !who.Active():
		e.Reasons = append(e.Reasons, fmt.Sprintf("%s is deactivated in the directory", who.Email))
	case !pol.Knows(who):
		e.Reasons = append(e.Reasons, fmt.Sprintf("%s is not in the access policy", who.Email))
	case !pol.CanRequest(who, res):
		e.Reasons = append(e.Reasons, fmt.Sprintf("%s is not in any requester group of %s (%s)", who.Email, res.ID, strings.Join(res.Requesters, ", ")))
	}
	e.Purpose, e.Purposes = in.purpose, res.Purposes
	if in.purpose != "" {
		if err := checkPurpose(res, in.purpose); err != nil {
			e.Reasons = append(e.Reasons, ErrorMessage(err))
		}
	}
	req := &Request{Requester: who.Email, Resource: res.ID, Duration: res.MaxDuration}
	cin := conditionInput{pol: pol, requester: who, req: req, res: res, start: in.now, now: in.now, purpose: in.purpose}
	if len(res.Conditions) > 0 {
		act := cin.activation()
		for _, c := range res.Conditions {
			holds, err := c.evaluate(act)
			r := ConditionResult{Expr: c.Expr, Message: c.Message, Line: c.Line, Holds: holds && err == nil}
			if err != nil {
				r.Error = err.Error()
				e.Reasons = append(e.Reasons, fmt.Sprintf("condition %q could not be evaluated: %v", c.Expr, err))
			} else if !holds {
				e.Reasons = append(e.Reasons, c.Message)
			}
			e.Conditions = append(e.Conditions, r)
		}
	}
	e.CanRequest = len(e.Reasons) == 0
	if res.BreakGlass != nil {
		e.BreakGlass = &BreakGlassExplanation{CanUse: pol.IsBreakGlassMember(who, res), Summary: breakGlassSummary(res.BreakGlass)}
	}
	if res.AutoApprove {
		return e
	}
	for _, p := range in.candidates {
		if p.Email == who.Email || !p.Active() || !pol.CanApprove(p, res) {
			continue
		}
		a := ApproverResult{Email: p.Email, Passes: true}
		if len(res.ApproverConditions) > 0 {
			ain := cin
			ain.approver = &p
			if why := quietRefusal(res.ApproverConditions, ain.activation()); why != "" {
				a.Passes, a.Reason = false, why
			}
		}
		if a.Passes {
			e.ApproversAvailable++
		}
		e.Approvers = append(e.Approvers, a)
	}
	slices.SortFunc(e.Approvers, func(a, b ApproverResult) int { return strings.Compare(a.Email, b.Email) })
	return e
}

// Explain explains, for who (an admin or reviewer), what would happen if
// user asked for resource now, judging user and every approver with the
// policy in force and the directory.
//
// Errors: CodeForbidden (who is not an admin or reviewer), CodeInvalid
// (no user or no resource), CodeNotFound (no such resource).
func (s *Service) Explain(ctx context.Context, who Principal, user, resource string) (Explanation, error) {
	pol := s.Policy()
	if !CanExplain(pol, who) {
		return Explanation{}, Errorf(CodeForbidden, "only admins and reviewers may ask for explanations")
	}
	user, resource = NormalizeEmail(user), strings.TrimSpace(resource)
	if user == "" {
		return Explanation{}, Errorf(CodeInvalid, "user is required (an email address)")
	}
	if resource == "" {
		return Explanation{}, Errorf(CodeInvalid, "resource is required (a resource id)")
	}
	return ExplainWith(ctx, s.store, pol, user, resource, s.now(), s.reviewTimeout)
}

// ExplainWith is Explain without the caller's authorisation, for the
// CLI: pol judges, dir (nil for none) is the directory, reviewTimeout is
// the server's (0: not shown).
func ExplainWith(ctx context.Context, dir DirectoryReader, pol *Policy, user, resource string, now time.Time, reviewTimeout time.Duration) (Explanation, error) {
	res, ok := pol.Resource(resource)
	if !ok {
		return Explanation{}, Errorf(CodeNotFound, "unknown resource %q", resource)
	}
	requester := User(user)
	if dir != nil {
		var err error
		if requester, err = resolve(ctx, dir, requester); err != nil {
			return Explanation{}, err
		}
	}
	var candidates []Principal
	if !res.AutoApprove {
		emails, err := approverCandidates(ctx, dir, pol, res)
		if err != nil {
			return Explanation{}, err
		}
		for _, email := range emails {
			p := User(email)
			if dir != nil {
				if p, err = resolve(ctx, dir, p); err != nil {
					return Explanation{}, err
				}
			}
			candidates = append(candidates, p)
		}
	}
	e := explain(explainInput{pol: pol, res: res, requester: requester, candidates: candidates, now: now})
	if res.ReviewTimeout > 0 { // the resource's or its tier's review_timeout
		reviewTimeout = res.ReviewTimeout
	}
	if reviewTimeout > 0 {
		e.ReviewTimeout = FormatDuration(reviewTimeout)
	}
	return e, nil
}

// approverCandidates lists the emails in res's approver groups: the policy
// file's members, and the members of directory groups of the same names
// (when dir can list them), sorted.
func approverCandidates(ctx context.Context, dir DirectoryReader, pol *Policy, res *Resource) ([]string, error) {
	set := map[string]bool{}
	for _, e := range pol.ApproverEmails(res) {
		set[e] = true
	}
	if reads, ok := dir.(DirectoryReads); ok {
		for _, g := range res.Approvers {
			members, err := DirectoryMembers(ctx, reads, g)
			if err != nil {
				return nil, err
			}
			for _, e := range members {
				set[e] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	slices.Sort(out)
	return out, nil
}

// DirectoryMembers lists the active members of the directory groups named
// group (a policy group of the same name includes them), sorted.
func DirectoryMembers(ctx context.Context, reads DirectoryReads, group string) ([]string, error) {
	var out []string
	groups, _, err := reads.ListDirectoryGroups(ctx, DirectoryQuery{DisplayName: group, Limit: MaxPageSize})
	if err != nil {
		return nil, err
	}
	for _, dg := range groups {
		for _, id := range dg.Members {
			p, err := reads.GetPerson(ctx, id)
			if ErrorCode(err) == CodeNotFound {
				continue
			}
			if err != nil {
				return nil, err
			}
			if p.Enabled() && !slices.Contains(out, p.UserName) {
				out = append(out, p.UserName)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// quietRefusal is conditionsRefusal without the log line for a condition
// that cannot be evaluated: an explanation reports it, and nothing is
// being refused.
func quietRefusal(conds []Condition, act map[string]any) string {
	for _, c := range conds {
		holds, err := c.evaluate(act)
		switch {
		case err != nil:
			return fmt.Sprintf("condition %q could not be evaluated: %v", c.Expr, err)
		case !holds:
			return c.Message
		}
	}
	return ""
}
