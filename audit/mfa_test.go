package audit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/workflow"
)

// canonical is the documented encoding of audit.Hash, built by hand.
func canonical(prev string, r *workflow.AuditRecord, extra ...string) string {
	var b []byte
	f := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	f(audit.Version)
	f(prev)
	f("1")
	f(audit.CanonicalTime(r.At).Format(audit.TimeFormat))
	for _, s := range []string{r.Actor, r.Action, r.RequestID, r.Resource, r.Subject, string(r.FromState), string(r.ToState), r.Reason} {
		f(s)
	}
	for _, s := range extra {
		f(s)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestAuthMFAInTheChain: how a decision's person was verified (auth, mfa)
// is hashed only when set, so that older records hash as they always did;
// when set, the purpose field is always there, so that the three shapes
// cannot be mistaken for one another, and changing auth or mfa breaks the
// chain.
func TestAuthMFAInTheChain(t *testing.T) {
	base := workflow.AuditRecord{ID: 1, At: t0, Actor: "carol@example.com", Action: "approve", RequestID: "r1", Resource: "vault", Subject: "alice@example.com"}
	old := base
	if got, want := audit.Hash("", &old), canonical("", &old); got != want {
		t.Fatalf("a record without auth hashes %s, want the old %s", got, want)
	}
	withPurpose := base
	withPurpose.Purpose = "refund"
	if got, want := audit.Hash("", &withPurpose), canonical("", &withPurpose, "refund"); got != want {
		t.Fatal("a record with a purpose only hashes differently from before")
	}
	withAuth := base
	withAuth.Auth, withAuth.MFA = "session", "webauthn"
	if got, want := audit.Hash("", &withAuth), canonical("", &withAuth, "", "session", "webauthn"); got != want {
		t.Fatal("auth and mfa are not hashed as documented")
	}
	// Not the same as a record whose purpose is "session".
	lookalike := base
	lookalike.Purpose = "session"
	if audit.Hash("", &lookalike) == audit.Hash("", &withAuth) {
		t.Fatal("a purpose and an auth hash alike")
	}
	tampered := withAuth
	tampered.MFA = "none"
	if audit.Hash("", &tampered) == audit.Hash("", &withAuth) {
		t.Fatal("changing mfa does not change the hash")
	}
}

// TestExportAuthColumns: auth and mfa travel in the CSV's last two columns
// and in JSON, and a CSV export made before they existed (thirteen
// columns, with purpose) still reads and verifies.
func TestExportAuthColumns(t *testing.T) {
	recs := audit.Seal(0, "", []*workflow.AuditRecord{
		{At: t0, Actor: "alice@example.com", Action: "submit", Reason: "case 1", Purpose: "refund", Auth: "token", MFA: "none"},
		{At: t0, Actor: "carol@example.com", Action: "approve", Auth: "session", MFA: "webauthn"},
		{At: t0, Actor: "system", Action: "expire"},
	})
	for _, format := range []string{audit.FormatCSV, audit.FormatJSONL} {
		var buf bytes.Buffer
		w, _ := audit.NewWriter(&buf, format)
		for i := range recs {
			if err := w.Write(&recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		var got []string
		if err := audit.ReadExport(bytes.NewReader(buf.Bytes()), func(r *audit.Record) error {
			got = append(got, r.Auth+"/"+r.MFA)
			return nil
		}); err != nil || strings.Join(got, ",") != "token/none,session/webauthn,/" {
			t.Fatalf("%s: auth/mfa %q, %v", format, got, err)
		}
		if r, err := audit.VerifyExport(bytes.NewReader(buf.Bytes()), false, nil); err != nil || !r.OK {
			t.Fatalf("%s does not verify: %+v %v", format, r, err)
		}
		if format == audit.FormatCSV && !strings.HasPrefix(buf.String(), strings.Join(audit.Columns, ",")+"\n") {
			t.Fatalf("CSV header: %q", strings.SplitN(buf.String(), "\n", 2)[0])
		}
	}
	// An export from before: thirteen columns, records with no auth.
	old := audit.Seal(0, "", []*workflow.AuditRecord{{At: t0, Actor: "alice@example.com", Action: "submit", Reason: "case 1", Purpose: "refund"}})
	var buf bytes.Buffer
	w, _ := audit.NewWriter(&buf, audit.FormatCSV)
	if err := w.Write(&old[0]); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	var thirteen []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		thirteen = append(thirteen, strings.Join(strings.Split(line, ",")[:13], ","))
	}
	if !strings.HasSuffix(thirteen[0], ",hash,purpose") {
		t.Fatalf("header %q", thirteen[0])
	}
	if r, err := audit.VerifyExport(strings.NewReader(strings.Join(thirteen, "\n")+"\n"), false, nil); err != nil || !r.OK || r.Records != 1 {
		t.Fatalf("a thirteen-column export does not verify: %+v %v", r, err)
	}
}
