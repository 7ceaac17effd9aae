package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jitaccess/jitaccess/workflow"
)

// Web UI sessions live in the database, not in the cookie: the browser
// holds a random 256-bit secret, the table holds its SHA-256 and who it
// belongs to. Deleting the row signs the person out on their next click,
// wherever they are. Authorization is never stored here: it is recomputed
// from the policy in force on every request.

// Session sign-in methods.
const (
	SessionOIDC = "oidc"
	SessionDemo = "demo"
)

// Audit actions for sessions.
const (
	ActionSignIn        = "session.sign_in"
	ActionSignOut       = "session.sign_out"
	ActionSessionRevoke = "session.revoke"
)

type sessionRow struct {
	ID         string `gorm:"primaryKey"`
	Hash       string
	Email      string
	IdpGroups  string
	AMR        string `gorm:"column:amr"`
	ACR        string `gorm:"column:acr"`
	Method     string
	CSRFToken  string `gorm:"column:csrf_token"`
	ClientIP   string `gorm:"column:client_ip"`
	UserAgent  string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	LastSeenAt time.Time
	ExpiresAt  time.Time
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

// Session is a signed-in browser.
type Session struct {
	ID         string // public id, safe to show to admins
	Email      string
	Groups     []string // groups asserted by the identity provider at sign-in
	AMR        []string
	ACR        string
	Method     string
	CSRFToken  string
	ClientIP   string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
}

// Principal is who the session acts as. What they may do is decided by the
// policy in force, on every request.
func (s Session) Principal() workflow.Principal {
	p := workflow.User(s.Email)
	p.Groups, p.AMR, p.ACR = s.Groups, s.AMR, s.ACR
	return p
}

// IdleExpiry is when the session ends if it is not used again.
func (s Session) IdleExpiry(idle time.Duration) time.Time {
	if idle <= 0 {
		return s.ExpiresAt
	}
	if t := s.LastSeenAt.Add(idle); t.Before(s.ExpiresAt) {
		return t
	}
	return s.ExpiresAt
}

// NewSession describes a session to create.
type NewSession struct {
	Email     string
	Groups    []string
	AMR       []string
	ACR       string
	Method    string
	ClientIP  string
	UserAgent string
	TTL       time.Duration // absolute lifetime
}

func randomSecret() (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", workflow.Internal(err, "cannot generate a secret")
	}
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

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

func (row sessionRow) toSession() Session {
	return Session{
		ID: row.ID, Email: row.Email, Groups: splitList(row.IdpGroups), AMR: splitList(row.AMR), ACR: row.ACR,
		Method: row.Method, CSRFToken: row.CSRFToken, ClientIP: row.ClientIP, UserAgent: row.UserAgent,
		CreatedAt: row.CreatedAt.UTC(), LastSeenAt: row.LastSeenAt.UTC(), ExpiresAt: row.ExpiresAt.UTC(),
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// CreateSession signs a person in: it stores a new session and returns the
// secret for the browser's cookie, which is not kept. The sign-in is
// audited in the same transaction, and sessions that have expired (for
// anyone) are cleared out.
func (d *DB) CreateSession(ctx context.Context, ns NewSession, now time.Time, idle time.Duration) (string, Session, error) {
	ns.Email = workflow.NormalizeEmail(ns.Email)
	if !strings.Contains(ns.Email, "@") {
		return "", Session{}, workflow.Errorf(workflow.CodeInvalid, "%q is not an email address", ns.Email)
	}
	if ns.Method != SessionOIDC && ns.Method != SessionDemo {
		return "", Session{}, workflow.Errorf(workflow.CodeInvalid, "unknown sign-in method %q", ns.Method)
	}
	if ns.TTL <= 0 {
		return "", Session{}, workflow.Errorf(workflow.CodeInvalid, "a session needs a positive lifetime")
	}
	secret, err := randomSecret()
	if err != nil {
		return "", Session{}, err
	}
	csrf, err := randomSecret()
	if err != nil {
		return "", Session{}, err
	}
	groups, err := joinList(ns.Groups)
	if err != nil {
		return "", Session{}, workflow.Internal(err, "encode groups")
	}
	amr, err := joinList(ns.AMR)
	if err != nil {
		return "", Session{}, workflow.Internal(err, "encode amr")
	}
	row := sessionRow{
		ID: uuid.Must(uuid.NewV7()).String(), Hash: hashToken(secret), Email: ns.Email, IdpGroups: groups, AMR: amr,
		ACR: clip(ns.ACR, 200), Method: ns.Method, CSRFToken: csrf, ClientIP: clip(ns.ClientIP, 64), UserAgent: clip(ns.UserAgent, 300),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(ns.TTL),
	}
	how := ns.Method + " sign-in"
	if len(ns.AMR) > 0 {
		how += " (amr " + strings.Join(ns.AMR, ",") + ")"
	}
	if ns.ACR != "" {
		how += " (acr " + clip(ns.ACR, 200) + ")"
	}
	err = d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		if err := purgeSessions(ctx, t.reader, now, idle); err != nil {
			return err
		}
		if err := t.ctx(ctx).Create(&row).Error; err != nil {
			return mapError(err)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: ns.Email, Action: ActionSignIn, Subject: ns.Email,
			Reason: how + " from " + row.ClientIP})
	})
	if err != nil {
		return "", Session{}, err
	}
	return secret, row.toSession(), nil
}

func purgeSessions(ctx context.Context, r reader, now time.Time, idle time.Duration) error {
	q := r.ctx(ctx).Where("expires_at <= ?", now)
	if idle > 0 {
		q = q.Or("last_seen_at <= ?", now.Add(-idle))
	}
	if err := q.Delete(&sessionRow{}).Error; err != nil {
		return mapError(err)
	}
	return mapError(r.ctx(ctx).Where("expires_at <= ?", now).Delete(&loginFlowRow{}).Error)
}

// errNoSession is what every failed lookup says, whatever the reason.
func errNoSession() error {
	return workflow.Errorf(workflow.CodeUnauthenticated, "you are not signed in, or your session has ended")
}

// LookupSession returns the live session whose secret is given. An unknown
// secret, and a session past its absolute expiry or idle for idle or
// longer, are CodeUnauthenticated (an expired session is deleted).
func (d *DB) LookupSession(ctx context.Context, secret string, now time.Time, idle time.Duration) (Session, error) {
	if secret == "" || len(secret) > 100 {
		return Session{}, errNoSession()
	}
	var row sessionRow
	err := d.ctx(ctx).Where("hash = ?", hashToken(secret)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Session{}, errNoSession()
	}
	if err != nil {
		return Session{}, mapError(err)
	}
	s := row.toSession()
	if !now.Before(s.IdleExpiry(idle)) {
		if err := d.ctx(ctx).Where("id = ?", row.ID).Delete(&sessionRow{}).Error; err != nil {
			return Session{}, mapError(err)
		}
		return Session{}, errNoSession()
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

// EndSession signs one session out, and audits it. Ending a session that
// is already gone is not an error.
func (d *DB) EndSession(ctx context.Context, s Session, now time.Time) error {
	if !validID(s.ID) {
		return nil
	}
	return d.InTx(ctx, func(wtx workflow.Tx) error {
		t := wtx.(*tx)
		res := t.ctx(ctx).Where("id = ?", s.ID).Delete(&sessionRow{})
		if res.Error != nil || res.RowsAffected == 0 {
			return mapError(res.Error)
		}
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: s.Email, Action: ActionSignOut, Subject: s.Email, Reason: "signed out"})
	})
}

// EndSessionsOf signs a person out everywhere (an admin's action) and
// returns how many sessions ended. It is audited when there were any.
func (d *DB) EndSessionsOf(ctx context.Context, email, actor string, now time.Time) (int, error) {
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
		return t.AppendAudit(ctx, &workflow.AuditRecord{At: now, Actor: actor, Action: ActionSessionRevoke, Subject: email,
			Reason: fmt.Sprintf("signed out of %d session(s) by %s", n, actor)})
	})
	return n, err
}

// ListSessions returns the sessions that are live at now, most recently
// used first.
func (d *DB) ListSessions(ctx context.Context, now time.Time, idle time.Duration) ([]Session, error) {
	q := d.ctx(ctx).Where("expires_at > ?", now)
	if idle > 0 {
		q = q.Where("last_seen_at > ?", now.Add(-idle))
	}
	var rows []sessionRow
	if err := q.Order("last_seen_at DESC, id").Limit(1000).Find(&rows).Error; err != nil {
		return nil, mapError(err)
	}
	out := make([]Session, len(rows))
	for i, r := range rows {
		out[i] = r.toSession()
	}
	return out, nil
}

// LoginFlow is an OpenID Connect sign-in in flight.
type LoginFlow struct {
	State        string
	Nonce        string
	PKCEVerifier string
	ReturnTo     string
	ExpiresAt    time.Time
}

// StartLoginFlow stores a sign-in in flight and returns the secret for the
// browser's cookie, without which the flow cannot be finished.
func (d *DB) StartLoginFlow(ctx context.Context, f LoginFlow, now time.Time) (string, error) {
	secret, err := randomSecret()
	if err != nil {
		return "", err
	}
	row := loginFlowRow{ID: hashToken(secret), State: f.State, Nonce: f.Nonce, PKCEVerifier: f.PKCEVerifier,
		ReturnTo: clip(f.ReturnTo, 2000), CreatedAt: now, ExpiresAt: f.ExpiresAt}
	if err := d.ctx(ctx).Create(&row).Error; err != nil {
		return "", mapError(err)
	}
	return secret, nil
}

// TakeLoginFlow returns the flow for the browser secret and deletes it in
// the same statement, so that a flow is finished at most once. An unknown,
// used or expired flow is CodeUnauthenticated.
func (d *DB) TakeLoginFlow(ctx context.Context, secret string, now time.Time) (LoginFlow, error) {
	gone := workflow.Errorf(workflow.CodeUnauthenticated, "this sign-in has expired or was already used; start again")
	if secret == "" || len(secret) > 100 {
		return LoginFlow{}, gone
	}
	var rows []loginFlowRow
	err := d.ctx(ctx).Raw("DELETE FROM web_login_flows WHERE id = ? RETURNING *", hashToken(secret)).Scan(&rows).Error
	if err != nil {
		return LoginFlow{}, mapError(err)
	}
	if len(rows) == 0 || !now.Before(rows[0].ExpiresAt) {
		return LoginFlow{}, gone
	}
	r := rows[0]
	return LoginFlow{State: r.State, Nonce: r.Nonce, PKCEVerifier: r.PKCEVerifier, ReturnTo: r.ReturnTo, ExpiresAt: r.ExpiresAt.UTC()}, nil
}
