package masking_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/masking"
)

var digitRun = regexp.MustCompile(`[0-9]+`)

func luhnValid(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// FuzzScanText: the detectors never panic, and no Luhn-valid run of 13 to
// 19 digits that stands alone in the input (no letter or digit right
// before or after it) survives into the output. The first 30 s run found
// that a run glued to a letter ("000000000000000A") is kept: by design
// (an alphanumeric reference is not a card), so the invariant says so and
// the input stays in testdata as a seed.
func FuzzScanText(f *testing.F) {
	for _, s := range []string{
		"card 4111 1111 1111 1111 please", "4111111111111111", "5500-0000-0000-0004", "IBAN DE89 3704 0044 0532 0130 00",
		"nothing here", "", "1234567890123", "٤١١١", "4111111111111111\x00", "ref 79927398713000 x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, _ := masking.ScanText(s, nil)
		for _, loc := range digitRun.FindAllStringIndex(s, -1) {
			run := s[loc[0]:loc[1]]
			if len(run) < 13 || len(run) > 19 || !luhnValid(run) {
				continue
			}
			// Part of a longer token ("000…0A"): not a card number, by design.
			if loc[0] > 0 && isAlnum(s[loc[0]-1]) || loc[1] < len(s) && isAlnum(s[loc[1]]) {
				continue
			}
			if strings.Contains(out, run) {
				t.Fatalf("ScanText(%q) = %q keeps card number %s", s, out, run)
			}
		}
	})
}

// FuzzMaskJSONFreeText: with field rules of every style and the free-text
// detectors on (FuzzMaskJSON in stream_test.go covers the plain rules),
// MaskJSON never panics, and its output is valid JSON whenever its input
// was.
func FuzzMaskJSONFreeText(f *testing.F) {
	for _, s := range []string{
		`{"iban":"DE89370400440532013000","card":"4111111111111111","notes":"call 4111 1111 1111 1111","n":1}`,
		`{"customer":{"iban":"x","accounts":[{"iban":"GB82WEST12345698765432"}]}}`, `[]`, `"4111111111111111"`, `{"a":}`, `{"iban":null}`,
		`{"iban":12}`, `{"iban":{"nested":true}}`, `{"notes":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	m := masking.NewMasker([]byte("0123456789abcdef0123456789abcdef"))
	rs := masking.Compile([]masking.Rule{{Field: "iban", Style: masking.Last4}, {Field: "card", Style: masking.Redact},
		{Field: "customer.name", Style: masking.Token}}).WithFreeText(nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, _, err := m.MaskJSON(raw, rs)
		if !json.Valid(raw) {
			return
		}
		if err != nil {
			t.Fatalf("MaskJSON(%q): %v on valid JSON", raw, err)
		}
		if !json.Valid(out) {
			t.Fatalf("MaskJSON(%q) = %q: not valid JSON", raw, out)
		}
	})
}

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
