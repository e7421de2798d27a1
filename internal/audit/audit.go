// Package audit keeps the record of every change made through Vigil: who,
// when, what, and the object before and after. Entries are only ever
// added.
package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
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
}

// Log is the audit log in the meta database.
type Log struct {
	db  *sql.DB
	now func() time.Time
}

// Open creates the table if needed.
func Open(ctx context.Context, db *sql.DB) (*Log, error) {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS audit_log (
		id TEXT PRIMARY KEY,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		before TEXT NOT NULL DEFAULT '',
		after TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(time);
	CREATE INDEX IF NOT EXISTS audit_log_target ON audit_log(target, time);`)
	if err != nil {
		return nil, fmt.Errorf("creating audit table: %w", err)
	}
	return &Log{db: db, now: time.Now}, nil
}

func raw(v any) string {
	if v == nil {
		return ""
	}
	if b, ok := v.(json.RawMessage); ok {
		return string(b)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// Record adds an entry. before and after are marshalled to JSON (nil:
// none); secrets must be removed by the caller.
func (l *Log) Record(ctx context.Context, actor, action, target string, before, after any) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO audit_log (id, time, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		alert.NewID(), l.now().UnixNano(), actor, action, target, raw(before), raw(after))
	if err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	return nil
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
	q := `SELECT id, time, actor, action, target, before, after FROM audit_log WHERE time >= ?`
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
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &before, &after); err != nil {
			return nil, err
		}
		e.Time = time.Unix(0, t).UTC()
		if before != "" {
			e.Before = json.RawMessage(before)
		}
		if after != "" {
			e.After = json.RawMessage(after)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
