package web

import (
	"fmt"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/jitaccess/jitaccess/workflow"
)

// checkText refuses text no part of jitaccess stores or compares: a NUL
// character (PostgreSQL cannot store it, so it used to surface as a 500),
// invalid UTF-8, and, unless freeText is set, every other C0 control and
// DEL. Free text (a reason, a comment, a JSON string) keeps \n, \r and \t.
// what names the value for the message, as `query parameter "requester"`.
func checkText(what, s string, freeText bool) error {
	if !utf8.ValidString(s) {
		return workflow.Errorf(workflow.CodeInvalid, "%s is not valid UTF-8", what)
	}
	for _, r := range s {
		switch {
		case r == 0:
			return workflow.Errorf(workflow.CodeInvalid, "%s contains a NUL character", what)
		case r < 0x20 || r == 0x7f:
			if freeText && (r == '\n' || r == '\r' || r == '\t') {
				continue
			}
			return workflow.Errorf(workflow.CodeInvalid, "%s contains a control character (%s)", what, fmt.Sprintf("U+%04X", r))
		}
	}
	return nil
}

// checkInput is the one place that refuses invalid text in query and path
// parameters, before any handler sees them. JSON bodies are checked by
// decodeJSON (checkJSONText); form bodies by the UI's own field rules.
func checkInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for name, values := range c.QueryParams() {
			if err := checkText("a query parameter name", name, false); err != nil {
				return err
			}
			for _, v := range values {
				if err := checkText(fmt.Sprintf("query parameter %q", name), v, false); err != nil {
					return err
				}
			}
		}
		for i, name := range c.ParamNames() {
			if vals := c.ParamValues(); i < len(vals) {
				if err := checkText(fmt.Sprintf("path parameter %q", name), vals[i], false); err != nil {
					return err
				}
			}
		}
		return next(c)
	}
}

// checkJSONText walks a decoded JSON value (as json.Unmarshal into any
// gives it) and refuses NUL, invalid UTF-8 and control characters other
// than \n, \r and \t in every string and every object key, naming the
// field by its path.
func checkJSONText(path string, v any) error {
	name := func() string {
		if path == "" {
			return "request body"
		}
		return fmt.Sprintf("field %q", path)
	}
	switch x := v.(type) {
	case string:
		return checkText(name(), x, true)
	case []any:
		for i, e := range x {
			if err := checkJSONText(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if err := checkText(fmt.Sprintf("field name %q", p), k, false); err != nil {
				return err
			}
			if err := checkJSONText(p, e); err != nil {
				return err
			}
		}
	}
	return nil
}
