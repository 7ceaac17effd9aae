package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

// IdempotencyKeys keeps the first answer to each caller's Idempotency-Key
// (implemented by store.DB).
type IdempotencyKeys interface {
	ReserveIdempotencyKey(ctx context.Context, k store.IdempotencyKey, now time.Time, lock, keep time.Duration) (store.IdempotencyClaim, error)
	CompleteIdempotencyKey(ctx context.Context, k store.IdempotencyKey, reservation string, resp store.StoredResponse) (bool, error)
	ReleaseIdempotencyKey(ctx context.Context, k store.IdempotencyKey, reservation string) error
}

const (
	HeaderIdempotencyKey     = "Idempotency-Key"
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// IdempotencyKeep is how long a key's first answer is replayed; the
	// sweeper deletes older keys.
	IdempotencyKeep = 24 * time.Hour
	// IdempotencyLock is how long a first request holds its key. Past it
	// the request is taken for crashed and a repeat runs instead. It is the
	// HTTP server's write timeout: a request still running then can no
	// longer answer its client anyway.
	IdempotencyLock = time.Minute
	// maxIdempotencyKey is the longest key, in characters.
	maxIdempotencyKey = 255
	// maxStoredAnswer bounds what is kept of an answer; a larger one is
	// not stored (no POST of the API answers that much).
	maxStoredAnswer = 1 << 20
)

// authenticateAPI is authenticate, then idempotent: the chain of every
// route of the REST API whose POST may carry an Idempotency-Key.
func (s *API) authenticateAPI(next echo.HandlerFunc) echo.HandlerFunc {
	return s.bearer.Authenticate(s.idempotent(next))
}

// AuthenticateAPI is authenticateAPI for REST API routes that other
// packages add (Slack's admin endpoints). Protocols with
// their own retry rules (SCIM) use Authenticate.
func (s *API) AuthenticateAPI(next echo.HandlerFunc) echo.HandlerFunc {
	return s.authenticateAPI(next)
}

// idempotent makes a POST sent with an Idempotency-Key act once
// (draft-ietf-httpapi-idempotency-key-header): the first final answer to
// the caller's key is stored, and a repeat of the same request gets it
// again with Idempotent-Replayed: true instead of acting twice. A repeat
// with another body, method or path is 422, one while the first is still
// running is 409. Answers that are not final (5xx, a lost race, a panic)
// release the key, so that the client may retry with it. Without the
// header, or on other methods, it does nothing.
func (s *API) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		values := req.Header.Values(HeaderIdempotencyKey)
		if req.Method != http.MethodPost || len(values) == 0 || s.idem == nil {
			return next(c)
		}
		key, err := parseIdempotencyKey(values)
		if err != nil {
			return err
		}
		who := httpkit.Principal(c)
		if who.Name() == "" {
			return workflow.Internal(nil, "Idempotency-Key on a route without authentication")
		}
		body, err := io.ReadAll(req.Body) // under the body limit: too large is 413
		if err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		k := store.IdempotencyKey{Principal: httpkit.CallerKey(who), Key: key, Fingerprint: requestFingerprint(req, body)}
		claim, err := s.idem.ReserveIdempotencyKey(req.Context(), k, s.svc.Clock()(), IdempotencyLock, IdempotencyKeep)
		if err != nil {
			return err
		}
		switch claim.Outcome {
		case store.IdempotencyReplay:
			return replay(c, claim.Response)
		case store.IdempotencyMismatch:
			return workflow.Errorf(httpkit.CodeIdempotencyKeyMismatch,
				"Idempotency-Key %q was used for another request (another body, method or path); send a new key for a new request", key)
		case store.IdempotencyInUse:
			return workflow.Errorf(httpkit.CodeIdempotencyKeyInUse,
				"the first request with Idempotency-Key %q is still running; retry when it has answered", key)
		}
		return s.runOnce(c, next, k, claim.Reservation)
	}
}

// runOnce runs the request that holds k and stores its answer, or
// releases k when the answer is not final.
func (s *API) runOnce(c echo.Context, next echo.HandlerFunc, k store.IdempotencyKey, reservation string) error {
	// The request may not outlive its lock: past it, a repeat runs.
	ctx, cancel := context.WithTimeout(c.Request().Context(), IdempotencyLock)
	defer cancel()
	c.SetRequest(c.Request().WithContext(ctx))
	// Storing must not depend on the client still listening: a client
	// that timed out is the one that will retry.
	later := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	}
	res := c.Response()
	tee := &teeWriter{ResponseWriter: res.Writer}
	res.Writer = tee
	stored := false
	defer func() {
		res.Writer = tee.ResponseWriter
		if stored {
			return
		}
		// Not final, or a panic on its way up: the key is free again.
		rctx, cancel := later()
		defer cancel()
		if err := s.idem.ReleaseIdempotencyKey(rctx, k, reservation); err != nil {
			s.log.Error("release an idempotency key", "principal", k.Principal, "err", err)
		}
	}()
	err := next(c)
	if err != nil {
		// Written here, through the tee, so that a repeat gets the same
		// error body.
		c.Error(err)
	}
	if !finalAnswer(res.Status, err) || tee.overflow {
		return nil
	}
	sctx, cancel := later()
	defer cancel()
	ok, serr := s.idem.CompleteIdempotencyKey(sctx, k, reservation, store.StoredResponse{
		Status: res.Status, ContentType: res.Header().Get(echo.HeaderContentType), Location: res.Header().Get(echo.HeaderLocation),
		Body: tee.body.Bytes(),
	})
	switch {
	case serr != nil:
		s.log.Error("store the answer to an idempotency key", "principal", k.Principal, "err", serr)
	case !ok:
		s.log.Warn("an idempotency key was taken over before its first request answered", "principal", k.Principal, "path", c.Path())
	}
	stored = serr == nil // a reservation taken over is no longer ours to release
	return nil
}

// finalAnswer reports whether an answer is what every repeat should get:
// 2xx and 4xx, except the 4xx that ask the client to retry (a lost race,
// a rate limit). 5xx is never final.
func finalAnswer(status int, err error) bool {
	if status >= 500 {
		return false
	}
	if err != nil {
		switch workflow.ErrorCode(httpkit.AsDomainError(err)) {
		case workflow.CodeConflict, workflow.CodeRateLimited:
			return false
		}
	}
	return true
}

// replay writes a stored answer.
func replay(c echo.Context, r store.StoredResponse) error {
	h := c.Response().Header()
	if r.ContentType != "" {
		h.Set(echo.HeaderContentType, r.ContentType)
	}
	if r.Location != "" {
		h.Set(echo.HeaderLocation, r.Location)
	}
	h.Set(HeaderIdempotentReplayed, "true")
	c.Response().WriteHeader(r.Status)
	_, err := c.Response().Write(r.Body)
	return err
}

// parseIdempotencyKey reads the header: one value, a structured-field
// string as the draft has it ("8e03978e-...", quoted) or the bare key
// many clients send; 1 to 255 characters of text without control
// characters.
func parseIdempotencyKey(values []string) (string, error) {
	if len(values) > 1 {
		return "", workflow.Errorf(workflow.CodeInvalid, "send one %s header, not %d", HeaderIdempotencyKey, len(values))
	}
	key := strings.TrimSpace(values[0])
	if len(key) >= 2 && key[0] == '"' && key[len(key)-1] == '"' {
		unq, ok := unquoteSFString(key[1 : len(key)-1])
		if !ok {
			return "", workflow.Errorf(workflow.CodeInvalid, "header %s is not a valid quoted string", HeaderIdempotencyKey)
		}
		key = unq
	}
	if err := workflow.CheckText("header "+HeaderIdempotencyKey, key, false); err != nil {
		return "", err
	}
	if key == "" {
		return "", workflow.Errorf(workflow.CodeInvalid, "header %s is empty; send a unique key per request (a UUID)", HeaderIdempotencyKey)
	}
	if n := utf8.RuneCountInString(key); n > maxIdempotencyKey {
		return "", workflow.Errorf(workflow.CodeInvalid, "header %s is %d characters long; at most %d", HeaderIdempotencyKey, n, maxIdempotencyKey)
	}
	return key, nil
}

// unquoteSFString undoes a structured-field string's escapes (RFC 8941
// 3.3.3): only \" and \\ exist.
func unquoteSFString(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
				return "", false
			}
			i++
		case '"':
			return "", false
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// requestFingerprint is the SHA-256 of method, path (with query) and
// body: the same key on another endpoint is another request.
func requestFingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", r.Method, r.URL.RequestURI())
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// teeWriter passes the answer on and keeps a copy of its body, up to
// maxStoredAnswer.
type teeWriter struct {
	http.ResponseWriter
	body     bytes.Buffer
	overflow bool
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if !w.overflow {
		if w.body.Len()+len(b) > maxStoredAnswer {
			w.overflow = true
			w.body = bytes.Buffer{}
		} else {
			w.body.Write(b)
		}
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
