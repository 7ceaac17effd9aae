package httpkit

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/workflow"
)

// CheckInput is the one place that refuses invalid text in query and path
// parameters, before any handler sees them. JSON bodies are checked by
// decodeJSON (workflow.CheckJSONText). Paths under the own prefixes (SCIM's
// /scim/v2/) answer in their own protocol's error shape and check for
// themselves.
func CheckInput(own []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			for _, p := range own {
				if strings.HasPrefix(c.Request().URL.Path, p) {
					return next(c)
				}
			}
			if err := checkParams(c); err != nil {
				return err
			}
			return next(c)
		}
	}
}

func checkParams(c echo.Context) error {
	for name, values := range c.QueryParams() {
		if err := workflow.CheckText("a query parameter name", name, false); err != nil {
			return err
		}
		for _, v := range values {
			if err := workflow.CheckText(fmt.Sprintf("query parameter %q", name), v, false); err != nil {
				return err
			}
		}
	}
	for i, name := range c.ParamNames() {
		if vals := c.ParamValues(); i < len(vals) {
			if err := workflow.CheckText(fmt.Sprintf("path parameter %q", name), vals[i], false); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckForm refuses invalid text in the web UI's form bodies, field names
// and values alike, like checkInput does for query parameters. It is a
// route middleware, not a global one: Slack's form-encoded bodies must
// reach their signature check unread.
func CheckForm(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if SafeMethod(c.Request().Method) {
			return next(c)
		}
		form, err := c.FormParams()
		if err != nil {
			return workflow.Errorf(workflow.CodeInvalid, "the form could not be read: %v", err)
		}
		for name, values := range form {
			if err := workflow.CheckText("a form field name", name, false); err != nil {
				return err
			}
			for _, v := range values {
				if err := workflow.CheckText(fmt.Sprintf("form field %q", name), v, true); err != nil {
					return err
				}
			}
		}
		return next(c)
	}
}

// SafeMethod reports whether m changes nothing (GET, HEAD, OPTIONS): such
// requests need no CSRF token and carry no form.
func SafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
