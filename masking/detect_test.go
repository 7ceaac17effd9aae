package masking_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/masking"
)

func TestScanTextCardsAndIBANs(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		kinds          []string // Finding.Name, in order, with counts folded in
	}{
		{"16 digits with spaces", "card 4111 1111 1111 1111 declined", "card [card ending 1111] declined", []string{"card number"}},
		{"16 digits together", "4111111111111111", "[card ending 1111]", []string{"card number"}},
		{"16 digits with dashes", "pan=5555-5555-5555-4444.", "pan=[card ending 4444].", []string{"card number"}},
		{"13 digits", "old visa 4222222222222 here", "old visa [card ending 2222] here", []string{"card number"}},
		{"15 digits amex grouping", "amex 3782 822463 10005", "amex [card ending 0005]", []string{"card number"}},
		{"19 digits", "long 6304 0000 0000 0000 000 pan", "long [card ending 0000] pan", []string{"card number"}},
		{"mixed separators accepted", "4111 1111-1111 1111", "[card ending 1111]", []string{"card number"}},
		{"fails Luhn: order number stays", "order 4111111111111112 shipped", "order 4111111111111112 shipped", nil},
		{"12 digits too short", "411111111111", "411111111111", nil},
		{"20 digits together is not a card", "41111111111111111111", "41111111111111111111", nil},
		{"double space breaks the number", "4111  1111 1111 1111", "4111  1111 1111 1111", nil},
		{"small numbers are not groups", "steps 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "steps 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", nil},
		{"inside a URL query", "see https://pay.example.com/x?card=4111111111111111&y=2", "see https://pay.example.com/x?card=[card ending 1111]&y=2", []string{"card number"}},
		{"inside a URL path", "https://x.example/cards/5555555555554444/view", "https://x.example/cards/[card ending 4444]/view", []string{"card number"}},
		{"glued to letters is one token", "ref4111111111111111x", "ref4111111111111111x", nil},
		{"arabic-indic digits are not digits", "٤١١١١١١١١١١١١١١١", "٤١١١١١١١١١١١١١١١", nil},
		{"fullwidth digits are not digits", "４１１１１１１１１１１１１１１１", "４１１１１１１１１１１１１１１１", nil},
		{"two cards", "4111111111111111 and 5555 5555 5555 4444", "[card ending 1111] and [card ending 4444]", []string{"card number×2"}},
		{"prefix number then card", "12 4111 1111 1111 1111", "12 [card ending 1111]", []string{"card number"}},
		{"IBAN grouped", "pay DE89 3704 0044 0532 0130 00 today", "pay [IBAN DE… 3000] today", []string{"IBAN"}},
		{"IBAN together", "GB82WEST12345698765432", "[IBAN GB… 5432]", []string{"IBAN"}},
		{"IBAN lower case", "iban: gb82 west 1234 5698 7654 32", "iban: [IBAN GB… 5432]", []string{"IBAN"}},
		{"IBAN shortest (NO)", "NO9386011117947", "[IBAN NO… 7947]", []string{"IBAN"}},
		{"IBAN in a URL", "https://bank.example/t?iban=FR1420041010050500013M02606&x", "https://bank.example/t?iban=[IBAN FR… 2606]&x", []string{"IBAN"}},
		{"IBAN bad check digits", "DE88 3704 0044 0532 0130 00", "DE88 3704 0044 0532 0130 00", nil},
		{"IBAN wrong length for country", "DE89 3704 0044 0532 0130 0", "DE89 3704 0044 0532 0130 0", nil},
		{"IBAN unknown country", "ZZ89370400440532013000", "ZZ89370400440532013000", nil},
		{"IBAN running on", "DE89370400440532013000X", "DE89370400440532013000X", nil},
		{"card and IBAN", "4111 1111 1111 1111 / DE89 3704 0044 0532 0130 00", "[card ending 1111] / [IBAN DE… 3000]", []string{"card number", "IBAN"}},
		{"no digits", "just a reason", "just a reason", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found := masking.ScanText(tc.in, nil)
			if got != tc.want {
				t.Errorf("ScanText(%q) = %q, want %q", tc.in, got, tc.want)
			}
			var kinds []string
			for _, f := range found {
				k := f.Name
				if f.Count > 1 {
					k += "×" + string(rune('0'+f.Count))
				}
				kinds = append(kinds, k)
			}
			if !slices.Equal(kinds, tc.kinds) {
				t.Errorf("found %v, want %v", kinds, tc.kinds)
			}
		})
	}
}

func TestScanTextPatterns(t *testing.T) {
	nid, err := masking.CompilePattern("national_id", `\b\d{3}-\d{2}-\d{4}\b`, "[national id]")
	if err != nil {
		t.Fatal(err)
	}
	acct, err := masking.CompilePattern("account", `ACCT-[0-9]{8,}`, "last4")
	if err != nil {
		t.Fatal(err)
	}
	red, err := masking.CompilePattern("secret", `s3cr3t\w+`, "")
	if err != nil {
		t.Fatal(err)
	}
	pats := []masking.Pattern{nid, acct, red}
	for _, tc := range []struct{ in, want string }{
		{"id 123-45-6789 on file", "id [national id] on file"},
		{"acct ACCT-12345678 closed", "acct ****5678 closed"},
		{"token s3cr3tABC leaked", "token [REDACTED] leaked"},
		{"1234-56-7890 is not one", "1234-56-7890 is not one"},
	} {
		if got, _ := masking.ScanText(tc.in, pats); got != tc.want {
			t.Errorf("ScanText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	_, found := masking.ScanText("123-45-6789 and 987-65-4321, card 4111111111111111", pats)
	if len(found) != 2 || found[0] != (masking.Finding{Kind: masking.KindCard, Name: "card number", Count: 1}) ||
		found[1] != (masking.Finding{Kind: masking.KindPattern, Name: "national_id", Count: 2}) {
		t.Errorf("found %+v", found)
	}
}

func TestCompilePatternRefuses(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`(`, "does not compile"},
		{`\d*`, "empty string"},
		{`a|`, "empty string"},
		{`\b`, "empty string"},
		{`(x?)(y*)`, "empty string"},
		{`a{0,3}`, "empty string"},
	} {
		_, err := masking.CompilePattern("p", tc.expr, "x")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CompilePattern(%q) = %v, want an error containing %q", tc.expr, err, tc.want)
		}
	}
}

func BenchmarkScanText1000(b *testing.B) {
	reason := strings.Repeat("need to check order 4111111111111112 for customer; ", 20)[:1000]
	nid, _ := masking.CompilePattern("national_id", `\b\d{3}-\d{2}-\d{4}\b`, "[national id]")
	b.ReportAllocs()
	for b.Loop() {
		masking.ScanText(reason, []masking.Pattern{nid})
	}
}

func TestCompilePatternAccepts(t *testing.T) {
	for _, expr := range []string{`\b\d{3}-\d{2}-\d{4}\b`, `^ID\d+$`, `x?y`, `(a|b)+`} {
		if _, err := masking.CompilePattern("p", expr, "x"); err != nil {
			t.Errorf("CompilePattern(%q) = %v", expr, err)
		}
	}
}

func BenchmarkScanText1000Builtin(b *testing.B) {
	reason := strings.Repeat("need to check order 4111111111111112 for customer; ", 20)[:1000]
	b.ReportAllocs()
	for b.Loop() {
		masking.ScanText(reason, nil)
	}
}

// adversarialRuns are inputs made of one long run of short digit groups,
// the shape that made card detection quadratic.
var adversarialRuns = map[string]string{
	"zeros-spaced": "0 ",
	"groups-of-4":  "4111-",
	"pairs":        "12 ",
	"iban-like":    "DE89 ",
}

// TestLongDigitRunsStillFindCards: a card after (or inside) a long run of
// digit groups is still found, once the scanner stops retrying groups it
// has already ruled out.
func TestLongDigitRunsStillFindCards(t *testing.T) {
	for name, unit := range adversarialRuns {
		t.Run(name, func(t *testing.T) {
			run := strings.Repeat(unit, 20000)
			out, found := masking.ScanText(run+"x 4111 1111 1111 1111 y", nil)
			if strings.Contains(out, "4111 1111 1111 1111") || len(found) == 0 || found[0].Kind != masking.KindCard {
				t.Fatalf("card after the run not masked: %v %q", found, out[len(out)-60:])
			}
		})
	}
	// Within one run: a Luhn-valid 16-digit card made of 4-digit groups
	// at the end of a run of non-card groups is masked.
	out, _ := masking.ScanText(strings.Repeat("1 ", 5000)+"4111 1111 1111 1111", nil)
	if strings.Contains(out, "4111 1111 1111 1111") || !strings.HasSuffix(out, "[card ending 1111]") {
		t.Fatalf("card at the end of a run not masked: %q", out[len(out)-60:])
	}
}

// BenchmarkScanTextLongRuns: the time per byte must not grow with the
// length of a run (BENCHMARKS.md, "Free-text scanning"): compare the
// 10k and 100k figures of each input.
func BenchmarkScanTextLongRuns(b *testing.B) {
	for _, name := range []string{"zeros-spaced", "groups-of-4", "pairs", "iban-like"} {
		for _, size := range []int{10_000, 100_000} {
			unit := adversarialRuns[name]
			in := strings.Repeat(unit, size/len(unit))
			b.Run(fmt.Sprintf("%s/%d", name, size), func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					masking.ScanText(in, nil)
				}
			})
		}
	}
}
