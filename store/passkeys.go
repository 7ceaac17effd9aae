package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// Persistence of passkeys and of the WebAuthn ceremonies of sessions; the
// types and their rules are package identity's.

type passkeyRow struct {
	ID         string `gorm:"primaryKey"`
	Email      string
	Name       string
	PublicKey  string
	SignCount  int64
	Credential string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	LastUsedAt *time.Time
}

func (passkeyRow) TableName() string { return "passkeys" }

func (r passkeyRow) toPasskey() identity.Passkey {
	pk := identity.Passkey{ID: r.ID, Email: r.Email, Name: r.Name, PublicKey: r.PublicKey, SignCount: uint32(r.SignCount),
		Credential: []byte(r.Credential), CreatedAt: r.CreatedAt.UTC()}
	if r.LastUsedAt != nil {
		t := r.LastUsedAt.UTC()
		pk.LastUsedAt = &t
	}
	return pk
}

// Passkeys implements identity.PasskeyStore.
func (d *DB) Passkeys(ctx context.Context, email string) ([]identity.Passkey, error) {
	var rows []passkeyRow
	if err := d.ctx(ctx).Where("email = ?", workflow.NormalizeEmail(email)).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := make([]identity.Passkey, len(rows))
	for i, r := range rows {
		out[i] = r.toPasskey()
	}
	return out, nil
}

// AddPasskey implements identity.PasskeyStore.
func (d *DB) AddPasskey(ctx context.Context, pk identity.Passkey, now time.Time) error {
	email := workflow.NormalizeEmail(pk.Email)
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		var n int64
		if err := t.ctx(ctx).Model(&passkeyRow{}).Where("email = ?", email).Count(&n).Error; err != nil {
			return mapError(err)
		}
		if n >= identity.MaxPasskeys {
			return workflow.Errorf(workflow.CodeInvalidState, "you have %d passkeys, the most one person may register; remove one first", n)
		}
		var taken int64
		if err := t.ctx(ctx).Model(&passkeyRow{}).Where("id = ?", pk.ID).Count(&taken).Error; err != nil {
			return mapError(err)
		}
		if taken > 0 {
			return workflow.Errorf(workflow.CodeConflict, "this passkey is registered already")
		}
		row := passkeyRow{ID: pk.ID, Email: email, Name: pk.Name, PublicKey: pk.PublicKey, SignCount: int64(pk.SignCount),
			Credential: string(pk.Credential), CreatedAt: now}
		if err := t.ctx(ctx).Create(&row).Error; err != nil {
			return mapError(err)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: email, Action: identity.ActionPasskeyRegister, Subject: email,
			Reason: fmt.Sprintf("registered passkey %q (%s)", pk.Name, shortID(pk.ID))})
	})
}

// RenamePasskey implements identity.PasskeyStore.
func (d *DB) RenamePasskey(ctx context.Context, email, id, name string, now time.Time) error {
	email = workflow.NormalizeEmail(email)
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		res := t.ctx(ctx).Model(&passkeyRow{}).Where("id = ? AND email = ?", id, email).Update("name", name)
		if res.Error != nil {
			return mapError(res.Error)
		}
		if res.RowsAffected == 0 {
			return workflow.Errorf(workflow.CodeNotFound, "no such passkey")
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: email, Action: identity.ActionPasskeyRename, Subject: email,
			Reason: fmt.Sprintf("renamed passkey %s to %q", shortID(id), name)})
	})
}

// RemovePasskey implements identity.PasskeyStore.
func (d *DB) RemovePasskey(ctx context.Context, email, id string, now time.Time) error {
	email = workflow.NormalizeEmail(email)
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		var row passkeyRow
		err := t.ctx(ctx).Where("id = ? AND email = ?", id, email).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return workflow.Errorf(workflow.CodeNotFound, "no such passkey")
		}
		if err != nil {
			return mapError(err)
		}
		if err := t.ctx(ctx).Where("id = ?", id).Delete(&passkeyRow{}).Error; err != nil {
			return mapError(err)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: email, Action: identity.ActionPasskeyRemove, Subject: email,
			Reason: fmt.Sprintf("removed passkey %q (%s)", row.Name, shortID(id))})
	})
}

// UsePasskey implements identity.PasskeyStore.
func (d *DB) UsePasskey(ctx context.Context, sessionID string, pk identity.Passkey, now time.Time) error {
	if !validID(sessionID) {
		return identity.ErrNoSession()
	}
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		res := t.ctx(ctx).Model(&passkeyRow{}).Where("id = ? AND email = ?", pk.ID, workflow.NormalizeEmail(pk.Email)).
			Updates(map[string]any{"sign_count": int64(pk.SignCount), "credential": string(pk.Credential), "last_used_at": now})
		if res.Error != nil {
			return mapError(res.Error)
		}
		if res.RowsAffected == 0 {
			return workflow.Errorf(workflow.CodeNotFound, "no such passkey")
		}
		res = t.ctx(ctx).Model(&sessionRow{}).Where("id = ?", sessionID).Update("mfa_at", now)
		if res.Error != nil {
			return mapError(res.Error)
		}
		if res.RowsAffected == 0 {
			return identity.ErrNoSession()
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: pk.Email, Action: identity.ActionStepUp, Subject: pk.Email,
			Reason: fmt.Sprintf("passkey %q (%s) verified", pk.Name, shortID(pk.ID))})
	})
}

// SetCeremony implements identity.PasskeyStore.
func (d *DB) SetCeremony(ctx context.Context, sessionID string, c identity.Ceremony) error {
	if !validID(sessionID) {
		return identity.ErrNoSession()
	}
	b, err := json.Marshal(c)
	if err != nil {
		return workflow.Internal(err, "encode a WebAuthn ceremony")
	}
	res := d.ctx(ctx).Model(&sessionRow{}).Where("id = ?", sessionID).Update("webauthn_ceremony", string(b))
	if res.Error != nil {
		return mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return identity.ErrNoSession()
	}
	return nil
}

// TakeCeremony implements identity.PasskeyStore: it reads the ceremony,
// then clears it with compare-and-set on the value read, so that of two
// requests with the same challenge only one takes it.
func (d *DB) TakeCeremony(ctx context.Context, sessionID string) (identity.Ceremony, bool, error) {
	if !validID(sessionID) {
		return identity.Ceremony{}, false, nil
	}
	var row sessionRow
	err := d.ctx(ctx).Select("webauthn_ceremony").Where("id = ?", sessionID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && row.WebauthnCeremony == "") {
		return identity.Ceremony{}, false, nil
	}
	if err != nil {
		return identity.Ceremony{}, false, mapError(err)
	}
	res := d.ctx(ctx).Model(&sessionRow{}).Where("id = ? AND webauthn_ceremony = ?", sessionID, row.WebauthnCeremony).Update("webauthn_ceremony", "")
	if res.Error != nil {
		return identity.Ceremony{}, false, mapError(res.Error)
	}
	if res.RowsAffected == 0 {
		return identity.Ceremony{}, false, nil // taken by another request meanwhile
	}
	var c identity.Ceremony
	if err := json.Unmarshal([]byte(row.WebauthnCeremony), &c); err != nil {
		return identity.Ceremony{}, false, workflow.Internal(err, "decode a WebAuthn ceremony")
	}
	return c, true, nil
}

// AuditStepUpFailed implements identity.PasskeyStore.
func (d *DB) AuditStepUpFailed(ctx context.Context, email, why string, now time.Time) error {
	email = workflow.NormalizeEmail(email)
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		return wtx.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: email, Action: identity.ActionStepUpFailed, Subject: email,
			Reason: workflow.Clip(why, 500)})
	})
}

// shortID is the start of a credential id, for audit reasons.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}
