// Package audit keeps the record of every change made through Vigil: who,
// when, what, and the object before and after. Entries are only ever
// added: each has a gapless sequence number and the SHA-256 of its content
// chained to the previous entry's, triggers refuse UPDATE and DELETE, and
// Verify walks the chain (see docs/incidents.md, "Audit").
package audit

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/ids"
)

// Entry is one recorded change.
type Entry struct {
	ID     string          `json:"id"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"` // e.g. incident.update, token.create
	Target string          `json:"target"` // the object's id
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// Seq and Hash are the entry's place in the chain and its hash (hex),
	// assigned when it is appended: RecordTx ignores them.
	Seq  int64  `json:"seq,omitempty"`
	Hash string `json:"hash,omitempty"`
}

// Log is the audit log in the meta database.
type Log struct {
	db  *sql.DB
	now func() time.Time
}

// Open returns the audit log of db. Its schema is migration 3 of package
// meta (Migrate in SQLite); when the log is not chained throughout (rows
// that an older Vigil appended to an upgraded data directory without a
// sequence number, or an SQLite database without the table), Open runs
// Migrate again, which chains them. A log that is (every PostgreSQL one:
// its seq is NOT NULL) is left as it is.
func Open(ctx context.Context, db *sql.DB) (*Log, error) {
	need, err := needsMigrate(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	if !need {
		return &Log{db: db, now: time.Now}, nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	if err := Migrate(ctx, tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	return &Log{db: db, now: time.Now}, nil
}

// needsMigrate reports whether the log lacks a chain column or has rows
// outside the chain.
func needsMigrate(ctx context.Context, q querier) (bool, error) {
	cols, err := columns(ctx, q)
	if err != nil {
		return false, err
	}
	if !cols["seq"] || !cols["prev"] || !cols["hash"] {
		return true, nil
	}
	var unchained bool
	if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM audit_log WHERE seq IS NULL)`).Scan(&unchained); err != nil {
		return false, fmt.Errorf("reading audit log: %w", err)
	}
	return unchained, nil
}

func raw(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	if b, ok := v.(json.RawMessage); ok {
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// Record adds an entry in a transaction of its own. before and after are
// marshalled to JSON (nil: none); secrets must be removed by the caller.
func (l *Log) Record(ctx context.Context, actor, action, target string, before, after any) error {
	e := Entry{Actor: actor, Action: action, Target: target, Before: raw(before), After: raw(after)}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	if err := l.RecordTx(ctx, tx, e); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	return nil
}

// RecordTx appends entries at the end of the chain within the caller's
// transaction, so that a change and its audit entry commit or roll back
// together. An entry without an ID or Time gets a new id and the current
// time. The transaction must hold SQLite's write lock before it reads the
// tail (the meta database begins write transactions IMMEDIATE): that is
// what serialises appends into one chain. Were two appends to read the same
// tail anyway, the unique index on seq refuses the second one rather than
// letting the chain fork.
func (l *Log) RecordTx(ctx context.Context, tx *sql.Tx, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	// The tail is read every time instead of cached: a cache would have to
	// follow every rollback of every caller's transaction, and this is one
	// lookup in the seq index.
	seq, prev, err := tail(ctx, tx)
	if err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_log (id, time, actor, action, target, before, after, seq, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	defer ins.Close()
	var buf []byte
	for _, e := range entries {
		r := row{id: e.ID, actor: e.Actor, action: e.Action, target: e.Target, before: e.Before, after: e.After}
		if r.id == "" {
			r.id = ids.New()
		}
		t := e.Time
		if t.IsZero() {
			t = l.now()
		}
		r.time = t.UnixNano()
		seq++
		r.seq = seq
		var h [32]byte
		h, buf = r.hash(prev, buf)
		if _, err := ins.ExecContext(ctx, r.id, r.time, r.actor, r.action, r.target, string(r.before), string(r.after),
			r.seq, hex.EncodeToString(prev[:]), hex.EncodeToString(h[:])); err != nil {
			return fmt.Errorf("writing audit log entry seq %d (%s %s): %w", seq, e.Action, e.Target, err)
		}
		prev = h
	}
	return nil
}

// tail returns the last entry's seq and hash: 0 and the genesis hash (32
// zero bytes) when the chain is empty.
func tail(ctx context.Context, q querier) (int64, [32]byte, error) {
	var seq int64
	var h string
	var prev [32]byte
	err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).Scan(&seq, &h)
	switch {
	case err == sql.ErrNoRows:
		return 0, prev, nil
	case err != nil:
		return 0, prev, fmt.Errorf("reading audit log tail: %w", err)
	}
	if !decodeHash(h, &prev) {
		// Chaining onto a malformed hash would hide the damage; refusing
		// to append makes it loud.
		return 0, prev, fmt.Errorf("audit log tail seq %d has a malformed hash %q: run vigil audit verify", seq, h)
	}
	return seq, prev, nil
}

// querier is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Filter selects entries.
type Filter struct {
	Actor, Action, Target string
	Since                 time.Time
	Limit                 int
}

// List returns entries, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 10000)
	q := `SELECT id, time, actor, action, target, before, after, seq, hash FROM audit_log WHERE time >= ?`
	args := []any{f.Since.UnixNano()}
	if f.Since.IsZero() {
		args[0] = int64(0)
	}
	for _, c := range []struct{ col, v string }{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if c.v != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	q += ` ORDER BY time DESC, id LIMIT ?`
	args = append(args, f.Limit)
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var t int64
		var before, after string
		var seq sql.NullInt64
		var h sql.NullString
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &before, &after, &seq, &h); err != nil {
			return nil, fmt.Errorf("reading audit log: %w", err)
		}
		e.Time = time.Unix(0, t).UTC()
		if before != "" {
			e.Before = json.RawMessage(before)
		}
		if after != "" {
			e.After = json.RawMessage(after)
		}
		e.Seq, e.Hash = seq.Int64, h.String
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	return out, nil
}
