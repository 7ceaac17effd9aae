package identity

import (
	"context"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Passkeys are WebAuthn credentials a person registers in the web UI and
// proves in a session to step up (workflow.MFAWebAuthn). The ceremonies
// themselves (challenges, attestation, assertion signatures) are
// go-webauthn's, in package web; this is what is kept of them.

// Audit actions of passkeys and step-ups.
const (
	ActionPasskeyRegister = "passkey.register"
	ActionPasskeyRemove   = "passkey.remove"
	ActionPasskeyRename   = "passkey.rename"
	// ActionStepUp is a passkey assertion that verified; ActionStepUpFailed
	// one that did not (forged, replayed, wrong origin, another person's
	// passkey, a challenge used twice), with why.
	ActionStepUp       = "mfa.step_up"
	ActionStepUpFailed = "mfa.step_up_failed"
)

// Passkey is one registered credential.
type Passkey struct {
	ID         string // the credential id, base64url
	Email      string
	Name       string
	PublicKey  string // COSE key, base64url
	SignCount  uint32
	Credential []byte // go-webauthn's Credential, as JSON
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// MaxPasskeyName bounds a passkey's name; MaxPasskeys how many one person
// may register.
const (
	MaxPasskeyName = 60
	MaxPasskeys    = 20
)

// CleanPasskeyName trims name and checks it: 1-60 characters, no control
// characters (CodeInvalid). An empty name becomes fallback.
func CleanPasskeyName(name, fallback string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = fallback
	}
	if len([]rune(name)) > MaxPasskeyName {
		return "", workflow.Errorf(workflow.CodeInvalid, "a passkey name is at most %d characters", MaxPasskeyName)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", workflow.Errorf(workflow.CodeInvalid, "a passkey name may not hold control characters")
	}
	return name, nil
}

// Ceremony is a WebAuthn ceremony in flight in one session: what it is
// for and go-webauthn's session data (the challenge), as JSON. It is
// taken (and cleared) once, so that a challenge is never used twice.
type Ceremony struct {
	Kind string // CeremonyRegister or CeremonyStepUp
	Data []byte
}

// Ceremony kinds.
const (
	CeremonyRegister = "register"
	CeremonyStepUp   = "step_up"
)

// PasskeyStore persists passkeys and the ceremonies of sessions
// (store.DB). Changes to who holds which passkey are audited in the same
// transaction.
type PasskeyStore interface {
	// Passkeys lists email's passkeys, oldest first.
	Passkeys(ctx context.Context, email string) ([]Passkey, error)
	// AddPasskey stores a new passkey (ActionPasskeyRegister by its
	// owner). CodeInvalidState when the person has MaxPasskeys already,
	// CodeConflict when the credential is registered already.
	AddPasskey(ctx context.Context, pk Passkey, now time.Time) error
	// RenamePasskey renames one of email's passkeys; CodeNotFound when it
	// is not theirs.
	RenamePasskey(ctx context.Context, email, id, name string, now time.Time) error
	// RemovePasskey deletes one of email's passkeys (ActionPasskeyRemove);
	// CodeNotFound when it is not theirs.
	RemovePasskey(ctx context.Context, email, id string, now time.Time) error
	// UsePasskey records a verified assertion of pk in session sessionID:
	// the credential's new state and sign count, and the session's step-up
	// time (ActionStepUp).
	UsePasskey(ctx context.Context, sessionID string, pk Passkey, now time.Time) error
	// SetCeremony starts a ceremony in session sessionID, replacing any
	// other in flight.
	SetCeremony(ctx context.Context, sessionID string, c Ceremony) error
	// TakeCeremony returns and clears the session's ceremony in one
	// statement; ok is false when there is none.
	TakeCeremony(ctx context.Context, sessionID string) (c Ceremony, ok bool, err error)
	// AuditStepUpFailed records a refused assertion.
	AuditStepUpFailed(ctx context.Context, email, why string, now time.Time) error
}
