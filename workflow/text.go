package workflow

import (
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
