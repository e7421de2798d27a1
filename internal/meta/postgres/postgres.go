// Package postgres keeps Vigil's metadata (alerts, incidents, users,
// tokens, sessions, audit, notification and response state) in
// PostgreSQL: vigil serve --postgres DSN. It implements meta.Backend over
// pgx's database/sql driver, so the domain packages run the same SQL on
// PostgreSQL as on SQLite. The driver in between numbers their ?
// placeholders ($1, $2, ...), stores text that PostgreSQL's text type
// cannot hold (NUL, invalid UTF-8) reversibly, stores a bool as SQLite
// does (0 or 1), makes every write transaction take the database's writer
// lock (a transaction-scoped advisory lock: what SQLite's BEGIN IMMEDIATE
// gives, for writers in any number of processes), and marks unique
// violations, serialization failures and deadlocks so that
// meta.IsUniqueViolation and meta.IsRetryable know them. Schema holds the
// migrations, version for version those of meta.SQLite.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/vigilsec/vigil/internal/meta"
)

// DB is a migrated metadata database in PostgreSQL.
type DB struct {
	db *sql.DB
}

var _ meta.Backend = (*DB)(nil)

// Open connects to the PostgreSQL database of dsn (a URL,
// postgres://user:password@host:port/db?sslmode=..., or key=value
// pairs, as libpq takes them) and migrates it to the latest schema. The
// DSN holds a password: errors show it redacted.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db, err := OpenDB(dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to the metadata database %s: %w", Redact(dsn), err)
	}
	if _, _, err := Schema.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrating the metadata database %s: %w", Redact(dsn), err)
	}
	return &DB{db: db}, nil
}

// Check reports whether dsn parses as a PostgreSQL DSN, without
// connecting (configuration validation); its error shows no password.
func Check(dsn string) error {
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return fmt.Errorf("not a PostgreSQL DSN (%s): %w", Redact(dsn), errRedacted{err, dsn})
	}
	return nil
}

// OpenDB returns the database of dsn through this package's driver,
// neither connecting nor migrating (tests build databases of earlier
// versions with it).
func OpenDB(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the DSN; say only what was wrong.
		return nil, fmt.Errorf("parsing the PostgreSQL DSN %s: %w", Redact(dsn), errRedacted{err, dsn})
	}
	db := sql.OpenDB(&connector{inner: stdlib.GetConnector(*cfg)})
	// The domain packages hold a connection for a transaction at a time
	// each; readers (API, console) come and go.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Name is "postgres".
func (d *DB) Name() string { return "postgres" }

// DB returns the database.
func (d *DB) DB() *sql.DB { return d.db }

// Schema returns Schema.
func (d *DB) Schema() *meta.Schema { return Schema }

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// errRedacted is an error whose message may quote the DSN, shown with the
// password replaced.
type errRedacted struct {
	err error
	dsn string
}

func (e errRedacted) Error() string {
	msg := e.err.Error()
	if p := password(e.dsn); p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return redactKV.ReplaceAllString(msg, "${1}xxxxx")
}

func (e errRedacted) Unwrap() error { return e.err }

// redactKV finds a password in key=value form (password=secret,
// password = 'a secret', password=a\ b).
var redactKV = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)+)`)

// Redact returns dsn with its password, if any, replaced by xxxxx: what
// may be logged or shown of a DSN.
func Redact(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "(a PostgreSQL URL that does not parse)"
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return redactKV.ReplaceAllString(dsn, "${1}xxxxx")
}

// password returns the password in dsn ("" when it has none).
func password(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return ""
		}
		if p, ok := u.User.Password(); ok && p != "" {
			return p
		}
		return u.Query().Get("password")
	}
	m := redactKV.FindStringSubmatch(dsn)
	if m == nil {
		return ""
	}
	return strings.Trim(m[2], "'")
}
