package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/identity"
	"github.com/jitaccess/jitaccess/workflow"
)

// Persistence of web sessions and sign-ins in flight; the types and their
// rules are package identity's.

type sessionRow struct {
	ID         string `gorm:"primaryKey"`
	Hash       string
	Email      string
	IdpGroups  string
	GroupsAt   time.Time
	AMR        string `gorm:"column:amr"`
	ACR        string `gorm:"column:acr"`
	Method     string
	CSRFToken  string `gorm:"column:csrf_token"`
	ClientIP   string `gorm:"column:client_ip"`
	UserAgent  string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	LastSeenAt time.Time
	ExpiresAt  time.Time
	// WebauthnCeremony is the passkey ceremony in flight (passkeys.go);
	// MFAAt when the session last proved a passkey; AuthTime the OpenID
	// Connect provider's auth_time.
	WebauthnCeremony string
	MFAAt            *time.Time `gorm:"column:mfa_at"`
	AuthTime         *time.Time
	// TimeZone is the viewer's IANA zone, as the browser reported it.
	TimeZone string
}

func (sessionRow) TableName() string { return "web_sessions" }

type loginFlowRow struct {
	ID           string `gorm:"primaryKey"`
	State        string
	Nonce        string
	PKCEVerifier string `gorm:"column:pkce_verifier"`
	ReturnTo     string
	CreatedAt    time.Time `gorm:"autoCreateTime:false"`
	ExpiresAt    time.Time
}

func (loginFlowRow) TableName() string { return "web_login_flows" }

func joinList(list []string) (string, error) {
	if len(list) == 0 {
		return "", nil
	}
	b, err := json.Marshal(list)
	return string(b), err
}

func splitList(s string) []string {
	var out []string
	if s != "" {
		_ = json.Unmarshal([]byte(s), &out) // written by joinList only
	}
	return out
}

func (row sessionRow) toSession() identity.Session {
	return identity.Session{
		ID: row.ID, Email: row.Email, Groups: splitList(row.IdpGroups), GroupsAt: row.GroupsAt.UTC(), AMR: splitList(row.AMR), ACR: row.ACR,
		Method: row.Method, CSRFToken: row.CSRFToken, ClientIP: row.ClientIP, UserAgent: row.UserAgent,
		CreatedAt: row.CreatedAt.UTC(), LastSeenAt: row.LastSeenAt.UTC(), ExpiresAt: row.ExpiresAt.UTC(),
		MFAAt: utcOrZero(row.MFAAt), AuthTime: utcOrZero(row.AuthTime), TimeZone: row.TimeZone,
	}
}

func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// CreateSession signs a person in: it stores a new session and returns the
// secret for the browser's cookie, which is not kept. The sign-in is
// audited in the same transaction, and sessions that have expired (for
// anyone) are cleared out.
func (d *DB) CreateSession(ctx context.Context, ns identity.NewSession, now time.Time, idle time.Duration) (string, identity.Session, error) {
	if err := ns.Validate(); err != nil {
		return "", identity.Session{}, err
	}
	secret, err := identity.NewSecret()
	if err != nil {
		return "", identity.Session{}, err
	}
	csrf, err := identity.NewSecret()
	if err != nil {
		return "", identity.Session{}, err
	}
	groups, err := joinList(ns.Groups)
	if err != nil {
		return "", identity.Session{}, workflow.Internal(err, "encode groups")
	}
	amr, err := joinList(ns.AMR)
	if err != nil {
		return "", identity.Session{}, workflow.Internal(err, "encode amr")
	}
	row := sessionRow{
		ID: uuid.Must(uuid.NewV7()).String(), Hash: identity.HashSecret(secret), Email: ns.Email, IdpGroups: groups, GroupsAt: now, AMR: amr,
		ACR: ns.ACR, Method: ns.Method, CSRFToken: csrf, ClientIP: ns.ClientIP, UserAgent: ns.UserAgent,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(ns.TTL),
	}
	if !ns.AuthTime.IsZero() {
		at := ns.AuthTime.UTC()
		row.AuthTime = &at
	}
	err = d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		if err := purgeSessions(ctx, t.reader, now, idle); err != nil {
			return err
		}
		if err := t.ctx(ctx).Create(&row).Error; err != nil {
			return mapError(err)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: ns.Email, Action: identity.ActionSignIn, Subject: ns.Email,
			Reason: ns.SignInReason()})
	})
	if err != nil {
		return "", identity.Session{}, err
	}
	return secret, row.toSession(), nil
}

// purgeSessions deletes what identity.PurgeCutoffs says is over.
func purgeSessions(ctx context.Context, r reader, now time.Time, idle time.Duration) error {
	expiredBy, idleBy := identity.PurgeCutoffs(now, idle)
	q := r.ctx(ctx).Where("expires_at <= ?", expiredBy)
	if !idleBy.IsZero() {
		q = q.Or("last_seen_at <= ?", idleBy)
	}
	if err := q.Delete(&sessionRow{}).Error; err != nil {
		return mapError(err)
	}
	return mapError(r.ctx(ctx).Where("expires_at <= ?", expiredBy).Delete(&loginFlowRow{}).Error)
}

// LookupSession returns the live session whose secret is given. An unknown
// secret, and a session past its absolute expiry or idle for idle or
// longer, are CodeUnauthenticated (an expired session is deleted).
func (d *DB) LookupSession(ctx context.Context, secret string, now time.Time, idle time.Duration) (identity.Session, error) {
	if !identity.PlausibleSecret(secret) {
		return identity.Session{}, identity.ErrNoSession()
	}
	var row sessionRow
	err := d.ctx(ctx).Where("hash = ?", identity.HashSecret(secret)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return identity.Session{}, identity.ErrNoSession()
	}
	if err != nil {
		return identity.Session{}, mapError(err)
	}
	s := row.toSession()
	if !s.LiveAt(now, idle) {
		if err := d.ctx(ctx).Where("id = ?", row.ID).Delete(&sessionRow{}).Error; err != nil {
			return identity.Session{}, mapError(err)
		}
		return identity.Session{}, identity.ErrNoSession()
	}
	return s, nil
}

// TouchSession records that a session was used at now, which pushes its
// idle expiry back.
func (d *DB) TouchSession(ctx context.Context, id string, now time.Time) error {
	if !validID(id) {
		return nil
	}
	return mapError(d.ctx(ctx).Model(&sessionRow{}).Where("id = ?", id).Update("last_seen_at", now).Error)
}

// SetSessionTimeZone remembers the viewer's time zone (an IANA name,
// checked by identity.SessionTimeZone) in a session.
func (d *DB) SetSessionTimeZone(ctx context.Context, id, zone string) error {
	if !validID(id) {
		return nil
	}
	return mapError(d.ctx(ctx).Model(&sessionRow{}).Where("id = ?", id).Update("time_zone", zone).Error)
}

// EndSession signs one session out, and audits it. Ending a session that
// is already gone is not an error.
func (d *DB) EndSession(ctx context.Context, s identity.Session, now time.Time) error {
	if !validID(s.ID) {
		return nil
	}
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		res := t.ctx(ctx).Where("id = ?", s.ID).Delete(&sessionRow{})
		if res.Error != nil || res.RowsAffected == 0 {
			return mapError(res.Error)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: s.Email, Action: identity.ActionSignOut, Subject: s.Email, Reason: "signed out"})
	})
}

// EndSessionsOf signs a person out everywhere (an admin's action) and
// returns how many sessions ended. It is audited when there were any.
func (d *DB) EndSessionsOf(ctx context.Context, email, actor string, now time.Time) (int, error) {
	return d.revokeSessions(ctx, email, actor, "", now)
}

// RevokeSessions signs a person out everywhere for reason (jitaccess's own
// decision, e.g. actor "system" when the directory has deactivated them)
// and returns how many sessions ended. It is audited when there were any.
func (d *DB) RevokeSessions(ctx context.Context, email, actor, reason string, now time.Time) (int, error) {
	return d.revokeSessions(ctx, email, actor, reason, now)
}

func (d *DB) revokeSessions(ctx context.Context, email, actor, reason string, now time.Time) (int, error) {
	email = workflow.NormalizeEmail(email)
	var n int
	err := d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		res := t.ctx(ctx).Where("email = ?", email).Delete(&sessionRow{})
		if res.Error != nil {
			return mapError(res.Error)
		}
		n = int(res.RowsAffected)
		if n == 0 {
			return nil
		}
		why := identity.RevokeReason(n, actor)
		if reason != "" {
			why = fmt.Sprintf("signed out of %d session(s): %s", n, reason)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: actor, Action: identity.ActionSessionRevoke, Subject: email, Reason: why})
	})
	return n, err
}

// ListSessions implements identity.SessionStore: pages most recently used
// first, keyed on (last_seen_at, id). A session used while an admin pages
// moves to the front, so it may be missed or shown twice; the listing is
// a view, not a snapshot.
func (d *DB) ListSessions(ctx context.Context, now time.Time, idle time.Duration, limit int, cursor string) ([]identity.Session, string, error) {
	limit = listLimit(limit)
	expiredBy, idleBy := identity.PurgeCutoffs(now, idle)
	q := d.ctx(ctx).Where("expires_at > ?", expiredBy)
	if !idleBy.IsZero() {
		q = q.Where("last_seen_at > ?", idleBy)
	}
	if cursor != "" {
		var c listCursor
		if err := decodeCursor(cursor, &c); err != nil {
			return nil, "", err
		}
		q = q.Where("(last_seen_at, id) < (?, ?)", c.T, c.ID)
	}
	var rows []sessionRow
	if err := q.Order("last_seen_at DESC, id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		next = encodeCursor(listCursor{T: last.LastSeenAt.UTC(), ID: last.ID})
	}
	out := make([]identity.Session, len(rows))
	for i, r := range rows {
		out[i] = r.toSession()
	}
	return out, next, nil
}

// StartLoginFlow stores a sign-in in flight and returns the secret for the
// browser's cookie, without which the flow cannot be finished.
func (d *DB) StartLoginFlow(ctx context.Context, f identity.LoginFlow, now time.Time) (string, error) {
	secret, err := identity.NewSecret()
	if err != nil {
		return "", err
	}
	row := loginFlowRow{ID: identity.HashSecret(secret), State: f.State, Nonce: f.Nonce, PKCEVerifier: f.PKCEVerifier,
		ReturnTo: workflow.Clip(f.ReturnTo, 2000), CreatedAt: now, ExpiresAt: f.ExpiresAt}
	if err := d.ctx(ctx).Create(&row).Error; err != nil {
		return "", mapError(err)
	}
	return secret, nil
}

// TakeLoginFlow returns the flow for the browser secret and deletes it in
// the same statement, so that a flow is finished at most once. An unknown,
// used or expired flow is CodeUnauthenticated.
func (d *DB) TakeLoginFlow(ctx context.Context, secret string, now time.Time) (identity.LoginFlow, error) {
	if !identity.PlausibleSecret(secret) {
		return identity.LoginFlow{}, identity.ErrFlowGone()
	}
	var rows []loginFlowRow
	err := d.ctx(ctx).Raw("DELETE FROM web_login_flows WHERE id = ? RETURNING *", identity.HashSecret(secret)).Scan(&rows).Error
	if err != nil {
		return identity.LoginFlow{}, mapError(err)
	}
	if len(rows) == 0 || !now.Before(rows[0].ExpiresAt) {
		return identity.LoginFlow{}, identity.ErrFlowGone()
	}
	r := rows[0]
	return identity.LoginFlow{State: r.State, Nonce: r.Nonce, PKCEVerifier: r.PKCEVerifier, ReturnTo: r.ReturnTo, ExpiresAt: r.ExpiresAt.UTC()}, nil
}
