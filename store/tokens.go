package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/access"
	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// Persistence of API tokens; the types and their rules are package
// identity's. Only a token's hash is kept (identity.HashSecret).

func (row tokenRow) toToken() identity.Token {
	t := identity.Token{ID: row.ID, Kind: row.Kind, Subject: row.Subject, Description: row.Description,
		CreatedAt: row.CreatedAt.UTC(), ExpiresAt: utcPtr(row.ExpiresAt), RevokedAt: utcPtr(row.RevokedAt), LastUsedAt: utcPtr(row.LastUsedAt)}
	if row.Scopes != "" {
		t.Scopes = strings.Split(row.Scopes, ",")
	}
	return t
}

// CreateToken stores a new token and returns its secret, which is shown
// once and never again. The creation is audited in the same transaction.
// A token that breaks identity's rules (NewToken.Validate) is CodeInvalid.
func (d *DB) CreateToken(ctx context.Context, nt identity.NewToken, now time.Time) (string, identity.Token, error) {
	if err := nt.Validate(); err != nil {
		return "", identity.Token{}, err
	}
	secret, err := identity.NewTokenSecret()
	if err != nil {
		return "", identity.Token{}, err
	}
	row := tokenRow{
		ID: uuid.Must(uuid.NewV7()).String(), Hash: identity.HashSecret(secret), Kind: nt.Kind, Subject: nt.Subject,
		Scopes: strings.Join(nt.Scopes, ","), Description: nt.Description, CreatedAt: now,
	}
	if nt.TTL > 0 {
		exp := now.Add(nt.TTL)
		row.ExpiresAt = &exp
	}
	err = d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		if err := t.ctx(ctx).Create(&row).Error; err != nil {
			return mapError(err)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: nt.Actor, Action: identity.ActionTokenCreate,
			Subject: nt.Subject, Reason: row.toToken().Summary()})
	})
	if err != nil {
		return "", identity.Token{}, err
	}
	return secret, row.toToken(), nil
}

// LookupToken returns the live token whose secret is given. Unknown,
// revoked and expired tokens are identity.ErrBadToken.
func (d *DB) LookupToken(ctx context.Context, secret string, now time.Time) (identity.Token, error) {
	if !identity.PlausibleToken(secret) {
		return identity.Token{}, identity.ErrBadToken()
	}
	var row tokenRow
	err := d.ctx(ctx).Where("hash = ?", identity.HashSecret(secret)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return identity.Token{}, identity.ErrBadToken()
	}
	if err != nil {
		return identity.Token{}, mapError(err)
	}
	tok := row.toToken()
	if !tok.LiveAt(now) {
		return identity.Token{}, identity.ErrBadToken()
	}
	return tok, nil
}

// TouchToken records that a token was used.
func (d *DB) TouchToken(ctx context.Context, id string, now time.Time) error {
	return mapError(d.ctx(ctx).Model(&tokenRow{}).Where("id = ?", id).Update("last_used_at", now).Error)
}

// listLimit is limit within 1..identity.MaxListLimit, defaulting to
// identity.DefaultListLimit.
func listLimit(limit int) int {
	if limit <= 0 {
		return identity.DefaultListLimit
	}
	return min(limit, identity.MaxListLimit)
}

// listCursor is a keyset position in a listing ordered by a time, then id,
// both descending.
type listCursor struct {
	T  time.Time `json:"t"`
	ID string    `json:"id"`
}

// ListTokens implements identity.TokenStore: pages newest first, keyed on
// (created_at, id), each page one short query.
func (d *DB) ListTokens(ctx context.Context, limit int, cursor string) ([]identity.Token, string, error) {
	limit = listLimit(limit)
	db := d.ctx(ctx).Model(&tokenRow{})
	if cursor != "" {
		var c listCursor
		if err := decodeCursor(cursor, &c); err != nil {
			return nil, "", err
		}
		db = db.Where("(created_at, id) < (?, ?)", c.T, c.ID)
	}
	var rows []tokenRow
	if err := db.Order("created_at DESC, id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		next = encodeCursor(listCursor{T: last.CreatedAt.UTC(), ID: last.ID})
	}
	out := make([]identity.Token, len(rows))
	for i, r := range rows {
		out[i] = r.toToken()
	}
	return out, next, nil
}

// RevokeToken revokes a token by id, and audits it. Revoking a revoked
// token is CodeInvalidState; an unknown id is CodeNotFound. Caches of the
// token are told: on PostgreSQL by a notice on access.ChangesChannel in
// the revoke's transaction (delivered to every replica on commit), in
// this process by the OnTokensRevoked hooks after the commit.
func (d *DB) RevokeToken(ctx context.Context, id, actor string, now time.Time) error {
	if _, err := uuid.Parse(id); err != nil {
		return workflow.Errorf(workflow.CodeNotFound, "token %s not found", id)
	}
	err := d.InTx(ctx, func(wtx workflow.Tx) error {
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
		if err := t.Notify(ctx, access.ChangesChannel, access.TokenNotice(row.ID)); err != nil {
			return err
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: actor, Action: identity.ActionTokenRevoke,
			Subject: row.Subject, Reason: row.toToken().Summary()})
	})
	if err != nil {
		return err
	}
	d.revoked([]string{strings.ToLower(id)})
	return nil
}

// RevokeTokensByDescription revokes every live token with the given
// description (used to retire the previous run's demo tokens), telling
// caches as RevokeToken does.
func (d *DB) RevokeTokensByDescription(ctx context.Context, description string, now time.Time) error {
	var ids []string
	err := d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		if err := t.ctx(ctx).Model(&tokenRow{}).Where("description = ? AND revoked_at IS NULL", description).
			Pluck("id", &ids).Error; err != nil {
			return mapError(err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := t.ctx(ctx).Model(&tokenRow{}).Where("id IN ? AND revoked_at IS NULL", ids).
			Update("revoked_at", now).Error; err != nil {
			return mapError(err)
		}
		for _, n := range access.TokenNotices(ids) {
			if err := t.Notify(ctx, access.ChangesChannel, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.revoked(ids)
	return nil
}

// OnTokensRevoked registers a function that runs after a revocation of
// tokens by this process has committed, with their ids (for caches).
// Register before the store is used.
func (d *DB) OnTokensRevoked(h func(ids []string)) {
	d.tokensRevoked = append(d.tokensRevoked, h)
}

func (d *DB) revoked(ids []string) {
	if len(ids) == 0 {
		return
	}
	for _, h := range d.tokensRevoked {
		h(ids)
	}
}

// RevokedTokens returns those of ids that are revoked or gone: the poll of
// a token cache that no notices reach (SQLite, where `jitaccess token
// revoke` is another process). Ids that are not UUIDs are gone.
func (d *DB) RevokedTokens(ctx context.Context, ids []string) ([]string, error) {
	var out []string
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, err := uuid.Parse(id); err != nil {
			out = append(out, id)
			continue
		}
		valid = append(valid, id)
	}
	for chunk := range slices.Chunk(valid, 500) {
		var live []string
		if err := d.ctx(ctx).Model(&tokenRow{}).Where("id IN ? AND revoked_at IS NULL", chunk).Pluck("id", &live).Error; err != nil {
			return nil, mapError(err)
		}
		alive := make(map[string]bool, len(live))
		for _, id := range live {
			alive[id] = true
		}
		for _, id := range chunk {
			if !alive[id] {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

// The store implements identity's persistence interfaces.
var (
	_ identity.SessionStore = (*DB)(nil)
	_ identity.TokenStore   = (*DB)(nil)
)
