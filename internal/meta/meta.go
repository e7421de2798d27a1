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
// tables their migrations define.
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

// Migrations returns the schema steps in order.
func Migrations() []Migration { return migrations }

// Latest is the schema version this binary writes.
func Latest() int { return migrations[len(migrations)-1].Version }

// Version returns the database's schema version (0 for a database that
// predates migrations or is empty).
func Version(ctx context.Context, db *sql.DB) (int, error) {
	if err := ensureTable(ctx, db); err != nil {
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

func ensureTable(ctx context.Context, db *sql.DB) error {
	// In a transaction, so that it waits for a concurrent writer (the
	// metadata database begins write transactions IMMEDIATE, which honours
	// the busy timeout) instead of failing with SQLITE_BUSY.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	return nil
}

// Migrate brings db to the latest schema and returns the versions it
// moved between. It is safe to run concurrently from two processes: each
// step re-reads the version inside its (immediate) transaction.
func Migrate(ctx context.Context, db *sql.DB) (from, to int, err error) {
	return migrateTo(ctx, db, Latest())
}

// migrateTo applies the steps up to and including version target (tests
// use it to build a database of an intermediate version).
func migrateTo(ctx context.Context, db *sql.DB, target int) (from, to int, err error) {
	if err := ensureTable(ctx, db); err != nil {
		return 0, 0, err
	}
	from, err = current(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	if from > Latest() {
		return from, from, fmt.Errorf("%w: database at version %d, this binary knows up to %d", ErrTooNew, from, Latest())
	}
	to = from
	for _, m := range migrations {
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
