package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

// The head is in every JSON output of a verification (audit verify
// --json, GET /api/v1/audit/verify, GET /api/v1/audit/status) and reads
// back as the same checkpoint.
func TestResultJSONHead(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		head Checkpoint
		want string
	}{
		{Checkpoint{ID: 42, Hash: h}, `"head":"42:` + h + `"`},
		{Checkpoint{}, `"head":""`},
	} {
		b, err := json.Marshal(Result{OK: true, Head: tc.head})
		if err != nil || !strings.Contains(string(b), tc.want) {
			t.Fatalf("%v: %s %v, want %s", tc.head, b, err, tc.want)
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil || back.Head != tc.head {
			t.Fatalf("read back %s: %+v %v", b, back.Head, err)
		}
	}
	var bad Result
	if err := json.Unmarshal([]byte(`{"head":"nope"}`), &bad); err == nil {
		t.Fatal("a head that is not ID:HASH was read")
	}
}
