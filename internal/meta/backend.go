package meta

import (
	"database/sql"
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Backend is the engine that holds the metadata database: SQLite (meta.db
// in the data directory, the default) or PostgreSQL (vigil serve
// --postgres). The domain packages see only DB, a *sql.DB, and write one
// SQL text for both engines: ? placeholders (a backend whose driver numbers
// its parameters rebinds them), ON CONFLICT instead of INSERT OR IGNORE,
// CASE instead of SQLite's two-argument min and max. What differs between
// the engines lives behind this interface: the schema's types and
// triggers (Schema), how a write transaction keeps other writers out, and
// what the driver's errors mean.
//
// Every write transaction (BeginTx without ReadOnly) on DB holds the
// database's writer lock from its first statement to its end, on every
// engine: SQLite begins it IMMEDIATE, the PostgreSQL backend takes a
// transaction-scoped advisory lock as it begins. A transaction that reads
// and then writes (the audit chain's tail and its next entry, a fold into
// an open alert, a claim of outbox rows) therefore sees no other writer's
// commit in between, whichever process that writer is in. A statement run
// outside a transaction is atomic on its own and takes no writer lock.
type Backend interface {
	// Name is the engine's name: "sqlite" or "postgres".
	Name() string
	// DB is the database the domain packages read and write.
	DB() *sql.DB
	// Schema is the engine's list of migrations.
	Schema() *Schema
	// Close closes DB.
	Close() error
}

// Errors a backend's DB returns wrap these (errors.Is) where the driver
// reports the condition, whichever the engine.
var (
	// ErrUniqueViolation is a write refused by a primary key or unique
	// index.
	ErrUniqueViolation = errors.New("unique constraint violated")
	// ErrRetryable is a transaction that lost a conflict with another
	// writer (SQLite's busy timeout ran out, a PostgreSQL serialization
	// failure or deadlock) and may succeed if run again.
	ErrRetryable = errors.New("conflict with another writer")
)

// IsUniqueViolation reports whether err is a write refused by a primary
// key or unique index, on either engine.
func IsUniqueViolation(err error) bool {
	if errors.Is(err, ErrUniqueViolation) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}

// IsRetryable reports whether err is a conflict with another writer after
// which the whole transaction may be run again, on either engine.
func IsRetryable(err error) bool {
	if errors.Is(err, ErrRetryable) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

// NewSQLite returns the backend of an SQLite metadata database that the
// caller opened (the store opens meta.db with WAL, a busy timeout and
// write transactions that begin IMMEDIATE) and migrated.
func NewSQLite(db *sql.DB) Backend { return sqliteBackend{db} }

type sqliteBackend struct{ db *sql.DB }

func (b sqliteBackend) Name() string    { return "sqlite" }
func (b sqliteBackend) DB() *sql.DB     { return b.db }
func (b sqliteBackend) Schema() *Schema { return SQLite }
func (b sqliteBackend) Close() error    { return b.db.Close() }
