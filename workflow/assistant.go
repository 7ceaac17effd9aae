package workflow

import (
	"context"
	"slices"
	"strings"
)

// ActionAssistantCall records one call of a tool of the assistant
// endpoint (MCP): who, which tool, with what.
const ActionAssistantCall = "mcp.call"

// AssistantTools are the only things an assistant may do for a person:
// read the catalog, file a request and follow it. Deciding (approve,
// deny, revoke) is not among them and never will be: an assistant acting
// on a person's behalf must not be able to grant access.
var AssistantTools = []string{"list_resources", "request_access", "get_request", "list_my_requests"}

// RecordAssistantCall audits a call of an assistant tool by who, before
// the tool runs; the tool then acts as who through the usual use cases.
//
// Errors: CodeForbidden (not a person in the policy: the assistant acts
// for the signed-in person only, never for a service), CodeInvalid (a tool
// that is not an assistant tool).
func (s *Service) RecordAssistantCall(ctx context.Context, who Principal, tool, detail string) error {
	who, err := s.Resolve(ctx, who)
	if err != nil {
		return err
	}
	if !who.IsUser() {
		return Errorf(CodeForbidden, "the assistant acts for a person: use a token of your own (jitaccess token create --user EMAIL)")
	}
	if err := requireKnown(s.Policy(), who); err != nil {
		return err
	}
	if !slices.Contains(AssistantTools, tool) {
		return Errorf(CodeInvalid, "the assistant has no tool %q (it has %s)", tool, strings.Join(AssistantTools, ", "))
	}
	reason := tool
	if detail != "" {
		reason += " " + detail
	}
	rec := &AuditRecord{At: s.now(), Actor: who.Name(), Action: ActionAssistantCall, Subject: who.Email, Reason: Clip(reason, 500)}
	return s.store.InTx(ctx, func(tx Tx) error { return tx.AppendAudit(ctx, rec) })
}
