package workflow

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers. Each code maps to exactly one HTTP
// status, in one place (web/errors.go); the domain never speaks HTTP.
type Code string

const (
	CodeInvalid         Code = "invalid_argument"   // malformed input: bad JSON, bad parameter
	CodeUnauthenticated Code = "unauthenticated"    // no or bad credentials
	CodeForbidden       Code = "forbidden"          // authenticated, but not allowed
	CodeNotFound        Code = "not_found"          // unknown, or not visible to the caller
	CodeInvalidState    Code = "invalid_state"      // the transition is not allowed from the current state
	CodeDuplicate       Code = "duplicate_approval" // this approver already approved
	CodeConflict        Code = "conflict"           // lost a race with another writer; safe to retry
	CodeTooLarge        Code = "payload_too_large"
	CodePolicy          Code = "policy_violation" // well-formed, but the policy refuses it
	CodeUnprocessable   Code = "unprocessable"    // well-formed, but names something that does not exist
	CodeRateLimited     Code = "rate_limited"
	// CodeMFARequired: the action needs a second factor proved recently
	// (require_mfa), which this sign-in has not: step up in the web UI.
	CodeMFARequired Code = "mfa_required"
	CodeUnavailable Code = "unavailable" // a dependency (the database) is down
	CodeInternal    Code = "internal"
	// CodeAlreadyLive refuses a new request for a resource the requester
	// holds live access to; Error.RequestID names the live grant, which
	// they may extend instead.
	CodeAlreadyLive Code = "already_live"
)

// Error is the one error type the domain returns to its callers. Message is
// safe to show to the caller; Err, when set, is the underlying cause and is
// only ever logged.
type Error struct {
	Code    Code
	Message string
	Err     error
	// RequestID, when set, is the request the error is about (the live
	// grant of CodeAlreadyLive); it is safe to show to the caller.
	RequestID string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted, caller-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected failure. Its cause is logged, never shown.
func Internal(err error, format string, args ...any) *Error {
	return &Error{Code: CodeInternal, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of err, or CodeInternal for anything that is
// not an *Error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorRequestID returns the request id err names (Error.RequestID), or "".
func ErrorRequestID(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.RequestID
	}
	return ""
}

// ErrorMessage returns the caller-safe message of err. Internal errors get a
// generic message so that causes (SQL, file paths) never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != CodeInternal && e.Code != CodeUnavailable {
		return e.Message
	}
	if ErrorCode(err) == CodeUnavailable {
		return "Service temporarily unavailable."
	}
	return "Internal error."
}
