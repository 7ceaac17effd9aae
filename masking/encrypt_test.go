package masking_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/masking"
)

func testKey(id string, b byte) masking.EncryptKey {
	return masking.EncryptKey{ID: id, Key: bytes.Repeat([]byte{b}, masking.EncryptKeyLen)}
}

func keyring(t *testing.T, keys ...masking.EncryptKey) *masking.Keyring {
	t.Helper()
	k, err := masking.NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// maskOne masks record (JSON) for resource through both paths, checks
// that they agree, and returns the decoded result.
func maskOne(t *testing.T, m *masking.Masker, resource string, rules []masking.Rule, record string) map[string]any {
	t.Helper()
	rs := masking.CompileFor(resource, rules)
	out, _, err := m.MaskJSON([]byte(record), rs)
	if err != nil {
		t.Fatal(err)
	}
	var streamed map[string]any
	if err := json.Unmarshal(out, &streamed); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(record))
	dec.UseNumber()
	var walked map[string]any
	if err := dec.Decode(&walked); err != nil {
		t.Fatal(err)
	}
	m.Mask(walked, rs)
	a, _ := json.Marshal(streamed)
	b, _ := json.Marshal(walked)
	if !bytes.Equal(a, b) {
		t.Fatalf("MaskJSON and Mask disagree:\n%s\n%s", a, b)
	}
	return streamed
}

var encRules = []masking.Rule{{Field: "payment_card", Style: masking.Encrypt}, {Field: "iban", Style: masking.Encrypt},
	{Field: "customer.doc", Style: masking.Encrypt}, {Field: "notes", Style: masking.Redact}}

func TestEncryptDeterministicAndBound(t *testing.T) {
	m := masking.NewMasker(nil)
	m.UseKeyring(keyring(t, testKey("k1", 1)))
	rec := `{"payment_card":"4111 1111 1111 1234","iban":"4111 1111 1111 1234","customer":{"doc":{"kind":"passport","n":"X1"}},
		"rows":[{"payment_card":"4111 1111 1111 1234"},{"payment_card":4111}],"notes":"x"}`
	a := maskOne(t, m, "crm-payments", encRules, rec)
	b := maskOne(t, m, "crm-payments", encRules, rec)
	other := maskOne(t, m, "crm-other", encRules, rec)
	card := a["payment_card"].(string)
	rows := a["rows"].([]any)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"prefix and key id", strings.HasPrefix(card, "tok2_k1_")},
		{"same value, same token", card == b["payment_card"] && card == rows[0].(map[string]any)["payment_card"]},
		{"other field, other token", card != a["iban"]},
		{"other resource, other token", card != other["payment_card"]},
		{"string and number differ", rows[1].(map[string]any)["payment_card"] != card},
		{"redact still redacts", a["notes"] == masking.Redacted},
		{"dotted path encrypts objects", strings.HasPrefix(a["customer"].(map[string]any)["doc"].(string), "tok2_k1_")},
	} {
		if !tc.ok {
			t.Errorf("%s: %v", tc.name, a)
		}
	}

	k := m.Keyring()
	rs := masking.CompileFor("crm-payments", encRules)
	fields := rs.EncryptFields()
	for _, tc := range []struct {
		tok, field, want string
	}{
		{card, "payment_card", `"4111 1111 1111 1234"`},
		{a["iban"].(string), "iban", `"4111 1111 1111 1234"`},
		{rows[1].(map[string]any)["payment_card"].(string), "payment_card", `4111`},
		{a["customer"].(map[string]any)["doc"].(string), "customer.doc", `{"kind":"passport","n":"X1"}`},
	} {
		f, id, v, err := k.DecryptToken("crm-payments", fields, tc.tok)
		if err != nil || f != tc.field || id != "k1" || string(v) != tc.want {
			t.Errorf("open %s: %s %s %s %v, want %s %s", tc.tok, f, id, v, err, tc.field, tc.want)
		}
	}
	// Bound to the resource and field: another resource's token, or only
	// the other fields, do not open it.
	if _, _, _, err := k.DecryptToken("crm-payments", fields, other["payment_card"].(string)); !errors.Is(err, masking.ErrWrongField) {
		t.Errorf("another resource's token: %v", err)
	}
	if _, _, _, err := k.DecryptToken("crm-payments", []string{"iban"}, card); !errors.Is(err, masking.ErrWrongField) {
		t.Errorf("a card token opened as iban: %v", err)
	}
}

func TestEncryptRotation(t *testing.T) {
	k1, k2 := testKey("k1", 1), testKey("k2", 2)
	fields := []string{"payment_card"}
	rules := []masking.Rule{{Field: "payment_card", Style: masking.Encrypt}}
	rec := `{"payment_card":"4111 1111 1111 1234"}`
	tokenUnder := func(keys ...masking.EncryptKey) (string, *masking.Keyring) {
		m := masking.NewMasker(nil)
		m.UseKeyring(keyring(t, keys...))
		return maskOne(t, m, "crm", rules, rec)["payment_card"].(string), m.Keyring()
	}
	old, _ := tokenUnder(k1)
	fresh, both := tokenUnder(k1, k2)
	if !strings.HasPrefix(old, "tok2_k1_") || !strings.HasPrefix(fresh, "tok2_k2_") || both.Newest() != "k2" {
		t.Fatalf("old %s, new %s", old, fresh)
	}
	for _, tok := range []string{old, fresh} {
		if _, _, v, err := both.DecryptToken("crm", fields, tok); err != nil || string(v) != `"4111 1111 1111 1234"` {
			t.Fatalf("after adding k2, %s: %s %v", tok, v, err)
		}
	}
	_, only2 := tokenUnder(k2)
	if _, id, _, err := only2.DecryptToken("crm", fields, old); !errors.Is(err, masking.ErrUnknownKey) || id != "k1" {
		t.Fatalf("k1 removed: %v", err)
	}
	if _, _, v, err := only2.DecryptToken("crm", fields, fresh); err != nil || string(v) != `"4111 1111 1111 1234"` {
		t.Fatalf("k1 removed, k2 token: %v", err)
	}
	// A key given the id of another does not open its tokens.
	_, impostor := tokenUnder(masking.EncryptKey{ID: "k1", Key: k2.Key})
	if _, _, _, err := impostor.DecryptToken("crm", fields, old); !errors.Is(err, masking.ErrWrongField) {
		t.Fatalf("wrong key under k1's id: %v", err)
	}
}

func TestEncryptWithoutKeysRedacts(t *testing.T) {
	m := masking.NewMasker(nil)
	out, res, err := m.MaskJSON([]byte(`{"iban":"DE89370400440532013000"}`), masking.CompileFor("crm", encRules))
	if err != nil || string(out) != `{"iban":"[REDACTED]"}` || !res.EncryptKeyMissing {
		t.Fatalf("%s %+v %v", out, res, err)
	}
}

func TestMalformedTokens(t *testing.T) {
	k := keyring(t, testKey("k1", 1))
	good, err := k.EncryptToken("crm", "iban", "DE89")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tok  string
		want error
	}{
		{"", masking.ErrMalformedToken},
		{"tok_abc", masking.ErrMalformedToken},
		{"tok2_", masking.ErrMalformedToken},
		{"tok2_k1", masking.ErrMalformedToken},
		{"tok2_k1_", masking.ErrMalformedToken},
		{"tok2_k1_!!!!", masking.ErrMalformedToken},
		{"tok2_k1_AAAA", masking.ErrMalformedToken},
		{"tok2_k 1_" + strings.Repeat("A", 40), masking.ErrMalformedToken},
		{"tok2_k9_" + good[len("tok2_k1_"):], masking.ErrUnknownKey},
		{altered(good), masking.ErrWrongField},
		{good, nil},
	} {
		_, _, _, err := k.DecryptToken("crm", []string{"iban"}, tc.tok)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%q: %v, want %v", tc.tok, err, tc.want)
		}
	}
}

func TestParseEncryptKeys(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64))
	url := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 64))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for _, tc := range []struct {
		list, err string
		newest    string
	}{
		{"k1:" + b64, "", "k1"},
		{"k1:" + b64 + ", k2:" + url, "", "k2"},
		{"k1:" + short, "is 32 bytes; it must be 64", ""},
		{"k1:not base64!", "not valid base64", ""},
		{"k1:" + b64 + ",k1:" + url, `"k1" is given twice`, ""},
		{"k_1:" + b64, `key id "k_1"`, ""},
		{b64, "want keyid:base64key", ""},
		{"", "want keyid:base64key", ""},
	} {
		k, err := masking.ParseKeyList(tc.list)
		switch {
		case tc.err == "" && (err != nil || k.Newest() != tc.newest):
			t.Errorf("%q: %v", tc.list, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want %q", tc.list, err, tc.err)
		}
	}
	file := "# keys\n\nold:" + b64 + "\n  # rotated 2026-12\nnew:" + url + "\n"
	if k, err := masking.ParseKeyFile("keys.txt", []byte(file)); err != nil || k.Newest() != "new" || len(k.IDs()) != 2 {
		t.Fatalf("file: %v", err)
	}
	for _, tc := range []struct{ file, err string }{
		{"a:" + b64 + "\n\na:" + url, `keys.txt:3: key id "a" is already given on line 1`},
		{"# only\n", "keys.txt: no key in the file"},
		{"a:" + b64 + "\nb:xx\n", "keys.txt:2: key \"b\" is 1 bytes"},
	} {
		if _, err := masking.ParseKeyFile("keys.txt", []byte(tc.file)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want %q", tc.file, err, tc.err)
		}
	}
}

// altered flips one character in the middle of a token's ciphertext.
func altered(tok string) string {
	b := []byte(tok)
	i := len("tok2_k1_") + 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// BenchmarkEncryptDecrypt is the cryptographic cost of one token (AES-SIV
// through Tink): making it, and opening it as the second of two fields.
func BenchmarkEncryptDecrypt(b *testing.B) {
	k, err := masking.NewKeyring([]masking.EncryptKey{testKey("k1", 1)})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := k.EncryptToken("crm-payments", "payment_card", "4111 1111 1111 1234")
	b.Run("encrypt", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.EncryptToken("crm-payments", "payment_card", "4111 1111 1111 1234"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decrypt", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, err := k.DecryptToken("crm-payments", []string{"iban", "payment_card"}, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
