package masking

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MaskJSON masks a JSON document without decoding it: the values of
// declared fields are replaced and every other byte is copied as it is, so
// key order, spacing and numbers are kept exactly. It masks what Mask
// masks, the same way. raw must be valid JSON (for example a
// json.RawMessage the caller's decoder accepted); MaskJSON reports an
// error rather than guess when it is not.
func (m *Masker) MaskJSON(raw []byte, rs *Rules) ([]byte, Result, error) {
	var res Result
	if rs.Empty() {
		return raw, res, nil
	}
	s := scanner{src: raw, rs: rs}
	end, err := s.value(s.ws(0), "", "")
	if err != nil {
		return nil, res, err
	}
	if s.ws(end) != len(raw) {
		return nil, res, errBadJSON
	}
	if len(s.hits) == 0 {
		return raw, res, nil
	}
	out := make([]byte, 0, len(raw)+16*len(s.hits))
	prev := 0
	for _, h := range s.hits {
		out = append(out, raw[prev:h.start]...)
		switch {
		case h.text != "":
			out = appendString(out, h.text)
		case h.style == Encrypt:
			out, err = m.appendEncrypted(out, rs, h.field, raw[h.start:h.end], &res)
		default:
			out, err = m.appendMasked(out, h.style, raw[h.start:h.end], &res)
		}
		if err != nil {
			return nil, res, err
		}
		res.Masked = append(res.Masked, h.path)
		prev = h.end
	}
	out = append(out, raw[prev:]...)
	slices.Sort(res.Masked)
	return out, res, nil
}

var errBadJSON = errors.New("masking: not valid JSON")

// hit is a value to mask: raw[start:end].
type hit struct {
	start, end int
	style      Style
	path       string
	field      string // the declared name that matched
	text       string // free text with its findings masked (no rule matched)
}

type scanner struct {
	src  []byte
	rs   *Rules
	hits []hit
}

func (s *scanner) ws(i int) int {
	for i < len(s.src) {
		switch s.src[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value scans the value at i, noting declared fields below it, and
// returns the index after it.
func (s *scanner) value(i int, path, plain string) (int, error) {
	if i >= len(s.src) {
		return 0, errBadJSON
	}
	switch s.src[i] {
	case '{':
		return s.object(i, path, plain)
	case '[':
		return s.array(i, path, plain)
	case '"':
		if s.rs.freeText {
			return s.freeText(i, path)
		}
	}
	end, err := s.skip(i)
	if err == nil && s.rs.freeText && end-i >= 13 && isDigit(s.src[i]) {
		// A card number sent as a JSON number is a card number too.
		if masked, found := ScanText(string(s.src[i:end]), nil); len(found) > 0 {
			s.hits = append(s.hits, hit{start: i, end: end, path: path, text: masked})
		}
	}
	return end, err
}

// freeText scans the string at i with the free-text detectors and notes a
// hit when they find something.
func (s *scanner) freeText(i int, path string) (int, error) {
	end, err := s.str(i)
	if err != nil {
		return 0, err
	}
	if !hasASCIIDigit(string(s.src[i:end])) && len(s.rs.patterns) == 0 {
		return end, nil // nothing a built-in detector could find
	}
	text, err := unquote(s.src[i:end])
	if err != nil {
		return 0, err
	}
	if masked, found := ScanText(text, s.rs.patterns); len(found) > 0 {
		s.hits = append(s.hits, hit{start: i, end: end, path: path, text: masked})
	}
	return end, nil
}

func (s *scanner) object(i int, path, plain string) (int, error) {
	i = s.ws(i + 1)
	if i < len(s.src) && s.src[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(s.src) || s.src[i] != '"' {
			return 0, errBadJSON
		}
		kend, err := s.str(i)
		if err != nil {
			return 0, err
		}
		// Keys are looked up without allocating; paths are built only for
		// masked values and for objects and lists walked into.
		raw, key := s.src[i+1:kend-1], ""
		plainKey := bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
		if !plainKey {
			if key, err = unquote(s.src[i:kend]); err != nil {
				return 0, err
			}
		}
		name := func() string {
			if plainKey {
				return string(raw)
			}
			return key
		}
		i = s.ws(kend)
		if i >= len(s.src) || s.src[i] != ':' {
			return 0, errBadJSON
		}
		vstart := s.ws(i + 1)
		var (
			st      Style
			matched bool
			cplain  string
		)
		field := ""
		if len(s.rs.byPath) > 0 {
			cplain = join(plain, name())
			st, matched = s.rs.byPath[cplain]
			field = cplain
		}
		if !matched {
			if plainKey {
				st, matched = s.rs.byName[string(raw)]
			} else {
				st, matched = s.rs.byName[key]
			}
		}
		var vend int
		switch {
		case matched:
			if vend, err = s.skip(vstart); err != nil {
				return 0, err
			}
			if !bytes.Equal(s.src[vstart:vend], []byte("null")) {
				if field == "" || s.rs.byPath[field] == "" {
					field = name()
				}
				s.hits = append(s.hits, hit{vstart, vend, st, join(path, name()), field, ""})
			}
		case vstart < len(s.src) && (s.src[vstart] == '{' || s.src[vstart] == '['):
			if vend, err = s.value(vstart, join(path, name()), cplain); err != nil {
				return 0, err
			}
		default:
			if vend, err = s.value(vstart, join(path, name()), cplain); err != nil {
				return 0, err
			}
		}
		i = s.ws(vend)
		if i >= len(s.src) {
			return 0, errBadJSON
		}
		switch s.src[i] {
		case ',':
			i = s.ws(i + 1)
		case '}':
			return i + 1, nil
		default:
			return 0, errBadJSON
		}
	}
}

func (s *scanner) array(i int, path, plain string) (int, error) {
	i = s.ws(i + 1)
	if i < len(s.src) && s.src[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		end, err := s.value(i, path+"["+strconv.Itoa(n)+"]", plain)
		if err != nil {
			return 0, err
		}
		i = s.ws(end)
		if i >= len(s.src) {
			return 0, errBadJSON
		}
		switch s.src[i] {
		case ',':
			i = s.ws(i + 1)
		case ']':
			return i + 1, nil
		default:
			return 0, errBadJSON
		}
	}
}

// skip returns the index after the value at i, without looking inside.
func (s *scanner) skip(i int) (int, error) {
	if i >= len(s.src) {
		return 0, errBadJSON
	}
	switch c := s.src[i]; {
	case c == '"':
		return s.str(i)
	case c == '{' || c == '[':
		depth := 0
		for j := i; j < len(s.src); j++ {
			switch s.src[j] {
			case '"':
				end, err := s.str(j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errBadJSON
	default: // number, true, false, null
		j := i
		for j < len(s.src) && bytes.IndexByte([]byte("+-.0123456789eEtrufalsn"), s.src[j]) >= 0 {
			j++
		}
		if j == i {
			return 0, errBadJSON
		}
		return j, nil
	}
}

// str returns the index after the string starting at i.
func (s *scanner) str(i int) (int, error) {
	for j := i + 1; j < len(s.src); j++ {
		switch s.src[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errBadJSON
}

// unquote decodes a JSON string token as encoding/json does (invalid
// UTF-8 becomes U+FFFD).
func unquote(b []byte) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", errBadJSON
	}
	return s, nil
}

// appendMasked appends the masked form of the JSON value v.
func (m *Masker) appendMasked(out []byte, st Style, v []byte, res *Result) ([]byte, error) {
	switch {
	case st == Redact, st == Last4 && v[0] != '"' && (v[0] < '0' || v[0] > '9') && v[0] != '-':
		return appendString(out, Redacted), nil
	case st == Last4 && v[0] != '"':
		return appendString(out, last4(json.Number(v)).(string)), nil
	}
	decoded, err := decodeValue(v)
	if err != nil {
		return nil, err
	}
	return appendString(out, m.value(st, decoded, res).(string)), nil
}

// appendString appends s as a JSON string. Masked values are
// "[REDACTED]", "****" and letters or digits, or "tok_" and base64url, so
// this is nearly always a plain copy.
// decodeValue decodes one JSON value as the masking styles take it:
// strings as strings, numbers exactly as sent (json.Number), objects and
// lists as their decoded form.
func decodeValue(v []byte) (any, error) {
	switch v[0] {
	case '"':
		return unquote(v)
	case '{', '[', 't', 'f':
		var decoded any
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		if err := dec.Decode(&decoded); err != nil {
			return nil, errBadJSON
		}
		return decoded, nil
	}
	return json.Number(v), nil
}

func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = append(out, `\u00`...)
			out = append(out, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}
