// Package alert turns detections into alerts an analyst can work: it
// extracts the entities of the matched event (host, user, IPs, process, file
// hash), drops what a suppression covers, folds repeats of the same rule and
// entities within a window into one alert with a rising count, and keeps
// alerts in the meta database.
package alert

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/sigma"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/entity"
	"github.com/vigilsec/vigil/internal/event"
)

// Alert is one stored alert: one rule firing, possibly many times, on the
// same entities.
type Alert struct {
	ID        string          `json:"id"`
	RuleID    string          `json:"rule_id"`
	RuleTitle string          `json:"rule_title"`
	Level     string          `json:"level"`
	Tags      []string        `json:"tags"`
	Count     int64           `json:"count"`
	FirstSeen time.Time       `json:"first_seen"`
	LastSeen  time.Time       `json:"last_seen"`
	Entities  entity.Entities `json:"entities"`
	// Event is the first matched event in its flat JSON form.
	Event json.RawMessage `json:"event"`
	// Group holds a correlation's group-by values.
	Group      map[string]string `json:"group,omitempty"`
	IncidentID string            `json:"incident_id"`
	// Status is open or closed (an alert is closed with its incident, or
	// by hand).
	Status string `json:"status"`
	// DedupKey identifies "the same rule on the same entities".
	DedupKey string `json:"-"`
	// Campaign marks an alert that stands for one rule firing on many
	// subjects (addresses, users, hosts) within a window: a storm. Its
	// Entities hold the first values; EntityCount says how many subjects
	// there are, and every one is listed by Store.Members.
	Campaign    bool  `json:"campaign,omitempty"`
	EntityCount int64 `json:"entity_count,omitempty"`
}

// levelRank is the value of the alerts table's level_rank column, which
// the minimum-level filter compares: informational 0 ... critical 4, and
// -1 for a level that is not one.
func levelRank(l sigma.Level) int { return int(l) - 1 }

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

// EntityFields lists every field Entities reads.
func EntityFields() []string {
	var out []string
	for _, e := range entityFields {
		out = append(out, e.fields...)
	}
	return out
}

// KindFields lists the event fields an entity kind is read from, in the
// order Entities reads them (nil for an unknown kind).
func KindFields(kind string) []string {
	for _, e := range entityFields {
		if e.kind == kind {
			return append([]string(nil), e.fields...)
		}
	}
	return nil
}

// Entities returns the entities named by ev, by kind. Values are
// de-duplicated and bounded (entity.MaxValues); empty values and "-"
// placeholders are skipped.
func Entities(ev *event.Event) entity.Entities {
	out := entity.Entities{}
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
				out.Add(e.kind, v)
			}
		}
	}
	return out
}

// DedupKey returns the key under which repeats of a rule fold into one
// alert: the rule and, for a correlation, its group-by values; for a
// detection, the host and the acting party — the source address if there is
// one, else the user. So thirty failed logins from one address against
// thirty accounts on one host are one alert whose user entity lists them.
func DedupKey(ruleID string, group map[string]string, ents entity.Entities) string {
	h := sha256.New()
	h.Write([]byte(ruleID))
	h.Write([]byte{0})
	if len(group) > 0 {
		keys := make([]string, 0, len(group))
		for k := range group {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "g:%s=%s\x00", k, group[k])
		}
	} else {
		fmt.Fprintf(h, "h:%s\x00", ents.First("host"))
		if ip := ents.First("source.ip"); ip != "" {
			fmt.Fprintf(h, "s:%s\x00", ip)
		} else {
			fmt.Fprintf(h, "u:%s\x00", ents.First("user"))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ErrNotFound is returned for an unknown alert or suppression id.
var ErrNotFound = errors.New("not found")

// Store keeps alerts and suppressions in a SQL database (the store's meta
// database). All SQL takes bound parameters.
type Store struct {
	db *sql.DB
}

// Open returns the alert store of db, a metadata database migrated by
// package meta.
func Open(ctx context.Context, db *sql.DB) (*Store, error) {
	return &Store{db: db}, nil
}

// DB returns the database the store lives in.
func (s *Store) DB() *sql.DB { return s.db }

const alertColumns = `id, rule_id, rule_title, level, tags, count, first_seen, last_seen, entities, grp, event, incident_id, status, dedup_key, campaign, entity_count`

func marshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// insert writes a new alert.
func insert(ctx context.Context, tx *sql.Tx, a *Alert) error {
	grp := "{}"
	if len(a.Group) > 0 {
		grp = marshal(a.Group)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO alerts (`+alertColumns+`, level_rank) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.RuleID, a.RuleTitle, a.Level, marshal(nonNil(a.Tags)), a.Count, a.FirstSeen.UnixNano(), a.LastSeen.UnixNano(),
		marshal(a.Entities), grp, string(a.Event), a.IncidentID, a.Status, a.DedupKey, a.Campaign, a.EntityCount, levelRank(sigma.LevelOf(a.Level)))
	if err != nil {
		return fmt.Errorf("storing alert for rule %s: %w", a.RuleID, err)
	}
	return nil
}

// updateAlertSQL writes the changing columns of an alert (hot path: by
// primary key).
const updateAlertSQL = `UPDATE alerts SET count = ?, first_seen = ?, last_seen = ?, entities = ?, entity_count = ? WHERE id = ?`

// update writes the changing columns of an existing alert.
func update(ctx context.Context, tx *sql.Tx, a *Alert) error {
	_, err := tx.ExecContext(ctx, updateAlertSQL, a.Count, a.FirstSeen.UnixNano(), a.LastSeen.UnixNano(), marshal(a.Entities), a.EntityCount, a.ID)
	if err != nil {
		return fmt.Errorf("updating alert %s: %w", a.ID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type scanner interface{ Scan(...any) error }

func scanAlert(r scanner) (Alert, error) {
	var (
		a                    Alert
		tags, ents, grp, evj string
		first, last          int64
	)
	if err := r.Scan(&a.ID, &a.RuleID, &a.RuleTitle, &a.Level, &tags, &a.Count, &first, &last, &ents, &grp, &evj, &a.IncidentID, &a.Status, &a.DedupKey, &a.Campaign, &a.EntityCount); err != nil {
		return a, err
	}
	_ = json.Unmarshal([]byte(tags), &a.Tags)
	_ = json.Unmarshal([]byte(ents), &a.Entities)
	_ = json.Unmarshal([]byte(grp), &a.Group)
	if len(a.Group) == 0 {
		a.Group = nil
	}
	a.Event = json.RawMessage(evj)
	a.FirstSeen, a.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
	return a, nil
}

// Filter selects alerts.
type Filter struct {
	// MinLevel keeps alerts at or above this Sigma level.
	MinLevel string
	// RuleID keeps one rule's alerts.
	RuleID string
	// IncidentID keeps one incident's alerts.
	IncidentID string
	// Status keeps open or closed alerts.
	Status string
	// Since keeps alerts last seen at or after this time.
	Since time.Time
	// Assignee keeps the alerts assigned to this name (their triage, see
	// Triager); NoAssignee keeps those assigned to no one.
	Assignee string
	// Limit bounds the result (default 100, at most MaxList).
	Limit int
	// Offset skips that many alerts first (at most MaxOffset), for paging
	// through a list longer than a page.
	Offset int
}

// MaxList bounds Filter.Limit.
const MaxList = 10000

// MaxOffset bounds Filter.Offset: paging this deep is better done by
// narrowing the filter (a level, a rule, a time).
const MaxOffset = 1_000_000

// NoAssignee is the Filter.Assignee that selects unassigned alerts.
const NoAssignee = "-"

// ErrOffset is returned for a Filter.Offset past MaxOffset.
var ErrOffset = errors.New("offset out of range")

// List returns alerts, most recently seen first.
func (s *Store) List(ctx context.Context, f Filter) ([]Alert, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, MaxList)
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + alertColumns + ` FROM alerts WHERE ` + where + ` ORDER BY last_seen DESC, id LIMIT ? OFFSET ?`
	args = append(args, f.Limit, f.Offset)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("listing alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Total returns how many alerts f selects, whatever its Limit and Offset:
// the "of N" of a page of List.
func (s *Store) Total(ctx context.Context, f Filter) (int64, error) {
	where, args, err := f.where()
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting alerts: %w", err)
	}
	return n, nil
}

// where returns the SQL condition of f over the alerts table and its
// arguments (bound, never pasted).
func (f Filter) where() (string, []any, error) {
	if f.Offset < 0 || f.Offset > MaxOffset {
		return "", nil, fmt.Errorf("%w: %d (want 0 to %d)", ErrOffset, f.Offset, MaxOffset)
	}
	q := `1=1`
	var args []any
	if f.MinLevel != "" {
		l, err := sigma.ParseLevel(f.MinLevel)
		if err != nil {
			return "", nil, err
		}
		q += ` AND level_rank >= ?`
		args = append(args, levelRank(l))
	}
	if f.RuleID != "" {
		q += ` AND rule_id = ?`
		args = append(args, f.RuleID)
	}
	if f.IncidentID != "" {
		q += ` AND incident_id = ?`
		args = append(args, f.IncidentID)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if !f.Since.IsZero() {
		q += ` AND last_seen >= ?`
		args = append(args, f.Since.UnixNano())
	}
	switch f.Assignee {
	case "":
	case NoAssignee:
		q += ` AND NOT EXISTS (SELECT 1 FROM console_alert_triage t WHERE t.alert_id = alerts.id AND t.assignee != '')`
	default:
		q += ` AND EXISTS (SELECT 1 FROM console_alert_triage t WHERE t.alert_id = alerts.id AND t.assignee = ?)`
		args = append(args, f.Assignee)
	}
	return q, args, nil
}

// Get returns one alert.
func (s *Store) Get(ctx context.Context, id string) (Alert, error) {
	a, err := scanAlert(s.db.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("alert %q: %w", id, ErrNotFound)
	}
	return a, err
}

// Count returns the number of stored alerts.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM alerts`).Scan(&n)
	return n, err
}
