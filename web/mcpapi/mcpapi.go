// Package mcpapi is the assistant endpoint: /mcp speaks the Model Context
// Protocol (streamable HTTP, stateless) so that an AI assistant can list
// the resources a person may ask for, file a request and follow it, as
// that person, with that person's API token. It offers no tool that
// decides: the workflow's AssistantTools are the whole list, and every
// call is audited (mcp.call) before it runs. Like the other surfaces it
// decodes, authenticates, calls the service and encodes.
package mcpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/jitaccess/jitaccess/workflow"
)

// Path is where the endpoint is mounted.
const Path = "/mcp"

// Handler serves /mcp.
type Handler struct {
	svc     *workflow.Service
	log     *slog.Logger
	version string
	schemas *mcp.SchemaCache
	http    http.Handler
}

// New returns the endpoint over svc.
func New(svc *workflow.Service, version string, log *slog.Logger) *Handler {
	h := &Handler{svc: svc, log: log, version: version, schemas: mcp.NewSchemaCache()}
	// Stateless: each HTTP request is judged on its own token, and its
	// server is built for that person alone (a session cannot carry one
	// person's standing into another's request).
	h.http = mcp.NewStreamableHTTPHandler(h.serverFor, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	return h
}

// Register mounts the endpoint behind auth, the API's bearer
// authentication (and rate limits).
func (h *Handler) Register(e *echo.Echo, auth echo.MiddlewareFunc) {
	e.POST(Path, echo.WrapHandler(h.http), auth)
}

// serverFor builds the MCP server for the person the request was
// authenticated as.
func (h *Handler) serverFor(r *http.Request) *mcp.Server {
	who, ok := workflow.PrincipalFrom(r.Context())
	if !ok {
		return nil
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "jitaccess", Version: h.version}, &mcp.ServerOptions{
		SchemaCache: h.schemas,
		Instructions: "jitaccess grants just-in-time access to customer data. You act for the person whose token this is: " +
			"you can list what they may ask for, file a request with a reason, and follow it. Approving, denying and revoking " +
			"are for people in the web UI or Slack, never for an assistant.",
	})
	t := tools{h: h, who: who}
	mcp.AddTool(s, &mcp.Tool{Name: "list_resources", Description: "The resources this person may see, whether they may request each, and its limits.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.listResources)
	mcp.AddTool(s, &mcp.Tool{Name: "request_access", Description: "File a request for access to one resource for a duration (like 30m or 2h) with a reason, as this person. Approvers decide it; follow it with get_request.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: new(bool)}}, t.requestAccess)
	mcp.AddTool(s, &mcp.Tool{Name: "get_request", Description: "One of this person's requests: its state (pending, approved, denied, ...), approvals and expiry.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.getRequest)
	mcp.AddTool(s, &mcp.Tool{Name: "list_my_requests", Description: "This person's requests, newest first, optionally in one state.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, t.listMine)
	return s
}

// tools are the assistant's tools for one person.
type tools struct {
	h   *Handler
	who workflow.Principal
}

// Resource is a catalog entry as the assistant sees it.
type Resource struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	Description       string   `json:"description,omitempty"`
	Tier              string   `json:"tier"`
	MaxDuration       string   `json:"max_duration"`
	CanRequest        bool     `json:"can_request"`
	ApprovalsRequired int      `json:"approvals_required"`
	AutoApprove       bool     `json:"auto_approve"`
	Purposes          []string `json:"purposes,omitempty"`
	TicketRequired    bool     `json:"ticket_required"`
}

// Resources is list_resources' answer.
type Resources struct {
	Resources []Resource `json:"resources"`
}

// Request is a request as the assistant sees it.
type Request struct {
	ID                string     `json:"id"`
	Resource          string     `json:"resource"`
	State             string     `json:"state"`
	Duration          string     `json:"duration"`
	Reason            string     `json:"reason"`
	Purpose           string     `json:"purpose,omitempty"`
	Ticket            string     `json:"ticket,omitempty"`
	Approvals         int        `json:"approvals"`
	ApprovalsRequired int        `json:"approvals_required"`
	CreatedAt         time.Time  `json:"created_at"`
	ReviewDeadline    time.Time  `json:"review_deadline"`
	ExpiresAt         *time.Time `json:"expires_at,omitempty"`
	EndReason         string     `json:"end_reason,omitempty"`
	Notices           []string   `json:"notices,omitempty"`
	// StartAt is a scheduled request's start; Extends the grant an
	// extension extends.
	StartAt *time.Time `json:"start_at,omitempty"`
	Extends string     `json:"extends,omitempty"`
}

// Requests is list_my_requests' answer.
type Requests struct {
	Requests []Request `json:"requests"`
}

// RequestAccessInput is request_access's input.
type RequestAccessInput struct {
	Resource string `json:"resource" jsonschema:"the resource id, from list_resources"`
	Duration string `json:"duration" jsonschema:"how long, like 30m or 2h, at most the resource's max_duration"`
	Reason   string `json:"reason" jsonschema:"why the person needs it (the case); never paste customer data"`
	Ticket   string `json:"ticket,omitempty" jsonschema:"the ticket or case id, where the resource requires one"`
	Purpose  string `json:"purpose,omitempty" jsonschema:"one of the resource's purposes, where it lists them"`
}

// GetRequestInput is get_request's input.
type GetRequestInput struct {
	ID string `json:"id" jsonschema:"the request id request_access answered"`
}

// ListMineInput is list_my_requests' input.
type ListMineInput struct {
	State string `json:"state,omitempty" jsonschema:"pending, approved, denied, cancelled, timed_out, expired, revoked, scheduled or extended"`
}

// NoInput is the input of a tool that takes none.
type NoInput struct{}

func (t tools) record(ctx context.Context, tool, detail string) error {
	return t.h.svc.RecordAssistantCall(ctx, t.who, tool, detail)
}

// mcpContext is the context of a tool call: what it audits came through the
// assistant endpoint.
func mcpContext(ctx context.Context) context.Context {
	return workflow.WithSource(ctx, workflow.SourceMCP)
}

func (t tools) listResources(ctx context.Context, _ *mcp.CallToolRequest, _ NoInput) (*mcp.CallToolResult, Resources, error) {
	ctx = mcpContext(ctx)
	if err := t.record(ctx, "list_resources", ""); err != nil {
		return nil, Resources{}, t.h.refusal(err)
	}
	views, err := t.h.svc.Resources(ctx, t.who)
	if err != nil {
		return nil, Resources{}, t.h.refusal(err)
	}
	out := Resources{Resources: make([]Resource, 0, len(views))}
	for _, v := range views {
		out.Resources = append(out.Resources, Resource{ID: v.ID, Name: v.Name, Description: v.Description, Tier: string(v.Tier),
			MaxDuration: workflow.FormatDuration(v.MaxDuration), CanRequest: v.CanRequest, ApprovalsRequired: v.ApprovalsRequired,
			AutoApprove: v.AutoApprove, Purposes: v.Purposes, TicketRequired: v.TicketRequired})
	}
	return nil, out, nil
}

func (t tools) requestAccess(ctx context.Context, _ *mcp.CallToolRequest, in RequestAccessInput) (*mcp.CallToolResult, Request, error) {
	ctx = mcpContext(ctx)
	// The reason is free text that may hold customer data: it is masked by
	// Submit before it is stored, and kept out of the call's own record.
	if err := t.record(ctx, "request_access", fmt.Sprintf("resource=%q duration=%q", workflow.Clip(in.Resource, 100), workflow.Clip(in.Duration, 20))); err != nil {
		return nil, Request{}, t.h.refusal(err)
	}
	d, err := time.ParseDuration(in.Duration)
	if err != nil {
		return nil, Request{}, t.h.refusal(workflow.Errorf(workflow.CodeInvalid, "duration %q is not a duration like 30m or 2h", in.Duration))
	}
	req, err := t.h.svc.Submit(ctx, t.who, workflow.SubmitInput{Resource: in.Resource, Duration: d, Reason: in.Reason, Ticket: in.Ticket, Purpose: in.Purpose})
	if err != nil {
		return nil, Request{}, t.h.refusal(err)
	}
	return nil, requestOf(req), nil
}

func (t tools) getRequest(ctx context.Context, _ *mcp.CallToolRequest, in GetRequestInput) (*mcp.CallToolResult, Request, error) {
	ctx = mcpContext(ctx)
	if err := t.record(ctx, "get_request", fmt.Sprintf("id=%q", workflow.Clip(in.ID, 100))); err != nil {
		return nil, Request{}, t.h.refusal(err)
	}
	d, err := t.h.svc.Get(ctx, t.who, in.ID)
	if err != nil {
		return nil, Request{}, t.h.refusal(err)
	}
	// Only the person's own requests: an approver's assistant does not
	// read the requests they could decide.
	if d.Request.Requester != t.who.Email {
		return nil, Request{}, t.h.refusal(workflow.Errorf(workflow.CodeNotFound, "no request %q of yours", in.ID))
	}
	return nil, requestOf(d.Request), nil
}

func (t tools) listMine(ctx context.Context, _ *mcp.CallToolRequest, in ListMineInput) (*mcp.CallToolResult, Requests, error) {
	ctx = mcpContext(ctx)
	if err := t.record(ctx, "list_my_requests", fmt.Sprintf("state=%q", workflow.Clip(in.State, 20))); err != nil {
		return nil, Requests{}, t.h.refusal(err)
	}
	state, err := workflow.ParseState(in.State)
	if err != nil {
		return nil, Requests{}, t.h.refusal(err)
	}
	reqs, _, err := t.h.svc.List(ctx, t.who, workflow.RequestQuery{State: state, Requester: t.who.Email, Limit: 50})
	if err != nil {
		return nil, Requests{}, t.h.refusal(err)
	}
	out := Requests{Requests: make([]Request, 0, len(reqs))}
	for _, r := range reqs {
		out.Requests = append(out.Requests, requestOf(r))
	}
	return nil, out, nil
}

func requestOf(r *workflow.Request) Request {
	return Request{ID: r.ID, Resource: r.Resource, State: string(r.State), Duration: workflow.FormatDuration(r.Duration), Reason: r.Reason,
		Purpose: r.Purpose, Ticket: r.Ticket, Approvals: len(r.Counting()), ApprovalsRequired: r.RequiredApprovals,
		CreatedAt: r.CreatedAt, ReviewDeadline: r.ReviewDeadline, ExpiresAt: r.ExpiresAt, EndReason: r.EndReason, Notices: r.Notices,
		StartAt: r.StartAt, Extends: r.Extends}
}

// refusal is a tool error the assistant can read and relay: the
// domain's code and message, as the API would say them ("policy_violation:
// duration 3h is longer than ..."). An internal error says only "Internal
// error." and its cause is logged.
func (h *Handler) refusal(err error) error {
	var we *workflow.Error
	if errors.As(err, &we) && we.Code != workflow.CodeInternal {
		return fmt.Errorf("%s: %s", we.Code, we.Message)
	}
	h.log.Error("assistant tool failed", "err", err)
	return errors.New("Internal error.")
}
