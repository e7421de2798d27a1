// Package incident groups alerts into incidents an analyst works from
// first alert to postmortem: automatic grouping by shared entity, statuses
// with the timestamps MTTA and MTTR are measured from, assignee, comments,
// tasks, observables, a timeline of everything that happened and was done,
// entity risk that opens an incident when many small alerts add up, and a
// report export.
package incident

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/entity"
	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/sigma"
)

// Status is where an incident stands.
type Status string

// Statuses, in the usual order of work.
const (
	StatusNew           Status = "new"
	StatusAcknowledged  Status = "acknowledged"
	StatusInvestigating Status = "investigating"
	StatusContained     Status = "contained"
	StatusResolved      Status = "resolved"
	StatusFalsePositive Status = "false_positive"
)

// ParseStatus validates a status name.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusNew, StatusAcknowledged, StatusInvestigating, StatusContained, StatusResolved, StatusFalsePositive:
		return st, nil
	}
	return "", fmt.Errorf("unknown status %q (want new, acknowledged, investigating, contained, resolved or false_positive)", s)
}

// Closed reports whether the status ends the incident.
func (s Status) Closed() bool { return s == StatusResolved || s == StatusFalsePositive }

// Incident is one case.
type Incident struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Status   Status `json:"status"`
	Severity string `json:"severity"` // a Sigma level
	Assignee string `json:"assignee"`
	// Source says how it was opened: alert, risk or manual.
	Source         string          `json:"source"`
	Created        time.Time       `json:"created"`
	Updated        time.Time       `json:"updated"`
	AcknowledgedAt time.Time       `json:"acknowledged_at,omitzero"`
	ContainedAt    time.Time       `json:"contained_at,omitzero"`
	ResolvedAt     time.Time       `json:"resolved_at,omitzero"`
	Entities       entity.Entities `json:"entities"`
	Tags           []string        `json:"tags"`
	AlertCount     int             `json:"alert_count"`
	// Postmortem fields, edited by analysts.
	Summary        string `json:"summary"`
	RootCause      string `json:"root_cause"`
	Impact         string `json:"impact"`
	LessonsLearned string `json:"lessons_learned"`

	// Filled by Get only.
	Alerts      []alert.Alert `json:"alerts"`
	Timeline    []Entry       `json:"timeline"`
	Actions     []Action      `json:"actions"`
	Comments    []Entry       `json:"comments,omitempty"`
	Tasks       []Task        `json:"tasks,omitempty"`
	Observables []Observable  `json:"observables,omitempty"`
}

// Entry is one line of an incident's timeline.
type Entry struct {
	ID    string          `json:"id"`
	Time  time.Time       `json:"time"`
	Kind  string          `json:"kind"` // alert, event, status, comment, action, task, assign, merge, note
	Actor string          `json:"actor"`
	Text  string          `json:"text"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Action is a response step taken on an incident: by a playbook or a
// person.
type Action struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Name     string    `json:"name"` // block_ip, unblock_ip, disable_user, notify, http_request, ...
	Target   string    `json:"target"`
	Status   string    `json:"status"` // ok, failed, pending_approval, rejected, skipped
	Result   string    `json:"result"`
	Actor    string    `json:"actor"`
	Playbook string    `json:"playbook,omitempty"`
}

// Task is a to-do on an incident.
type Task struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Done     bool      `json:"done"`
	Assignee string    `json:"assignee"`
	Created  time.Time `json:"created"`
	DoneAt   time.Time `json:"done_at,omitzero"`
}

// Observable is an entity value seen in the incident's alerts.
type Observable struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
	// IOC marks an observable an analyst (or a feed) flagged as an
	// indicator of compromise.
	IOC bool `json:"ioc"`
}

// ErrNotFound is returned for an unknown incident, task or alert.
var ErrNotFound = errors.New("not found")

// Options tune grouping.
type Options struct {
	// Window is how long after its last activity an open incident still
	// takes in new alerts that share an entity with it (default 24h).
	Window time.Duration
	// MinLevel is the lowest alert level that opens an incident on its
	// own (default medium). Lower alerts join an incident that shares an
	// entity, and add risk.
	MinLevel string
	// GroupBy are the entity kinds whose shared values group alerts
	// (default source.ip, user, host, destination.ip, file.hash).
	GroupBy []string
	// Risk configures entity risk scoring.
	Risk RiskOptions
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// WriteLock, if set, is held while AlertsChanged writes (see
	// alert.Options.WriteLock): it runs in the alert writer, which must
	// not sleep in SQLite's busy handler while the response runner
	// records a wave's blocks.
	WriteLock sync.Locker
}

// Manager keeps incidents in the meta database.
type Manager struct {
	db     *sql.DB
	alerts *alert.Store
	opts   Options
	log    *slog.Logger
	mu     sync.Mutex // serialises grouping decisions
	risk   *riskBook
	// OnOpened, if set, is called (outside the lock) for every incident
	// opened automatically; playbooks and notifications hang here.
	OnOpened func(ctx context.Context, inc *Incident, trigger *alert.Change)
	// Forget, if set, is called when alerts change status (closing an
	// incident closes its alerts), so the alert recorder drops its cache.
	Forget func()
}

// Open returns the incident manager of db, a metadata database migrated
// by package meta.
func Open(ctx context.Context, db *sql.DB, alerts *alert.Store, log *slog.Logger, o Options) (*Manager, error) {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MinLevel == "" {
		o.MinLevel = DefaultMinLevel
	}
	if _, err := sigma.ParseLevel(o.MinLevel); err != nil {
		return nil, fmt.Errorf("incident min level: %w", err)
	}
	if len(o.GroupBy) == 0 {
		o.GroupBy = []string{"source.ip", "user", "host", "destination.ip", "file.hash"}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{db: db, alerts: alerts, opts: o, log: log}
	m.risk = newRiskBook(o.Risk)
	return m, nil
}

func marshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func nano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

const incidentColumns = `id, title, status, severity, assignee, source, created, updated, acknowledged_at, contained_at, resolved_at, entities, tags, summary, root_cause, impact, lessons_learned`

type scanner interface{ Scan(...any) error }

func scanIncident(r scanner) (Incident, error) {
	var (
		inc                              Incident
		status, ents, tags               string
		created, updated, ack, cont, res int64
	)
	err := r.Scan(&inc.ID, &inc.Title, &status, &inc.Severity, &inc.Assignee, &inc.Source, &created, &updated, &ack, &cont, &res,
		&ents, &tags, &inc.Summary, &inc.RootCause, &inc.Impact, &inc.LessonsLearned)
	if err != nil {
		return inc, err
	}
	inc.Status = Status(status)
	inc.Created, inc.Updated = fromNano(created), fromNano(updated)
	inc.AcknowledgedAt, inc.ContainedAt, inc.ResolvedAt = fromNano(ack), fromNano(cont), fromNano(res)
	_ = json.Unmarshal([]byte(ents), &inc.Entities)
	_ = json.Unmarshal([]byte(tags), &inc.Tags)
	if inc.Tags == nil {
		inc.Tags = []string{}
	}
	if inc.Entities == nil {
		inc.Entities = map[string][]string{}
	}
	return inc, nil
}

// execer is a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (m *Manager) addEntry(ctx context.Context, x execer, incID string, t time.Time, kind, actor, text string, data any) error {
	d := ""
	if data != nil {
		d = marshal(data)
	}
	_, err := x.ExecContext(ctx, `INSERT INTO incident_timeline (id, incident_id, time, kind, actor, text, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		ids.New(), incID, t.UnixNano(), kind, actor, text, d)
	if err != nil {
		return fmt.Errorf("adding timeline entry: %w", err)
	}
	return nil
}

func (m *Manager) saveEntities(ctx context.Context, x execer, incID string, ents map[string][]string) error {
	for kind, vs := range ents {
		for _, v := range vs {
			if _, err := x.ExecContext(ctx, `INSERT INTO incident_entities (incident_id, kind, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, incID, kind, v); err != nil {
				return fmt.Errorf("recording entities: %w", err)
			}
		}
	}
	return nil
}

func mergeTags(a, b []string) []string {
	seen := map[string]bool{}
	for _, t := range a {
		seen[t] = true
	}
	for _, t := range b {
		if !seen[t] {
			seen[t] = true
			a = append(a, t)
		}
	}
	sort.Strings(a)
	return a
}

func higher(a, b string) string {
	if sigma.LevelOf(b) > sigma.LevelOf(a) {
		return b
	}
	return a
}

// AlertsChanged implements alert.Hook: new alerts join an open incident
// that shares one of their entities, or open one when they are severe
// enough; every alert adds risk to its entities.
func (m *Manager) AlertsChanged(ctx context.Context, changes []alert.Change) {
	var opened []struct {
		inc *Incident
		ch  alert.Change
	}
	m.mu.Lock()
	if m.opts.WriteLock != nil {
		m.opts.WriteLock.Lock()
	}
	for i := range changes {
		c := &changes[i]
		inc, isNew, err := m.place(ctx, c)
		if err != nil {
			m.log.Error("grouping alert into an incident", "alert", c.Alert.ID, "err", err)
			continue
		}
		if isNew {
			opened = append(opened, struct {
				inc *Incident
				ch  alert.Change
			}{inc, *c})
		}
		if c.Alert.Campaign {
			// A campaign is already the aggregate that risk scoring
			// builds up to; scoring its first subjects with the whole
			// wave's count would only open a risk incident per subject.
			continue
		}
		if inc2, err := m.addRisk(ctx, c); err != nil {
			m.log.Error("scoring entity risk", "alert", c.Alert.ID, "err", err)
		} else if inc2 != nil {
			opened = append(opened, struct {
				inc *Incident
				ch  alert.Change
			}{inc2, *c})
		}
	}
	if err := m.flushRisk(ctx); err != nil {
		m.log.Error("writing entity risk", "err", err)
	}
	if m.opts.WriteLock != nil {
		m.opts.WriteLock.Unlock()
	}
	m.mu.Unlock()
	if m.OnOpened != nil {
		for _, o := range opened {
			ch := o.ch
			m.OnOpened(ctx, o.inc, &ch)
		}
	}
}

// place attaches a changed alert to an incident; it returns the incident
// it opened, if any.
func (m *Manager) place(ctx context.Context, c *alert.Change) (*Incident, bool, error) {
	a := &c.Alert
	now := m.opts.Now()
	if !c.New {
		if a.IncidentID != "" {
			_, err := m.db.ExecContext(ctx, `UPDATE incidents SET updated = ? WHERE id = ? AND updated < ?`, now.UnixNano(), a.IncidentID, now.UnixNano())
			return nil, false, err
		}
		// A repeat of an alert that joined no incident may now be severe
		// enough in aggregate; fall through only for new alerts.
		return nil, false, nil
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	// A campaign alert opens an incident of its own: it lists many
	// subjects, and joining it to the incident of whichever subject came
	// first would bury the wave in one address's case.
	var incID string
	below := sigma.LevelOf(a.Level) < sigma.LevelOf(m.opts.MinLevel)
	if !a.Campaign || below {
		if incID, err = m.findOpen(ctx, tx, a.Entities, now); err != nil {
			return nil, false, err
		}
	}
	var opened *Incident
	if incID == "" {
		if below {
			return nil, false, tx.Commit()
		}
		inc := &Incident{
			ID: ids.New(), Title: titleFor(a), Status: StatusNew, Severity: a.Level, Source: "alert",
			Created: now, Updated: now, Entities: a.Entities.Clone(), Tags: mergeTags(nil, a.Tags),
		}
		if err := m.insert(ctx, tx, inc); err != nil {
			return nil, false, err
		}
		if err := m.addEntry(ctx, tx, inc.ID, now, "note", "vigil", "Incident opened by alert "+a.RuleTitle, nil); err != nil {
			return nil, false, err
		}
		if err := m.addTemplateTasks(ctx, tx, inc.ID, a.Tags, now); err != nil {
			return nil, false, err
		}
		incID, opened = inc.ID, inc
	} else {
		inc, err := scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, incID))
		if err != nil {
			return nil, false, err
		}
		inc.Entities = inc.Entities.Merge(a.Entities)
		inc.Tags = mergeTags(inc.Tags, a.Tags)
		inc.Severity = higher(inc.Severity, a.Level)
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET entities = ?, tags = ?, severity = ?, updated = ? WHERE id = ?`,
			marshal(inc.Entities), marshal(inc.Tags), inc.Severity, now.UnixNano(), incID); err != nil {
			return nil, false, err
		}
	}
	if err := m.attach(ctx, tx, incID, a, now); err != nil {
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	a.IncidentID = incID
	return opened, opened != nil, nil
}

// attach links an alert to an incident and records it on the timeline.
func (m *Manager) attach(ctx context.Context, tx execer, incID string, a *alert.Alert, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET incident_id = ? WHERE id = ?`, incID, a.ID); err != nil {
		return fmt.Errorf("attaching alert: %w", err)
	}
	if err := m.saveEntities(ctx, tx, incID, a.Entities); err != nil {
		return err
	}
	return m.addEntry(ctx, tx, incID, a.FirstSeen, "alert", "vigil",
		fmt.Sprintf("[%s] %s", a.Level, a.RuleTitle), map[string]any{"alert_id": a.ID, "rule_id": a.RuleID, "entities": a.Entities})
}

func titleFor(a *alert.Alert) string {
	if a.Campaign {
		return "Campaign: " + a.RuleTitle
	}
	for _, k := range []string{"source.ip", "user", "host"} {
		if vs := a.Entities[k]; len(vs) > 0 {
			return a.RuleTitle + " — " + vs[0]
		}
	}
	if len(a.Group) > 0 {
		var parts []string
		for k, v := range a.Group {
			parts = append(parts, k+"="+v)
		}
		sort.Strings(parts)
		return a.RuleTitle + " — " + strings.Join(parts, " ")
	}
	return a.RuleTitle
}

// findOpen returns the most recently active open incident that shares a
// grouping entity value and was active within the window.
func (m *Manager) findOpen(ctx context.Context, x execer, ents map[string][]string, now time.Time) (string, error) {
	since := now.Add(-m.opts.Window).UnixNano()
	best, bestUpdated := "", int64(0)
	for _, kind := range m.opts.GroupBy {
		for _, v := range ents[kind] {
			var id string
			var upd int64
			err := x.QueryRowContext(ctx, `SELECT i.id, i.updated FROM incident_entities e JOIN incidents i ON i.id = e.incident_id
				WHERE e.kind = ? AND e.value = ? AND i.status NOT IN ('resolved', 'false_positive') AND i.updated >= ?
				ORDER BY i.updated DESC LIMIT 1`, kind, v, since).Scan(&id, &upd)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return "", fmt.Errorf("finding an incident to group into: %w", err)
			}
			if upd > bestUpdated {
				best, bestUpdated = id, upd
			}
		}
	}
	return best, nil
}

func (m *Manager) insert(ctx context.Context, x execer, inc *Incident) error {
	_, err := x.ExecContext(ctx, `INSERT INTO incidents (`+incidentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		inc.ID, inc.Title, string(inc.Status), inc.Severity, inc.Assignee, inc.Source, nano(inc.Created), nano(inc.Updated),
		nano(inc.AcknowledgedAt), nano(inc.ContainedAt), nano(inc.ResolvedAt), marshal(inc.Entities), marshal(nonNil(inc.Tags)),
		inc.Summary, inc.RootCause, inc.Impact, inc.LessonsLearned)
	if err != nil {
		return fmt.Errorf("storing incident: %w", err)
	}
	return m.saveEntities(ctx, x, inc.ID, inc.Entities)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
