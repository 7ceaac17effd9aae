package workflow

import "context"

// Sources: the way in an audited action came. Each surface puts its own
// in the request's context (WithSource); the audit log's store stamps
// every record written in that context with it, and a record written
// outside any surface (the sweeper, cron jobs, re-evaluation) is system.
const (
	SourceAPI    = "api"    // the REST API with a bearer token
	SourceWeb    = "web"    // the web UI with a session
	SourceSlack  = "slack"  // Slack commands, buttons and forms
	SourceCLI    = "cli"    // the command line: its client commands over the API, or its commands on the database
	SourceMCP    = "mcp"    // the assistant endpoint (/mcp)
	SourceSCIM   = "scim"   // the identity provider over SCIM
	SourceSystem = "system" // jitaccess itself, on its own schedule
)

type sourceKey struct{}

// WithSource returns ctx carrying source for the audit records written in
// it. The innermost wins: the assistant endpoint, mounted behind the API's
// authentication (which says api), says mcp for its own calls.
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

// SourceFrom returns the source ctx carries ("" for none).
func SourceFrom(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// StampSource sets rec's source from ctx when it has none: the context's,
// else system.
func StampSource(ctx context.Context, rec *AuditRecord) {
	if rec.Source != "" {
		return
	}
	if rec.Source = SourceFrom(ctx); rec.Source == "" {
		rec.Source = SourceSystem
	}
}
