package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// row is an entry as stored: the values the hash covers.
type row struct {
	seq                   int64
	id                    string
	time                  int64 // Unix nanoseconds
	actor, action, target string
	before, after         []byte
}

// hash returns SHA-256 over prev and the row in a canonical encoding:
//
//	prev (32 bytes) | seq (8, big endian) | len(id) (8) id | time (8) |
//	len(actor) actor | len(action) action | len(target) target |
//	len(before) before | len(after) after
//
// Every variable-length field carries its length, so no two different rows
// encode alike (actor "ab" and action "c" differ from actor "a" and action
// "bc"). buf is scratch space, returned for reuse.
func (r *row) hash(prev [32]byte, buf []byte) ([32]byte, []byte) {
	b := append(buf[:0], prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.seq))
	b = appendField(b, r.id)
	b = binary.BigEndian.AppendUint64(b, uint64(r.time))
	b = appendField(b, r.actor)
	b = appendField(b, r.action)
	b = appendField(b, r.target)
	b = appendField(b, r.before)
	b = appendField(b, r.after)
	return sha256.Sum256(b), b
}

func appendField[T string | []byte](b []byte, s T) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// decodeHash decodes a stored hex hash into h.
func decodeHash(s string, h *[32]byte) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.Decode(h[:], []byte(s))
	return err == nil
}

// The triggers that make audit_log append-only. INSERT OR REPLACE deletes
// the row it replaces without firing the delete trigger (unless the
// connection sets recursive_triggers); a trigger on every insert to refuse
// it cost a quarter of an append, and Verify reports the replaced entry
// anyway, as a hash mismatch.
const (
	triggerNoUpdate = `CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
	BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be changed'); END`
	triggerNoDelete = `CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
	BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted'); END`
)

// adoptPage is how many unchained rows Migrate holds in memory at once.
const adoptPage = 1000

// Migrate brings audit_log to the chained, append-only shape within tx: it
// creates the table when missing, adds the seq, prev and hash columns when
// missing, numbers and chains the rows that have no seq (those written
// before the chain existed) in (time, id) order after the current tail,
// and installs the unique index on seq and the triggers that refuse UPDATE
// and DELETE. It is idempotent: the metadata store runs it as one of its
// numbered migrations, and Open runs it every time.
func Migrate(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS audit_log (
		id TEXT PRIMARY KEY,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		before TEXT NOT NULL DEFAULT '',
		after TEXT NOT NULL DEFAULT '',
		seq INTEGER,
		prev TEXT,
		hash TEXT
	);
	CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(time);
	CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log(target, time);`); err != nil {
		return fmt.Errorf("migrating audit log: creating table: %w", err)
	}
	cols, err := columns(ctx, tx)
	if err != nil {
		return err
	}
	// The columns stay nullable: SQLite adds a NOT NULL column only with a
	// default, and rows of an older version have no value until chained.
	for _, c := range []string{"seq INTEGER", "prev TEXT", "hash TEXT"} {
		name, _, _ := strings.Cut(c, " ")
		if cols[name] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_log ADD COLUMN `+c); err != nil {
			return fmt.Errorf("migrating audit log: adding column %s: %w", name, err)
		}
	}
	// SQLite's unique index admits any number of NULLs: the unchained rows.
	if _, err := tx.ExecContext(ctx, `CREATE UNIQUE INDEX IF NOT EXISTS audit_log_seq ON audit_log(seq)`); err != nil {
		return fmt.Errorf("migrating audit log: creating seq index: %w", err)
	}
	var unchained int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM audit_log WHERE seq IS NULL LIMIT 1) AS u`).Scan(&unchained); err != nil {
		return fmt.Errorf("migrating audit log: %w", err)
	}
	if unchained > 0 {
		// Chaining writes seq, prev and hash on existing rows, which is
		// what the update trigger forbids; it is dropped and created
		// again within this transaction.
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER IF EXISTS audit_log_no_update`); err != nil {
			return fmt.Errorf("migrating audit log: %w", err)
		}
		if err := adopt(ctx, tx); err != nil {
			return err
		}
	}
	for _, q := range []string{triggerNoUpdate, triggerNoDelete} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrating audit log: creating trigger: %w", err)
		}
	}
	return nil
}

// columns returns the names of audit_log's columns (none when the table
// does not exist). The PostgreSQL schema defines pragma_table_info as
// SQLite has it, over information_schema.
func columns(ctx context.Context, q querier) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info('audit_log')`)
	if err != nil {
		return nil, fmt.Errorf("reading audit log columns: %w", err)
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("reading audit log columns: %w", err)
		}
		cols[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading audit log columns: %w", err)
	}
	return cols, nil
}

// adopt chains the rows without seq after the current tail, in (time, id)
// order, a page at a time: the page is read and closed before its rows are
// updated, and the next page starts after the last (time, id) seen, which
// the time index finds without sorting every remaining row again.
func adopt(ctx context.Context, tx *sql.Tx) error {
	seq, prev, err := tail(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrating audit log: %w", err)
	}
	upd, err := tx.PrepareContext(ctx, `UPDATE audit_log SET seq = ?, prev = ?, hash = ? WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("migrating audit log: %w", err)
	}
	defer upd.Close()
	const cols = `SELECT id, time, actor, action, target, before, after FROM audit_log WHERE seq IS NULL`
	var (
		page  []row
		buf   []byte
		after *row
	)
	for {
		var rows *sql.Rows
		if after == nil {
			rows, err = tx.QueryContext(ctx, cols+` ORDER BY time, id LIMIT ?`, adoptPage)
		} else {
			rows, err = tx.QueryContext(ctx, cols+` AND (time, id) > (?, ?) ORDER BY time, id LIMIT ?`, after.time, after.id, adoptPage)
		}
		if err != nil {
			return fmt.Errorf("migrating audit log: reading unchained entries: %w", err)
		}
		page = page[:0]
		for rows.Next() {
			var r row
			var before, aft string
			if err := rows.Scan(&r.id, &r.time, &r.actor, &r.action, &r.target, &before, &aft); err != nil {
				rows.Close()
				return fmt.Errorf("migrating audit log: reading unchained entries: %w", err)
			}
			r.before, r.after = []byte(before), []byte(aft)
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("migrating audit log: reading unchained entries: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for i := range page {
			r := &page[i]
			seq++
			r.seq = seq
			var h [32]byte
			h, buf = r.hash(prev, buf)
			if _, err := upd.ExecContext(ctx, r.seq, hex.EncodeToString(prev[:]), hex.EncodeToString(h[:]), r.id); err != nil {
				return fmt.Errorf("migrating audit log: chaining entry %s as seq %d: %w", r.id, r.seq, err)
			}
			prev = h
		}
		last := page[len(page)-1]
		after = &last
	}
}
