package audit

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// CheckpointVersion is the first line of a checkpoint's signed text, so
// that a signature over it cannot be taken for one over anything else.
const CheckpointVersion = "jitaccess-audit-checkpoint-v1"

// SignedCheckpoint is the log's size and head at a time, signed with
// Ed25519 or not: what `jitaccess audit checkpoint` writes, what
// `audit verify --checkpoint FILE` reads, and what serve keeps in its
// --audit-witness file (unsigned). As JSON:
//
//	{"size":1000,"head":"1000:4be1…","time":"2026-12-02T01:15:21Z","signature":"base64…"}
//
// The signature (standard base64, padded; absent when unsigned) is over
// SignedText, never over the JSON.
type SignedCheckpoint struct {
	// Size is the id of the newest record: ids have no gaps, so it is
	// the number of records ever appended, pruned ones included.
	Size      int64
	Head      Checkpoint // "" for an empty log
	Time      time.Time  // when it was taken: UTC, whole seconds
	Signature []byte     // Ed25519 over SignedText; nil when unsigned
}

// Checkpoint errors.
var (
	ErrUnsigned     = errors.New("the checkpoint is not signed")
	ErrBadSignature = errors.New("bad signature: the checkpoint was changed after it was signed, or signed with another key")
)

// NewCheckpoint is the unsigned checkpoint of head at t.
func NewCheckpoint(head Checkpoint, t time.Time) SignedCheckpoint {
	return SignedCheckpoint{Size: head.ID, Head: head, Time: t.UTC().Truncate(time.Second)}
}

// SignedText is the bytes the signature covers: four lines, each ended
// by a line feed, in UTF-8 (ASCII in fact):
//
//	jitaccess-audit-checkpoint-v1
//	SIZE        (decimal)
//	ID:HASH     (the head; an empty line for an empty log)
//	TIME        (RFC 3339, UTC, whole seconds: 2026-12-02T01:15:21Z)
func (c SignedCheckpoint) SignedText() []byte {
	b := make([]byte, 0, 128)
	b = append(b, CheckpointVersion+"\n"...)
	b = strconv.AppendInt(b, c.Size, 10)
	b = append(b, '\n')
	b = append(b, c.Head.String()+"\n"...)
	b = c.Time.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '\n')
}

// Sign sets the signature.
func (c *SignedCheckpoint) Sign(key ed25519.PrivateKey) {
	c.Time = c.Time.UTC().Truncate(time.Second)
	c.Signature = ed25519.Sign(key, c.SignedText())
}

// VerifySignature returns ErrUnsigned or ErrBadSignature unless pub
// signed c.
func (c SignedCheckpoint) VerifySignature(pub ed25519.PublicKey) error {
	if len(c.Signature) == 0 {
		return ErrUnsigned
	}
	if !ed25519.Verify(pub, c.SignedText(), c.Signature) {
		return ErrBadSignature
	}
	return nil
}

type checkpointJSON struct {
	Size      int64      `json:"size"`
	Head      Checkpoint `json:"head"`
	Time      string     `json:"time"`
	Signature []byte     `json:"signature,omitempty"`
}

// MarshalJSON writes the JSON form described on SignedCheckpoint.
func (c SignedCheckpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkpointJSON{Size: c.Size, Head: c.Head, Time: c.Time.UTC().Format(time.RFC3339), Signature: c.Signature})
}

// UnmarshalJSON reads the JSON form and checks that it is consistent: the
// size is the head's id, the time is RFC 3339.
func (c *SignedCheckpoint) UnmarshalJSON(b []byte) error {
	var j checkpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339, j.Time)
	if err != nil {
		return fmt.Errorf("time %q is not RFC 3339", j.Time)
	}
	if j.Size != j.Head.ID {
		return fmt.Errorf("size %d is not the head's id (%q)", j.Size, j.Head)
	}
	*c = SignedCheckpoint{Size: j.Size, Head: j.Head, Time: t.UTC(), Signature: j.Signature}
	return nil
}

// ParseSignedCheckpoint reads a checkpoint file.
func ParseSignedCheckpoint(data []byte) (SignedCheckpoint, error) {
	var c SignedCheckpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("not a checkpoint (JSON with size, head, time and signature, as jitaccess audit checkpoint writes): %w", err)
	}
	return c, nil
}

// ParsePrivateKeyPEM reads an Ed25519 private key in PKCS #8 PEM
// ("PRIVATE KEY"), as `openssl genpkey -algorithm ed25519` writes it.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New(`not a PEM "PRIVATE KEY" (make one with: openssl genpkey -algorithm ed25519 -out checkpoint.key)`)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS #8 private key: %w", err)
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key (make one with: openssl genpkey -algorithm ed25519)", k)
	}
	return ed, nil
}

// ParsePublicKeyPEM reads an Ed25519 public key in PKIX PEM ("PUBLIC
// KEY"), as `openssl pkey -pubout` writes it.
func ParsePublicKeyPEM(data []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New(`not a PEM "PUBLIC KEY" (get it with: openssl pkey -in checkpoint.key -pubout)`)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKIX public key: %w", err)
	}
	ed, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return ed, nil
}
