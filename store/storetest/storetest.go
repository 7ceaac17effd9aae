// Package storetest opens a fresh, migrated database for a test: a new
// SQLite file in the test's temporary directory, or a new PostgreSQL
// database that is dropped when the test ends. Shared test code runs on
// both through Each.
//
// PostgreSQL is required: tests fail, not skip, when it cannot be reached.
// JITACCESS_TEST_POSTGRES names the server (a URL to its maintenance
// database; default postgres://postgres@127.0.0.1:5432/postgres); setting it
// to "off" runs the SQLite half alone and says so.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jitaccess/store"
)

// DefaultPostgres is the server tests use unless JITACCESS_TEST_POSTGRES says otherwise.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Kinds lists the databases every shared test runs against.
var Kinds = []store.Kind{store.SQLite, store.Postgres}

// Each runs fn once per database kind, as subtests named after the kind.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			fn(t, Open(t, k))
		})
	}
}

// EachKind runs fn once per database kind without opening a database, for
// tests that open their own (several processes, restarts).
func EachKind(t *testing.T, fn func(t *testing.T, kind store.Kind)) {
	t.Helper()
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			if k == store.Postgres {
				adminURL(t)
			}
			fn(t, k)
		})
	}
}

// Open returns a fresh, migrated database of kind, closed (and for
// PostgreSQL dropped) when the test ends.
func Open(t testing.TB, kind store.Kind) *store.DB {
	t.Helper()
	return OpenURL(t, NewURL(t, kind))
}

// OpenURL opens and migrates the database at u, and closes it when the
// test ends.
func OpenURL(t testing.TB, u string) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, u, store.Options{MaxOpenConns: 8, SealInline: true})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return db
}

// NewURL creates an empty database of kind and returns its URL; it is
// removed when the test ends.
func NewURL(t testing.TB, kind store.Kind) string {
	t.Helper()
	if kind == store.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "jitaccess.db")
	}
	return CreatePostgresDatabase(t)
}

func adminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("JITACCESS_TEST_POSTGRES")
	switch u {
	case "off":
		t.Skip("PostgreSQL tests are off (JITACCESS_TEST_POSTGRES=off); CI runs them")
	case "":
		u = DefaultPostgres
	}
	return u
}

// CreatePostgresDatabase creates a new, empty PostgreSQL database and
// returns its URL. It is dropped (with any connections left open) when the
// test ends.
func CreatePostgresDatabase(t testing.TB) string {
	t.Helper()
	admin := adminURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL is required for these tests and is not reachable at %s: %v\n"+
			"Start it, point JITACCESS_TEST_POSTGRES at another server, or set JITACCESS_TEST_POSTGRES=off to run only the SQLite half.",
			store.Redact(admin), err)
	}
	defer conn.Close(ctx)
	name := "jitaccess_test_" + randomSuffix()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("JITACCESS_TEST_POSTGRES is not a URL: %v", err)
	}
	u.Path = "/" + name
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// WaitSealed waits until db has no unsealed audit records (the sealer has
// chained everything committed), failing the test after within.
func WaitSealed(t testing.TB, db *store.DB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, err := db.AuditBacklog(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if b.Records == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d audit records are still unsealed (oldest %s)", within, b.Records, time.Duration(b.Oldest))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
