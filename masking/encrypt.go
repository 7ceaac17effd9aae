package masking

// The encrypt style: reversible, deterministic tokens.
//
// A value masked with the encrypt style becomes
//
//	tok2_<key id>_<base64url, no padding>
//
// where the base64 part is AES-SIV (RFC 5297, Tink's daead/subtle, 64-byte
// keys) of the value under the key named by the key id. AES-SIV is
// deterministic: the same value in the same field of the same resource
// under the same key always gives the same token, so records still join
// on it. The associated data binds the token to its key id, its resource
// and its declared field name:
//
//	"jitaccess/mask/encrypt/v1\x00" + key id + "\x00" + resource + "\x00" + field
//
// so a token made for crm-payments' payment_card cannot be opened as
// another field or for another resource (opening fails authentication),
// and the same card in two fields gives two unrelated tokens. The
// plaintext records the JSON type ('s' and the text of a string, 'n' and
// the digits of a number, 'j' and canonical JSON of anything else), so a
// value comes back as it went in: "4111" and 4111 are different values and
// have different tokens.
//
// Keys rotate: a Keyring holds every key still accepted, the last one
// given is the newest and makes new tokens; tokens under the older keys
// still open until their key is removed.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// Encrypt is the reversible style.
const Encrypt Style = "encrypt"

// EncryptPrefix starts every reversible token.
const EncryptPrefix = "tok2_"

// EncryptKeyLen is the size of an encrypt key: 64 bytes (AES-SIV with two
// 256-bit keys).
const EncryptKeyLen = subtle.AESSIVKeySize

// MaxKeyIDLen bounds a key id.
const MaxKeyIDLen = 32

// EncryptKey is one key of a keyring.
type EncryptKey struct {
	ID  string // letters, digits and '-' (no '_', which separates the token's parts)
	Key []byte // EncryptKeyLen bytes
}

// Keyring holds the keys of the encrypt style. It is safe for concurrent
// use.
type Keyring struct {
	byID   map[string]*subtle.AESSIV
	ids    []string
	newest string
}

// ValidKeyID reports whether id may name a key: 1 to MaxKeyIDLen ASCII
// letters, digits or '-'.
func ValidKeyID(id string) bool {
	if id == "" || len(id) > MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// NewKeyring returns a keyring of keys; the last is the newest. It refuses
// an empty list, a bad or repeated id and a key that is not EncryptKeyLen
// bytes.
func NewKeyring(keys []EncryptKey) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encrypt key given")
	}
	k := &Keyring{byID: make(map[string]*subtle.AESSIV, len(keys))}
	for _, ek := range keys {
		if !ValidKeyID(ek.ID) {
			return nil, fmt.Errorf("encrypt key id %q: use 1 to %d letters, digits or '-'", ek.ID, MaxKeyIDLen)
		}
		if _, dup := k.byID[ek.ID]; dup {
			return nil, fmt.Errorf("encrypt key id %q is given twice", ek.ID)
		}
		if len(ek.Key) != EncryptKeyLen {
			return nil, fmt.Errorf("encrypt key %q is %d bytes; it must be %d (base64 of 64 random bytes: openssl rand -base64 64)", ek.ID, len(ek.Key), EncryptKeyLen)
		}
		siv, err := subtle.NewAESSIV(ek.Key)
		if err != nil {
			return nil, fmt.Errorf("encrypt key %q: %v", ek.ID, err)
		}
		k.byID[ek.ID] = siv
		k.ids = append(k.ids, ek.ID)
	}
	k.newest = keys[len(keys)-1].ID
	return k, nil
}

// Newest is the id of the key that makes new tokens.
func (k *Keyring) Newest() string { return k.newest }

// IDs lists the key ids, oldest first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.ids...) }

// ParseKey parses "keyid:base64key" (standard or URL base64, padding
// optional).
func ParseKey(s string) (EncryptKey, error) {
	id, b64, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return EncryptKey{}, errors.New("want keyid:base64key")
	}
	id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
	if !ValidKeyID(id) {
		return EncryptKey{}, fmt.Errorf("key id %q: use 1 to %d letters, digits or '-'", id, MaxKeyIDLen)
	}
	key, err := decodeBase64(b64)
	if err != nil {
		return EncryptKey{}, fmt.Errorf("key %q is not valid base64", id)
	}
	if len(key) != EncryptKeyLen {
		return EncryptKey{}, fmt.Errorf("key %q is %d bytes; it must be %d (openssl rand -base64 64)", id, len(key), EncryptKeyLen)
	}
	return EncryptKey{ID: id, Key: key}, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// ParseKeyList parses the comma-separated form of JITACCESS_MASK_ENCRYPT_KEYS:
// "k1:BASE64,k2:BASE64", the last the newest.
func ParseKeyList(s string) (*Keyring, error) {
	var keys []EncryptKey
	for i, part := range strings.Split(s, ",") {
		ek, err := ParseKey(part)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %v", i+1, err)
		}
		keys = append(keys, ek)
	}
	return NewKeyring(keys)
}

// ParseKeyFile parses a keys file: one keyid:base64key a line, the last
// the newest; blank lines and lines starting with '#' are skipped. Errors
// name name:line.
func ParseKeyFile(name string, data []byte) (*Keyring, error) {
	var keys []EncryptKey
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ek, err := ParseKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n, err)
		}
		if at, dup := seen[ek.ID]; dup {
			return nil, fmt.Errorf("%s:%d: key id %q is already given on line %d", name, n, ek.ID, at)
		}
		seen[ek.ID] = n
		keys = append(keys, ek)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no key in the file", name)
	}
	return NewKeyring(keys)
}

func encryptAD(keyID, resource, field string) []byte {
	ad := make([]byte, 0, 32+len(keyID)+len(resource)+len(field))
	ad = append(ad, "jitaccess/mask/encrypt/v1\x00"...)
	ad = append(ad, keyID...)
	ad = append(ad, 0)
	ad = append(ad, resource...)
	ad = append(ad, 0)
	return append(ad, field...)
}

// plaintext is the typed byte form of a value.
func plaintext(v any) []byte {
	switch x := v.(type) {
	case string:
		return append([]byte{'s'}, x...)
	case json.Number:
		return append([]byte{'n'}, x.String()...)
	case float64:
		return append([]byte{'n'}, strconv.FormatFloat(x, 'f', -1, 64)...)
	}
	return append([]byte{'j'}, canonical(v)...)
}

// EncryptToken returns the reversible token of v in field of resource,
// under the newest key.
func (k *Keyring) EncryptToken(resource, field string, v any) (string, error) {
	ct, err := k.byID[k.newest].EncryptDeterministically(plaintext(v), encryptAD(k.newest, resource, field))
	if err != nil {
		return "", err
	}
	return EncryptPrefix + k.newest + "_" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Token errors; DecryptToken wraps them with detail.
var (
	ErrMalformedToken = errors.New("malformed token")
	ErrUnknownKey     = errors.New("unknown token key")
	ErrWrongField     = errors.New("token does not open as any encrypt field of the resource")
)

// SplitToken returns the key id and ciphertext of a reversible token.
func SplitToken(tok string) (keyID string, ct []byte, err error) {
	rest, ok := strings.CutPrefix(tok, EncryptPrefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: does not start with %q", ErrMalformedToken, EncryptPrefix)
	}
	keyID, b64, ok := strings.Cut(rest, "_")
	if !ok || !ValidKeyID(keyID) {
		return "", nil, fmt.Errorf("%w: want %s<key id>_<base64url>", ErrMalformedToken, EncryptPrefix)
	}
	ct, err = base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(ct) <= 16 {
		return "", nil, fmt.Errorf("%w: the part after the key id is not base64url of a ciphertext", ErrMalformedToken)
	}
	return keyID, ct, nil
}

// DecryptToken opens tok as one of fields of resource and returns the
// field it belongs to, the key id, and the value as JSON. Errors wrap
// ErrMalformedToken, ErrUnknownKey or ErrWrongField.
func (k *Keyring) DecryptToken(resource string, fields []string, tok string) (field, keyID string, value json.RawMessage, err error) {
	keyID, ct, err := SplitToken(tok)
	if err != nil {
		return "", "", nil, err
	}
	siv, ok := k.byID[keyID]
	if !ok {
		return "", keyID, nil, fmt.Errorf("%w %q", ErrUnknownKey, keyID)
	}
	for _, f := range fields {
		pt, err := siv.DecryptDeterministically(ct, encryptAD(keyID, resource, f))
		if err != nil {
			continue
		}
		v, err := fromPlaintext(pt)
		if err != nil {
			return "", keyID, nil, err
		}
		return f, keyID, v, nil
	}
	return "", keyID, nil, fmt.Errorf("%w %q", ErrWrongField, resource)
}

func fromPlaintext(pt []byte) (json.RawMessage, error) {
	if len(pt) == 0 {
		return nil, ErrMalformedToken
	}
	switch pt[0] {
	case 's':
		b, err := json.Marshal(string(pt[1:]))
		return b, err
	case 'n', 'j':
		if !json.Valid(pt[1:]) {
			return nil, ErrMalformedToken
		}
		return json.RawMessage(pt[1:]), nil
	}
	return nil, ErrMalformedToken
}

// UseKeyring gives the masker the keys of the encrypt style. Call it
// before the masker is used. Without a keyring, encrypt-style fields are
// redacted (failing closed) and Result.EncryptKeyMissing is set.
func (m *Masker) UseKeyring(k *Keyring) { m.keyring = k }

// Keyring returns the masker's keyring, nil without one.
func (m *Masker) Keyring() *Keyring { return m.keyring }

// CompileFor is Compile for the rules of resource: encrypt-style tokens
// are bound to it.
func CompileFor(resource string, rules []Rule) *Rules {
	rs := Compile(rules)
	rs.resource = resource
	return rs
}

// EncryptFields lists the declared names of the fields masked with the
// encrypt style.
func (rs *Rules) EncryptFields() []string {
	if rs == nil {
		return nil
	}
	var out []string
	for _, m := range []map[string]Style{rs.byName, rs.byPath} {
		for f, st := range m {
			if st == Encrypt {
				out = append(out, f)
			}
		}
	}
	return out
}

// declared is the declared name a key matched: its dotted path when a
// path rule matched, else the key.
func (rs *Rules) declared(name, plain string) string {
	if _, ok := rs.byPath[plain]; ok {
		return plain
	}
	return name
}

// encrypt masks v of field in rs's resource.
func (m *Masker) encrypt(rs *Rules, field string, v any, res *Result) string {
	if m.keyring == nil {
		res.EncryptKeyMissing = true
		return Redacted
	}
	tok, err := m.keyring.EncryptToken(rs.resource, field, v)
	if err != nil {
		return Redacted
	}
	return tok
}

// appendEncrypted appends the reversible token of the JSON value v.
func (m *Masker) appendEncrypted(out []byte, rs *Rules, field string, v []byte, res *Result) ([]byte, error) {
	decoded, err := decodeValue(v)
	if err != nil {
		return nil, err
	}
	return appendString(out, m.encrypt(rs, field, decoded, res)), nil
}
