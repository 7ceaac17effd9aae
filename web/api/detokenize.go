package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/web/httpkit"
	"github.com/jitaccess/jitaccess/workflow"
)

type detokenizeBody struct {
	User     string   `json:"user"`
	Resource string   `json:"resource"`
	Tokens   []string `json:"tokens"`
}

// DetokenizeJSON is the answer of POST /api/v1/detokenize.
type DetokenizeJSON struct {
	RequestID string     `json:"request_id"`
	ExpiresAt *time.Time `json:"expires_at"`
	// Results has one entry per token, in the order sent.
	Results []TokenJSON `json:"results"`
}

// TokenJSON answers one token: value and field, or error.
type TokenJSON struct {
	Token string          `json:"token"`
	Field string          `json:"field,omitempty"`
	KeyID string          `json:"key_id,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	Error *TokenErrorJSON `json:"error,omitempty"`
}

// TokenErrorJSON is one token's error: code and message as in the error
// body, and the HTTP status the token would have had on its own.
type TokenErrorJSON struct {
	Code    workflow.Code `json:"code"`
	Status  int           `json:"status"`
	Message string        `json:"message"`
}

// POST /api/v1/detokenize {"user", "resource", "tokens": [...]}
//
// Opens encrypt-style tokens (tok2_...) while the user holds a live grant
// of the resource; service tokens with the detokenize scope only.
func (s *API) detokenize(c echo.Context) error {
	var body detokenizeBody
	if err := httpkit.DecodeJSON(c, &body, false); err != nil {
		return err
	}
	chk := s.access
	if chk == nil {
		chk = s.defaultAccess
	}
	res, err := chk.Detokenize(c.Request().Context(), httpkit.Principal(c), body.User, body.Resource, body.Tokens)
	if err != nil {
		return err
	}
	out := DetokenizeJSON{RequestID: res.RequestID, ExpiresAt: res.ExpiresAt, Results: make([]TokenJSON, len(res.Results))}
	for i, r := range res.Results {
		t := TokenJSON{Token: r.Token, Field: r.Field, KeyID: r.KeyID, Value: r.Value}
		if r.Err != nil {
			t.Error = &TokenErrorJSON{Code: r.Err.Code, Status: httpkit.Status(r.Err.Code), Message: r.Err.Message}
		}
		out.Results[i] = t
	}
	return c.JSON(http.StatusOK, out)
}
