package audit_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/audit"
)

const hash64 = "dc8a27db374fbe35131ac46b4f1b6aba3101e037ad512fef26aad48d896a3f13"

// TestCheckpointSignedText pins the signed bytes: docs/audit.md tells
// auditors to rebuild them by hand.
func TestCheckpointSignedText(t *testing.T) {
	cp := audit.NewCheckpoint(audit.Checkpoint{ID: 7, Hash: hash64}, time.Date(2026, 12, 2, 2, 15, 21, 999, time.FixedZone("CET", 3600)))
	want := "jitaccess-audit-checkpoint-v1\n7\n7:" + hash64 + "\n2026-12-02T01:15:21Z\n"
	if got := string(cp.SignedText()); got != want {
		t.Fatalf("signed text %q, want %q", got, want)
	}
	empty := audit.NewCheckpoint(audit.Checkpoint{}, time.Date(2026, 12, 2, 1, 15, 21, 0, time.UTC))
	if got := string(empty.SignedText()); got != "jitaccess-audit-checkpoint-v1\n0\n\n2026-12-02T01:15:21Z\n" {
		t.Fatalf("empty log: %q", got)
	}
}

func TestCheckpointSignature(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	cp := audit.NewCheckpoint(audit.Checkpoint{ID: 7, Hash: hash64}, time.Now())
	if err := cp.VerifySignature(pub); !errors.Is(err, audit.ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	cp.Sign(priv)
	data, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	back, err := audit.ParseSignedCheckpoint(data)
	if err != nil || back.VerifySignature(pub) != nil {
		t.Fatalf("round trip of %s: %v %v", data, err, back.VerifySignature(pub))
	}
	if err := back.VerifySignature(otherPub); !errors.Is(err, audit.ErrBadSignature) {
		t.Fatalf("another key: %v", err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"size and head", `"size":7,"head":"7:`, `"size":6,"head":"6:`},
		{"hash", `:dc8a`, `:ec8a`},
		{"time", `"time":"20`, `"time":"19`},
	} {
		changed := strings.Replace(string(data), tc.from, tc.to, 1)
		if changed == string(data) {
			t.Fatalf("%s: %q not in %s", tc.name, tc.from, data)
		}
		c, err := audit.ParseSignedCheckpoint([]byte(changed))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := c.VerifySignature(pub); !errors.Is(err, audit.ErrBadSignature) {
			t.Fatalf("%s changed: %v", tc.name, err)
		}
	}
	for _, bad := range []string{
		`{"size":8,"head":"7:` + hash64 + `","time":"2026-12-02T01:15:21Z"}`, // size is not the head's id
		`{"size":7,"head":"7:` + hash64 + `","time":"yesterday"}`,
		`{"size":7,"head":"7:nothex","time":"2026-12-02T01:15:21Z"}`,
		`7:` + hash64,
	} {
		if _, err := audit.ParseSignedCheckpoint([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestCheckpointKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	k, err := audit.ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil || !k.Equal(priv) {
		t.Fatalf("private key: %v", err)
	}
	der, _ = x509.MarshalPKIXPublicKey(pub)
	pk, err := audit.ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil || !pk.Equal(pub) {
		t.Fatalf("public key: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ = x509.MarshalPKCS8PrivateKey(ec)
	if _, err := audit.ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err == nil || !strings.Contains(err.Error(), "not an Ed25519 key") {
		t.Fatalf("ECDSA key: %v", err)
	}
	if _, err := audit.ParsePrivateKeyPEM([]byte("nothing")); err == nil {
		t.Fatal("not PEM accepted")
	}
	der, _ = x509.MarshalPKIXPublicKey(pub)
	if _, err := audit.ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err == nil {
		t.Fatal("a public key accepted as the private one")
	}
}
