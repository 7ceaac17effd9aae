// Package scim serves the directory over SCIM 2.0 (RFC 7643/7644) at
// /scim/v2: the identity provider (Okta, Microsoft Entra ID) pushes people
// and groups with a service token of scope "scim".
//
// The handler is thin: github.com/elimity-com/scim parses and validates
// requests (schemas, filters, PATCH paths); this package turns them into
// the domain's desired states and calls workflow.Service, which decides,
// writes and audits. Every error leaves in SCIM's error schema.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	lib "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// Prefix is where the SCIM endpoints are mounted.
const Prefix = "/scim/v2"

// EnterpriseURN is the enterprise user extension's schema.
const EnterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// errorURN is SCIM's error message schema.
const errorURN = "urn:ietf:params:scim:api:messages:2.0:Error"

// maxPage is the most resources one list answers.
const maxPage = 200

// Handler serves /scim/v2.
type Handler struct {
	svc    *workflow.Service
	log    *slog.Logger
	server lib.Server
}

// New returns the SCIM handler over svc.
func New(svc *workflow.Service, log *slog.Logger) (*Handler, error) {
	if log == nil {
		log = slog.Default()
	}
	// Entra ID sends booleans as strings ("False"); the library accepts them
	// only with this (process-wide) switch. Nothing else in jitaccess uses
	// the library.
	schema.SetAllowStringValues(true)
	h := &Handler{svc: svc, log: log}
	users := &userHandler{h: h}
	groups := &groupHandler{h: h}
	srv, err := lib.NewServer(&lib.ServerArgs{
		ServiceProviderConfig: &lib.ServiceProviderConfig{
			DocumentationURI: optional.NewString("https://github.com/jitaccess/jitaccess/blob/main/docs/directory.md"),
			AuthenticationSchemes: []lib.AuthenticationScheme{{
				Type: lib.AuthenticationTypeOauthBearerToken, Name: "Bearer token",
				Description: "A jitaccess service token with scope scim: jitaccess token create --service okta --scope scim",
				Primary:     true,
			}},
			MaxResults:       maxPage,
			SupportFiltering: true,
			SupportPatch:     true,
		},
		ResourceTypes: []lib.ResourceType{
			{
				ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
				Description: optional.NewString("People"), Schema: schema.CoreUserSchema(),
				SchemaExtensions: []lib.SchemaExtension{{Schema: schema.ExtensionEnterpriseUser()}},
				Handler:          users,
			},
			{
				ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
				Description: optional.NewString("Groups; a policy group with the same name includes their members"),
				Schema:      schema.CoreGroupSchema(), Handler: groups,
			},
		},
	}, lib.WithLogger(libLogger{log}))
	if err != nil {
		return nil, err
	}
	h.server = srv
	return h, nil
}

// Register mounts the endpoints on e behind auth (the bearer-token
// middleware).
// MaxBody caps a SCIM request body: large enough for a group PATCH of a
// few thousand members, which identity providers send in one call. The
// server's general limit does not apply under Prefix (web.Config's
// OwnBodyLimits), so that a body over this one gets SCIM's error shape.
const MaxBody = 1 << 20

func (h *Handler) Register(e *echo.Echo, auth echo.MiddlewareFunc) {
	serve := h.authenticated(auth)
	e.Any(Prefix, serve)
	e.Any(Prefix+"/*", serve)
}

// ServeHTTP serves one authenticated request (the principal is in the
// request's context).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	who, _ := workflow.PrincipalFrom(r.Context())
	if who.IsUser() || !who.HasScope(workflow.ScopeSCIM) {
		writeError(w, http.StatusForbidden, "", fmt.Sprintf("the SCIM API needs a service token with scope %q", workflow.ScopeSCIM))
		return
	}
	if err := checkURLText(r); err != nil {
		writeError(w, http.StatusBadRequest, "invalidValue", workflow.ErrorMessage(err))
		return
	}
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodDelete {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusRequestEntityTooLarge, "", "the request body is too large")
				return
			}
			writeError(w, http.StatusBadRequest, "invalidSyntax", "cannot read the request body")
			return
		}
		if len(bytes.TrimSpace(body)) > 0 {
			body, err = normalizeBody(r.Method, body)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalidSyntax", "the request body is not valid JSON")
				return
			}
			if err := checkBodyText(body); err != nil {
				writeError(w, http.StatusBadRequest, "invalidValue", workflow.ErrorMessage(err))
				return
			}
			if err := checkAttributes(r.Method, r.URL.Path, body); err != nil {
				writeError(w, http.StatusBadRequest, "invalidSyntax", err.Error())
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	slot := &errSlot{}
	if r.Body != nil {
		slot.body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(slot.body))
	}
	r = r.WithContext(context.WithValue(r.Context(), errSlotKey{}, slot))
	r.URL.Path = strings.TrimPrefix(r.URL.Path, "/scim")
	buf := &bufferedWriter{header: http.Header{}}
	h.server.ServeHTTP(buf, r)
	if slot.err != nil {
		h.writeDomainError(w, slot.err)
		return
	}
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/scim+json")
	status := buf.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.body.Bytes())
}

// authenticated runs auth, answering its refusals in SCIM's error schema.
func (h *Handler) authenticated(auth echo.MiddlewareFunc) echo.HandlerFunc {
	inner := auth(func(c echo.Context) error {
		// After the API's authentication, which says api: this is SCIM.
		h.ServeHTTP(c.Response(), c.Request().WithContext(workflow.WithSource(c.Request().Context(), workflow.SourceSCIM)))
		return nil
	})
	return func(c echo.Context) error {
		if err := inner(c); err != nil {
			if c.Response().Committed {
				return err
			}
			if workflow.ErrorCode(httpkit.AsDomainError(err)) == workflow.CodeUnauthenticated {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="jitaccess-scim"`)
			}
			h.writeDomainError(c.Response(), httpkit.AsDomainError(err))
		}
		return nil
	}
}

// scimTypeOf gives the scimType of a domain error code, where SCIM has one.
var scimTypeOf = map[workflow.Code]string{
	workflow.CodeInvalid:      "invalidValue",
	workflow.CodeInvalidState: "uniqueness",
	workflow.CodePolicy:       "invalidValue",
	workflow.CodeTooLarge:     "",
}

func (h *Handler) writeDomainError(w http.ResponseWriter, err error) {
	code := workflow.ErrorCode(err)
	status := httpkit.Status(code)
	if code == workflow.CodePolicy {
		status = http.StatusBadRequest
	}
	if code == workflow.CodeInternal {
		h.log.Error("scim request failed", "err", err)
	}
	writeError(w, status, scimTypeOf[code], workflow.ErrorMessage(err))
}

func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	body := map[string]any{"schemas": []string{errorURN}, "status": strconv.Itoa(status), "detail": detail}
	if scimType != "" {
		body["scimType"] = scimType
	}
	raw, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// errSlot carries a domain error from a resource handler out of the
// library, so that it is answered with its own status (the library would
// turn, say, 503 into 500).
type errSlot struct {
	err  error
	body []byte // the request body as normalized
}

// known lists the attribute names (lower-cased) each endpoint accepts at
// the top level of a resource.
var known = map[string]map[string]bool{
	"/Users":  attributeNames(schema.CoreUserSchema(), EnterpriseURN),
	"/Groups": attributeNames(schema.CoreGroupSchema()),
}

func attributeNames(s schema.Schema, extensions ...string) map[string]bool {
	names := map[string]bool{"schemas": true, "id": true, "externalid": true, "meta": true}
	for _, a := range s.Attributes {
		names[strings.ToLower(a.Name())] = true
	}
	for _, e := range extensions {
		names[strings.ToLower(e)] = true
	}
	return names
}

// checkAttributes refuses a resource (POST, PUT, or a PATCH value without
// a path) that names an attribute the schema does not have: the library
// would drop it silently, and a provider's mapping error would go unseen.
func checkAttributes(method, path string, body []byte) error {
	path = strings.TrimPrefix(path, Prefix)
	endpoint := path
	if i := strings.Index(strings.TrimPrefix(path, "/"), "/"); i >= 0 {
		endpoint = path[:i+1]
	}
	names := known[endpoint]
	if names == nil {
		return nil
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		return nil // the library answers malformed bodies
	}
	var objects []map[string]any
	switch method {
	case http.MethodPost, http.MethodPut:
		objects = append(objects, doc)
	case http.MethodPatch:
		ops, _ := doc["Operations"].([]any)
		for _, o := range ops {
			op, _ := o.(map[string]any)
			if p, _ := op["path"].(string); p == "" {
				if v, ok := op["value"].(map[string]any); ok {
					objects = append(objects, v)
				}
			}
		}
	}
	for _, o := range objects {
		for k := range o {
			lk := strings.ToLower(k)
			if names[lk] {
				continue
			}
			// "urn:...:User:department" in an Entra PATCH value.
			if i := strings.LastIndex(lk, ":"); i > 0 && names[lk[:i]] {
				continue
			}
			return fmt.Errorf("unknown attribute %q", k)
		}
	}
	return nil
}

type errSlotKey struct{}

// fail records err for the request and returns it to the library.
func fail(r *http.Request, err error) error {
	var se scimerrors.ScimError
	if errors.As(err, &se) {
		return se
	}
	if slot, ok := r.Context().Value(errSlotKey{}).(*errSlot); ok {
		slot.err = err
	}
	return err
}

// managerName returns the enterprise manager's displayName from the raw
// request body: the library drops it (readOnly in RFC 7643), but
// providers send it and conditions may want it.
func managerName(r *http.Request) string {
	slot, ok := r.Context().Value(errSlotKey{}).(*errSlot)
	if !ok || len(slot.body) == 0 {
		return ""
	}
	var doc map[string]any
	if json.Unmarshal(slot.body, &doc) != nil {
		return ""
	}
	doc = lowerKeys(doc)
	ext, _ := doc[strings.ToLower(EnterpriseURN)].(map[string]any)
	m, _ := ext["manager"].(map[string]any)
	name, _ := m["displayname"].(string)
	return name
}

type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

type libLogger struct{ log *slog.Logger }

func (l libLogger) Error(args ...any) { l.log.Error("scim", "detail", fmt.Sprint(args...)) }

// logOutcome logs what a write's re-evaluation could not do: the write
// has committed, and the periodic reconcile catches up.
func (h *Handler) logOutcome(out workflow.DirectoryOutcome) {
	if out.ReconcileErr != nil {
		h.log.Error("re-evaluation after a SCIM change failed; the periodic reconcile will retry",
			"err", out.ReconcileErr, "people", len(out.Changes))
	}
}

// normalizeBody accepts what real identity providers send before the
// library validates it: PATCH operation names in any case ("Replace"),
// and booleans sent as strings ("False") for "active".
func normalizeBody(method string, body []byte) ([]byte, error) {
	var doc any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data")
	}
	m, ok := doc.(map[string]any)
	if !ok || method != http.MethodPatch {
		return body, nil
	}
	ops, _ := m["Operations"].([]any)
	if ops == nil {
		for k, v := range m {
			if strings.EqualFold(k, "operations") {
				delete(m, k)
				m["Operations"], _ = v.([]any)
				ops, _ = v.([]any)
			}
		}
	}
	for _, o := range ops {
		op, ok := o.(map[string]any)
		if !ok {
			continue
		}
		for k, v := range op {
			lk := strings.ToLower(k)
			if lk != k && (lk == "op" || lk == "path" || lk == "value") {
				delete(op, k)
				op[lk] = v
			}
		}
		if s, ok := op["op"].(string); ok {
			op["op"] = strings.ToLower(s)
		}
		path, _ := op["path"].(string)
		if strings.EqualFold(path, "active") {
			op["value"] = boolish(op["value"])
		}
		if vm, ok := op["value"].(map[string]any); ok && path == "" {
			for k, v := range vm {
				if strings.EqualFold(k, "active") {
					vm[k] = boolish(v)
				}
			}
		}
	}
	return json.Marshal(m)
}

// boolish turns "True"/"False" into booleans and leaves anything else.
func boolish(v any) any {
	if s, ok := v.(string); ok {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	return v
}

// checkURLText applies the server's one text rule (workflow.CheckText) to
// the path and every query parameter: NUL, invalid UTF-8 and control
// characters are refused in SCIM's error shape before they reach a filter
// or the database.
func checkURLText(r *http.Request) error {
	if err := workflow.CheckText("the path", r.URL.Path, false); err != nil {
		return err
	}
	for name, values := range r.URL.Query() {
		if err := workflow.CheckText("a query parameter name", name, false); err != nil {
			return err
		}
		for _, v := range values {
			if err := workflow.CheckText(fmt.Sprintf("query parameter %q", name), v, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBodyText applies workflow.CheckJSONText to a JSON body; a body
// that does not decode is left to the library's own answer.
func checkBodyText(body []byte) error {
	if !utf8.Valid(body) {
		return workflow.Errorf(workflow.CodeInvalid, "the request body is not valid UTF-8")
	}
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	return workflow.CheckJSONText("", doc)
}
