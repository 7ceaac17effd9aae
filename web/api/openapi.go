package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// Operation describes one endpoint of the JSON API for the OpenAPI
// document at GET /api/v1/openapi.json. Bodies and answers are given as
// values of the Go types the handler decodes and encodes, so the schemas
// are generated from the very types on the wire; the API tests validate
// every answer against the document, and a test fails when a route is
// served that the document lacks.
type Operation struct {
	Method, Path string // Path as OpenAPI writes it: /api/v1/requests/{id}
	Summary      string
	Tag          string
	// Public endpoints take no bearer token.
	Public bool
	Query  []Param
	// Body is the request body (nil: none); BodyOptional when it may be
	// left out.
	Body         any
	BodyOptional bool
	// Status is the success status and Out its body (nil: none).
	// OutType is the body's media type when it is not JSON.
	Status  int
	Out     any
	OutType string
	// Errors are the statuses the operation may answer with the error
	// body, beside those every authenticated operation may (400, 401,
	// 403, 429, 500, 503).
	Errors []int
	// Idempotent operations honour Idempotency-Key.
	Idempotent bool
}

// Param is a query parameter.
type Param struct {
	Name, Description string
	Type              string // "string" (default), "integer", "date-time"
	Repeated          bool
}

func q(name, desc string) Param { return Param{Name: name, Description: desc} }

var (
	pLimit  = Param{Name: "limit", Description: "page size, 1 to 500", Type: "integer"}
	pCursor = q("cursor", "next_cursor of the previous page")
	pSince  = Param{Name: "since", Description: "RFC 3339 time", Type: "date-time"}
	pUntil  = Param{Name: "until", Description: "RFC 3339 time", Type: "date-time"}
)

// coreOperations are the endpoints the web package serves itself.
func coreOperations() []Operation {
	post := []int{404, 409, 413, 422}
	return []Operation{
		{Method: "GET", Path: "/healthz", Summary: "The process is up", Tag: "health", Public: true, Status: 200, Out: StatusJSON{}},
		{Method: "GET", Path: "/readyz", Summary: "The database answers and every migration is applied (503 otherwise)", Tag: "health", Public: true, Status: 200, Out: StatusJSON{}},
		{Method: "GET", Path: "/api/v1/openapi.json", Summary: "This document", Tag: "meta", Public: true, Status: 200, Out: map[string]any{}},
		{Method: "GET", Path: "/api/v1/me", Summary: "Who the token belongs to", Tag: "requests", Status: 200, Out: MeJSON{}},
		{Method: "POST", Path: "/api/v1/requests", Summary: "File a request", Tag: "requests", Body: createRequestBody{}, Status: 201, Out: RequestJSON{}, Errors: post, Idempotent: true},
		{Method: "GET", Path: "/api/v1/requests", Summary: "Requests you may see", Tag: "requests",
			Query:  []Param{q("state", "a request state"), q("requester", "email"), q("resource", "resource id"), pLimit, pCursor, q("order", "newest (default) or oldest")},
			Status: 200, Out: RequestPageJSON{}},
		{Method: "GET", Path: "/api/v1/requests/{id}", Summary: "One request with its history", Tag: "requests", Status: 200, Out: RequestJSON{}, Errors: []int{404}},
		{Method: "GET", Path: "/api/v1/decisions", Summary: "Pending requests you may decide", Tag: "requests", Query: []Param{pLimit, pCursor}, Status: 200, Out: RequestPageJSON{}},
		{Method: "GET", Path: "/api/v1/grants", Summary: "Access live now that you may see", Tag: "requests", Query: []Param{pLimit, pCursor}, Status: 200, Out: RequestPageJSON{}},
		{Method: "POST", Path: "/api/v1/requests/{id}/approve", Summary: "Approve", Tag: "requests", Body: decisionBody{}, BodyOptional: true, Status: 200, Out: RequestJSON{}, Errors: post, Idempotent: true},
		{Method: "POST", Path: "/api/v1/requests/{id}/deny", Summary: "Deny (a reason is required)", Tag: "requests", Body: decisionBody{}, Status: 200, Out: RequestJSON{}, Errors: post, Idempotent: true},
		{Method: "POST", Path: "/api/v1/requests/{id}/cancel", Summary: "Withdraw your own pending request", Tag: "requests", Body: decisionBody{}, BodyOptional: true, Status: 200, Out: RequestJSON{}, Errors: post, Idempotent: true},
		{Method: "POST", Path: "/api/v1/requests/{id}/revoke", Summary: "End live access (relinquish your own)", Tag: "requests", Body: decisionBody{}, BodyOptional: true, Status: 200, Out: RequestJSON{}, Errors: post, Idempotent: true},
		{Method: "POST", Path: "/api/v1/requests/{id}/review", Summary: "Sign off the post-hoc review of emergency (break-glass) access", Tag: "requests", Body: decisionBody{}, BodyOptional: true, Status: 200, Out: RequestJSON{}, Errors: post, Idempotent: true},
		{Method: "POST", Path: "/api/v1/requests/{id}/extend", Summary: "Ask for more time on your live grant (an extension: a request of its own, decided like any)", Tag: "requests", Body: extendRequestBody{}, Status: 201, Out: RequestJSON{}, Errors: post, Idempotent: true},
		{Method: "GET", Path: "/api/v1/resources", Summary: "The catalog as you may use it", Tag: "requests", Status: 200, Out: ResourceListJSON{}},
		{Method: "GET", Path: "/api/v1/grants/check", Summary: "Whether a person holds live access now", Tag: "check",
			Query: []Param{q("user", "email"), q("resource", "resource id")}, Status: 200, Out: CheckJSON{}, Errors: []int{404}},
		{Method: "POST", Path: "/api/v1/mask", Summary: "Mask a record for a person", Tag: "check", Body: maskBody{}, Status: 200, Out: MaskJSON{}, Errors: []int{404, 413, 422}},
		{Method: "POST", Path: "/api/v1/detokenize", Summary: "Open encrypt-style tokens under a live grant", Tag: "check", Body: detokenizeBody{}, Status: 200, Out: DetokenizeJSON{}, Errors: []int{404, 413, 422}},
		{Method: "GET", Path: "/api/v1/provisioning", Summary: "Where provisioning stands (admins)", Tag: "provisioning",
			Query: []Param{q("status", "pending, applied, removed or failed"), q("operation", "apply or remove"), pLimit}, Status: 200, Out: ProvisioningPageJSON{}, Errors: []int{404}},
		{Method: "GET", Path: "/api/v1/audit", Summary: "Audit records you may read", Tag: "audit",
			Query:  []Param{q("request", "request id"), q("actor", "who acted"), q("subject", "whose access"), q("person", "actor or subject"), q("resource", "resource id"), q("action", "audited action"), pSince, pUntil, pLimit, pCursor},
			Status: 200, Out: AuditPageJSON{}},
		{Method: "GET", Path: "/api/v1/policy/versions", Summary: "The policy history (admins, reviewers)", Tag: "policy", Query: []Param{pLimit, pCursor}, Status: 200, Out: PolicyVersionPageJSON{}},
		{Method: "GET", Path: "/api/v1/policy/explain", Summary: "Whether a person may request a resource, and who would approve", Tag: "policy",
			Query: []Param{q("user", "email"), q("resource", "resource id")}, Status: 200, Out: workflow.Explanation{}, Errors: []int{404}},
	}
}

// oversightOperations are the audit, review and dashboard endpoints,
// served when oversight is wired.
func oversightOperations() []Operation {
	period := []Param{pSince, pUntil, q("resource", "resource id"), q("person", "email")}
	return []Operation{
		{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics (the metrics token, when one is set)", Tag: "health", Public: true, Status: 200, OutType: "text/plain", Errors: []int{401}},
		{Method: "GET", Path: "/api/v1/audit/export", Summary: "Export the audit log (JSON lines or CSV), itself audited", Tag: "audit",
			Query:  []Param{q("format", "jsonl (default) or csv"), pSince, pUntil, q("person", "email"), q("resource", "resource id"), q("request", "request id")},
			Status: 200, OutType: "application/x-ndjson"},
		{Method: "GET", Path: "/api/v1/audit/verify", Summary: "Verify the audit chain now", Tag: "audit",
			Query: []Param{{Name: "checkpoint", Description: "ID:HASH a record must still have", Repeated: true}}, Status: 200, Out: audit.Result{}},
		{Method: "GET", Path: "/api/v1/audit/status", Summary: "The last scheduled verification", Tag: "audit", Status: 200, Out: AuditStatusJSON{}},
		{Method: "GET", Path: "/api/v1/reviews/report", Summary: "An access report over a period", Tag: "reviews", Query: period, Status: 200, Out: ReportJSON{}},
		{Method: "GET", Path: "/api/v1/reviews/campaigns", Summary: "Review campaigns of the last year and where each stands", Tag: "reviews", Status: 200, Out: CampaignsJSON{}},
		{Method: "GET", Path: "/api/v1/reviews", Summary: "Access reviews", Tag: "reviews", Query: []Param{pLimit, pCursor}, Status: 200, Out: ReviewPageJSON{}},
		{Method: "POST", Path: "/api/v1/reviews", Summary: "Open a review", Tag: "reviews", Body: openReviewBody{}, Status: 201, Out: ReviewJSON{}, Errors: []int{404, 409, 413, 422}, Idempotent: true},
		{Method: "GET", Path: "/api/v1/reviews/{id}", Summary: "A review with its report and follow-ups", Tag: "reviews", Status: 200, Out: ReviewJSON{}, Errors: []int{404}},
		{Method: "POST", Path: "/api/v1/reviews/{id}/signoff", Summary: "Sign a review off", Tag: "reviews", Body: signOffBody{}, BodyOptional: true, Status: 200, Out: ReviewJSON{}, Errors: []int{404, 409, 413, 422}, Idempotent: true},
		{Method: "POST", Path: "/api/v1/reviews/{id}/followups", Summary: "Mark an item of a review for follow-up", Tag: "reviews", Body: followUpBody{}, Status: 201, Out: FollowUpJSON{}, Errors: []int{404, 409, 413, 422}, Idempotent: true},
		{Method: "POST", Path: "/api/v1/followups/{id}/resolve", Summary: "Resolve a follow-up", Tag: "reviews", Body: resolveBody{}, Status: 200, Out: FollowUpJSON{}, Errors: []int{404, 409, 413, 422}, Idempotent: true},
		{Method: "GET", Path: "/api/v1/flags", Summary: "Anomaly flags over a period", Tag: "reviews", Query: append(period, q("kind", "a flag kind")), Status: 200, Out: FlagsJSON{}},
		{Method: "GET", Path: "/api/v1/dashboard", Summary: "Dashboard figures over a period", Tag: "reviews", Query: []Param{pSince, pUntil}, Status: 200, Out: DashboardJSON{}},
		{Method: "GET", Path: "/api/v1/dashboard/charts/{name}", Summary: "One dashboard chart as SVG", Tag: "reviews", Query: []Param{pSince, pUntil}, Status: 200, OutType: "image/svg+xml", Errors: []int{404}},
	}
}

// Describe adds operations served by other surfaces (Slack's admin
// endpoints) to the OpenAPI document. Call it while wiring, before the
// server answers.
func (s *API) Describe(ops ...Operation) {
	s.openapi.mu.Lock()
	defer s.openapi.mu.Unlock()
	s.openapi.ops = append(s.openapi.ops, ops...)
	s.openapi.doc = nil
}

// openAPIDoc is the document, built once from the operations on first use.
type openAPIDoc struct {
	mu  sync.Mutex
	ops []Operation
	doc []byte
	err error
}

// OpenAPI returns the OpenAPI 3.1 document of the API this server serves.
func (s *API) OpenAPI() ([]byte, error) {
	s.openapi.mu.Lock()
	defer s.openapi.mu.Unlock()
	if s.openapi.doc == nil && s.openapi.err == nil {
		s.openapi.doc, s.openapi.err = buildOpenAPI(s.openapi.ops)
	}
	return s.openapi.doc, s.openapi.err
}

// GET /api/v1/openapi.json
func (s *API) serveOpenAPI(c echo.Context) error {
	if err := httpkit.CheckQuery(c); err != nil {
		return err
	}
	doc, err := s.OpenAPI()
	if err != nil {
		return workflow.Internal(err, "build the OpenAPI document")
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, doc)
}

// alwaysErrors are the statuses every authenticated operation may answer.
var alwaysErrors = []int{400, 401, 403, 429, 500, 503}

func buildOpenAPI(ops []Operation) ([]byte, error) {
	doc := &openapi3.T{
		OpenAPI: "3.1.0",
		Info: &openapi3.Info{Title: "jitaccess API", Version: "v1",
			Description: "Just-in-time access approval. Every call but the public ones needs Authorization: Bearer TOKEN. " +
				"Errors are {\"error\": {\"code\", \"message\"}}; one code maps to one status (docs/api.md)."},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{Schemas: openapi3.Schemas{}, SecuritySchemes: openapi3.SecuritySchemes{}},
	}
	doc.Components.SecuritySchemes["bearer"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme().WithBearerFormat("jit_ token")}
	gen := openapi3gen.NewGenerator(
		openapi3gen.CreateComponentSchemas(openapi3gen.ExportComponentSchemasOptions{ExportComponentSchemas: true, ExportTopLevelSchema: true}),
		openapi3gen.UseAllExportedFields(), // as encoding/json: untagged fields by their Go name
		openapi3gen.SchemaCustomizer(customizeSchema))
	schema := func(v any) (*openapi3.SchemaRef, error) {
		return gen.NewSchemaRefForValue(v, doc.Components.Schemas)
	}
	errRef, err := schema(httpkit.ErrorBody{})
	if err != nil {
		return nil, err
	}
	notReady, err := schema(NotReadyJSON{})
	if err != nil {
		return nil, err
	}
	for _, op := range ops {
		o := openapi3.NewOperation()
		o.Summary, o.Tags = op.Summary, []string{op.Tag}
		o.OperationID = operationID(op)
		if !op.Public {
			o.Security = &openapi3.SecurityRequirements{{"bearer": []string{}}}
		}
		for _, name := range pathParams(op.Path) {
			o.AddParameter(openapi3.NewPathParameter(name).WithRequired(true).WithSchema(openapi3.NewStringSchema()))
		}
		for _, p := range op.Query {
			o.AddParameter(queryParam(p))
		}
		if op.Idempotent {
			o.AddParameter(openapi3.NewHeaderParameter(HeaderIdempotencyKey).WithDescription("makes a retry safe (docs/api.md#idempotency)").
				WithSchema(openapi3.NewStringSchema().WithMinLength(1).WithMaxLength(255)))
		}
		if op.Body != nil {
			ref, err := schema(op.Body)
			if err != nil {
				return nil, fmt.Errorf("%s %s body: %w", op.Method, op.Path, err)
			}
			rb := openapi3.NewRequestBody().WithJSONSchemaRef(ref)
			rb.Required = !op.BodyOptional
			o.RequestBody = &openapi3.RequestBodyRef{Value: rb}
		}
		o.Responses = openapi3.NewResponses()
		o.Responses.Delete("default")
		ok := openapi3.NewResponse().WithDescription(http.StatusText(op.Status))
		switch {
		case op.Out != nil:
			ref, err := schema(op.Out)
			if err != nil {
				return nil, fmt.Errorf("%s %s answer: %w", op.Method, op.Path, err)
			}
			ok.WithJSONSchemaRef(ref)
		case op.OutType != "":
			ok.Content = openapi3.Content{op.OutType: openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())}
			if op.OutType == "application/x-ndjson" {
				ok.Content["text/csv"] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
			}
		}
		o.Responses.Set(fmt.Sprint(op.Status), &openapi3.ResponseRef{Value: ok})
		errs := slices.Clone(op.Errors)
		if !op.Public {
			errs = append(errs, alwaysErrors...)
		}
		if op.Path == "/readyz" {
			o.Responses.Set("503", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("not ready").WithJSONSchemaRef(notReady)})
		}
		slices.Sort(errs)
		for _, st := range slices.Compact(errs) {
			r := openapi3.NewResponse().WithDescription(http.StatusText(st)).WithJSONSchemaRef(errRef)
			o.Responses.Set(fmt.Sprint(st), &openapi3.ResponseRef{Value: r})
		}
		doc.AddOperation(op.Path, op.Method, o)
	}
	return json.MarshalIndent(doc, "", "  ")
}

func operationID(op Operation) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.Method))
	for _, part := range strings.FieldsFunc(op.Path, func(r rune) bool { return r == '/' || r == '.' || r == '{' || r == '}' }) {
		if part == "api" || part == "v1" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func pathParams(path string) []string {
	var out []string
	for _, part := range strings.Split(path, "/") {
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
			out = append(out, part[1:len(part)-1])
		}
	}
	return out
}

func queryParam(p Param) *openapi3.Parameter {
	var s *openapi3.Schema
	switch p.Type {
	case "integer":
		s = openapi3.NewIntegerSchema().WithMin(1).WithMax(httpkit.MaxLimit)
	case "date-time":
		s = openapi3.NewDateTimeSchema()
	default:
		s = openapi3.NewStringSchema()
	}
	if p.Repeated {
		s = openapi3.NewArraySchema().WithItems(s)
	}
	return openapi3.NewQueryParameter(p.Name).WithDescription(p.Description).WithSchema(s)
}

var (
	rawMessageType    = reflect.TypeOf(json.RawMessage{})
	textMarshalerType = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
	stateType         = reflect.TypeOf(workflow.State(""))
	timeType          = reflect.TypeOf(time.Time{})
	codeType          = reflect.TypeOf(workflow.Code(""))
)

// customizeSchema makes the generated schemas say what encoding/json
// writes: raw JSON is any value, text marshalers are strings, a pointer
// may be null (OpenAPI 3.1: a type list with "null"), fields without
// omitempty are always there (required), and states and error codes are
// the code's own lists.
func customizeSchema(_ string, t reflect.Type, _ reflect.StructTag, schema *openapi3.Schema) error {
	switch {
	case t == rawMessageType:
		*schema = openapi3.Schema{}
		return nil
	case t != timeType && (t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)):
		nullable := schema.Nullable
		*schema = *openapi3.NewStringSchema()
		schema.Nullable = nullable
		if t.Kind() == reflect.Struct {
			// The generator keeps a struct's component only when it has
			// properties; an empty map is written as none.
			schema.Properties = openapi3.Schemas{}
			return nil
		}
	case t == stateType:
		schema.Enum = nil
		for _, s := range workflow.States {
			schema.Enum = append(schema.Enum, string(s))
		}
	case t == codeType:
		schema.Enum = nil
		for _, c := range httpkit.Codes() {
			schema.Enum = append(schema.Enum, string(c))
		}
	}
	// A pointer to a struct is a $ref to its component, made nullable at
	// the field (nullableRefs); time.Time is inline.
	if schema.Nullable && (t.Kind() != reflect.Struct || t == timeType) {
		schema.Nullable = false
		if schema.Type != nil {
			*schema.Type = append(*schema.Type, openapi3.TypeNull)
		}
		if schema.Enum != nil {
			schema.Enum = append(schema.Enum, nil)
		}
	}
	if t.Kind() == reflect.Struct && t != reflect.TypeOf(struct{}{}) && schema.Properties != nil {
		schema.Required = requiredFields(t)
		nullableRefs(t, schema)
	}
	return nil
}

// requiredFields are the JSON names of t's fields that encoding/json
// always writes: tagged, not "-", without omitempty or omitzero.
func requiredFields(t reflect.Type) []string {
	var out []string
	for f := range jsonFields(t) {
		if !f.optional {
			out = append(out, f.name)
		}
	}
	sort.Strings(out)
	return out
}

// nullableRefs lets a pointer-to-struct field, which the generator writes
// as a $ref to the struct's component, also be null.
func nullableRefs(t reflect.Type, schema *openapi3.Schema) {
	for f := range jsonFields(t) {
		ref := schema.Properties[f.name]
		if f.typ.Kind() != reflect.Pointer || ref == nil || !strings.HasPrefix(ref.Ref, "#/components/schemas/") {
			continue
		}
		schema.Properties[f.name] = &openapi3.SchemaRef{Value: &openapi3.Schema{AnyOf: openapi3.SchemaRefs{
			{Ref: ref.Ref}, {Value: &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeNull}}},
		}}}
	}
}

type jsonField struct {
	name     string
	optional bool
	typ      reflect.Type
}

// jsonFields yields t's JSON fields, embedded structs' promoted.
func jsonFields(t reflect.Type) func(yield func(jsonField) bool) {
	return func(yield func(jsonField) bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, hasTag := f.Tag.Lookup("json")
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && (!hasTag || name == "") && f.Type.Kind() == reflect.Struct {
				for g := range jsonFields(f.Type) {
					if !yield(g) {
						return
					}
				}
				continue
			}
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			optional := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
			if !yield(jsonField{name: name, optional: optional, typ: f.Type}) {
				return
			}
		}
	}
}

// Undescribed lists the routes (as "METHOD /path/{param}") of the API
// that doc lacks: every route under /api/v1 and the health and metrics
// endpoints. A test runs it over the server's routes.
func Undescribed(routes []*echo.Route, doc *openapi3.T) []string {
	var out []string
	for _, r := range routes {
		if r.Method == echo.RouteNotFound || (!strings.HasPrefix(r.Path, "/api/v1/") && r.Path != "/healthz" && r.Path != "/readyz" && r.Path != "/metrics") {
			continue
		}
		path := openAPIPath(r.Path)
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(r.Method) == nil {
			out = append(out, r.Method+" "+path)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// openAPIPath turns echo's /requests/:id into OpenAPI's /requests/{id}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			parts[i] = "{" + part[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}
