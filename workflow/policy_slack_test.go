package workflow_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/workflow"
)

const slackPolicy = `groups:
  agents: [alice@example.com]
  managers: [carol@example.com, dave@example.com]
slack_channels:
  default: "#access-requests"
  critical: C0SECURITY1
resources:
  - id: payments
    tier: high
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
    slack_channel: "#payments-approvals"
  - id: vault
    tier: critical
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
  - id: notes
    tier: medium
    max_duration: 1h
    requesters: [agents]
    approvers: [managers]
`

func TestApprovalChannel(t *testing.T) {
	p, err := workflow.ParsePolicy("slack.yaml", []byte(slackPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"payments": "#payments-approvals", // the resource's own channel wins
		"vault":    "C0SECURITY1",         // then its tier's
		"notes":    "#access-requests",    // then the default
	} {
		r, _ := p.Resource(id)
		if got := p.ApprovalChannel(r); got != want {
			t.Errorf("%s: channel %q, want %q", id, got, want)
		}
	}
	// A policy without Slack keys names no channel.
	bare, err := workflow.ParsePolicy("bare.yaml", []byte(strings.Replace(
		strings.Replace(slackPolicy, "    slack_channel: \"#payments-approvals\"\n", "", 1),
		"slack_channels:\n  default: \"#access-requests\"\n  critical: C0SECURITY1\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range bare.Resources {
		if got := bare.ApprovalChannel(r); got != "" {
			t.Errorf("%s: channel %q without any configured", r.ID, got)
		}
	}
}

func TestSlackChannelPolicyErrors(t *testing.T) {
	cases := []struct {
		name, from, to string
		line           int
		msg            string
	}{
		{"resource channel without #", `slack_channel: "#payments-approvals"`, `slack_channel: payments`, 13,
			`slack_channel "payments" must be a Slack channel ID like C0123ABCD or a channel name like #access-requests`},
		{"upper-case name", `slack_channel: "#payments-approvals"`, `slack_channel: "#Payments"`, 13, `slack_channel "#Payments" must be`},
		{"channel is a list", `slack_channel: "#payments-approvals"`, `slack_channel: [a, b]`, 13, "slack_channel must be a string, not a list"},
		{"bad default", `default: "#access-requests"`, `default: "access requests"`, 5, `slack_channels.default "access requests" must be`},
		{"bad tier channel", `critical: C0SECURITY1`, `critical: c0security1`, 6, `slack_channels.critical "c0security1" must be`},
		{"unknown tier key", `critical: C0SECURITY1`, `urgent: C0SECURITY1`, 6, `unknown key "urgent" in slack_channels (known keys: critical, default, high, low, medium)`},
		{"not a mapping", "slack_channels:\n  default: \"#access-requests\"\n  critical: C0SECURITY1", `slack_channels: "#access"`, 4, "slack_channels must be a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(slackPolicy, tc.from, tc.to, 1)
			if src == slackPolicy {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := workflow.ParsePolicy("slack.yaml", []byte(src))
			var pe workflow.PolicyErrors
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want PolicyErrors", err)
			}
			if pe[0].Line != tc.line || !strings.Contains(pe[0].Msg, tc.msg) {
				t.Fatalf("got %v, want line %d: %s", pe, tc.line, tc.msg)
			}
		})
	}
}
