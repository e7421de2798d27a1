// Package alert turns detections into stored alerts: it extracts the
// entities of the matched event (host, user, IPs, process, file hash),
// keeps alerts in the meta database, and lists them for the API.
package alert

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// Alert is one stored detection.
type Alert struct {
	ID        string              `json:"id"`
	RuleID    string              `json:"rule_id"`
	RuleTitle string              `json:"rule_title"`
	Level     string              `json:"level"`
	Tags      []string            `json:"tags"`
	Count     int64               `json:"count"`
	FirstSeen time.Time           `json:"first_seen"`
	LastSeen  time.Time           `json:"last_seen"`
	Entities  map[string][]string `json:"entities"`
	// Event is the matched event in its flat JSON form.
	Event json.RawMessage `json:"event"`
	// Group holds a correlation's group-by values.
	Group      map[string]string `json:"group,omitempty"`
	IncidentID string            `json:"incident_id"`
}

// Levels in increasing severity, as Sigma names them.
var levels = []string{"informational", "low", "medium", "high", "critical"}

// LevelRank returns the rank of a Sigma level (informational 0 ... critical
// 4), or -1 for an unknown level.
func LevelRank(level string) int {
	for i, l := range levels {
		if l == level {
			return i
		}
	}
	return -1
}

// entityFields lists, per entity kind, the event fields it is read from:
// ECS names first, then the Windows and Sigma names of the same thing.
var entityFields = []struct {
	kind   string
	fields []string
}{
	{"host", []string{"host.name", "Computer"}},
	{"user", []string{"user.name", "user.target.name", "User", "SubjectUserName", "TargetUserName"}},
	{"source.ip", []string{"source.ip", "IpAddress", "SourceIp", "src_ip"}},
	{"destination.ip", []string{"destination.ip", "DestinationIp", "dst_ip"}},
	{"process", []string{"process.executable", "process.name", "Image", "NewProcessName"}},
	{"file.hash", []string{"file.hash.sha256", "file.hash.sha1", "file.hash.md5", "Hashes"}},
	{"file", []string{"file.path", "TargetFilename"}},
}

// Entities returns the entities named by ev, by kind. Values are
// de-duplicated; placeholders such as "-" are skipped.
func Entities(ev *event.Event) map[string][]string {
	out := map[string][]string{}
	for _, e := range entityFields {
		for _, f := range e.fields {
			k, ok := event.Lookup(f)
			if !ok {
				continue
			}
			for _, fld := range ev.Fields {
				if fld.Key != k {
					continue
				}
				v := strings.TrimSpace(fld.Value.Str)
				if v == "" || v == "-" {
					continue
				}
				if !contains(out[e.kind], v) && len(out[e.kind]) < 16 {
					out[e.kind] = append(out[e.kind], v)
				}
			}
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// NewID returns a random alert id.
func NewID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Store keeps alerts in a SQL database (the store's meta database).
type Store struct {
	db *sql.DB
}

// Open creates the alert table if needed.
func Open(ctx context.Context, db *sql.DB) (*Store, error) {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS alerts (
		id TEXT PRIMARY KEY,
		rule_id TEXT NOT NULL,
		rule_title TEXT NOT NULL,
		level TEXT NOT NULL,
		level_rank INTEGER NOT NULL,
		tags TEXT NOT NULL,
		count INTEGER NOT NULL,
		first_seen INTEGER NOT NULL,
		last_seen INTEGER NOT NULL,
		entities TEXT NOT NULL,
		grp TEXT NOT NULL DEFAULT '{}',
		event TEXT NOT NULL,
		incident_id TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX IF NOT EXISTS alerts_last_seen ON alerts(last_seen);
	CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule_id, last_seen);`)
	if err != nil {
		return nil, fmt.Errorf("creating alert table: %w", err)
	}
	return &Store{db: db}, nil
}

// Insert stores alerts in one transaction.
func (s *Store) Insert(ctx context.Context, as []Alert) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storing alerts: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO alerts (id, rule_id, rule_title, level, level_rank, tags, count, first_seen, last_seen, entities, grp, event, incident_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("storing alerts: %w", err)
	}
	defer stmt.Close()
	for _, a := range as {
		tags, _ := json.Marshal(nonNil(a.Tags))
		ents, _ := json.Marshal(a.Entities)
		grp, _ := json.Marshal(a.Group)
		if a.Group == nil {
			grp = []byte("{}")
		}
		if _, err := stmt.ExecContext(ctx, a.ID, a.RuleID, a.RuleTitle, a.Level, LevelRank(a.Level), string(tags), a.Count,
			a.FirstSeen.UnixNano(), a.LastSeen.UnixNano(), string(ents), string(grp), string(a.Event), a.IncidentID); err != nil {
			return fmt.Errorf("storing alert for rule %s: %w", a.RuleID, err)
		}
	}
	return tx.Commit()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Filter selects alerts.
type Filter struct {
	// MinLevel keeps alerts at or above this Sigma level.
	MinLevel string
	// RuleID keeps one rule's alerts.
	RuleID string
	// Since keeps alerts last seen at or after this time.
	Since time.Time
	// Limit bounds the result (default 100, at most 10,000).
	Limit int
}

// List returns alerts, most recently seen first.
func (s *Store) List(ctx context.Context, f Filter) ([]Alert, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 10000)
	q := `SELECT id, rule_id, rule_title, level, tags, count, first_seen, last_seen, entities, grp, event, incident_id FROM alerts WHERE 1=1`
	var args []any
	if f.MinLevel != "" {
		r := LevelRank(f.MinLevel)
		if r < 0 {
			return nil, fmt.Errorf("unknown level %q (want one of %s)", f.MinLevel, strings.Join(levels, ", "))
		}
		q += ` AND level_rank >= ?`
		args = append(args, r)
	}
	if f.RuleID != "" {
		q += ` AND rule_id = ?`
		args = append(args, f.RuleID)
	}
	if !f.Since.IsZero() {
		q += ` AND last_seen >= ?`
		args = append(args, f.Since.UnixNano())
	}
	q += ` ORDER BY last_seen DESC, id LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		var (
			a                    Alert
			tags, ents, grp, evj string
			first, last          int64
		)
		if err := rows.Scan(&a.ID, &a.RuleID, &a.RuleTitle, &a.Level, &tags, &a.Count, &first, &last, &ents, &grp, &evj, &a.IncidentID); err != nil {
			return nil, fmt.Errorf("listing alerts: %w", err)
		}
		_ = json.Unmarshal([]byte(tags), &a.Tags)
		_ = json.Unmarshal([]byte(ents), &a.Entities)
		_ = json.Unmarshal([]byte(grp), &a.Group)
		if len(a.Group) == 0 {
			a.Group = nil
		}
		a.Event = json.RawMessage(evj)
		a.FirstSeen, a.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// Count returns the number of stored alerts.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM alerts`).Scan(&n)
	return n, err
}
