package workflow_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// expected is the state machine written out independently of the table in
// state.go: for each (from, event), the states it may lead to (the first
// is the one Next picks) and who may cause it. Every pair missing here
// must be refused.
type want struct {
	to workflow.State
	by workflow.Role
}

var (
	anyApprover = workflow.RoleApprover | workflow.RoleAdmin | workflow.RoleSystem
	expected    = map[[2]string][]want{
		{"", "submit"}: {{workflow.StatePending, workflow.RoleRequester}},
		// approve and auto_approve: plain, scheduled (start_at ahead),
		// extended (an extension).
		{"pending", "approve"}:           {{workflow.StateApproved, workflow.RoleApprover}, {workflow.StateScheduled, workflow.RoleApprover}, {workflow.StateExtended, workflow.RoleApprover}},
		{"pending", "auto_approve"}:      {{workflow.StateApproved, workflow.RoleSystem}, {workflow.StateScheduled, workflow.RoleSystem}, {workflow.StateExtended, workflow.RoleSystem}},
		{"pending", "deny"}:              {{workflow.StateDenied, workflow.RoleApprover}},
		{"pending", "cancel"}:            {{workflow.StateCancelled, workflow.RoleRequester | workflow.RoleSystem}},
		{"pending", "withdraw_approval"}: {{workflow.StatePending, workflow.RoleSystem}},
		{"pending", "timeout"}:           {{workflow.StateTimedOut, workflow.RoleSystem}},
		{"pending", "break_glass"}:       {{workflow.StateApproved, workflow.RoleRequester}},
		{"approved", "relinquish"}:       {{workflow.StateRevoked, workflow.RoleRequester}},
		{"approved", "revoke"}:           {{workflow.StateRevoked, anyApprover}},
		{"approved", "expire"}:           {{workflow.StateExpired, workflow.RoleSystem}},
		{"approved", "extend"}:           {{workflow.StateApproved, workflow.RoleApprover | workflow.RoleSystem}},
		{"scheduled", "activate"}:        {{workflow.StateApproved, workflow.RoleSystem}},
		{"scheduled", "cancel"}:          {{workflow.StateCancelled, workflow.RoleRequester | workflow.RoleSystem}},
		{"scheduled", "revoke"}:          {{workflow.StateRevoked, anyApprover}},
	}
)

// TestTransitionTable checks every state × every event × every role, and
// for each every target state.
func TestTransitionTable(t *testing.T) {
	states := append([]workflow.State{workflow.StateNew}, workflow.States...)
	roles := []workflow.Role{workflow.RoleRequester, workflow.RoleApprover, workflow.RoleAdmin, workflow.RoleSystem}
	allowed, rows := 0, 0
	for _, w := range expected {
		rows += len(w)
	}
	for _, from := range states {
		for _, ev := range workflow.Events {
			wants, exists := expected[[2]string{string(from), string(ev)}]
			for _, role := range roles {
				name := fmt.Sprintf("%s/%s/%s", from, ev, role)
				tr, err := workflow.Next(from, ev, role)
				switch {
				case !exists:
					if workflow.ErrorCode(err) != workflow.CodeInvalidState {
						t.Errorf("%s: got %v, %v; want invalid_state", name, tr, err)
					}
				case wants[0].by&role == 0:
					if workflow.ErrorCode(err) != workflow.CodeForbidden {
						t.Errorf("%s: got %v, %v; want forbidden", name, tr, err)
					}
				default:
					if err != nil || tr.To != wants[0].to || tr.From != from || tr.Event != ev {
						t.Errorf("%s: Next got %+v, %v; want to %s", name, tr, err, wants[0].to)
					}
				}
				for _, to := range states[1:] {
					tr, err := workflow.NextTo(from, ev, to, role)
					var w *want
					for i := range wants {
						if wants[i].to == to {
							w = &wants[i]
						}
					}
					switch {
					case w == nil:
						if workflow.ErrorCode(err) != workflow.CodeInvalidState {
							t.Errorf("%s→%s: got %v, %v; want invalid_state", name, to, tr, err)
						}
					case w.by&role == 0:
						if workflow.ErrorCode(err) != workflow.CodeForbidden {
							t.Errorf("%s→%s: got %v, %v; want forbidden", name, to, tr, err)
						}
					default:
						allowed++
						if err != nil || tr.To != to || tr.From != from || tr.Event != ev {
							t.Errorf("%s→%s: got %+v, %v", name, to, tr, err)
						}
					}
				}
			}
		}
	}
	if len(workflow.Transitions()) != rows {
		t.Errorf("table has %d rows, expected %d", len(workflow.Transitions()), rows)
	}
	// 19 rows (break_glass by the requester among them); revoke by three roles (twice), cancel by two (twice),
	// extend by two.
	if allowed != 26 {
		t.Errorf("%d allowed (state, event, target, role) quadruples, want 26", allowed)
	}
}

// TestGrantTarget checks which approve row a quorum-completing approval
// takes.
func TestGrantTarget(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Minute)
	for _, tc := range []struct {
		name string
		req  workflow.Request
		want workflow.State
	}{
		{"plain", workflow.Request{}, workflow.StateApproved},
		{"start ahead", workflow.Request{StartAt: &later}, workflow.StateScheduled},
		{"start passed", workflow.Request{StartAt: &earlier}, workflow.StateApproved},
		{"start now", workflow.Request{StartAt: &now}, workflow.StateApproved},
		{"extension", workflow.Request{Extends: "x"}, workflow.StateExtended},
	} {
		if got := workflow.GrantTarget(&tc.req, now); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestInvalidStateMessageNamesState(t *testing.T) {
	_, err := workflow.Next(workflow.StateExpired, workflow.EventRevoke, workflow.RoleAdmin)
	if got, want := workflow.ErrorMessage(err), "request is expired; only an approved or scheduled request can be revoked"; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	_, err = workflow.Next(workflow.StateApproved, workflow.EventApprove, workflow.RoleApprover)
	if got, want := workflow.ErrorMessage(err), "request is approved; only a pending request can be approved"; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
}

func TestFinalStates(t *testing.T) {
	for _, s := range workflow.States {
		final := s != workflow.StatePending && s != workflow.StateApproved && s != workflow.StateScheduled
		if s.Final() != final {
			t.Errorf("%s.Final() = %v", s, s.Final())
		}
		if !final {
			continue
		}
		for _, ev := range workflow.Events {
			if _, err := workflow.Next(s, ev, workflow.RoleRequester|workflow.RoleApprover|workflow.RoleAdmin|workflow.RoleSystem); err == nil {
				t.Errorf("final state %s left on %s", s, ev)
			}
		}
	}
}
