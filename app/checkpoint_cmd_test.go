package app_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
	"github.com/jitaccess/jitaccess/store/storetest"
)

// writeKeys writes an Ed25519 key pair as PEM, as openssl writes them:
// the private key PKCS #8, the public key PKIX.
func writeKeys(t *testing.T, dir, name string) (priv, pub string) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(sk)
	priv = filepath.Join(dir, name+".key")
	os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	der, _ = x509.MarshalPKIXPublicKey(pk)
	pub = filepath.Join(dir, name+".pub")
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	return priv, pub
}

func TestAuditCheckpointCommand(t *testing.T) {
	storetest.EachKind(t, func(t *testing.T, kind store.Kind) {
		u := storetest.NewURL(t, kind)
		db := storetest.OpenURL(t, u)
		seedLifecycles(t, db, 3) // 9 records
		dir := t.TempDir()
		key, pub := writeKeys(t, dir, "checkpoint")
		_, otherPub := writeKeys(t, dir, "other")
		cpFile := filepath.Join(dir, "cp.json")

		code, out, errOut := run(t, "audit", "checkpoint", "--database", u, "--sign", key, "--output", cpFile)
		if code != 0 || out != "" || !strings.Contains(errOut, "wrote checkpoint of 9 records") {
			t.Fatalf("checkpoint: %d %q %q", code, out, errOut)
		}
		data, _ := os.ReadFile(cpFile)
		var raw map[string]any
		if err := json.Unmarshal(data, &raw); err != nil || raw["size"] != 9.0 || !strings.HasPrefix(raw["head"].(string), "9:") || raw["signature"] == nil || raw["time"] == nil {
			t.Fatalf("checkpoint file: %v %s", err, data)
		}
		// To standard output, the same shape.
		code, out, _ = run(t, "audit", "checkpoint", "--database", u, "--sign", key)
		if cp, err := audit.ParseSignedCheckpoint([]byte(out)); code != 0 || err != nil || cp.Size != 9 || len(cp.Signature) != 64 {
			t.Fatalf("checkpoint to stdout: %d %v %q", code, err, out)
		}
		// Unsigned, and said so.
		unsigned := filepath.Join(dir, "unsigned.json")
		code, _, errOut = run(t, "audit", "checkpoint", "--database", u, "--output", unsigned)
		if code != 0 || !strings.Contains(errOut, "unsigned") {
			t.Fatalf("unsigned checkpoint: %d %q", code, errOut)
		}

		for _, tc := range []struct {
			name        string
			args        []string
			code        int
			out, stderr string
		}{
			{"signed, with the key", []string{"--checkpoint", cpFile, "--public-key", pub}, 0, "audit chain OK: 9 records verified", ""},
			{"signed, without the key", []string{"--checkpoint", cpFile}, 0, "audit chain OK", "signature not checked"},
			{"ID:HASH still works", []string{"--checkpoint", raw["head"].(string)}, 0, "audit chain OK", ""},
			{"both kinds", []string{"--checkpoint", raw["head"].(string), "--checkpoint", unsigned}, 0, "audit chain OK", ""},
			{"wrong public key", []string{"--checkpoint", cpFile, "--public-key", otherPub}, 1, "", "bad signature"},
			{"unsigned, with a key", []string{"--checkpoint", unsigned, "--public-key", pub}, 1, "", "not signed"},
			{"a key without a file", []string{"--public-key", pub}, 2, "", "pass one with --checkpoint FILE"},
			{"not a key", []string{"--checkpoint", cpFile, "--public-key", cpFile}, 1, "", `not a PEM "PUBLIC KEY"`},
			{"neither ID:HASH nor a file", []string{"--checkpoint", filepath.Join(dir, "nothing.json")}, 2, "", "not ID:HASH"},
		} {
			code, out, errOut := run(t, append([]string{"audit", "verify", "--database", u}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("%s: exit %d, %q, %q; want %d, %q, %q", tc.name, code, out, errOut, tc.code, tc.out, tc.stderr)
			}
		}
		// --json keeps the head and lists the checkpoint checked.
		code, out, _ = run(t, "audit", "verify", "--database", u, "--checkpoint", cpFile, "--json")
		var res struct {
			Head    string  `json:"head"`
			Checked []int64 `json:"checkpoints_checked"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Head != raw["head"] || len(res.Checked) != 1 || res.Checked[0] != 9 {
			t.Fatalf("json: %d %q", code, out)
		}

		// The checkpoint changed after signing: any field.
		for _, change := range [][2]string{{`"size":9,"head":"9:`, `"size":8,"head":"8:`}, {`"time":"20`, `"time":"19`}} {
			forged := filepath.Join(dir, "forged.json")
			os.WriteFile(forged, []byte(strings.Replace(string(data), change[0], change[1], 1)), 0o600)
			if code, _, errOut := run(t, "audit", "verify", "--database", u, "--checkpoint", forged, "--public-key", pub); code != 1 || !strings.Contains(errOut, "bad signature") {
				t.Errorf("forged %q: %d %q", change[1], code, errOut)
			}
		}

		// The newest record deleted: truncated, whether or not the key is given.
		sneak(t, db, "DELETE FROM audit_records WHERE id = 9")
		for _, args := range [][]string{{"--checkpoint", cpFile, "--public-key", pub}, {"--checkpoint", cpFile}} {
			code, out, _ := run(t, append([]string{"audit", "verify", "--database", u}, args...)...)
			if code != 1 || !strings.Contains(out, "BROKEN at record 9 (truncated)") || !strings.Contains(out, "removed from its end") {
				t.Fatalf("after truncation %v: %d %q", args, code, out)
			}
		}
		// A record appended in its place (an export is audited): rewritten.
		if code, _, errOut := run(t, "audit", "export", "--database", u, "--output", filepath.Join(dir, "x.jsonl")); code != 0 {
			t.Fatalf("export: %d %q", code, errOut)
		}
		code, out, _ = run(t, "audit", "verify", "--database", u, "--checkpoint", cpFile, "--public-key", pub)
		if code != 1 || !strings.Contains(out, "BROKEN at record 9 (checkpoint)") || !strings.Contains(out, "rewritten") {
			t.Fatalf("after a rewrite: %d %q", code, out)
		}
		// A broken chain gets no checkpoint.
		sneak(t, db, "UPDATE audit_records SET reason = 'x' WHERE id = 3")
		if code, out, errOut := run(t, "audit", "checkpoint", "--database", u, "--sign", key); code != 1 || out != "" || !strings.Contains(errOut, "no checkpoint of a broken chain") {
			t.Fatalf("checkpoint of a broken chain: %d %q %q", code, out, errOut)
		}
		if code, _, errOut := run(t, "audit", "checkpoint", "--database", u, "--sign", pub); code != 1 || !strings.Contains(errOut, `not a PEM "PRIVATE KEY"`) {
			t.Fatalf("a public key to sign with: %d %q", code, errOut)
		}
	})
}

// TestAuditCheckpointOpenSSLKeys: keys made by openssl, as docs/audit.md
// tells operators to make them, sign and verify.
func TestAuditCheckpointOpenSSLKeys(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		// Like the browser tests: skipped only when asked, never in CI
		// (.ci/run installs openssl and clears the switch).
		if os.Getenv("JITACCESS_TEST_OPENSSL") == "off" {
			t.Skip("openssl tests are off (JITACCESS_TEST_OPENSSL=off); CI runs them")
		}
		t.Fatal("this test needs openssl: apt-get install -y openssl (or JITACCESS_TEST_OPENSSL=off to skip it outside CI)")
	}
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub")
	if out, err := exec.Command(openssl, "genpkey", "-algorithm", "ed25519", "-out", key).CombinedOutput(); err != nil {
		t.Fatalf("openssl genpkey: %v %s", err, out)
	}
	if out, err := exec.Command(openssl, "pkey", "-in", key, "-pubout", "-out", pub).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey: %v %s", err, out)
	}
	u := storetest.NewURL(t, store.SQLite)
	seedLifecycles(t, storetest.OpenURL(t, u), 1)
	cp := filepath.Join(dir, "cp.json")
	if code, _, errOut := run(t, "audit", "checkpoint", "--database", u, "--sign", key, "--output", cp); code != 0 {
		t.Fatalf("checkpoint with an openssl key: %d %q", code, errOut)
	}
	if code, out, errOut := run(t, "audit", "verify", "--database", u, "--checkpoint", cp, "--public-key", pub); code != 0 {
		t.Fatalf("verify with an openssl key: %d %q %q", code, out, errOut)
	}
	// And openssl checks the signature over the documented text.
	var c audit.SignedCheckpoint
	data, _ := os.ReadFile(cp)
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	text, sig := filepath.Join(dir, "text"), filepath.Join(dir, "sig")
	os.WriteFile(text, c.SignedText(), 0o600)
	os.WriteFile(sig, c.Signature, 0o600)
	if out, err := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", text, "-sigfile", sig).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkeyutl -verify: %v %s", err, out)
	}
}
