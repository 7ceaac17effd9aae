package workflow

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Clip cuts s to at most maxBytes bytes without splitting a character.
// Invalid UTF-8 in s is replaced by U+FFFD first, so the result is always
// valid UTF-8: PostgreSQL refuses invalid text (SQLSTATE 22021) where
// SQLite stores it, and a value that cannot be written can never be
// retried or failed. Every place that cuts text to fit a column or a
// message uses this.
func Clip(s string, maxBytes int) string {
	if maxBytes <= 0 {
		return ""
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= maxBytes {
		return s
	}
	cut := maxBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// CheckText refuses text no part of jitaccess stores or compares: a NUL
// character (PostgreSQL cannot store it, so it used to surface as a 500),
// invalid UTF-8, and, unless freeText is set, every other C0 control and
// DEL. Free text (a reason, a comment, a JSON string) keeps \n, \r and \t.
// It is the one rule for text at every edge (the REST API, SCIM). what
// names the value for the message, as `query parameter "requester"`.
func CheckText(what, s string, freeText bool) error {
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalid, "%s is not valid UTF-8", what)
	}
	for _, r := range s {
		switch {
		case r == 0:
			return Errorf(CodeInvalid, "%s contains a NUL character", what)
		case r < 0x20 || r == 0x7f:
			if freeText && (r == '\n' || r == '\r' || r == '\t') {
				continue
			}
			return Errorf(CodeInvalid, "%s contains a control character (U+%04X)", what, r)
		}
	}
	return nil
}

// CheckJSONText walks a decoded JSON value (as json.Unmarshal into any
// gives it) and refuses NUL, invalid UTF-8 and control characters other
// than \n, \r and \t in every string and every object key, naming the
// field by its path.
func CheckJSONText(path string, v any) error {
	name := func() string {
		if path == "" {
			return "request body"
		}
		return fmt.Sprintf("field %q", path)
	}
	switch x := v.(type) {
	case string:
		return CheckText(name(), x, true)
	case []any:
		for i, e := range x {
			if err := CheckJSONText(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if err := CheckText(fmt.Sprintf("field name %q", p), k, false); err != nil {
				return err
			}
			if err := CheckJSONText(p, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Plural counts n things, as "1 approval" or "2 approvals".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Sentence makes a message, such as an error's (which starts lower-case so
// that it can follow "…: "), start as a sentence where it is shown alone
// to a person: "you cannot deny your own request" becomes "You cannot …".
// Only a plain lower-case word is capitalised; a message that starts with
// an email, an id, a flag or a quoted name is left as it is.
func Sentence(s string) string {
	word, _, _ := strings.Cut(s, " ")
	word = strings.TrimRight(word, ",;")
	if word == "" {
		return s
	}
	for _, r := range word {
		if r < 'a' || r > 'z' {
			return s
		}
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
