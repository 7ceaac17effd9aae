package workflow_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/workflow"
)

const testedPolicy = `admins: [root@example.com]
groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
  contractors:
resources:
  - id: crm-payments
    tier: high
    max_duration: 4h
    requesters: [agents, contractors]
    approvers: [managers]
    purposes: [refund, chargeback]
    conditions:
      - expr: request.purpose == 'refund' && requester.attributes.region == 'eu'
        message: refunds only, from the EU
    approver_conditions:
      - expr: approver.email != 'dave@example.com' || now.getHours() < 12
        message: dave approves mornings only
tests:
`

// tested returns testedPolicy with tests appended, and the line the first
// one starts on.
func tested(tests string) (string, int) {
	return testedPolicy + tests, strings.Count(testedPolicy, "\n") + 1
}

func TestPolicyTests(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tests string
		want  []string // errors, each "file:line..." prefix and a fragment; none: loads
	}{
		{name: "passing", tests: `  - {user: alice@example.com, resource: crm-payments, purpose: refund, at: "2026-12-01T10:00:00Z", attributes: {region: eu},
     expect: {can_request: true, approvers_include: [carol@example.com, dave@example.com], approvals_required: 2, tier: high}}
  - {user: bob@example.com, resource: crm-payments, purpose: refund, attributes: {region: eu}, groups: [contractors], at: "2026-12-01T15:00:00Z",
     expect: {can_request: true, approvers_include: [carol@example.com], approvers_exclude: [dave@example.com, bob@example.com]}}
  - {user: alice@example.com, resource: crm-payments, purpose: chargeback, attributes: {region: eu}, expect: {can_request: false}}
  - {user: zed@example.com, resource: crm-payments, expect: {can_request: false}}
`},
		{name: "failing", tests: `  - user: alice@example.com
    resource: crm-payments
    purpose: chargeback
    attributes: {region: eu}
    at: "2026-12-01T15:00:00Z"
    expect:
      can_request: true
      approvers_include: [dave@example.com]
      tier: critical
`, want: []string{"+6: policy test (alice@example.com on crm-payments) failed: expected can_request true, but: refunds only, from the EU",
			"+7: policy test (alice@example.com on crm-payments) failed: expected dave@example.com among the approvers, but dave approves mornings only",
			"+8: policy test (alice@example.com on crm-payments) failed: expected tier critical, but it is high"}},
		{name: "a purpose the resource does not list", tests: `  - user: alice@example.com
    resource: crm-payments
    purpose: marketing
    attributes: {region: eu}
    expect: {can_request: true}
`, want: []string{`+4: policy test (alice@example.com on crm-payments) failed: expected can_request true, but: unknown purpose "marketing" for crm-payments; allowed: refund, chargeback`}},
		{name: "unknown resource", tests: "  - {user: alice@example.com, resource: crm, expect: {can_request: true}}\n",
			want: []string{`+0:41: test names unknown resource "crm"`}},
		{name: "unknown expect key", tests: "  - {user: alice@example.com, resource: crm-payments, expect: {can_approve: true}}\n",
			want: []string{`+0: unknown key "can_approve" in a test's expect`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, first := tested(tc.tests)
			pol, err := workflow.ParsePolicy("p.yaml", []byte(src))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if len(pol.Tests) != 4 {
					t.Fatalf("%d tests", len(pol.Tests))
				}
				return
			}
			if err == nil {
				t.Fatal("policy loaded; want its tests refused")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("errors:\n%s\nwant %d", err, len(tc.want))
			}
			for i, w := range tc.want {
				off, rest, _ := strings.Cut(strings.TrimPrefix(w, "+"), ":")
				n := 0
				for _, ch := range off {
					n = n*10 + int(ch-'0')
				}
				prefix := "p.yaml:" + strconv.Itoa(first+n) + ":"
				if !strings.HasPrefix(lines[i], prefix) || !strings.Contains(lines[i], strings.TrimSpace(rest)) {
					t.Errorf("error %d = %q, want %s…%s", i, lines[i], prefix, rest)
				}
			}
		})
	}
}
