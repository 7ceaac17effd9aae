package httpkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/workflow"
)

// DecodeJSON reads the request body into v, strictly: unknown fields,
// trailing data and wrong types are 400 with a message that says which
// field. An empty body is allowed when optional is set. The Content-Type
// is not checked (curl -d sends a form type): the body must parse as JSON
// whatever it says, and the API takes no cookies, so a cross-site form
// post cannot act for anyone.
func DecodeJSON(c echo.Context, v any, optional bool) error {
	return DecodeJSONFrom(c.Request().Body, v, optional)
}

// DecodeJSONFrom is decodeJSON on a reader. Besides the strict decoding it
// refuses invalid text in every string and key (checkJSONText): encoding/json
// would silently turn invalid UTF-8 into U+FFFD and hand \u0000 through to
// the database.
func DecodeJSONFrom(body io.Reader, v any, optional bool) error {
	var raw json.RawMessage
	dec := json.NewDecoder(body)
	err := dec.Decode(&raw)
	if errors.Is(err, io.EOF) {
		if optional {
			return nil
		}
		return workflow.Errorf(workflow.CodeInvalid, "request body is empty; send a JSON object")
	}
	if err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return workflow.Errorf(workflow.CodeInvalid, "request body has data after the JSON object")
	}
	if !utf8.Valid(raw) {
		return workflow.Errorf(workflow.CodeInvalid, "request body is not valid UTF-8")
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return jsonError(err)
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return jsonError(err)
	}
	return workflow.CheckJSONText("", generic)
}

func jsonError(err error) error {
	var (
		syntax    *json.SyntaxError
		typ       *json.UnmarshalTypeError
		maxBytes  *http.MaxBytesError
		echoError *echo.HTTPError
	)
	switch {
	case errors.As(err, &maxBytes), errors.As(err, &echoError) && echoError.Code == http.StatusRequestEntityTooLarge:
		return workflow.Errorf(workflow.CodeTooLarge, "request body is too large")
	case errors.As(err, &syntax):
		return workflow.Errorf(workflow.CodeInvalid, "request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return workflow.Errorf(workflow.CodeInvalid, "field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return workflow.Errorf(workflow.CodeInvalid, "request body must be a JSON object, not %s", typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return workflow.Errorf(workflow.CodeInvalid, "request body is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return workflow.Errorf(workflow.CodeInvalid, "unknown field %s in request body", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return workflow.Errorf(workflow.CodeInvalid, "request body is not valid JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	}
	return "an object"
}

// QueryInt parses an optional integer query parameter.
func QueryInt(c echo.Context, name string) (int, error) {
	s := c.QueryParam(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, workflow.Errorf(workflow.CodeInvalid, "query parameter %s must be a non-negative whole number, not %q", name, s)
	}
	return n, nil
}

// QueryTime parses an optional RFC 3339 time query parameter.
func QueryTime(c echo.Context, name string) (time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, workflow.Errorf(workflow.CodeInvalid, "query parameter %s must be an RFC 3339 time like 2026-01-02T15:04:05Z, not %q", name, s)
	}
	return t.UTC(), nil
}

// ParseDuration parses a duration given as a Go duration string ("2h",
// "90m").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, workflow.Errorf(workflow.CodeInvalid, "duration is required, as a Go duration like 30m or 2h")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, workflow.Errorf(workflow.CodeInvalid, "duration %q is not a duration; use Go durations like 30m, 90m or 2h", s)
	}
	return d, nil
}

// ParseStartAt parses an optional RFC 3339 start time ("" is none).
func ParseStartAt(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, workflow.Errorf(workflow.CodeInvalid, "start_at %q is not an RFC 3339 time like 2026-12-03T09:00:00Z", s)
	}
	return &t, nil
}

// CheckQuery refuses query parameters the endpoint does not know, so that
// a typo in a filter is an error rather than a wider answer.
func CheckQuery(c echo.Context, known ...string) error {
	for name := range c.QueryParams() {
		ok := false
		for _, k := range known {
			if name == k {
				ok = true
				break
			}
		}
		if !ok {
			return workflow.Errorf(workflow.CodeInvalid, "unknown query parameter %q (known: %s)", name, strings.Join(known, ", "))
		}
	}
	return nil
}
