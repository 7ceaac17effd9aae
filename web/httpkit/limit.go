package httpkit

import (
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/workflow"
)

// MaxLimit is the most items one page of a listing holds.
const MaxLimit = 500

// QueryLimit reads a listing's optional ?limit=: absent is 0 (the
// listing's default), otherwise a whole number from 1 to MaxLimit.
func QueryLimit(c echo.Context) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, workflow.Errorf(workflow.CodeInvalid, "query parameter limit must be a whole number from 1 to %d, not %q", MaxLimit, s)
	}
	return n, nil
}
