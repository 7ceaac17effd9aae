package httpkit

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jitaccess/jitaccess/workflow"
)

// FuzzDecodeJSON: the shared request decoder never panics, every refusal is
// a workflow error with a code (so a 4xx, never a 500), and whatever it
// accepts holds only valid text: no NUL, no invalid UTF-8, no control
// character other than newline, carriage return and tab.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"resource":"crm-notes","duration":"1h","reason":"case 1"}`,
		`{"reason":"a\u0000b"}`, `{"reason":"a\u0007b"}`, "{\"reason\":\"a\xffb\"}", `{"reason":"line\nline\ttab"}`,
		`{"ticket":1}`, `{"unknown":true}`, `{"reason":"x"} trailing`, `{"reason":`, `{"record":{"a":[1,"b",{"c\u0000":null}]}}`,
		`"just a string"`, `{"reason":"\ud800"}`, `{"reason":"😀"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v struct {
			Resource string         `json:"resource"`
			Duration string         `json:"duration"`
			Reason   string         `json:"reason"`
			Ticket   string         `json:"ticket"`
			Record   map[string]any `json:"record"`
		}
		err := DecodeJSONFrom(strings.NewReader(string(data)), &v, true)
		if err != nil {
			var we *workflow.Error
			if !errors.As(err, &we) || we.Code == "" || we.Code == workflow.CodeInternal {
				t.Fatalf("decode %q: %v is not a workflow error with a client code", data, err)
			}
			return
		}
		for _, s := range []string{v.Resource, v.Duration, v.Reason, v.Ticket} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("decode %q accepted invalid text %q", data, s)
			}
			for _, r := range s {
				if r < 0x20 && r != '\n' && r != '\r' && r != '\t' {
					t.Fatalf("decode %q accepted a control character in %q", data, s)
				}
			}
		}
	})
}

// FuzzCheckText: checkText accepts exactly valid UTF-8 without NUL and,
// outside free text, without any C0 control or DEL.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"", "alice@example.com", "a\x00b", "a\nb", "\xff", "ж", "a\x7f"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, free bool) {
		err := workflow.CheckText("query parameter \"x\"", s, free)
		bad := !utf8.ValidString(s)
		for _, r := range s {
			if r == 0 || (r < 0x20 || r == 0x7f) && !(free && (r == '\n' || r == '\r' || r == '\t')) {
				bad = true
			}
		}
		if bad != (err != nil) {
			t.Fatalf("workflow.CheckText(%q, %v) = %v", s, free, err)
		}
		var we *workflow.Error
		if err != nil && (!errors.As(err, &we) || we.Code != workflow.CodeInvalid) {
			t.Fatalf("workflow.CheckText(%q): %v is not invalid", s, err)
		}
	})
}
