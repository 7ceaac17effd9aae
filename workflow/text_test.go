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

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 approvals"}, {1, "1 approval"}, {2, "2 approvals"}, {12, "12 approvals"}} {
		if got := workflow.Plural(tc.n, "approval", "approvals"); got != tc.want {
			t.Errorf("Plural(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := workflow.Plural(1, "person", "people"); got != "1 person" {
		t.Errorf("Plural(1, person) = %q", got)
	}
}

func TestSentence(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"you cannot deny your own request", "You cannot deny your own request"},
		{"request 42 not found", "Request 42 not found"},
		{"reviewers may read requests, not act on them", "Reviewers may read requests, not act on them"},
		{"already, twice", "Already, twice"},
		{"a reason is required to deny", "A reason is required to deny"},
		{"Internal error.", "Internal error."},
		{"alice@example.com is not an approver of crm-notes", "alice@example.com is not an approver of crm-notes"},
		{"crm-notes is not in the policy", "crm-notes is not in the policy"},
		{"--slack-channel is required", "--slack-channel is required"},
		{`"kb" is unknown`, `"kb" is unknown`},
		{"ünicode first", "ünicode first"},
		{"", ""},
		{" leading space", " leading space"},
	} {
		if got := workflow.Sentence(tc.in); got != tc.want {
			t.Errorf("Sentence(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
