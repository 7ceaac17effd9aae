package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/workflow"
)

// Token kinds.
const (
	TokenUser    = "user"
	TokenService = "service"
)

// tokenPrefix marks jitaccess secrets so that secret scanners can find a
// leaked one.
const tokenPrefix = "jit_"

// Token is an API token as stored: the secret itself is never kept, only
// its SHA-256. Secrets are 256 random bits, so a fast hash is enough.
type Token struct {
	ID          string
	Kind        string
	Subject     string // an email for user tokens, a name for service tokens
	Scopes      []string
	Description string
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	RevokedAt   *time.Time
	LastUsedAt  *time.Time
}

// Principal is who the token acts as.
func (t Token) Principal() workflow.Principal {
	if t.Kind == TokenService {
		return workflow.ServiceAccount(t.Subject, t.Scopes...)
	}
	return workflow.User(t.Subject)
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func (row tokenRow) toToken() Token {
	t := Token{ID: row.ID, Kind: row.Kind, Subject: row.Subject, Description: row.Description,
		CreatedAt: row.CreatedAt.UTC(), ExpiresAt: utcPtr(row.ExpiresAt), RevokedAt: utcPtr(row.RevokedAt), LastUsedAt: utcPtr(row.LastUsedAt)}
	if row.Scopes != "" {
		t.Scopes = strings.Split(row.Scopes, ",")
	}
	return t
}

// NewToken describes a token to create.
type NewToken struct {
	Kind        string
	Subject     string
	Scopes      []string
	Description string
	TTL         time.Duration // 0: no expiry
	Actor       string        // who creates it, for the audit log
}

// CreateToken stores a new token and returns its secret, which is shown
// once and never again. The creation is audited in the same transaction.
func (d *DB) CreateToken(ctx context.Context, nt NewToken, now time.Time) (string, Token, error) {
	switch nt.Kind {
	case TokenUser:
		nt.Subject = workflow.NormalizeEmail(nt.Subject)
		if !strings.Contains(nt.Subject, "@") {
			return "", Token{}, workflow.Errorf(workflow.CodeInvalid, "user %q is not an email address", nt.Subject)
		}
		if len(nt.Scopes) > 0 {
			return "", Token{}, workflow.Errorf(workflow.CodeInvalid, "scopes are for service tokens only")
		}
	case TokenService:
		nt.Subject = strings.TrimSpace(nt.Subject)
		if nt.Subject == "" || strings.ContainsAny(nt.Subject, " \t@,") {
			return "", Token{}, workflow.Errorf(workflow.CodeInvalid, "service name %q must be one word without @ or commas", nt.Subject)
		}
		if len(nt.Scopes) == 0 {
			return "", Token{}, workflow.Errorf(workflow.CodeInvalid, "a service token needs at least one scope (%s)", strings.Join(workflow.KnownScopes, ", "))
		}
		for _, s := range nt.Scopes {
			if !contains(workflow.KnownScopes, s) {
				return "", Token{}, workflow.Errorf(workflow.CodeInvalid, "unknown scope %q; known scopes: %s", s, strings.Join(workflow.KnownScopes, ", "))
			}
		}
	default:
		return "", Token{}, workflow.Errorf(workflow.CodeInvalid, "unknown token kind %q", nt.Kind)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", Token{}, workflow.Internal(err, "cannot generate a token")
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
	row := tokenRow{
		ID: uuid.Must(uuid.NewV7()).String(), Hash: hashToken(secret), Kind: nt.Kind, Subject: nt.Subject,
		Scopes: strings.Join(nt.Scopes, ","), Description: nt.Description, CreatedAt: now,
	}
	if nt.TTL > 0 {
		exp := now.Add(nt.TTL)
		row.ExpiresAt = &exp
	}
	err := d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		if err := t.ctx(ctx).Create(&row).Error; err != nil {
			return mapError(err)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: nt.Actor, Action: workflow.ActionTokenCreate,
			Subject: nt.Subject, Reason: tokenSummary(row)})
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, row.toToken(), nil
}

func tokenSummary(row tokenRow) string {
	s := row.Kind + " token " + row.ID
	if row.Scopes != "" {
		s += " scopes=" + row.Scopes
	}
	if row.Description != "" {
		s += ": " + row.Description
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// LookupToken returns the live token whose secret is given. Unknown,
// revoked and expired tokens are CodeUnauthenticated, all with the same
// message.
func (d *DB) LookupToken(ctx context.Context, secret string, now time.Time) (Token, error) {
	bad := workflow.Errorf(workflow.CodeUnauthenticated, "invalid or expired token")
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 200 {
		return Token{}, bad
	}
	var row tokenRow
	err := d.ctx(ctx).Where("hash = ?", hashToken(secret)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Token{}, bad
	}
	if err != nil {
		return Token{}, mapError(err)
	}
	if row.RevokedAt != nil || row.ExpiresAt != nil && !now.Before(*row.ExpiresAt) {
		return Token{}, bad
	}
	return row.toToken(), nil
}

// TouchToken records that a token was used.
func (d *DB) TouchToken(ctx context.Context, id string, now time.Time) error {
	return mapError(d.ctx(ctx).Model(&tokenRow{}).Where("id = ?", id).Update("last_used_at", now).Error)
}

// ListTokens lists every token, newest first, without secrets.
func (d *DB) ListTokens(ctx context.Context) ([]Token, error) {
	var rows []tokenRow
	if err := d.ctx(ctx).Order("created_at DESC, id DESC").Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := make([]Token, len(rows))
	for i, r := range rows {
		out[i] = r.toToken()
	}
	return out, nil
}

// RevokeToken revokes a token by id, and audits it. Revoking a revoked
// token is CodeInvalidState; an unknown id is CodeNotFound.
func (d *DB) RevokeToken(ctx context.Context, id, actor string, now time.Time) error {
	if _, err := uuid.Parse(id); err != nil {
		return workflow.Errorf(workflow.CodeNotFound, "token %s not found", id)
	}
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		var row tokenRow
		err := t.ctx(ctx).Where("id = ?", id).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return workflow.Errorf(workflow.CodeNotFound, "token %s not found", id)
		}
		if err != nil {
			return mapError(err)
		}
		if row.RevokedAt != nil {
			return workflow.Errorf(workflow.CodeInvalidState, "token %s was already revoked at %s", id, row.RevokedAt.UTC().Format(time.RFC3339))
		}
		if err := t.ctx(ctx).Model(&tokenRow{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now).Error; err != nil {
			return mapError(err)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: actor, Action: workflow.ActionTokenRevoke,
			Subject: row.Subject, Reason: tokenSummary(row)})
	})
}

// RevokeTokensByDescription revokes every live token with the given
// description (used to retire the previous run's demo tokens).
func (d *DB) RevokeTokensByDescription(ctx context.Context, description string, now time.Time) error {
	return mapError(d.ctx(ctx).Model(&tokenRow{}).Where("description = ? AND revoked_at IS NULL", description).
		Update("revoked_at", now).Error)
}
