package masking_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/masking"
)

// Free text inside a record: with WithFreeText, every string value no rule
// names is scanned by the same detectors that mask what people type, at
// any depth, and the rest of the document is kept byte for byte.
func TestMaskJSONFreeText(t *testing.T) {
	rs := masking.Compile([]masking.Rule{{Field: "payment_card", Style: masking.Last4}})
	raw := `{"name": "Ann", "notes": "refund to 4111 1111 1111 1111, see ticket", "payment_card": "5500005555555559",
	 "history": [{"text": "IBAN DE89 3704 0044 0532 0130 00 confirmed"}, "order 4111111111111112"], "n": 4111111111111111}`
	m := masking.NewMasker(nil)
	out, res, err := m.MaskJSON([]byte(raw), rs.WithFreeText(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) {
		t.Fatalf("not JSON: %s", out)
	}
	got := string(out)
	for _, leak := range []string{"4111 1111 1111 1111", "5500005555555559", "DE89 3704", "4111111111111111"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q left in clear: %s", leak, got)
		}
	}
	for _, kept := range []string{`"name": "Ann"`, "[card ending 1111]", "order 4111111111111112", `"n": "[card ending 1111]"`} {
		if !strings.Contains(got, kept) {
			t.Errorf("lacks %q: %s", kept, got)
		}
	}
	want := []string{"history[0].text", "n", "notes", "payment_card"}
	if !slices.Equal(res.Masked, want) {
		t.Fatalf("masked %v, want %v", res.Masked, want)
	}
	// Without it, free text passes as before.
	out, _, err = m.MaskJSON([]byte(raw), rs)
	if err != nil || !strings.Contains(string(out), "4111 1111 1111 1111") || !strings.Contains(string(out), `"n": 4111111111111111`) {
		t.Fatalf("without free text: %s %v", out, err)
	}
}
