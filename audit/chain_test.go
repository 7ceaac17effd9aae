package audit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/workflow"
)

func sample() *workflow.AuditRecord {
	return &workflow.AuditRecord{ID: 7, At: time.Date(2026, 11, 23, 9, 0, 0, 123456789, time.UTC), Actor: "carol@example.com",
		Action: "approve", RequestID: "0193a1b2-0000-7000-8000-000000000001", Resource: "crm-payments", Subject: "alice@example.com",
		FromState: workflow.StatePending, ToState: workflow.StateApproved, Reason: "ticket 42"}
}

// TestHashIsStable pins the canonical encoding: a change to it would make
// every existing chain fail to verify, so it must be deliberate (a new
// Version). The expected value was computed apart from this code, by the
// Python snippet in docs/audit.md.
func TestHashIsStable(t *testing.T) {
	const want = "dc8a27db374fbe35131ac46b4f1b6aba3101e037ad512fef26aad48d896a3f13"
	if got := audit.Hash("", sample()); got != want {
		t.Fatalf("hash = %s, want %s", got, want)
	}
}

func TestHashCoversEveryField(t *testing.T) {
	base := audit.Hash("prev", sample())
	for name, change := range map[string]func(r *workflow.AuditRecord){
		"id":         func(r *workflow.AuditRecord) { r.ID++ },
		"at":         func(r *workflow.AuditRecord) { r.At = r.At.Add(time.Microsecond) },
		"actor":      func(r *workflow.AuditRecord) { r.Actor = "dave@example.com" },
		"action":     func(r *workflow.AuditRecord) { r.Action = "deny" },
		"request_id": func(r *workflow.AuditRecord) { r.RequestID = "" },
		"resource":   func(r *workflow.AuditRecord) { r.Resource = "crm-notes" },
		"subject":    func(r *workflow.AuditRecord) { r.Subject = "bob@example.com" },
		"from_state": func(r *workflow.AuditRecord) { r.FromState = workflow.StateApproved },
		"to_state":   func(r *workflow.AuditRecord) { r.ToState = workflow.StateDenied },
		"reason":     func(r *workflow.AuditRecord) { r.Reason = "ticket 43" },
		"purpose":    func(r *workflow.AuditRecord) { r.Purpose = "refund" },
		// The purpose is its own field: not the reason's tail.
		"reason into purpose": func(r *workflow.AuditRecord) {
			r.Reason, r.Purpose = r.Reason[:len(r.Reason)-1], r.Reason[len(r.Reason)-1:]
		},
		// Moving text between fields must change the hash too.
		"boundary": func(r *workflow.AuditRecord) { r.Actor, r.Action = r.Actor+"a", r.Action[1:] },
	} {
		r := sample()
		change(r)
		if audit.Hash("prev", r) == base {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	if audit.Hash("other", sample()) == base {
		t.Error("the previous hash is not covered")
	}
	// Nanoseconds below the stored precision do not count.
	r := sample()
	r.At = r.At.Truncate(time.Microsecond)
	if audit.Hash("prev", r) != base {
		t.Error("the hash depends on sub-microsecond time the database does not keep")
	}
}

func TestSealChains(t *testing.T) {
	recs := []*workflow.AuditRecord{sample(), sample(), sample()}
	sealed := audit.Seal(41, "abc", recs)
	v := audit.NewVerifier([]audit.Anchor{{ID: 1, FirstID: 1, ThroughID: 41, ThroughHash: "abc"}})
	for i := range sealed {
		if sealed[i].ID != int64(42+i) || recs[i].ID != sealed[i].ID {
			t.Fatalf("record %d has id %d", i, sealed[i].ID)
		}
		if err := v.Add(&sealed[i]); err != nil {
			t.Fatal(err)
		}
	}
	if res := v.Finish(); !res.OK || res.Records != 3 || res.Head.ID != 44 {
		t.Fatalf("%+v", res)
	}
}

func TestParseCheckpoint(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"12:" + h, true},
		{"12:" + strings.ToUpper(h), true},
		{"0:" + h, false},
		{"12:" + h[:63], false},
		{"12", false},
		{"x:" + h, false},
		{"12:" + strings.Repeat("zz", 32), false},
	} {
		c, err := audit.ParseCheckpoint(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.in, err)
		}
		if err == nil && (c.ID != 12 || c.Hash != h) {
			t.Errorf("%q: %+v", tc.in, c)
		}
	}
}

// BenchmarkSeal500 is the hashing the sweeper's largest append does: 500
// records chained in one call.
func BenchmarkSeal500(b *testing.B) {
	recs := make([]*workflow.AuditRecord, 500)
	for i := range recs {
		recs[i] = sample()
	}
	for b.Loop() {
		audit.Seal(1000, "abc", recs)
	}
}
