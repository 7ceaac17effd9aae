package workflow

import (
	"slices"
	"strings"
)

// State is where a request is in its lifecycle.
//
//	             submit
//	               │
//	               ▼
//	denied ◄─deny─ pending ─cancel─► cancelled
//	               │    │
//	               │    └─timeout─► timed_out
//	               │
//	      approve (quorum met),
//	      auto_approve or break_glass
//	               │
//	               ▼
//	            approved ─expire─► expired
//	             │  ▲  │
//	             │  │  └─revoke, relinquish─► revoked
//	             └──┘
//	            extend (an approved extension moves expires_at)
//
// A request with a start_at still ahead goes, on the approval that
// completes its quorum (or auto_approve), to scheduled instead, and the
// sweeper activates it at start_at:
//
//	pending ─approve, auto_approve─► scheduled ─activate─► approved
//	                                     │
//	                                     ├─cancel─► cancelled (requester, system)
//	                                     └─revoke─► revoked   (approvers, admins, system)
//
// An extension (a request with extends set, filed against a live grant)
// is decided like any request, but the approval that completes it goes to
// extended, a final state meaning "applied": the same transaction moves
// the original's expires_at forward (its extend event):
//
//	pending ─approve, auto_approve─► extended
//
// When a grant ends (expire, revoke, relinquish), its pending extension is
// cancelled by the system in the same transaction (extend.go).
//
// break_glass is an emergency request by a member of the resource's
// break_glass groups: it is filed and granted in one transaction, with no
// approver, and opens a post-hoc review (breakglass.go).
//
// approved is the only state in which access is live, and only until
// expires_at. Every other state but pending and scheduled is final. jitaccess itself
// (the system) also cancels and revokes: re-evaluation ends what the rules
// in force no longer justify (reconcile.go), and withdraws approvals that
// stop counting, which leaves the request pending.
type State string

const (
	StateNew       State = "" // not yet stored; only "submit" leaves it
	StatePending   State = "pending"
	StateApproved  State = "approved"
	StateDenied    State = "denied"
	StateCancelled State = "cancelled"
	StateTimedOut  State = "timed_out"
	StateExpired   State = "expired"
	StateRevoked   State = "revoked"
	// StateScheduled is approved access that starts later, at start_at.
	StateScheduled State = "scheduled"
	// StateExtended is an extension that was approved and applied to the
	// grant it extends; final.
	StateExtended State = "extended"
)

// States lists every stored state, in lifecycle order.
var States = []State{StatePending, StateApproved, StateDenied, StateCancelled, StateTimedOut, StateExpired, StateRevoked, StateScheduled, StateExtended}

// Final reports whether no event can move a request out of s.
func (s State) Final() bool {
	return s != StateNew && s != StatePending && s != StateApproved && s != StateScheduled
}

// Valid reports whether s is a stored state.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

func (s State) String() string {
	if s == StateNew {
		return "new"
	}
	return string(s)
}

// Event is something that happens to a request. Events are also the audit
// actions for state changes.
type Event string

const (
	EventSubmit      Event = "submit"
	EventApprove     Event = "approve"
	EventAutoApprove Event = "auto_approve"
	EventDeny        Event = "deny"
	EventCancel      Event = "cancel"
	EventTimeout     Event = "timeout"
	EventRelinquish  Event = "relinquish"
	EventRevoke      Event = "revoke"
	EventExpire      Event = "expire"
	// EventWithdrawApproval marks an approval withdrawn: its approver no
	// longer may approve, so it stops counting (re-evaluation, reconcile.go).
	// The request stays pending.
	EventWithdrawApproval Event = "withdraw_approval"
	// EventBreakGlass grants an emergency request at once, with no
	// approver (breakglass.go).
	EventBreakGlass Event = "break_glass"
	// EventActivate starts a scheduled grant at its start_at (the
	// sweeper).
	EventActivate Event = "activate"
	// EventExtend moves a live grant's expires_at forward: recorded on the
	// grant when an extension of it is approved.
	EventExtend Event = "extend"
)

// Events lists every event.
var Events = []Event{EventSubmit, EventApprove, EventAutoApprove, EventDeny, EventCancel, EventTimeout, EventRelinquish, EventRevoke, EventExpire, EventWithdrawApproval, EventBreakGlass, EventActivate, EventExtend}

// Role is a set of capacities in which an actor may act on one request.
type Role uint8

const (
	RoleRequester Role = 1 << iota // the person whose request it is
	RoleApprover                   // a member of one of the resource's approver groups
	RoleAdmin                      // a policy admin
	RoleSystem                     // jitaccess itself: the sweeper, auto-approval
)

func (r Role) String() string {
	var names []string
	for _, n := range []struct {
		r    Role
		name string
	}{{RoleRequester, "requester"}, {RoleApprover, "approver"}, {RoleAdmin, "admin"}, {RoleSystem, "system"}} {
		if r&n.r != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, " or ")
}

// Transition is one row of the state table: from a state, on an event, to a
// state, by whom.
type Transition struct {
	From  State
	Event Event
	To    State
	By    Role
}

// transitions is the whole state machine. Nothing changes a request's state
// except by a row of this table; Next and NextTo are the only readers.
//
// approve moves pending to approved only when the approval completes the
// quorum (see Quorum); until then the approval is recorded and the request
// stays pending. approve and auto_approve have three rows: the first
// (approved) is the plain one that Next returns; a request with start_at
// ahead goes to scheduled and an extension to extended (GrantTarget picks
// the row, NextTo reads it). The rules on who is an eligible approver (not the
// requester, in an approver group, not twice) live in rules.go.
var transitions = []Transition{
	{StateNew, EventSubmit, StatePending, RoleRequester},
	{StatePending, EventApprove, StateApproved, RoleApprover},
	{StatePending, EventApprove, StateScheduled, RoleApprover},
	{StatePending, EventApprove, StateExtended, RoleApprover},
	{StatePending, EventAutoApprove, StateApproved, RoleSystem},
	{StatePending, EventAutoApprove, StateScheduled, RoleSystem},
	{StatePending, EventAutoApprove, StateExtended, RoleSystem},
	{StatePending, EventDeny, StateDenied, RoleApprover},
	{StatePending, EventCancel, StateCancelled, RoleRequester | RoleSystem},
	{StatePending, EventWithdrawApproval, StatePending, RoleSystem},
	{StatePending, EventTimeout, StateTimedOut, RoleSystem},
	{StatePending, EventBreakGlass, StateApproved, RoleRequester},
	{StateApproved, EventRelinquish, StateRevoked, RoleRequester},
	{StateApproved, EventRevoke, StateRevoked, RoleApprover | RoleAdmin | RoleSystem},
	{StateApproved, EventExpire, StateExpired, RoleSystem},
	{StateApproved, EventExtend, StateApproved, RoleApprover | RoleSystem},
	{StateScheduled, EventActivate, StateApproved, RoleSystem},
	{StateScheduled, EventCancel, StateCancelled, RoleRequester | RoleSystem},
	{StateScheduled, EventRevoke, StateRevoked, RoleApprover | RoleAdmin | RoleSystem},
}

// Transitions returns a copy of the state table, for documentation and tests.
func Transitions() []Transition { return append([]Transition(nil), transitions...) }

// Next returns the transition for event ev from state from, performed by an
// actor holding roles. It fails with CodeInvalidState when the table has no
// such row, naming the current state, and with CodeForbidden when the row
// exists but the actor holds none of the roles it needs.
func Next(from State, ev Event, roles Role) (Transition, error) {
	return NextTo(from, ev, "", roles)
}

// NextTo is Next for the row of (from, ev) that leads to to; to "" takes
// the first row, as Next does.
func NextTo(from State, ev Event, to State, roles Role) (Transition, error) {
	for _, t := range transitions {
		if t.From != from || t.Event != ev || (to != "" && t.To != to) {
			continue
		}
		if t.By&roles == 0 {
			return Transition{}, Errorf(CodeForbidden, "only the %s may %s a request", t.By, verb(ev))
		}
		return t, nil
	}
	return Transition{}, invalidState(from, ev)
}

func invalidState(from State, ev Event) *Error {
	var allowed []string
	for _, t := range transitions {
		if t.Event == ev && !slices.Contains(allowed, t.From.String()) {
			allowed = append(allowed, t.From.String())
		}
	}
	list := strings.Join(allowed, " or ")
	article := "a"
	if strings.ContainsRune("aeiou", rune(list[0])) {
		article = "an"
	}
	return Errorf(CodeInvalidState, "request is %s; only %s %s request can be %s",
		from, article, list, pastTense(ev))
}

func verb(ev Event) string { return strings.ReplaceAll(string(ev), "_", "-") }

func pastTense(ev Event) string {
	switch ev {
	case EventSubmit:
		return "submitted"
	case EventApprove, EventAutoApprove, EventBreakGlass:
		return "approved"
	case EventDeny:
		return "denied"
	case EventCancel:
		return "cancelled"
	case EventTimeout:
		return "timed out"
	case EventRelinquish:
		return "relinquished"
	case EventRevoke:
		return "revoked"
	case EventExpire:
		return "expired"
	case EventWithdrawApproval:
		return "withdrawn"
	case EventActivate:
		return "activated"
	case EventExtend:
		return "extended"
	}
	return string(ev)
}
