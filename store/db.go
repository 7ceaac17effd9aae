// Package store implements workflow.Store with GORM, on PostgreSQL (the
// production database) and on pure-Go SQLite (the embedded default).
//
// Reads and writes are explicit SQL or simple GORM calls against the tables
// created by the migrations in migrations/; nothing is auto-migrated. Each
// workflow use case runs in one transaction (DB.InTx); request rows are
// locked FOR UPDATE on PostgreSQL, while SQLite runs one writer at a time
// (a single connection, BEGIN IMMEDIATE), and every update also compares
// and sets the row's version.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/jitaccess/jitaccess/migrations"
	"github.com/jitaccess/jitaccess/workflow"
)

// Kind is a database engine.
type Kind string

const (
	Postgres Kind = "postgres"
	SQLite   Kind = "sqlite"
)

// DefaultURL is the embedded database used when none is configured.
const DefaultURL = "sqlite:jitaccess.db"

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int           // PostgreSQL only; default 20. SQLite always uses one.
	SlowQuery    time.Duration // log queries slower than this; 0 disables
	Logger       *slog.Logger
	// SealInline makes each transaction that writes audit records chain
	// them itself, under the chain's head lock held until it commits (the
	// behaviour before the sealer), instead of leaving them to the sealer
	// (RunSealer): for the CLI, which runs no sealer, for tests that read
	// a record the moment its change commits, and for
	// --audit-seal-interval 0. SQLite always seals inline.
	SealInline bool
}

// DB is an open database. It implements workflow.Store.
type DB struct {
	reader
	sql *sql.DB
	url string
	// tokensRevoked run after a revocation of tokens has committed
	// (OnTokensRevoked, tokens.go).
	tokensRevoked []func(ids []string)
	// Sealing (sealer.go): inline in each transaction (SQLite,
	// Options.SealInline), or by the sealer, which sealWake wakes.
	sealInline bool
	sealWake   chan struct{}
	// sealHook (tests: SetSealHook) runs in a sealing transaction after
	// it took the pending records and before it chains them.
	sealHook func(ctx context.Context)
}

// Kind returns the database engine.
func (d *DB) Kind() Kind { return d.kind }

// Gorm returns the underlying handle, for packages that add their own
// tables (through migrations) and for tests.
func (d *DB) Gorm() *gorm.DB { return d.db }

// SQL returns the underlying database/sql handle.
func (d *DB) SQL() *sql.DB { return d.sql }

// Close closes the pool.
func (d *DB) Close() error { return d.sql.Close() }

// ParseURL splits a database URL into its kind and the driver's DSN. It
// accepts postgres:// and postgresql:// URLs and sqlite:PATH.
func ParseURL(raw string) (Kind, string, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return "", "", fmt.Errorf("database URL %s is not a valid URL", Redact(raw))
		}
		return Postgres, raw, nil
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		if path == "" {
			return "", "", fmt.Errorf("database URL %q has no file path; use sqlite:PATH, for example sqlite:jitaccess.db", raw)
		}
		if strings.ContainsAny(path, "?#") {
			return "", "", fmt.Errorf("database URL %q: options are not supported after the sqlite path", raw)
		}
		// WAL lets readers in other processes work alongside the writer;
		// busy_timeout waits for a lock rather than failing at once;
		// _txlock=immediate takes the write lock at BEGIN so that two
		// writers never deadlock upgrading a read lock.
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		return SQLite, dsn, nil
	}
	return "", "", fmt.Errorf("unsupported database URL %q: use postgres://USER@HOST:PORT/DB or sqlite:PATH", Redact(raw))
}

// Redact hides the password in a URL, for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if i := strings.Index(raw, "@"); i >= 0 && strings.Contains(raw, "://") {
			return raw[:strings.Index(raw, "://")+3] + "REDACTED" + raw[i:]
		}
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}

// Open connects to the database at rawURL. It does not migrate.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	kind, dsn, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg := &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		Logger:                 gormLogger(opts),
		NowFunc:                workflow.Now,
	}
	var dial gorm.Dialector
	if kind == Postgres {
		dial = postgres.Open(dsn)
	} else {
		dial = sqlite.Open(dsn)
	}
	db, err := gorm.Open(dial, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", Redact(rawURL), err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if kind == SQLite {
		// One connection: SQLite has one writer anyway, and a single
		// connection makes transactions in this process queue instead of
		// failing with SQLITE_BUSY.
		sqlDB.SetMaxOpenConns(1)
	} else {
		n := opts.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("cannot reach database %s: %w", Redact(rawURL), err)
	}
	return &DB{reader: reader{db: db, kind: kind}, sql: sqlDB, url: rawURL,
		sealInline: kind == SQLite || opts.SealInline, sealWake: make(chan struct{}, 1)}, nil
}

func gormLogger(opts Options) logger.Interface {
	if opts.Logger == nil || opts.SlowQuery <= 0 {
		return logger.Discard
	}
	return lazyTrace{Interface: logger.NewSlogLogger(opts.Logger, logger.Config{
		SlowThreshold:             opts.SlowQuery,
		LogLevel:                  logger.Warn,
		IgnoreRecordNotFoundError: true,
		ParameterizedQueries:      true,
	}), slow: opts.SlowQuery}
}

// lazyTrace passes to GORM's slog logger only the queries it logs (errors
// other than not found, and slow ones): that logger renders every query's
// SQL with its arguments (logger.ExplainSQL, regular expressions over the
// statement) before it decides, which was 40% of the sweeper's CPU on its
// 500-row INSERTs (BENCHMARKS.md, the sweep's per-row overhead).
type lazyTrace struct {
	logger.Interface
	slow time.Duration
	all  bool // LogMode(Info) or more: every query is logged
}

func (l lazyTrace) LogMode(level logger.LogLevel) logger.Interface {
	return lazyTrace{Interface: l.Interface.LogMode(level), slow: l.slow, all: level >= logger.Info}
}

func (l lazyTrace) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if !l.all && (err == nil || errors.Is(err, gorm.ErrRecordNotFound)) && time.Since(begin) <= l.slow {
		return
	}
	l.Interface.Trace(ctx, begin, fc, err)
}

func (d *DB) migrator() (*goose.Provider, error) {
	dir, dialect := "postgres", goose.DialectPostgres
	var opts []goose.ProviderOption
	if d.kind == SQLite {
		dir, dialect = "sqlite", goose.DialectSQLite3
	} else {
		// Replicas starting together take turns: an advisory lock held
		// for the whole run.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	fsys, err := fs.Sub(migrations.FS, dir)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(dialect, d.sql, fsys, opts...)
}

// Migrate applies every pending migration and returns the versions it
// applied.
func (d *DB) Migrate(ctx context.Context) ([]int64, error) {
	p, err := d.migrator()
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []int64
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// CheckMigrated returns an error unless every migration has been applied.
func (d *DB) CheckMigrated(ctx context.Context) error {
	p, err := d.migrator()
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("read migration status: %w", err)
	}
	if pending {
		return errors.New("migrations are pending; run jitaccess migrate")
	}
	return nil
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.sql.PingContext(ctx) }

// InTx runs fn in one transaction.
func (d *DB) InTx(ctx context.Context, fn func(workflow.Tx) error) error {
	var t *tx
	err := d.db.WithContext(ctx).Transaction(func(gtx *gorm.DB) error {
		t = &tx{reader: reader{db: gtx, kind: d.kind}, inline: d.sealInline}
		return fn(t)
	})
	if err == nil && t.pending {
		d.afterPending(ctx)
	}
	return mapError(err)
}

// mapError turns driver errors into domain errors: a lost connection is
// CodeUnavailable; anything else not already a domain error is internal.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var we *workflow.Error
	if errors.As(err, &we) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &workflow.Error{Code: workflow.CodeUnavailable, Message: "the database did not answer in time", Err: err}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "53", "57": // connection, resources, operator intervention
			return &workflow.Error{Code: workflow.CodeUnavailable, Message: "the database is unavailable", Err: err}
		}
		if pgErr.Code == "40001" || pgErr.Code == "40P01" { // serialization failure, deadlock
			return &workflow.Error{Code: workflow.CodeConflict, Message: "a concurrent change got in the way; retry", Err: err}
		}
	}
	if isConnError(err) {
		return &workflow.Error{Code: workflow.CodeUnavailable, Message: "the database is unavailable", Err: err}
	}
	return workflow.Internal(err, "database error")
}

func isConnError(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "database is locked") ||
		errors.Is(err, sql.ErrConnDone)
}
