package workflow_test

import (
	"fmt"
	"testing"

	"github.com/jitaccess/jitaccess/workflow"
)

// expected is the state machine written out independently of the table in
// state.go: for each (from, event), the state it leads to and who may
// cause it. Every pair missing here must be refused.
var expected = map[[2]string]struct {
	to workflow.State
	by workflow.Role
}{
	{"", "submit"}:                   {workflow.StatePending, workflow.RoleRequester},
	{"pending", "approve"}:           {workflow.StateApproved, workflow.RoleApprover},
	{"pending", "auto_approve"}:      {workflow.StateApproved, workflow.RoleSystem},
	{"pending", "deny"}:              {workflow.StateDenied, workflow.RoleApprover},
	{"pending", "cancel"}:            {workflow.StateCancelled, workflow.RoleRequester | workflow.RoleSystem},
	{"pending", "withdraw_approval"}: {workflow.StatePending, workflow.RoleSystem},
	{"pending", "timeout"}:           {workflow.StateTimedOut, workflow.RoleSystem},
	{"pending", "break_glass"}:       {workflow.StateApproved, workflow.RoleRequester},
	{"approved", "relinquish"}:       {workflow.StateRevoked, workflow.RoleRequester},
	{"approved", "revoke"}:           {workflow.StateRevoked, workflow.RoleApprover | workflow.RoleAdmin | workflow.RoleSystem},
	{"approved", "expire"}:           {workflow.StateExpired, workflow.RoleSystem},
}

// TestTransitionTable checks every state × every event × every role.
func TestTransitionTable(t *testing.T) {
	states := append([]workflow.State{workflow.StateNew}, workflow.States...)
	roles := []workflow.Role{workflow.RoleRequester, workflow.RoleApprover, workflow.RoleAdmin, workflow.RoleSystem}
	allowed := 0
	for _, from := range states {
		for _, ev := range workflow.Events {
			for _, role := range roles {
				name := fmt.Sprintf("%s/%s/%s", from, ev, role)
				want, exists := expected[[2]string{string(from), string(ev)}]
				tr, err := workflow.Next(from, ev, role)
				switch {
				case !exists:
					if workflow.ErrorCode(err) != workflow.CodeInvalidState {
						t.Errorf("%s: got %v, %v; want invalid_state", name, tr, err)
					}
				case want.by&role == 0:
					if workflow.ErrorCode(err) != workflow.CodeForbidden {
						t.Errorf("%s: got %v, %v; want forbidden", name, tr, err)
					}
				default:
					allowed++
					if err != nil || tr.To != want.to || tr.From != from || tr.Event != ev {
						t.Errorf("%s: got %+v, %v; want to %s", name, tr, err, want.to)
					}
				}
			}
		}
	}
	if len(workflow.Transitions()) != len(expected) {
		t.Errorf("table has %d rows, expected %d", len(workflow.Transitions()), len(expected))
	}
	if allowed != 14 { // 11 rows; revoke by three roles, cancel by two
		t.Errorf("%d allowed (state, event, role) triples, want 14", allowed)
	}
}

func TestInvalidStateMessageNamesState(t *testing.T) {
	_, err := workflow.Next(workflow.StateExpired, workflow.EventRevoke, workflow.RoleAdmin)
	if got, want := workflow.ErrorMessage(err), "request is expired; only an approved request can be revoked"; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	_, err = workflow.Next(workflow.StateApproved, workflow.EventApprove, workflow.RoleApprover)
	if got, want := workflow.ErrorMessage(err), "request is approved; only a pending request can be approved"; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
}

func TestFinalStates(t *testing.T) {
	for _, s := range workflow.States {
		final := s != workflow.StatePending && s != workflow.StateApproved
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
