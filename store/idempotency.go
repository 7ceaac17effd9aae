package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"gorm.io/gorm"
)

type idempotencyRow struct {
	Principal   string `gorm:"primaryKey"`
	Key         string `gorm:"primaryKey"`
	Fingerprint string
	Reservation string
	State       string
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	LockedUntil *time.Time
	Status      int
	ContentType string
	Location    string
	Body        string
}

func (idempotencyRow) TableName() string { return "idempotency_keys" }

// IdempotencyKey names one use of an Idempotency-Key: whose (the
// principal, so that two callers' keys never meet), which key, and the
// fingerprint of the request that came with it (method, path and body).
type IdempotencyKey struct {
	Principal, Key, Fingerprint string
}

// StoredResponse is what a repeat of a key answers: the first response.
type StoredResponse struct {
	Status      int
	ContentType string
	Location    string
	Body        []byte
}

// IdempotencyOutcome is what ReserveIdempotencyKey found.
type IdempotencyOutcome int

const (
	// IdempotencyReserved: the key is the caller's to run the request
	// under, until it completes or releases the reservation.
	IdempotencyReserved IdempotencyOutcome = iota + 1
	// IdempotencyReplay: the key has a stored response for the same
	// request.
	IdempotencyReplay
	// IdempotencyMismatch: the key was used for another request (another
	// body, method or path).
	IdempotencyMismatch
	// IdempotencyInUse: the key's first request is still running.
	IdempotencyInUse
)

// IdempotencyClaim is the answer of ReserveIdempotencyKey. Reservation is
// set when Outcome is IdempotencyReserved, Response when it is
// IdempotencyReplay.
type IdempotencyClaim struct {
	Outcome     IdempotencyOutcome
	Reservation string
	Response    StoredResponse
}

// ReserveIdempotencyKey takes k for a request starting at now, or says why
// not. The reservation is one INSERT that conflicts on (principal, key), so
// of two replicas racing the same key exactly one runs the request. The
// conflict takes the row over only when it is no longer in force: older
// than keep (expired, not yet pruned), or running past its lock (its
// request crashed). A reservation holds the key until now+lock.
func (d *DB) ReserveIdempotencyKey(ctx context.Context, k IdempotencyKey, now time.Time, lock, keep time.Duration) (IdempotencyClaim, error) {
	now = now.UTC()
	reservation, err := newReservation()
	if err != nil {
		return IdempotencyClaim{}, err
	}
	// A row released between the INSERT and the SELECT is gone: try again.
	for range 3 {
		res := d.ctx(ctx).Exec(`INSERT INTO idempotency_keys (principal, key, fingerprint, reservation, state, created_at, locked_until)
			VALUES (?, ?, ?, ?, 'running', ?, ?)
			ON CONFLICT (principal, key) DO UPDATE SET fingerprint = excluded.fingerprint, reservation = excluded.reservation,
				state = 'running', created_at = excluded.created_at, locked_until = excluded.locked_until,
				status = 0, content_type = '', location = '', body = ''
			WHERE idempotency_keys.created_at <= ? OR (idempotency_keys.state = 'running' AND idempotency_keys.locked_until <= ?)`,
			k.Principal, k.Key, k.Fingerprint, reservation, now, now.Add(lock), now.Add(-keep), now)
		if res.Error != nil {
			return IdempotencyClaim{}, mapError(res.Error)
		}
		if res.RowsAffected == 1 {
			return IdempotencyClaim{Outcome: IdempotencyReserved, Reservation: reservation}, nil
		}
		var row idempotencyRow
		err := d.ctx(ctx).Where("principal = ? AND key = ?", k.Principal, k.Key).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue
		}
		if err != nil {
			return IdempotencyClaim{}, mapError(err)
		}
		switch {
		case row.Fingerprint != k.Fingerprint:
			return IdempotencyClaim{Outcome: IdempotencyMismatch}, nil
		case row.State == "running":
			return IdempotencyClaim{Outcome: IdempotencyInUse}, nil
		}
		return IdempotencyClaim{Outcome: IdempotencyReplay, Response: StoredResponse{
			Status: row.Status, ContentType: row.ContentType, Location: row.Location, Body: []byte(row.Body),
		}}, nil
	}
	// Released three times in a row: someone else is busy with the key.
	return IdempotencyClaim{Outcome: IdempotencyInUse}, nil
}

// CompleteIdempotencyKey stores resp as the answer to k, if reservation
// still holds it. It reports false when it no longer does: the request ran
// past its lock and a repeat took the key over.
func (d *DB) CompleteIdempotencyKey(ctx context.Context, k IdempotencyKey, reservation string, resp StoredResponse) (bool, error) {
	res := d.ctx(ctx).Exec(`UPDATE idempotency_keys SET state = 'done', locked_until = NULL, status = ?, content_type = ?, location = ?, body = ?
		WHERE principal = ? AND key = ? AND reservation = ? AND state = 'running'`,
		resp.Status, resp.ContentType, resp.Location, string(resp.Body), k.Principal, k.Key, reservation)
	if res.Error != nil {
		return false, mapError(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReleaseIdempotencyKey gives k up, if reservation still holds it, so that
// the client may retry with it: its request had no final answer.
func (d *DB) ReleaseIdempotencyKey(ctx context.Context, k IdempotencyKey, reservation string) error {
	res := d.ctx(ctx).Exec(`DELETE FROM idempotency_keys WHERE principal = ? AND key = ? AND reservation = ? AND state = 'running'`,
		k.Principal, k.Key, reservation)
	return mapError(res.Error)
}

// PruneIdempotencyKeys deletes keys first used before before, and returns
// how many.
func (d *DB) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	res := d.ctx(ctx).Exec(`DELETE FROM idempotency_keys WHERE created_at < ?`, before.UTC())
	return res.RowsAffected, mapError(res.Error)
}

func newReservation() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
