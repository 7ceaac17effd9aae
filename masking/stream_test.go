package masking_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/masking"
)

var streamRules = masking.Compile([]masking.Rule{
	{Field: "payment_card", Style: masking.Last4},
	{Field: "iban", Style: masking.Token},
	{Field: "identity_document", Style: masking.Redact},
	{Field: "customer.internal_notes", Style: masking.Redact},
	{Field: "doc", Style: masking.Token},
})

// sameAsTree checks that MaskJSON masks raw exactly as Mask does on the
// decoded record: same values, same paths.
func sameAsTree(t *testing.T, m *masking.Masker, raw string) {
	t.Helper()
	out, res, err := m.MaskJSON([]byte(raw), streamRules)
	if err != nil {
		t.Fatalf("MaskJSON(%s): %v", raw, err)
	}
	if !json.Valid(out) {
		t.Fatalf("MaskJSON(%s) = invalid JSON %s", raw, out)
	}
	tree := decode(t, raw)
	treeRes := m.Mask(tree, streamRules)
	got := decode(t, string(out))
	if !reflect.DeepEqual(got, tree) {
		t.Fatalf("MaskJSON(%s)\n  stream %s\n  tree   %s", raw, encode(t, got), encode(t, tree))
	}
	if !reflect.DeepEqual(res.Masked, treeRes.Masked) {
		t.Fatalf("MaskJSON(%s): masked %q, tree %q", raw, res.Masked, treeRes.Masked)
	}
}

var streamCases = []string{
	`{}`,
	`[]`,
	`"just a string"`,
	`{"payment_card":"4111 1111 1111 1234","name":"Ada"}`,
	`{ "payment_card" : 4111111111111234 , "x" : [ 1 , 2 ] }`,
	`{"iban":"DE89370400440532013000","accounts":[{"iban":"FR14 2004"},{"iban":null},{"iban":12345678901234567890}]}`,
	`{"customer":{"internal_notes":"a \"quoted\" {brace} [bracket]","iban":"x\\y"},"internal_notes":"kept"}`,
	`{"pay\u006dent_card":"4111111111111234"}`,
	`{"identity_document":{"kind":"passport","nested":[{"a":"}"}]},"after":true}`,
	`{"doc":{"b":1,"a":[true,false,null,"s"]},"doc2":{"b":1}}`,
	`{"doc":true,"payment_card":false,"iban":[1,2,{"iban":"inner"}]}`,
	`{"payment_card":"ünïcödé-àçcents 1234567"}`,
	`{"payment_card":"tab\tand\nnewline 12345678"}`,
	`[{"iban":"a"},[{"iban":"b"}],{"deep":{"deeper":{"payment_card":"4111-1111-1111-9999"}}}]`,
	`{"a":-1.5e+10,"b":0,"payment_card":-0.5e-3,"c":[],"d":{}}`,
	"\n\t {\"iban\" :\"spaced\"}\r\n",
}

func TestMaskJSONMatchesMask(t *testing.T) {
	m := masking.NewMasker(key)
	for _, raw := range streamCases {
		sameAsTree(t, m, raw)
	}
}

func TestMaskJSONKeepsTheRest(t *testing.T) {
	m := masking.NewMasker(key)
	raw := `{"z":1, "payment_card":"4111 1111 1111 1234",  "a":{"big":12345678901234567890,"f":1.50}}`
	out, res, err := m.MaskJSON([]byte(raw), streamRules)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"z":1, "payment_card":"****1234",  "a":{"big":12345678901234567890,"f":1.50}}`
	if string(out) != want || len(res.Masked) != 1 {
		t.Fatalf("got %s %v", out, res.Masked)
	}
	// Nothing to mask: the very same bytes.
	plain := []byte(`{"name":"Ada"}`)
	if out, _, _ := m.MaskJSON(plain, streamRules); &out[0] != &plain[0] {
		t.Fatal("an untouched record was copied")
	}
}

func TestMaskJSONRefusesBadJSON(t *testing.T) {
	m := masking.NewMasker(key)
	for _, raw := range []string{``, `{`, `{"iban":}`, `{"iban" "x"}`, `{"a":1,}`, `[1,2`, `{"iban":"x"} trailing`, `{"a":"unterminated}`, `{1:2}`} {
		if _, _, err := m.MaskJSON([]byte(raw), streamRules); err == nil {
			t.Errorf("MaskJSON(%q) accepted bad JSON", raw)
		}
	}
}

// FuzzMaskJSON checks, on any valid JSON, that streaming and tree masking
// agree and that the output is valid JSON. `go test` runs the seeds;
// `go test -fuzz FuzzMaskJSON ./masking` explores.
func FuzzMaskJSON(f *testing.F) {
	for _, c := range streamCases {
		f.Add(c)
	}
	m := masking.NewMasker(key)
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) || hasDuplicateKeys(raw) {
			return
		}
		sameAsTree(t, m, raw)
	})
}

// hasDuplicateKeys reports whether an object repeats a key: the tree keeps
// the last value, the stream masks both, so they are not comparable.
func hasDuplicateKeys(raw string) bool {
	dec := json.NewDecoder(strings.NewReader(raw))
	var stack []map[string]bool
	expectKey := []bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, map[string]bool{})
				expectKey = append(expectKey, true)
				continue
			case '[':
				stack = append(stack, nil)
				expectKey = append(expectKey, false)
				continue
			default:
				stack, expectKey = stack[:len(stack)-1], expectKey[:len(expectKey)-1]
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1] != nil && expectKey[n-1] {
				if stack[n-1][v] {
					return true
				}
				stack[n-1][v] = true
				expectKey[n-1] = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1] != nil {
			expectKey[n-1] = true
		}
	}
}

func BenchmarkMaskJSON(b *testing.B) {
	m := masking.NewMasker(key)
	raw := []byte(`{"id":"c-1","name":"Ada","payment_card":"4111 1111 1111 1234","iban":"DE89370400440532013000","customer":{"internal_notes":"VIP"},"accounts":[{"iban":"FR1420041010050500013M02606"}]}`)
	var buf bytes.Buffer
	for b.Loop() {
		out, _, _ := m.MaskJSON(raw, streamRules)
		buf.Reset()
		buf.Write(out)
	}
}
