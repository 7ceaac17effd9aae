package workflow

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Tests inside the policy file (top-level key tests): each names a person
// and a resource, optionally the purpose, the moment and the person's
// directory attributes and groups, and what the policy must say of them.
// They run when the policy is loaded, against the policy alone: the
// groups of the file, with the test's attributes and groups standing in
// for the directory. A policy whose tests fail is refused, like one with
// a syntax error, so that a change that would lock out (or let in) the
// wrong people never reaches the server.

// PolicyTest is one entry of tests:.
type PolicyTest struct {
	Line       int
	User       string
	Resource   string
	Purpose    string
	At         time.Time // zero: the moment the policy is loaded
	Attributes map[string]string
	Groups     []string
	Expect     PolicyTestExpect
}

// PolicyTestExpect is what a test expects; an unset field is not checked.
type PolicyTestExpect struct {
	CanRequest        *bool
	ApproversInclude  []string // each must be able to approve (approver_conditions pass)
	ApproversExclude  []string // none may be able to approve
	ApprovalsRequired *int
	Tier              Tier
	lines             map[string]int // key → line, for failure messages
}

// policyTests reads the tests: list; resources are checked against pol.
func (d *policyDecoder) policyTests(v *yaml.Node, pol *Policy) []PolicyTest {
	if v.Kind != yaml.SequenceNode {
		d.errorf(v, "tests must be a list of {user, resource, expect}, not %s", kindName(v))
		return nil
	}
	var out []PolicyTest
	for _, c := range v.Content {
		t := PolicyTest{Line: c.Line}
		var resNode, expectNode *yaml.Node
		d.fields(c, "a test", map[string]func(*yaml.Node){
			"user": func(n *yaml.Node) {
				if s := d.str(n, "user"); s != "" {
					t.User = d.email(n, s, "test user")
				}
			},
			"resource": func(n *yaml.Node) { resNode, t.Resource = n, d.str(n, "resource") },
			"purpose":  func(n *yaml.Node) { t.Purpose = d.str(n, "purpose") },
			"at": func(n *yaml.Node) {
				s := d.str(n, "at")
				at, err := time.Parse(time.RFC3339, s)
				if s != "" && err != nil {
					d.errorf(n, "at %q is not a time; use RFC 3339, like 2026-12-01T10:00:00Z", s)
				}
				t.At = at.UTC()
			},
			"attributes": func(n *yaml.Node) {
				if n.Kind != yaml.MappingNode {
					d.errorf(n, "attributes must map directory attribute names to values, like {region: eu}, not %s", kindName(n))
					return
				}
				t.Attributes = d.tags(n)
			},
			"groups": func(n *yaml.Node) { t.Groups = d.strList(n, "groups") },
			"expect": func(n *yaml.Node) { expectNode = n; t.Expect = d.testExpect(n) },
		})
		if c.Kind != yaml.MappingNode {
			continue
		}
		switch {
		case t.User == "":
			d.errorf(c, "a test needs a user (an email address)")
		case resNode == nil || t.Resource == "":
			d.errorf(c, "a test needs a resource (a resource id)")
		case expectNode == nil:
			d.errorf(c, "a test needs an expect: mapping (can_request, approvers_include, approvers_exclude, approvals_required, tier)")
		default:
			if _, ok := pol.Resource(t.Resource); !ok {
				d.errs = append(d.errs, PolicyError{File: d.file, Line: resNode.Line, Col: resNode.Column,
					Msg: fmt.Sprintf("test names unknown resource %q", t.Resource)})
				continue
			}
			out = append(out, t)
		}
	}
	return out
}

func (d *policyDecoder) testExpect(v *yaml.Node) PolicyTestExpect {
	e := PolicyTestExpect{lines: map[string]int{}}
	emails := func(n *yaml.Node, what string) []string {
		list := d.strList(n, what)
		for i, s := range list {
			list[i] = d.email(n, s, "each entry of "+what)
		}
		return list
	}
	seen := d.fields(v, "a test's expect", map[string]func(*yaml.Node){
		"can_request": func(n *yaml.Node) {
			b := d.boolean(n, "can_request")
			e.CanRequest = &b
		},
		"approvers_include": func(n *yaml.Node) { e.ApproversInclude = emails(n, "approvers_include") },
		"approvers_exclude": func(n *yaml.Node) { e.ApproversExclude = emails(n, "approvers_exclude") },
		"approvals_required": func(n *yaml.Node) {
			i := d.integer(n, "approvals_required")
			e.ApprovalsRequired = &i
		},
		"tier": func(n *yaml.Node) {
			e.Tier = Tier(d.str(n, "tier"))
			if !e.Tier.Valid() {
				d.errorf(n, "unknown tier %q in expect; use low, medium, high or critical", e.Tier)
			}
		},
	})
	for k, n := range seen {
		e.lines[k] = n.Line
	}
	return e
}

// runPolicyTests runs every test against pol and reports each failed
// expectation at its line. now stands in for a test without at.
func (d *policyDecoder) runPolicyTests(pol *Policy, tests []PolicyTest, now time.Time) {
	for _, t := range tests {
		for _, f := range RunPolicyTest(pol, t, now) {
			d.errs = append(d.errs, PolicyError{File: d.file, Line: f.Line, Msg: f.Msg})
		}
	}
}

// PolicyTestFailure is one expectation a test did not meet.
type PolicyTestFailure struct {
	Line int
	Msg  string
}

// RunPolicyTest judges one test against pol and returns its failures
// (none when it passes).
func RunPolicyTest(pol *Policy, t PolicyTest, now time.Time) []PolicyTestFailure {
	res, ok := pol.Resource(t.Resource)
	if !ok {
		return []PolicyTestFailure{{Line: t.Line, Msg: fmt.Sprintf("test: unknown resource %q", t.Resource)}}
	}
	at := t.At
	if at.IsZero() {
		at = now
	}
	requester := User(t.User)
	requester.Attributes, requester.DirectoryGroups = t.Attributes, t.Groups
	requester.InDirectory = t.Attributes != nil || t.Groups != nil
	var candidates []Principal
	for _, e := range pol.ApproverEmails(res) {
		candidates = append(candidates, User(e))
	}
	x := explain(explainInput{pol: pol, res: res, requester: requester, candidates: candidates, now: at, purpose: t.Purpose})
	var fails []PolicyTestFailure
	fail := func(key, format string, args ...any) {
		line := t.Expect.lines[key]
		if line == 0 {
			line = t.Line
		}
		fails = append(fails, PolicyTestFailure{Line: line, Msg: fmt.Sprintf("policy test (%s on %s) failed: %s", t.User, t.Resource, fmt.Sprintf(format, args...))})
	}
	ex := t.Expect
	if ex.CanRequest != nil && *ex.CanRequest != x.CanRequest {
		if x.CanRequest {
			fail("can_request", "expected can_request false, but %s may request it", t.User)
		} else {
			fail("can_request", "expected can_request true, but: %s", strings.Join(x.Reasons, "; "))
		}
	}
	passes := func(email string) (bool, string) {
		i := slices.IndexFunc(x.Approvers, func(a ApproverResult) bool { return a.Email == email })
		if i < 0 {
			return false, "not in an approver group (or the requester)"
		}
		return x.Approvers[i].Passes, x.Approvers[i].Reason
	}
	for _, e := range ex.ApproversInclude {
		if ok, why := passes(e); !ok {
			fail("approvers_include", "expected %s among the approvers, but %s", e, why)
		}
	}
	for _, e := range ex.ApproversExclude {
		if ok, _ := passes(e); ok {
			fail("approvers_exclude", "expected %s not to be able to approve, but they can", e)
		}
	}
	if ex.ApprovalsRequired != nil && *ex.ApprovalsRequired != x.ApprovalsRequired {
		fail("approvals_required", "expected approvals_required %d, but it is %d", *ex.ApprovalsRequired, x.ApprovalsRequired)
	}
	if ex.Tier != "" && ex.Tier != x.Tier {
		fail("tier", "expected tier %s, but it is %s", ex.Tier, x.Tier)
	}
	return fails
}
