package masking_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/masking"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func encode(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(buf.String())
}

func TestStyles(t *testing.T) {
	m := masking.NewMasker(key)
	tok := func(v any) string { return m.Value(masking.Token, v).(string) }
	cases := []struct {
		name  string
		style masking.Style
		in    any
		want  any
	}{
		{"redact string", masking.Redact, "GB33BUKB20201555555555", masking.Redacted},
		{"redact number", masking.Redact, json.Number("42"), masking.Redacted},
		{"redact object", masking.Redact, map[string]any{"a": "b"}, masking.Redacted},
		{"redact bool", masking.Redact, true, masking.Redacted},
		{"last4 card with spaces", masking.Last4, "4111 1111 1111 1234", "****1234"},
		{"last4 card with dashes", masking.Last4, "4111-1111-1111-9876", "****9876"},
		{"last4 iban", masking.Last4, "GB33 BUKB 2020 1555 5555 55", "****5555"},
		{"last4 number", masking.Last4, json.Number("4111111111111234"), "****1234"},
		{"last4 float", masking.Last4, float64(12345678), "****5678"},
		{"last4 short value fully hidden", masking.Last4, "12345", "****"},
		{"last4 seven characters hidden", masking.Last4, "123-4567", "****"},
		{"last4 object", masking.Last4, map[string]any{"n": "4111111111111234"}, masking.Redacted},
		{"last4 list", masking.Last4, []any{"a"}, masking.Redacted},
		{"token string", masking.Token, "4111111111111234", tok("4111111111111234")},
		{"token number matches string", masking.Token, json.Number("4111111111111234"), tok("4111111111111234")},
		{"token float matches string", masking.Token, float64(4111111111111234), tok("4111111111111234")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := m.Value(tc.style, tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%s(%v) = %v, want %v", tc.style, tc.in, got, tc.want)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	a, b := masking.NewMasker(key), masking.NewMasker(key)
	other := masking.NewMasker([]byte("another key that is long enough!!"))
	t1 := a.Value(masking.Token, "DE89370400440532013000").(string)
	if !strings.HasPrefix(t1, masking.TokenPrefix) || len(t1) != len(masking.TokenPrefix)+22 {
		t.Fatalf("token %q has the wrong shape", t1)
	}
	if strings.Contains(t1, "DE89") || strings.Contains(t1, "3000") {
		t.Fatalf("token %q shows the value", t1)
	}
	if t2 := b.Value(masking.Token, "DE89370400440532013000"); t2 != t1 {
		t.Fatalf("same key, same value: %q != %q (tokens must be deterministic across maskers and replicas)", t2, t1)
	}
	if t3 := a.Value(masking.Token, "DE89370400440532013001"); t3 == t1 {
		t.Fatal("different values gave the same token")
	}
	if t4 := other.Value(masking.Token, "DE89370400440532013000"); t4 == t1 {
		t.Fatal("a different key gave the same token")
	}
	// Objects are tokenized from canonical JSON: key order does not matter.
	o1 := a.Value(masking.Token, decode(t, `{"number":"AB123","country":"FR"}`))
	o2 := a.Value(masking.Token, decode(t, `{"country":"FR","number":"AB123"}`))
	if o1 != o2 {
		t.Fatalf("object tokens depend on key order: %v %v", o1, o2)
	}
}

func TestMaskRecord(t *testing.T) {
	m := masking.NewMasker(key)
	rules := masking.Compile([]masking.Rule{
		{Field: "payment_card", Style: masking.Last4},
		{Field: "iban", Style: masking.Token},
		{Field: "identity_document", Style: masking.Redact},
		{Field: "customer.internal_notes", Style: masking.Redact},
	})
	cases := []struct {
		name   string
		in     string
		want   string
		masked []string
	}{
		{
			name:   "flat",
			in:     `{"name":"Ada","payment_card":"4111 1111 1111 1234","plan":"pro"}`,
			want:   `{"name":"Ada","payment_card":"****1234","plan":"pro"}`,
			masked: []string{"payment_card"},
		},
		{
			name: "nested objects and lists",
			in: `{"customer":{"name":"Ada","iban":"DE89370400440532013000","internal_notes":"VIP","identity_document":{"type":"passport","number":"X1"}},
			      "accounts":[{"iban":"FR1420041010050500013M02606","balance":12.5},{"iban":null},{"label":"empty"}],
			      "history":[["nested",{"payment_card":4111111111114321}]]}`,
			want: `{"accounts":[{"balance":12.5,"iban":"` + m.Value(masking.Token, "FR1420041010050500013M02606").(string) + `"},{"iban":null},{"label":"empty"}],` +
				`"customer":{"iban":"` + m.Value(masking.Token, "DE89370400440532013000").(string) + `","identity_document":"[REDACTED]","internal_notes":"[REDACTED]","name":"Ada"},` +
				`"history":[["nested",{"payment_card":"****4321"}]]}`,
			masked: []string{"accounts[0].iban", "customer.iban", "customer.identity_document", "customer.internal_notes", "history[0][1].payment_card"},
		},
		{
			name:   "dotted rule matches only its path",
			in:     `{"internal_notes":"root level","customer":{"internal_notes":"secret"},"order":{"customer":{"internal_notes":"deeper"}}}`,
			want:   `{"customer":{"internal_notes":"[REDACTED]"},"internal_notes":"root level","order":{"customer":{"internal_notes":"deeper"}}}`,
			masked: []string{"customer.internal_notes"},
		},
		{
			name:   "undeclared fields pass through untouched",
			in:     `{"email":"ada@example.com","amount":1e3,"tags":["a","b"],"ok":true,"none":null}`,
			want:   `{"amount":1e3,"email":"ada@example.com","none":null,"ok":true,"tags":["a","b"]}`,
			masked: nil,
		},
		{
			name:   "empty and blank values have nothing to hide, in every style",
			in:     `{"iban":"","payment_card":"","identity_document":"  ","customer":{"internal_notes":null}}`,
			want:   `{"customer":{"internal_notes":null},"iban":"","identity_document":"  ","payment_card":""}`,
			masked: nil,
		},
		{
			name:   "field names are case sensitive",
			in:     `{"IBAN":"DE89370400440532013000"}`,
			want:   `{"IBAN":"DE89370400440532013000"}`,
			masked: nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := decode(t, tc.in)
			res := m.Mask(rec, rules)
			if got := encode(t, rec); got != tc.want {
				t.Fatalf("masked record\n got %s\nwant %s", got, tc.want)
			}
			if !reflect.DeepEqual(res.Masked, tc.masked) {
				t.Fatalf("masked = %q, want %q", res.Masked, tc.masked)
			}
			if res.KeyMissing {
				t.Fatal("KeyMissing with a key")
			}
		})
	}
}

func TestNoKeyFailsClosed(t *testing.T) {
	for _, k := range [][]byte{nil, []byte("short")} {
		m := masking.NewMasker(k)
		if m.CanTokenize() {
			t.Fatalf("key %q accepted", k)
		}
		rec := decode(t, `{"iban":"DE89370400440532013000"}`)
		res := m.Mask(rec, masking.Compile([]masking.Rule{{Field: "iban", Style: masking.Token}}))
		if !res.KeyMissing || encode(t, rec) != `{"iban":"[REDACTED]"}` {
			t.Fatalf("without a key: %+v %s", res, encode(t, rec))
		}
	}
}

func TestEmptyRules(t *testing.T) {
	m := masking.NewMasker(key)
	rec := decode(t, `{"payment_card":"4111111111111234"}`)
	if res := m.Mask(rec, masking.Compile(nil)); len(res.Masked) != 0 || encode(t, rec) != `{"payment_card":"4111111111111234"}` {
		t.Fatalf("no rules changed the record: %+v", res)
	}
	if res := m.Mask(rec, nil); len(res.Masked) != 0 {
		t.Fatal("nil rules masked something")
	}
}

func TestParseStyle(t *testing.T) {
	for _, s := range masking.Styles {
		if got, err := masking.ParseStyle(string(s)); err != nil || got != s {
			t.Fatalf("ParseStyle(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := masking.ParseStyle("hash"); err == nil || !strings.Contains(err.Error(), "redact, last4, token or encrypt") {
		t.Fatalf("ParseStyle(hash): %v", err)
	}
}

func BenchmarkMask(b *testing.B) {
	m := masking.NewMasker(key)
	rules := masking.Compile([]masking.Rule{{Field: "payment_card", Style: masking.Last4}, {Field: "iban", Style: masking.Token}, {Field: "notes", Style: masking.Redact}})
	raw := `{"id":"c-1","name":"Ada","payment_card":"4111 1111 1111 1234","iban":"DE89370400440532013000","notes":"VIP","accounts":[{"iban":"FR1420041010050500013M02606"}]}`
	for b.Loop() {
		var v any
		_ = json.Unmarshal([]byte(raw), &v)
		m.Mask(v, rules)
	}
}
