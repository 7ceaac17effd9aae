package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
	"github.com/jitaccess/jitaccess/web"
	"github.com/jitaccess/jitaccess/web/api"
)

// openAPIRouters caches one router per server: the document is built once
// per server and every API test's answers are checked against it.
var openAPIRouters sync.Map // *web.Server → routers.Router

func openAPIRouter(t *testing.T, srv *web.Server) routers.Router {
	t.Helper()
	if r, ok := openAPIRouters.Load(srv); ok {
		return r.(routers.Router)
	}
	raw, err := srv.OpenAPI()
	if err != nil {
		t.Fatalf("OpenAPI document: %v", err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	// The document names no server: requests are matched on their path.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	openAPIRouters.Store(srv, r)
	return r
}

// checkOpenAPI validates an answer of the API against the server's
// OpenAPI document (openAPIMismatch) and fails the test if it breaks it.
func checkOpenAPI(t *testing.T, srv *web.Server, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if err := openAPIMismatch(t, srv, req, status, header, body); err != nil {
		t.Errorf("%s %s answered %d, which the OpenAPI document does not describe: %v\nbody: %.400s", req.Method, req.URL.Path, status, err, body)
	}
}

// openAPIMismatch says how an answer breaks the document: its status must
// be documented for the operation and its body must match the schema.
// Requests that match no operation (an unknown path, a wrong method) are
// not described, so not checked; the request itself is not validated, as
// tests send bad ones on purpose.
func openAPIMismatch(t *testing.T, srv *web.Server, req *http.Request, status int, header http.Header, body []byte) error {
	t.Helper()
	if !strings.HasPrefix(req.URL.Path, "/api/v1/") && req.URL.Path != "/healthz" && req.URL.Path != "/readyz" && req.URL.Path != "/metrics" {
		return nil
	}
	router := openAPIRouter(t, srv)
	u := *req.URL
	u.Scheme, u.Host = "", ""
	match := req.Clone(context.Background())
	match.URL = &u
	route, params, err := router.FindRoute(match)
	if err != nil {
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: match, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// TestOpenAPIDocument: the document is served without a token, is a valid
// OpenAPI 3.1 document, and describes every route of the server.
func TestOpenAPIDocument(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newOversightEnv(t, db)
		r := e.callRaw(t, "GET", "/api/v1/openapi.json", "")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("openapi.json: %d %s", r.status, r.header.Get("Content-Type"))
		}
		doc, err := openapi3.NewLoader().LoadFromData([]byte(r.raw))
		if err != nil {
			t.Fatal(err)
		}
		if doc.OpenAPI != "3.1.0" {
			t.Fatalf("version %q", doc.OpenAPI)
		}
		if err := doc.Validate(context.Background()); err != nil {
			t.Fatalf("invalid document: %v", err)
		}
		if missing := api.Undescribed(e.web.Echo().Routes(), doc); len(missing) > 0 {
			t.Fatalf("routes the OpenAPI document lacks: %v", missing)
		}
		// A document that lacks a route is caught.
		doc.Paths.Delete("/api/v1/requests/{id}/approve")
		if missing := api.Undescribed(e.web.Echo().Routes(), doc); fmt.Sprint(missing) != "[POST /api/v1/requests/{id}/approve]" {
			t.Fatalf("a removed operation is not reported: %v", missing)
		}
		// Errors carry the one error shape, states and codes their lists.
		schemas := doc.Components.Schemas
		if s := schemas["RequestJSON"]; s == nil || !slices.Contains(s.Value.Required, "state") || schemas["RequestJSON"].Value.Properties["state"].Value.Enum == nil {
			t.Fatalf("RequestJSON schema: %+v", s)
		}
	})
}

// TestOpenAPIValidationCatches: an answer that breaks the document is
// reported, so the validation of every API test's answers can fail.
func TestOpenAPIValidationCatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newAPIEnv(t, db)
		req, _ := http.NewRequest("GET", "/api/v1/me", nil)
		jsonHeader := http.Header{"Content-Type": {"application/json"}}
		if err := openAPIMismatch(t, e.web, req, 200, jsonHeader, []byte(`{"name": "x", "admin": false, "in_policy": true}`)); err != nil {
			t.Fatalf("a good answer fails: %v", err)
		}
		for _, tc := range []struct {
			name   string
			status int
			body   string
		}{
			{"wrong type", 200, `{"name": 7, "admin": false, "in_policy": true}`},
			{"required field missing", 200, `{"name": "x"}`},
			{"undocumented status", 418, `{"error": {"code": "internal", "message": "x"}}`},
			{"unknown error code", 403, `{"error": {"code": "no_such_code", "message": "x"}}`},
			{"error without message", 401, `{"error": {"code": "unauthenticated"}}`},
		} {
			if err := openAPIMismatch(t, e.web, req, tc.status, jsonHeader, []byte(tc.body)); err == nil {
				t.Errorf("%s: %d %s passed validation", tc.name, tc.status, tc.body)
			}
		}
	})
}
