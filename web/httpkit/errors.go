package httpkit

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/workflow"
)

// statusOf maps each error code to its HTTP status. It is the only place
// where domain errors meet HTTP.
var statusOf = map[workflow.Code]int{
	workflow.CodeInvalid:         http.StatusBadRequest,
	workflow.CodeUnauthenticated: http.StatusUnauthorized,
	workflow.CodeForbidden:       http.StatusForbidden,
	workflow.CodeNotFound:        http.StatusNotFound,
	workflow.CodeInvalidState:    http.StatusConflict,
	workflow.CodeAlreadyLive:     http.StatusConflict,
	workflow.CodeDuplicate:       http.StatusConflict,
	workflow.CodeConflict:        http.StatusConflict,
	workflow.CodeTooLarge:        http.StatusRequestEntityTooLarge,
	workflow.CodePolicy:          http.StatusUnprocessableEntity,
	workflow.CodeUnprocessable:   http.StatusUnprocessableEntity,
	workflow.CodeRateLimited:     http.StatusTooManyRequests,
	workflow.CodeMFARequired:     http.StatusForbidden,
	workflow.CodeUnavailable:     http.StatusServiceUnavailable,
	workflow.CodeInternal:        http.StatusInternalServerError,
	codeMethodNotAllowed:         http.StatusMethodNotAllowed,
	codeUnsupportedMedia:         http.StatusUnsupportedMediaType,
	CodeIdempotencyKeyInUse:      http.StatusConflict,
	CodeIdempotencyKeyMismatch:   http.StatusUnprocessableEntity,
}

// Codes that only the HTTP layer produces.
const (
	codeMethodNotAllowed workflow.Code = "method_not_allowed"
	codeUnsupportedMedia workflow.Code = "unsupported_media_type"
	// Idempotency-Key (idempotency.go): the key's first request is still
	// running; the key was used for another request.
	CodeIdempotencyKeyInUse    workflow.Code = "idempotency_key_in_use"
	CodeIdempotencyKeyMismatch workflow.Code = "idempotency_key_mismatch"
)

// Status returns the HTTP status for an error code.
func Status(code workflow.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error struct {
		Code    workflow.Code `json:"code"`
		Message string        `json:"message"`
		// RequestID names the request the error is about, when there is
		// one: the live grant of already_live (extend it instead).
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// AsDomainError converts anything a handler or middleware returns into a
// domain error, translating echo's own errors (unknown route, wrong method,
// body too large).
func AsDomainError(err error) error {
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	switch he.Code {
	case http.StatusNotFound:
		return workflow.Errorf(workflow.CodeNotFound, "no such endpoint")
	case http.StatusMethodNotAllowed:
		return workflow.Errorf(codeMethodNotAllowed, "method not allowed on this endpoint")
	case http.StatusRequestEntityTooLarge:
		return workflow.Errorf(workflow.CodeTooLarge, "request body is too large")
	case http.StatusUnauthorized:
		return workflow.Errorf(workflow.CodeUnauthenticated, "authentication required")
	case http.StatusForbidden:
		return workflow.Errorf(workflow.CodeForbidden, "forbidden")
	case http.StatusTooManyRequests:
		return workflow.Errorf(workflow.CodeRateLimited, "too many requests; slow down")
	case http.StatusUnsupportedMediaType:
		return workflow.Errorf(codeUnsupportedMedia, "unsupported content type")
	}
	if he.Code >= 400 && he.Code < 500 {
		return workflow.Errorf(workflow.CodeInvalid, "%s", http.StatusText(he.Code))
	}
	return workflow.Internal(err, "internal error")
}

// ErrorHandler writes every error as {"error": {"code", "message"}}. Only
// internal errors are logged with their cause; their message to the
// client says nothing about it.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) { handleError(log, err, c) }
}

func handleError(log *slog.Logger, err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) && (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed) {
		// A known path with another method is 405 with the methods it
		// takes; only a path no route has is 404.
		if allow := AllowedMethods(c.Echo(), c.Request().URL.Path); len(allow) > 0 && !slices.Contains(allow, c.Request().Method) {
			c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
			err = echo.ErrMethodNotAllowed
		}
	}
	err = AsDomainError(err)
	code := workflow.ErrorCode(err)
	status := Status(code)
	if status >= 500 {
		log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "code", code, "err", err)
	}
	if code == workflow.CodeUnauthenticated {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="jitaccess"`)
	}
	var body ErrorBody
	body.Error.Code = code
	body.Error.Message = workflow.ErrorMessage(err)
	if code != workflow.CodeInternal && code != workflow.CodeUnavailable {
		body.Error.RequestID = workflow.ErrorRequestID(err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if werr := c.JSON(status, body); werr != nil {
		log.Warn("write error response", "err", werr)
	}
}

// Codes are the error codes that have an HTTP status, in a stable order
// (the OpenAPI document lists them).
func Codes() []workflow.Code {
	out := make([]workflow.Code, 0, len(statusOf))
	for c := range statusOf {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
