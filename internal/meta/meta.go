// Package meta owns the schema of Vigil's metadata database: alerts,
// incidents, entity risk, response actions, audit, users, tokens, console
// sessions, notification routes and outbox, suppressions, rule state.
//
// The schema is a numbered list of forward-only migrations. Each runs in
// its own transaction together with the row that records it in
// schema_migrations, so a migration is either wholly applied or not at all,
// and a crash in the middle leaves the previous version. Migration 1
// adopts the schema that Vigil shipped before migrations existed (every
// statement of it is idempotent), so a data directory written by an older
// version upgrades in place. A database whose version is newer than the
// binary is refused rather than written by code that does not know its
// shape.
//
// Domain packages never create or alter tables: they read and write the
// tables their migrations define, through database/sql, with SQL that both
// engines run (see Backend).
package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Migration is one step of the schema.
type Migration struct {
	Version int
	Name    string
	// Up applies the step inside the migration's transaction.
	Up func(ctx context.Context, tx *sql.Tx) error
}

// ErrTooNew is returned when the database was migrated by a newer Vigil.
var ErrTooNew = errors.New("metadata schema is newer than this version of vigil")

// Schema is one engine's list of migrations. Every engine has the same
// versions with the same meaning: version N of the SQLite schema and
// version N of the PostgreSQL schema hold the same tables, columns and
// rules, each in its engine's types.
type Schema struct {
	// Engine names the engine the steps are written for.
	Engine string
	// VersionTable creates schema_migrations when it is missing (version,
	// name, applied in Unix nanoseconds).
	VersionTable string
	// Steps are the migrations, oldest first, numbered from 1 without gaps.
	Steps []Migration
}

// SQLite is the schema of a metadata database in SQLite (meta.db).
var SQLite = &Schema{
	Engine: "sqlite",
	VersionTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied INTEGER NOT NULL
	)`,
	Steps: migrations,
}

// Migrations returns the SQLite schema's steps in order.
func Migrations() []Migration { return SQLite.Steps }

// Latest is the schema version this binary writes.
func Latest() int { return SQLite.Latest() }

// Latest is the version of the schema's last step.
func (s *Schema) Latest() int { return s.Steps[len(s.Steps)-1].Version }

// Version returns the SQLite database's schema version (0 for a database
// that predates migrations or is empty).
func Version(ctx context.Context, db *sql.DB) (int, error) { return SQLite.Version(ctx, db) }

// Version returns db's schema version (0 for an empty database, or an
// SQLite one that predates migrations).
func (s *Schema) Version(ctx context.Context, db *sql.DB) (int, error) {
	if err := s.ensureTable(ctx, db); err != nil {
		return 0, err
	}
	return current(ctx, db)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func current(ctx context.Context, q querier) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return int(v.Int64), nil
}

func (s *Schema) ensureTable(ctx context.Context, db *sql.DB) error {
	// In a transaction, so that it waits for a concurrent writer (the
	// metadata database begins write transactions IMMEDIATE on SQLite and
	// under the writer lock on PostgreSQL) instead of failing with
	// SQLITE_BUSY, or with a duplicate catalog row when two PostgreSQL
	// clients create the table at once.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.VersionTable); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	return nil
}

// Migrate brings the SQLite database db to the latest schema and returns
// the versions it moved between.
func Migrate(ctx context.Context, db *sql.DB) (from, to int, err error) {
	return SQLite.Migrate(ctx, db)
}

// Migrate brings db to the schema's latest version and returns the
// versions it moved between. It is safe to run concurrently from two
// processes: each step re-reads the version inside its (write-locked)
// transaction.
func (s *Schema) Migrate(ctx context.Context, db *sql.DB) (from, to int, err error) {
	return s.MigrateTo(ctx, db, s.Latest())
}

// migrateTo applies the SQLite steps up to and including version target.
func migrateTo(ctx context.Context, db *sql.DB, target int) (from, to int, err error) {
	return SQLite.MigrateTo(ctx, db, target)
}

// MigrateTo applies the steps up to and including version target (tests
// use it to build a database of an intermediate version).
func (s *Schema) MigrateTo(ctx context.Context, db *sql.DB, target int) (from, to int, err error) {
	if err := s.ensureTable(ctx, db); err != nil {
		return 0, 0, err
	}
	from, err = current(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	if from > s.Latest() {
		return from, from, fmt.Errorf("%w: database at version %d, this binary knows up to %d", ErrTooNew, from, s.Latest())
	}
	to = from
	for _, m := range s.Steps {
		if m.Version <= to || m.Version > target {
			continue
		}
		if err := apply(ctx, db, m); err != nil {
			return from, to, err
		}
		to = m.Version
	}
	return from, to, nil
}

func apply(ctx context.Context, db *sql.DB, m Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
	}
	defer tx.Rollback()
	v, err := current(ctx, tx)
	if err != nil {
		return err
	}
	if v >= m.Version {
		return nil // another process applied it first
	}
	if v != m.Version-1 {
		return fmt.Errorf("migration %d (%s): database is at version %d", m.Version, m.Name, v)
	}
	if err := m.Up(ctx, tx); err != nil {
		return fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("migration %d (%s): recording it: %w", m.Version, m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
	}
	return nil
}

// ExecAll runs statements in order (a migration step made of DDL alone).
func ExecAll(ctx context.Context, tx *sql.Tx, stmts ...string) error {
	return execAll(ctx, tx, stmts...)
}

// execAll runs statements in order.
func execAll(ctx context.Context, tx *sql.Tx, stmts ...string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// hasColumn reports whether table has column (an adopted database may
// already have one a later step adds).
func hasColumn(ctx context.Context, tx *sql.Tx, table, column string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n)
	return n > 0, err
}

// addColumn adds a column unless it is there.
func addColumn(ctx context.Context, tx *sql.Tx, table, column, decl string) error {
	ok, err := hasColumn(ctx, tx, table, column)
	if err != nil || ok {
		return err
	}
	_, err = tx.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+column+` `+decl)
	return err
}
