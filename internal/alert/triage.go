package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/audit"
)

// Triage is what analysts did with an alert besides opening and closing
// it: who it is assigned to, and who acknowledged it and when. It is kept
// in the metadata table console_alert_triage (named for where triage
// lived first), one row per triaged alert.
type Triage struct {
	Assignee string    `json:"assignee,omitempty"`
	AckedBy  string    `json:"acked_by,omitempty"`
	AckedAt  time.Time `json:"acked_at,omitzero"`
}

// Triaged is an alert with its triage. Its JSON is the alert's with the
// triage fields added when they are set.
type Triaged struct {
	Alert
	Triage
}

// MaxAssignee bounds the length of an assignee's name, in characters.
const MaxAssignee = 64

// ErrInvalid is returned for a triage change that cannot be made as asked
// (an assignee too long, no alert named).
var ErrInvalid = errors.New("invalid triage")

// TriageOptions configure a Triager.
type TriageOptions struct {
	// Audit appends entries to the audit log inside the change's
	// transaction (audit.Log.RecordTx), so that no triage change is stored
	// without its record. Nil records nothing (tests).
	Audit func(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Triager assigns and acknowledges alerts and reads their triage. The
// console and the API both triage through it, so a change made in one is
// what the other shows, and every change is audited the same way: one
// entry per alert (alert.assign or alert.ack, the alert's triage before and
// after), in the transaction of the change.
type Triager struct {
	db *sql.DB
	s  *Store
	o  TriageOptions
}

// NewTriager returns the triage service of the alerts in s.
func NewTriager(s *Store, o TriageOptions) *Triager {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Triager{db: s.db, s: s, o: o}
}

// Assign assigns the alerts to assignee; an empty assignee unassigns them.
// An unknown alert id fails the whole change with ErrNotFound.
func (t *Triager) Assign(ctx context.Context, ids []string, assignee, actor string) error {
	assignee = strings.TrimSpace(assignee)
	if utf8.RuneCountInString(assignee) > MaxAssignee {
		return fmt.Errorf("%w: assignee: at most %d characters", ErrInvalid, MaxAssignee)
	}
	return t.change(ctx, ids, "alert.assign", actor, func(tr *Triage) { tr.Assignee = assignee })
}

// Ack records that actor acknowledged the alerts now. Acknowledging again
// records the later acknowledgement. An unknown alert id fails the whole
// change with ErrNotFound.
func (t *Triager) Ack(ctx context.Context, ids []string, actor string) error {
	now := t.o.Now().UTC()
	return t.change(ctx, ids, "alert.ack", actor, func(tr *Triage) { tr.AckedBy, tr.AckedAt = actor, now })
}

// triageSQL reads an alert's triage, and whether the alert exists, by
// primary keys.
const triageSQL = `SELECT coalesce(t.assignee, ''), coalesce(t.acked_by, ''), coalesce(t.acked_at, 0)
	FROM alerts a LEFT JOIN console_alert_triage t ON t.alert_id = a.id WHERE a.id = ?`

// change applies set to the triage of every alert in ids, in one
// transaction with the audit entries of the alerts it changed.
func (t *Triager) change(ctx context.Context, ids []string, action, actor string, set func(*Triage)) error {
	if len(ids) == 0 {
		return fmt.Errorf("%w: no alert named", ErrInvalid)
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("triaging alerts: %w", err)
	}
	defer tx.Rollback()
	var entries []audit.Entry
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		var before Triage
		var at int64
		err := tx.QueryRowContext(ctx, triageSQL, id).Scan(&before.Assignee, &before.AckedBy, &at)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("alert %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("reading triage of alert %s: %w", id, err)
		}
		if at != 0 {
			before.AckedAt = time.Unix(0, at).UTC()
		}
		after := before
		set(&after)
		if after.Assignee == before.Assignee && after.AckedBy == before.AckedBy && after.AckedAt.Equal(before.AckedAt) {
			continue // nothing changes, nothing to record
		}
		var ackedAt int64
		if !after.AckedAt.IsZero() {
			ackedAt = after.AckedAt.UnixNano()
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO console_alert_triage (alert_id, assignee, acked_by, acked_at) VALUES (?, ?, ?, ?)
			ON CONFLICT(alert_id) DO UPDATE SET assignee = excluded.assignee, acked_by = excluded.acked_by, acked_at = excluded.acked_at`,
			id, after.Assignee, after.AckedBy, ackedAt); err != nil {
			return fmt.Errorf("triaging alert %s: %w", id, err)
		}
		entries = append(entries, audit.Entry{Actor: actor, Action: action, Target: id, Before: triageJSON(before), After: triageJSON(after)})
	}
	if t.o.Audit != nil && len(entries) > 0 {
		if err := t.o.Audit(ctx, tx, entries...); err != nil {
			return fmt.Errorf("triaging alerts: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("triaging alerts: %w", err)
	}
	return nil
}

func triageJSON(tr Triage) json.RawMessage {
	b, _ := json.Marshal(tr) // strings and a time: cannot fail
	return b
}

// triageOfSQL reads the triage of many alerts by primary key; the caller
// closes the IN list.
const triageOfSQL = `SELECT alert_id, assignee, acked_by, acked_at FROM console_alert_triage WHERE alert_id IN (`

// Of returns the triage of the alerts in ids that have any; an alert
// missing from the map was never triaged.
func (t *Triager) Of(ctx context.Context, ids []string) (map[string]Triage, error) {
	out := map[string]Triage{}
	// In chunks, to stay under SQLite's limit on bound parameters.
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if err := t.read(ctx, out, triageOfSQL+"?"+strings.Repeat(",?", len(chunk)-1)+")", args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *Triager) read(ctx context.Context, out map[string]Triage, q string, args ...any) error {
	rows, err := t.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading alert triage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var tr Triage
		var at int64
		if err := rows.Scan(&id, &tr.Assignee, &tr.AckedBy, &at); err != nil {
			return fmt.Errorf("reading alert triage: %w", err)
		}
		if at != 0 {
			tr.AckedAt = time.Unix(0, at).UTC()
		}
		out[id] = tr
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading alert triage: %w", err)
	}
	return nil
}

// List returns the alerts f selects (as Store.List does) with their
// triage.
func (t *Triager) List(ctx context.Context, f Filter) ([]Triaged, error) {
	as, err := t.s.List(ctx, f)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(as))
	for i := range as {
		ids[i] = as[i].ID
	}
	tri, err := t.Of(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Triaged, len(as))
	for i, a := range as {
		out[i] = Triaged{Alert: a, Triage: tri[a.ID]}
	}
	return out, nil
}

// Get returns one alert with its triage.
func (t *Triager) Get(ctx context.Context, id string) (Triaged, error) {
	a, err := t.s.Get(ctx, id)
	if err != nil {
		return Triaged{}, err
	}
	tri, err := t.Of(ctx, []string{id})
	if err != nil {
		return Triaged{}, err
	}
	return Triaged{Alert: a, Triage: tri[id]}, nil
}
