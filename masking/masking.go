// Package masking hides the fields of a record that a reader may not see.
//
// It is pure: no HTTP, no database, no clock. A resource in the policy
// declares fields, each with a style; the check API (POST /api/v1/mask)
// decides whether the user holds a live grant and, when they do not, asks
// this package to mask the record.
//
// Styles:
//
//   - redact: the value becomes "[REDACTED]", whatever its type.
//   - last4: strings and numbers keep their last four letters or digits
//     ("****1234"), separators ignored; values with fewer than eight are
//     redacted, so that a short value is never mostly revealed; objects,
//     lists and booleans are redacted.
//   - token: the value becomes "tok_" and 22 characters of a keyed
//     HMAC-SHA256 of it. The same value always gives the same token under
//     the same key, so records can be matched (same card, same IBAN)
//     without being read; without the key a token cannot be reversed or
//     recomputed from a guess.
//   - encrypt: the value becomes a reversible token "tok2_<key id>_..."
//     (AES-SIV, deterministic, bound to the resource and field; see
//     encrypt.go), which POST /api/v1/detokenize opens under a live grant.
//
// Field names match a key at any depth of the record ("iban" masks
// customer.iban and accounts[3].iban); a dotted name ("customer.iban")
// matches that path from the root only, lists being transparent. A masked
// value is replaced whole: a declared field whose value is an object is not
// walked into. null stays null.
package masking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// Style is how a field is masked.
type Style string

const (
	Redact Style = "redact"
	Last4  Style = "last4"
	Token  Style = "token"
	// Encrypt is declared in encrypt.go.
)

// Styles lists every style.
var Styles = []Style{Redact, Last4, Token, Encrypt}

// Redacted is what a redacted value becomes.
const Redacted = "[REDACTED]"

// TokenPrefix starts every token.
const TokenPrefix = "tok_"

// MinKeyLen is the shortest token key accepted: 32 bytes, the size of the
// HMAC-SHA256 output.
const MinKeyLen = 32

// ParseStyle returns the style named s.
func ParseStyle(s string) (Style, error) {
	st := Style(s)
	if slices.Contains(Styles, st) {
		return st, nil
	}
	return "", fmt.Errorf("unknown mask style %q; use redact, last4, token or encrypt", s)
}

// Rule says how one field is masked.
type Rule struct {
	Field string
	Style Style
}

// Rules is a compiled set of rules for one resource.
type Rules struct {
	byName map[string]Style // names without a dot: any depth
	byPath map[string]Style // dotted paths from the root
	token  bool
	// resource binds encrypt-style tokens (CompileFor).
	resource string
	// freeText, when set, also scans every other string value with the
	// free-text detectors (WithFreeText).
	freeText bool
	patterns []Pattern
}

// WithFreeText returns a copy of rs that also masks, in every string value
// no rule names, what the free-text detectors find (card numbers, IBANs,
// patterns): the same engine that masks what people type before it is
// stored, so that a card number in a record's notes is hidden too.
func (rs *Rules) WithFreeText(patterns []Pattern) *Rules {
	out := &Rules{byName: map[string]Style{}, byPath: map[string]Style{}}
	if rs != nil {
		cp := *rs
		out = &cp
	}
	out.freeText, out.patterns = true, patterns
	return out
}

// Compile indexes rules. A later rule for the same field wins.
func Compile(rules []Rule) *Rules {
	rs := &Rules{byName: map[string]Style{}, byPath: map[string]Style{}}
	for _, r := range rules {
		if strings.Contains(r.Field, ".") {
			rs.byPath[r.Field] = r.Style
		} else {
			rs.byName[r.Field] = r.Style
		}
		rs.token = rs.token || r.Style == Token
	}
	return rs
}

// Empty reports whether there is nothing to mask.
func (rs *Rules) Empty() bool {
	return rs == nil || len(rs.byName)+len(rs.byPath) == 0 && !rs.freeText
}

// NeedsKey reports whether any rule uses the token style.
func (rs *Rules) NeedsKey() bool { return rs != nil && rs.token }

func (rs *Rules) match(name, path string) (Style, bool) {
	if st, ok := rs.byPath[path]; ok {
		return st, true
	}
	st, ok := rs.byName[name]
	return st, ok
}

// Masker masks records. It is safe for concurrent use.
type Masker struct {
	key     []byte
	macs    sync.Pool
	keyring *Keyring // the encrypt style's keys (UseKeyring)
}

// NewMasker returns a masker whose tokens are keyed by key. A masker with
// a key shorter than MinKeyLen (or none) cannot make tokens: it redacts
// token-style fields instead, failing closed, and Mask reports it.
func NewMasker(key []byte) *Masker {
	m := &Masker{}
	if len(key) >= MinKeyLen {
		m.key = slices.Clone(key)
		m.macs.New = func() any { return hmac.New(sha256.New, m.key) }
	}
	return m
}

// CanTokenize reports whether the masker has a usable key.
func (m *Masker) CanTokenize() bool { return m.key != nil }

// Result says what Mask did.
type Result struct {
	// Masked lists the paths of the values that were masked, sorted:
	// "payment_card", "customer.iban", "accounts[1].iban".
	Masked []string
	// KeyMissing is set when a token-style field was redacted because the
	// masker has no key.
	KeyMissing bool
	// EncryptKeyMissing is set when an encrypt-style field was redacted
	// because the masker has no keyring.
	EncryptKeyMissing bool
}

// Mask masks record in place according to rs and reports which values it
// masked. record is a decoded JSON value (map[string]any, []any, string,
// float64 or json.Number, bool, nil).
func (m *Masker) Mask(record any, rs *Rules) Result {
	var res Result
	if rs.Empty() {
		return res
	}
	w := walker{m: m, rs: rs, res: &res}
	w.walk(record, "", "")
	slices.Sort(res.Masked)
	return res
}

type walker struct {
	m   *Masker
	rs  *Rules
	res *Result
}

func (w walker) walk(v any, path, plain string) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			cpath, cplain := join(path, k), join(plain, k)
			if st, ok := w.rs.match(k, cplain); ok {
				switch {
				case nothingToHide(child):
				case st == Encrypt:
					x[k] = w.m.encrypt(w.rs, w.rs.declared(k, cplain), child, w.res)
					w.res.Masked = append(w.res.Masked, cpath)
				default:
					x[k] = w.m.value(st, child, w.res)
					w.res.Masked = append(w.res.Masked, cpath)
				}
				continue
			}
			w.walk(child, cpath, cplain)
		}
	case []any:
		for i, child := range x {
			w.walk(child, path+"["+strconv.Itoa(i)+"]", plain)
		}
	}
}

// nothingToHide reports whether v is null or an empty (or blank) string:
// it is left as it is in every style. A token or ciphertext of "" would
// be the same for every record, a marker that says "empty" in a form
// that looks like data.
func nothingToHide(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Value masks one value with style st.
func (m *Masker) Value(st Style, v any) any {
	var res Result
	return m.value(st, v, &res)
}

func (m *Masker) value(st Style, v any, res *Result) any {
	switch st {
	case Last4:
		return last4(v)
	case Token:
		if m.key == nil {
			res.KeyMissing = true
			return Redacted
		}
		return m.token(v)
	}
	return Redacted
}

func last4(v any) any {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return Redacted
	}
	var kept []rune
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			kept = append(kept, r)
		}
	}
	if len(kept) < 8 {
		return "****"
	}
	return "****" + string(kept[len(kept)-4:])
}

// tokenDomain separates these MACs from any other use of the key.
const tokenDomain = "jitaccess/mask/v1\x00"

func (m *Masker) token(v any) string {
	mac := m.macs.Get().(hash.Hash)
	defer m.macs.Put(mac)
	mac.Reset()
	mac.Write([]byte(tokenDomain))
	mac.Write(canonical(v))
	sum := mac.Sum(nil)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// canonical is the byte form a value is tokenized from: a string's text, a
// number's digits, and canonical JSON (sorted keys) for anything else, so
// that 4111111111111111 and "4111111111111111" match.
func canonical(v any) []byte {
	switch x := v.(type) {
	case string:
		return []byte(x)
	case json.Number:
		return []byte(x.String())
	case float64:
		return []byte(strconv.FormatFloat(x, 'f', -1, 64))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(fmt.Sprint(v))
	}
	return b
}
