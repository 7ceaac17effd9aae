package workflow_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jitaccess/jitaccess/workflow"
)

func TestClip(t *testing.T) {
	cyr := strings.Repeat("ж", 10) // 2 bytes each
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "abc", 10, "abc"},
		{"exact", "abc", 3, "abc"},
		{"ascii cut", "abcdef", 4, "abcd"},
		{"zero", "abc", 0, ""},
		{"negative", "abc", -1, ""},
		{"cyrillic even", cyr, 4, "жж"},
		{"cyrillic odd", cyr, 5, "жж"},
		{"cyrillic one byte", cyr, 1, ""},
		{"emoji", "a😀b", 4, "a"},
		{"emoji whole", "a😀b", 5, "a😀"},
		{"invalid replaced", "a\xffb", 10, "a\uFFFDb"},
		{"invalid run then cut", "\xff\xffabc", 4, "\uFFFDa"},
		{"invalid then cut inside replacement", "\xffabc", 2, ""},
		{"half a char at the end", "ab\xd0", 10, "ab\uFFFD"},
		{"empty", "", 5, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := workflow.Clip(tc.in, tc.max)
			if got != tc.want {
				t.Fatalf("Clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if !utf8.ValidString(got) || tc.max >= 0 && len(got) > tc.max {
				t.Fatalf("Clip(%q, %d) = %q: invalid or too long", tc.in, tc.max, got)
			}
		})
	}
}
