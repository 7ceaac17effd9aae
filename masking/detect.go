package masking

// Free-text detectors: what a person types (a reason, a comment, a note)
// is scanned for card numbers, IBANs and the patterns a policy declares,
// and each hit is replaced by its masked form before the text is stored.
//
// Choices (see docs/masking.md, "Free text"):
//
//   - Only ASCII digits 0-9 count. Other scripts' digits ("١٢٣") and
//     fullwidth digits are not read as a card number or an IBAN: payment
//     systems accept ASCII only, and reading every script's digits would
//     mask text that is no number anyone can use.
//   - A card number is 13 to 19 digits, Luhn-valid, written together or
//     in groups of at least three digits separated by one space or one
//     dash (mixed separators are accepted: the aim is that no number leaks,
//     and the Luhn check keeps false hits rare). A run of digits longer
//     than 19 with no separator is not a card. The masked form keeps the
//     last four digits: "[card ending 1111]".
//   - An IBAN (ISO 13616) is a country code from the registry, two check
//     digits and the country's number of letters and digits, written
//     together or in groups of four separated by single spaces, upper or
//     lower case; its mod-97 remainder must be 1. The masked form keeps
//     the country and the last four: "[IBAN DE… 3000]".
//   - Hits are found anywhere, including inside URLs ("?card=4111…"): a
//     hit must not run on into more letters or digits, nothing else is
//     asked of its neighbours.
//   - A declared pattern's mask is a literal replacement ("[national
//     id]"; no $1 expansion), or "redact" ("[REDACTED]") or "last4"
//     (the match's last four letters or digits, as the last4 style).

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Kinds of free-text finding.
const (
	KindCard    = "card"
	KindIBAN    = "iban"
	KindPattern = "pattern"
)

// Pattern is one policy-declared sensitive pattern (policy key
// sensitive_patterns).
type Pattern struct {
	Name   string
	Regexp *regexp.Regexp
	// Mask is the literal replacement, or "redact" or "last4".
	Mask string
}

// CompilePattern compiles a sensitive pattern. It refuses a regular
// expression that does not compile or that matches the empty string (it
// would match everywhere and mask nothing useful).
func CompilePattern(name, expr, mask string) (Pattern, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return Pattern{}, fmt.Errorf("regex %q does not compile: %v", expr, err)
	}
	if syn, err := syntax.Parse(expr, syntax.Perl); err == nil && nullable(syn) {
		return Pattern{}, fmt.Errorf("regex %q can match the empty string", expr)
	}
	if mask == "" {
		mask = "redact"
	}
	return Pattern{Name: name, Regexp: re, Mask: mask}, nil
}

// nullable reports whether re can match an empty string somewhere:
// assertions (^, $, \b) count as empty, since they match between
// characters of some text.
func nullable(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpStar, syntax.OpQuest:
		return true
	case syntax.OpLiteral:
		return len(re.Rune) == 0
	case syntax.OpPlus, syntax.OpCapture:
		return nullable(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || nullable(re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !nullable(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if nullable(s) {
				return true
			}
		}
		return false
	}
	return false
}

// Finding is what one scan masked, per kind: Name is "card number",
// "IBAN" or the pattern's name.
type Finding struct {
	Kind  string
	Name  string
	Count int
}

// ScanText finds card numbers, IBANs and the given patterns in s and
// returns s with each hit replaced by its masked form, and what was found
// (cards first, then IBANs, then patterns in their order; kinds with no
// hit are left out). Text with nothing to mask is returned as is.
func ScanText(s string, patterns []Pattern) (string, []Finding) {
	var found []Finding
	if hasASCIIDigit(s) {
		var nIBAN, nCard int
		s, nIBAN = scanIBANs(s)
		s, nCard = scanCards(s)
		if nCard > 0 {
			found = append(found, Finding{Kind: KindCard, Name: "card number", Count: nCard})
		}
		if nIBAN > 0 {
			found = append(found, Finding{Kind: KindIBAN, Name: "IBAN", Count: nIBAN})
		}
	}
	for _, p := range patterns {
		n := 0
		s = p.Regexp.ReplaceAllStringFunc(s, func(m string) string {
			n++
			switch p.Mask {
			case "redact":
				return Redacted
			case "last4":
				return last4(m).(string)
			}
			return p.Mask
		})
		if n > 0 {
			found = append(found, Finding{Kind: KindPattern, Name: p.Name, Count: n})
		}
	}
	return s, found
}

func hasASCIIDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool  { return isDigit(c) || isLetter(c) }

// group is one run of digits [start, end) in a card candidate.
type group struct{ start, end int }

// scanCards masks card numbers. A candidate is a maximal run of digit
// groups joined by single spaces or dashes; within it, the longest
// Luhn-valid span of whole groups with 13-19 digits (each group at least
// three digits when there are several) is masked, earliest first, and the
// rest of the run is scanned again.
func scanCards(s string) (string, int) {
	var b strings.Builder
	last, n := 0, 0
	var groups []group
	for i := 0; i < len(s); {
		if !isDigit(s[i]) || i > 0 && isDigit(s[i-1]) {
			i++
			continue
		}
		groups = groups[:0]
		j := i
		for {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			groups = append(groups, group{j, k})
			if k+1 < len(s) && (s[k] == ' ' || s[k] == '-') && isDigit(s[k+1]) {
				j = k + 1
				continue
			}
			j = k
			break
		}
		// A run that ends in a letter ("4111…1111abc") is one token, not a
		// number; its groups before the last still count.
		if j < len(s) && isLetter(s[j]) {
			groups = groups[:len(groups)-1]
		}
		if i > 0 && isLetter(s[i-1]) && len(groups) > 0 {
			groups = groups[1:]
		}
		for g := 0; g < len(groups); {
			a, z := cardSpan(s, groups[g:])
			if z < 0 {
				// No card starts at any group from g on (cardSpan tried
				// each): trying again from g+1 would only repeat that,
				// once per group, which made long runs like "0 0 0 …"
				// quadratic.
				break
			}
			start, end := groups[g+a].start, groups[g+z].end
			b.WriteString(s[last:start])
			b.WriteString("[card ending ")
			b.WriteString(lastDigits(s, start, end))
			b.WriteString("]")
			last = end
			n++
			g += z + 1
		}
		i = j + 1
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// lastDigits returns the last four digits of s[start:end].
func lastDigits(s string, start, end int) string {
	var out [4]byte
	n := 4
	for i := end - 1; i >= start && n > 0; i-- {
		if isDigit(s[i]) {
			n--
			out[n] = s[i]
		}
	}
	return string(out[n:])
}

// cardSpan finds the first card starting at one of gs's groups: it returns
// the indexes of the span's first and last groups, or -1, -1.
func cardSpan(s string, gs []group) (int, int) {
	for a := range gs {
		first := gs[a].end - gs[a].start
		if first > 19 {
			continue
		}
		digits, best := 0, -1
		for z := a; z < len(gs); z++ {
			glen := gs[z].end - gs[z].start
			if z > a && (glen < 3 || first < 3) {
				break
			}
			digits += glen
			if digits > 19 {
				break
			}
			if digits >= 13 && luhn(s, gs[a:z+1]) {
				best = z
			}
		}
		if best >= 0 {
			return a, best
		}
	}
	return -1, -1
}

// luhn reports whether the digits of gs pass the Luhn check.
func luhn(s string, gs []group) bool {
	sum, double := 0, false
	for g := len(gs) - 1; g >= 0; g-- {
		for i := gs[g].end - 1; i >= gs[g].start; i-- {
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
	}
	return sum%10 == 0
}

// ibanLength is the length of each registered country's IBAN (the SWIFT
// IBAN registry).
var ibanLength = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
	"BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
	"IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
	"LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
	"MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
	"SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
	"TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// scanIBANs masks IBANs.
func scanIBANs(s string) (string, int) {
	var b strings.Builder
	last, n := 0, 0
	var buf [34]byte
	for i := 0; i+4 <= len(s); i++ {
		if !isLetter(s[i]) || !isLetter(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || i > 0 && isAlnum(s[i-1]) {
			continue
		}
		want, ok := ibanLength[strings.ToUpper(s[i:i+2])]
		if !ok {
			continue
		}
		// Collect want letters and digits, allowing one space after every
		// fourth.
		got, j := 0, i
		for j < len(s) && got < want {
			c := s[j]
			if c == ' ' && got%4 == 0 && got > 0 && j+1 < len(s) && isAlnum(s[j+1]) && s[j-1] != ' ' {
				j++
				continue
			}
			if !isAlnum(s[j]) {
				break
			}
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			buf[got] = c
			got++
			j++
		}
		if got != want || j < len(s) && isAlnum(s[j]) || !mod97(buf[:got]) {
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString("[IBAN ")
		b.WriteString(strings.ToUpper(s[i : i+2]))
		b.WriteString("… ")
		b.Write(buf[got-4 : got])
		b.WriteString("]")
		last = j
		n++
		i = j - 1
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// mod97 reports whether the upper-case IBAN in iban has remainder 1: the
// first four characters moved to the end, letters as 10..35.
func mod97(iban []byte) bool {
	r := 0
	add := func(c byte) bool {
		switch {
		case isDigit(c):
			r = (r*10 + int(c-'0')) % 97
		case 'A' <= c && c <= 'Z':
			v := int(c-'A') + 10
			r = (r*100 + v) % 97
		default:
			return false
		}
		return true
	}
	for _, c := range iban[4:] {
		if !add(c) {
			return false
		}
	}
	for _, c := range iban[:4] {
		if !add(c) {
			return false
		}
	}
	return r == 1
}
