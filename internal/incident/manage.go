package incident

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/meta"
	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/internal/sigma"
)

// ListFilter selects incidents.
type ListFilter struct {
	// Status keeps one status; "open" keeps every status that is not
	// closed.
	Status   string
	Assignee string
	// Limit bounds the result (default 100, at most 10,000).
	Limit int
	// Offset skips that many incidents first (at most MaxOffset), for
	// paging through a list longer than a page.
	Offset int
}

// MaxOffset bounds ListFilter.Offset.
const MaxOffset = 1_000_000

// List returns incidents, most recently active first.
func (m *Manager) List(ctx context.Context, f ListFilter) ([]Incident, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 10000)
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + incidentColumns + `, (SELECT count(*) FROM alerts a WHERE a.incident_id = incidents.id) FROM incidents WHERE ` +
		where + ` ORDER BY updated DESC, id LIMIT ? OFFSET ?`
	args = append(args, f.Limit, f.Offset)
	rows, err := m.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing incidents: %w", err)
	}
	defer rows.Close()
	out := []Incident{}
	for rows.Next() {
		var inc Incident
		var n int
		inc, err := scanIncident(scanPlus{rows, &n})
		if err != nil {
			return nil, fmt.Errorf("listing incidents: %w", err)
		}
		inc.AlertCount = n
		out = append(out, inc)
	}
	return out, rows.Err()
}

// Total returns how many incidents f selects, whatever its Limit and
// Offset: the "of N" of a page of List.
func (m *Manager) Total(ctx context.Context, f ListFilter) (int64, error) {
	where, args, err := f.where()
	if err != nil {
		return 0, err
	}
	var n int64
	if err := m.db.QueryRowContext(ctx, `SELECT count(*) FROM incidents WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting incidents: %w", err)
	}
	return n, nil
}

// where returns the SQL condition of f over the incidents table and its
// bound arguments.
func (f ListFilter) where() (string, []any, error) {
	if f.Offset < 0 || f.Offset > MaxOffset {
		return "", nil, fmt.Errorf("offset %d out of range (want 0 to %d)", f.Offset, MaxOffset)
	}
	q := `1=1`
	var args []any
	switch f.Status {
	case "":
	case "open":
		q += ` AND status NOT IN ('resolved', 'false_positive')`
	default:
		if _, err := ParseStatus(f.Status); err != nil {
			return "", nil, err
		}
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Assignee != "" {
		q += ` AND assignee = ?`
		args = append(args, f.Assignee)
	}
	return q, args, nil
}

// scanPlus scans the incident columns and one more.
type scanPlus struct {
	r     scanner
	extra any
}

func (s scanPlus) Scan(dst ...any) error { return s.r.Scan(append(dst, s.extra)...) }

// Get returns an incident with its alerts, timeline, actions, comments,
// tasks and observables.
func (m *Manager) Get(ctx context.Context, id string) (*Incident, error) {
	inc, err := scanIncident(m.db.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("incident %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if inc.Alerts, err = m.alerts.List(ctx, alert.Filter{IncidentID: id, Limit: 10000}); err != nil {
		return nil, err
	}
	inc.AlertCount = len(inc.Alerts)
	rows, err := m.db.QueryContext(ctx, `SELECT id, time, kind, actor, text, data FROM incident_timeline WHERE incident_id = ? ORDER BY time, rowid`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var e Entry
		var t int64
		var data string
		if err := rows.Scan(&e.ID, &t, &e.Kind, &e.Actor, &e.Text, &data); err != nil {
			rows.Close()
			return nil, err
		}
		e.Time = fromNano(t)
		if data != "" {
			e.Data = json.RawMessage(data)
		}
		if e.Kind == "action" {
			// Made from an action's result, which may have been recorded
			// before results were masked.
			e.Text = redact.Text(e.Text)
		}
		inc.Timeline = append(inc.Timeline, e)
		if e.Kind == "comment" {
			inc.Comments = append(inc.Comments, e)
		}
	}
	rows.Close()
	if inc.Actions, err = m.actions(ctx, id); err != nil {
		return nil, err
	}
	if inc.Tasks, err = m.tasks(ctx, id); err != nil {
		return nil, err
	}
	rows, err = m.db.QueryContext(ctx, `SELECT kind, value, ioc FROM incident_entities WHERE incident_id = ? ORDER BY kind, value`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var o Observable
		if err := rows.Scan(&o.Kind, &o.Value, &o.IOC); err != nil {
			return nil, err
		}
		inc.Observables = append(inc.Observables, o)
	}
	return &inc, rows.Err()
}

func (m *Manager) actions(ctx context.Context, id string) ([]Action, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT id, time, name, target, status, result, actor, playbook FROM incident_actions WHERE incident_id = ? ORDER BY time, rowid`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Action{}
	for rows.Next() {
		var a Action
		var t int64
		if err := rows.Scan(&a.ID, &t, &a.Name, &a.Target, &a.Status, &a.Result, &a.Actor, &a.Playbook); err != nil {
			return nil, err
		}
		a.Time = fromNano(t)
		a.Result = redact.Text(a.Result) // recorded before results were masked
		out = append(out, a)
	}
	return out, rows.Err()
}

func (m *Manager) tasks(ctx context.Context, id string) ([]Task, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT id, title, done, assignee, created, done_at FROM incident_tasks WHERE incident_id = ? ORDER BY created, rowid`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Task{}
	for rows.Next() {
		var t Task
		var created, doneAt int64
		if err := rows.Scan(&t.ID, &t.Title, &t.Done, &t.Assignee, &created, &doneAt); err != nil {
			return nil, err
		}
		t.Created, t.DoneAt = fromNano(created), fromNano(doneAt)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Patch is a change to an incident; nil fields stay as they are.
type Patch struct {
	Status         *string `json:"status"`
	Assignee       *string `json:"assignee"`
	Severity       *string `json:"severity"`
	Title          *string `json:"title"`
	Summary        *string `json:"summary"`
	RootCause      *string `json:"root_cause"`
	Impact         *string `json:"impact"`
	LessonsLearned *string `json:"lessons_learned"`
}

// Update applies p on behalf of actor and returns the incident before and
// after (for the audit log).
func (m *Manager) Update(ctx context.Context, id, actor string, p Patch) (before, after *Incident, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	cur, err := scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("incident %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	prev := cur
	now := m.opts.Now()
	var notes []string
	closedAlerts := false
	if p.Status != nil {
		st, err := ParseStatus(*p.Status)
		if err != nil {
			return nil, nil, err
		}
		if st != cur.Status {
			notes = append(notes, fmt.Sprintf("status %s → %s", cur.Status, st))
			cur.Status = st
			// The first move past "new" acknowledges; containment and
			// resolution keep their first time.
			if st != StatusNew && cur.AcknowledgedAt.IsZero() {
				cur.AcknowledgedAt = now
			}
			if (st == StatusContained || st.Closed()) && cur.ContainedAt.IsZero() && st != StatusFalsePositive {
				cur.ContainedAt = now
			}
			if st.Closed() {
				cur.ResolvedAt = now
				closedAlerts = true
			} else {
				cur.ResolvedAt = time.Time{}
			}
		}
	}
	if p.Severity != nil {
		if _, err := sigma.ParseLevel(*p.Severity); err != nil {
			return nil, nil, fmt.Errorf("severity: %w", err)
		}
		if *p.Severity != cur.Severity {
			notes = append(notes, fmt.Sprintf("severity %s → %s", cur.Severity, *p.Severity))
			cur.Severity = *p.Severity
		}
	}
	if p.Assignee != nil && *p.Assignee != cur.Assignee {
		notes = append(notes, fmt.Sprintf("assigned to %q", *p.Assignee))
		cur.Assignee = *p.Assignee
	}
	for _, f := range []struct {
		name string
		in   *string
		dst  *string
	}{{"title", p.Title, &cur.Title}, {"summary", p.Summary, &cur.Summary}, {"root cause", p.RootCause, &cur.RootCause},
		{"impact", p.Impact, &cur.Impact}, {"lessons learned", p.LessonsLearned, &cur.LessonsLearned}} {
		if f.in != nil && *f.in != *f.dst {
			if len(*f.in) > 64<<10 {
				return nil, nil, fmt.Errorf("%s longer than 64 KiB", f.name)
			}
			*f.dst = *f.in
			notes = append(notes, f.name+" edited")
		}
	}
	if len(notes) == 0 {
		return &prev, &cur, tx.Commit()
	}
	cur.Updated = now
	_, err = tx.ExecContext(ctx, `UPDATE incidents SET title = ?, status = ?, severity = ?, assignee = ?, updated = ?, acknowledged_at = ?, contained_at = ?, resolved_at = ?,
		summary = ?, root_cause = ?, impact = ?, lessons_learned = ? WHERE id = ?`,
		cur.Title, string(cur.Status), cur.Severity, cur.Assignee, nano(cur.Updated), nano(cur.AcknowledgedAt), nano(cur.ContainedAt), nano(cur.ResolvedAt),
		cur.Summary, cur.RootCause, cur.Impact, cur.LessonsLearned, id)
	if err != nil {
		return nil, nil, fmt.Errorf("updating incident: %w", err)
	}
	if err := m.addEntry(ctx, tx, id, now, "status", actor, strings.Join(notes, "; "), nil); err != nil {
		return nil, nil, err
	}
	if closedAlerts {
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = 'closed' WHERE incident_id = ?`, id); err != nil {
			return nil, nil, err
		}
	} else if p.Status != nil && !cur.Status.Closed() && prev.Status.Closed() {
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = 'open' WHERE incident_id = ?`, id); err != nil {
			return nil, nil, err
		}
		closedAlerts = true
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, err
	}
	if closedAlerts && m.Forget != nil {
		m.Forget()
	}
	return &prev, &cur, nil
}

// Comment adds a comment by actor.
func (m *Manager) Comment(ctx context.Context, id, actor, text string) (Entry, error) {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > 64<<10 {
		return Entry{}, errors.New("a comment needs 1 byte to 64 KiB of text")
	}
	if err := m.exists(ctx, id); err != nil {
		return Entry{}, err
	}
	now := m.opts.Now()
	e := Entry{ID: ids.New(), Time: now.UTC(), Kind: "comment", Actor: actor, Text: text}
	_, err := m.db.ExecContext(ctx, `INSERT INTO incident_timeline (id, incident_id, time, kind, actor, text) VALUES (?, ?, ?, ?, ?, ?)`,
		e.ID, id, now.UnixNano(), e.Kind, actor, text)
	if err != nil {
		return Entry{}, fmt.Errorf("adding comment: %w", err)
	}
	m.touch(ctx, id, now)
	return e, nil
}

func (m *Manager) exists(ctx context.Context, id string) error {
	var x string
	err := m.db.QueryRowContext(ctx, `SELECT id FROM incidents WHERE id = ?`, id).Scan(&x)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("incident %q: %w", id, ErrNotFound)
	}
	return err
}

func (m *Manager) touch(ctx context.Context, id string, now time.Time) {
	m.db.ExecContext(ctx, `UPDATE incidents SET updated = ? WHERE id = ?`, now.UnixNano(), id)
}

// AddTask adds a task.
func (m *Manager) AddTask(ctx context.Context, id, actor, title, assignee string) (Task, error) {
	title = strings.TrimSpace(title)
	if title == "" || len(title) > 1024 {
		return Task{}, errors.New("a task needs a title of 1 to 1024 bytes")
	}
	if err := m.exists(ctx, id); err != nil {
		return Task{}, err
	}
	now := m.opts.Now()
	t := Task{ID: ids.New(), Title: title, Assignee: assignee, Created: now.UTC()}
	if _, err := m.db.ExecContext(ctx, `INSERT INTO incident_tasks (id, incident_id, title, assignee, created) VALUES (?, ?, ?, ?, ?)`,
		t.ID, id, title, assignee, now.UnixNano()); err != nil {
		return Task{}, fmt.Errorf("adding task: %w", err)
	}
	m.addEntry(ctx, m.db, id, now, "task", actor, "task added: "+title, nil)
	m.touch(ctx, id, now)
	return t, nil
}

// SetTaskDone marks a task done or not done.
func (m *Manager) SetTaskDone(ctx context.Context, id, taskID, actor string, done bool) error {
	now := m.opts.Now()
	var doneAt int64
	if done {
		doneAt = now.UnixNano()
	}
	res, err := m.db.ExecContext(ctx, `UPDATE incident_tasks SET done = ?, done_at = ? WHERE id = ? AND incident_id = ?`, done, doneAt, taskID, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("task %q of incident %q: %w", taskID, id, ErrNotFound)
	}
	verb := "reopened"
	if done {
		verb = "done"
	}
	m.addEntry(ctx, m.db, id, now, "task", actor, "task "+verb+": "+taskID, nil)
	m.touch(ctx, id, now)
	return nil
}

// FlagObservable marks (or unmarks) an observable as an IOC.
func (m *Manager) FlagObservable(ctx context.Context, id, actor, kind, value string, ioc bool) error {
	res, err := m.db.ExecContext(ctx, `UPDATE incident_entities SET ioc = ? WHERE incident_id = ? AND kind = ? AND value = ?`, ioc, id, kind, value)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("observable %s %q of incident %q: %w", kind, value, id, ErrNotFound)
	}
	verb := "unflagged"
	if ioc {
		verb = "flagged as IOC"
	}
	m.addEntry(ctx, m.db, id, m.opts.Now(), "note", actor, fmt.Sprintf("%s %s %s", kind, value, verb), nil)
	return nil
}

// RecordAction records a response action on an incident (its timeline
// gets a line too), in a transaction of its own.
func (m *Manager) RecordAction(ctx context.Context, id string, a *Action) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording action: %w", err)
	}
	defer tx.Rollback()
	if err := m.RecordActionsTx(ctx, tx, id, []*Action{a}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording action: %w", err)
	}
	return nil
}

// upsertActions returns the statement that writes n actions' state:
// first their intent ("running"), then their result, under the same ids.
func upsertActions(n int) string {
	return meta.InsertRows(`INSERT INTO incident_actions (id, incident_id, time, name, target, status, result, actor, playbook) VALUES `, n, 9,
		` ON CONFLICT(id) DO UPDATE SET status = excluded.status, result = excluded.result, time = excluded.time, actor = excluded.actor`)
}

// upsertActionsFull is the statement for a whole chunk.
var upsertActionsFull = upsertActions(meta.RowsPerStatement)

// RecordActionsTx records actions on an incident inside the caller's
// transaction, so that the caller's own records of them (the audit log,
// the block set) commit or fail with them. The timeline gets one line for
// the lot: a wave's thousands of blocks are one line, not thousands.
func (m *Manager) RecordActionsTx(ctx context.Context, tx *sql.Tx, id string, acts []*Action) error {
	if len(acts) == 0 {
		return nil
	}
	now := m.opts.Now().UTC()
	counts := map[string]int{}
	// A batch's actions mostly share one result (one batch command for a
	// wave's addresses): it is masked once.
	var rawResult, maskedResult string
	args := make([]any, 0, 9*min(len(acts), meta.RowsPerStatement))
	for start := 0; start < len(acts); start += meta.RowsPerStatement {
		chunk := acts[start:min(start+meta.RowsPerStatement, len(acts))]
		args = args[:0]
		for i, a := range chunk {
			if a.ID == "" {
				a.ID = ids.New()
			}
			if a.Time.IsZero() {
				a.Time = now
			}
			// A result may quote a URL or header with its secret ("POST
			// https://h/?api_key=...: 200"): viewers read it, so it is
			// stored masked, and so is the timeline line made from it.
			if start+i == 0 || a.Result != rawResult {
				rawResult, maskedResult = a.Result, redact.Text(a.Result)
			}
			a.Result = maskedResult
			args = append(args, a.ID, id, a.Time.UnixNano(), a.Name, a.Target, a.Status, a.Result, a.Actor, a.Playbook)
			counts[a.Status]++
		}
		q := upsertActionsFull
		if len(chunk) < meta.RowsPerStatement {
			q = upsertActions(len(chunk))
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("recording action: %w", err)
		}
	}
	a := acts[0]
	var text string
	var data any
	if len(acts) == 1 {
		text = fmt.Sprintf("%s %s: %s", a.Name, a.Target, a.Status)
		if a.Result != "" {
			text += " (" + a.Result + ")"
		}
		data = map[string]string{"action_id": a.ID, "playbook": a.Playbook}
	} else {
		parts := make([]string, 0, len(counts))
		for st, n := range counts {
			parts = append(parts, fmt.Sprintf("%s %d", st, n))
		}
		sort.Strings(parts)
		text = fmt.Sprintf("%s on %d targets: %s", a.Name, len(acts), strings.Join(parts, ", "))
		if a.Result != "" && counts[a.Status] == len(acts) {
			text += " (" + a.Result + ")"
		}
		data = map[string]any{"actions": len(acts), "first_action_id": a.ID, "playbook": a.Playbook}
	}
	if err := m.addEntry(ctx, tx, id, a.Time, "action", a.Actor, text, data); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE incidents SET updated = ? WHERE id = ? AND updated < ?`, a.Time.UnixNano(), id, a.Time.UnixNano()); err != nil {
		return fmt.Errorf("recording action: %w", err)
	}
	return nil
}

// FinishRunning gives every action a crash left "running" its honest
// result: unknown. It returns them and their incidents (for the audit
// log).
func (m *Manager) FinishRunning(ctx context.Context, tx *sql.Tx) ([]Action, []string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, incident_id, name, target, actor, playbook FROM incident_actions WHERE status = 'running'`)
	if err != nil {
		return nil, nil, fmt.Errorf("finding interrupted actions: %w", err)
	}
	var out []Action
	var incs []string
	for rows.Next() {
		var a Action
		var inc string
		if err := rows.Scan(&a.ID, &inc, &a.Name, &a.Target, &a.Actor, &a.Playbook); err != nil {
			rows.Close()
			return nil, nil, err
		}
		out = append(out, a)
		incs = append(incs, inc)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	now := m.opts.Now().UTC()
	for i := range out {
		out[i].Status, out[i].Result, out[i].Time = "unknown", "vigil stopped while the action ran; whether it took effect is unknown", now
		if _, err := tx.ExecContext(ctx, `UPDATE incident_actions SET status = ?, result = ?, time = ? WHERE id = ?`,
			out[i].Status, out[i].Result, now.UnixNano(), out[i].ID); err != nil {
			return nil, nil, fmt.Errorf("finishing interrupted action: %w", err)
		}
		if err := m.addEntry(ctx, tx, incs[i], now, "action", "vigil",
			fmt.Sprintf("%s %s: unknown (%s)", out[i].Name, out[i].Target, out[i].Result), map[string]string{"action_id": out[i].ID}); err != nil {
			return nil, nil, err
		}
	}
	return out, incs, nil
}

// Action returns one recorded action.
func (m *Manager) Action(ctx context.Context, id, actionID string) (Action, error) {
	as, err := m.actions(ctx, id)
	if err != nil {
		return Action{}, err
	}
	for _, a := range as {
		if a.ID == actionID {
			return a, nil
		}
	}
	return Action{}, fmt.Errorf("action %q of incident %q: %w", actionID, id, ErrNotFound)
}

// Create opens an incident by hand, optionally with alerts.
func (m *Manager) Create(ctx context.Context, actor, title, severity string, alertIDs []string) (*Incident, error) {
	if strings.TrimSpace(title) == "" {
		return nil, errors.New("title must not be empty")
	}
	if severity == "" {
		severity = "medium"
	}
	if _, err := sigma.ParseLevel(severity); err != nil {
		return nil, fmt.Errorf("severity: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	inc := &Incident{ID: ids.New(), Title: title, Status: StatusNew, Severity: severity, Source: "manual",
		Created: now, Updated: now, Entities: map[string][]string{}, Tags: []string{}}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := m.insert(ctx, tx, inc); err != nil {
		return nil, err
	}
	m.addEntry(ctx, tx, inc.ID, now, "note", actor, "Incident opened by "+actor, nil)
	if err := m.moveAlerts(ctx, tx, inc, alertIDs, now, actor); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return inc, nil
}

// moveAlerts attaches alerts to inc (taking them from wherever they were).
func (m *Manager) moveAlerts(ctx context.Context, tx *sql.Tx, inc *Incident, alertIDs []string, now time.Time, actor string) error {
	for _, aid := range alertIDs {
		a, err := scanAlertTx(ctx, tx, aid)
		if err != nil {
			return err
		}
		inc.Entities = inc.Entities.Merge(a.Entities)
		inc.Tags = mergeTags(inc.Tags, a.Tags)
		inc.Severity = higher(inc.Severity, a.Level)
		if err := m.attach(ctx, tx, inc.ID, &a, now); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE incidents SET entities = ?, tags = ?, severity = ?, updated = ? WHERE id = ?`,
		marshal(inc.Entities), marshal(nonNil(inc.Tags)), inc.Severity, now.UnixNano(), inc.ID)
	return err
}

func scanAlertTx(ctx context.Context, tx *sql.Tx, id string) (alert.Alert, error) {
	var (
		a          alert.Alert
		ents, tags string
		first      int64
	)
	err := tx.QueryRowContext(ctx, `SELECT id, rule_id, rule_title, level, tags, entities, first_seen FROM alerts WHERE id = ?`, id).
		Scan(&a.ID, &a.RuleID, &a.RuleTitle, &a.Level, &tags, &ents, &first)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("alert %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return a, err
	}
	_ = json.Unmarshal([]byte(ents), &a.Entities)
	_ = json.Unmarshal([]byte(tags), &a.Tags)
	a.FirstSeen = fromNano(first)
	return a, nil
}

// Merge moves every alert, comment, task, action and observable of the
// incidents in from into target, and closes them as merged.
func (m *Manager) Merge(ctx context.Context, target string, from []string, actor string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := m.opts.Now()
	inc, err := scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, target))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("incident %q: %w", target, ErrNotFound)
	}
	if err != nil {
		return err
	}
	for _, src := range from {
		if src == target {
			return errors.New("an incident cannot be merged into itself")
		}
		other, err := scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, src))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("incident %q: %w", src, ErrNotFound)
		}
		if err != nil {
			return err
		}
		inc.Entities = inc.Entities.Merge(other.Entities)
		inc.Tags = mergeTags(inc.Tags, other.Tags)
		inc.Severity = higher(inc.Severity, other.Severity)
		for _, q := range []string{
			`UPDATE alerts SET incident_id = ? WHERE incident_id = ?`,
			`UPDATE incident_timeline SET incident_id = ? WHERE incident_id = ?`,
			`UPDATE incident_actions SET incident_id = ? WHERE incident_id = ?`,
			`UPDATE incident_tasks SET incident_id = ? WHERE incident_id = ?`,
			// An entity both incidents have keeps the target's row (and
			// its IOC mark); the source's rows go below.
			`INSERT INTO incident_entities (incident_id, kind, value, ioc) SELECT ?, kind, value, ioc FROM incident_entities WHERE incident_id = ? ON CONFLICT DO NOTHING`,
		} {
			if _, err := tx.ExecContext(ctx, q, target, src); err != nil {
				return fmt.Errorf("merging incident %s: %w", src, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM incident_entities WHERE incident_id = ?`, src); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET status = 'resolved', resolved_at = ?, updated = ?, summary = ? WHERE id = ?`,
			now.UnixNano(), now.UnixNano(), "Merged into incident "+target, src); err != nil {
			return err
		}
		m.addEntry(ctx, tx, src, now, "merge", actor, "merged into "+target, nil)
		m.addEntry(ctx, tx, target, now, "merge", actor, "incident "+src+" ("+other.Title+") merged in", nil)
	}
	_, err = tx.ExecContext(ctx, `UPDATE incidents SET entities = ?, tags = ?, severity = ?, updated = ? WHERE id = ?`,
		marshal(inc.Entities), marshal(nonNil(inc.Tags)), inc.Severity, now.UnixNano(), target)
	if err != nil {
		return err
	}
	return tx.Commit()
}

// Split moves alerts out of an incident into a new one.
func (m *Manager) Split(ctx context.Context, id string, alertIDs []string, title, actor string) (*Incident, error) {
	if len(alertIDs) == 0 {
		return nil, errors.New("name the alerts to split off")
	}
	src, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	for _, a := range src.Alerts {
		in[a.ID] = true
	}
	for _, a := range alertIDs {
		if !in[a] {
			return nil, fmt.Errorf("alert %q is not in incident %q", a, id)
		}
	}
	if title == "" {
		title = "Split from " + src.Title
	}
	inc, err := m.Create(ctx, actor, title, "low", alertIDs)
	if err != nil {
		return nil, err
	}
	m.addEntry(ctx, m.db, id, m.opts.Now(), "merge", actor, fmt.Sprintf("%d alerts split off into incident %s", len(alertIDs), inc.ID), nil)
	return inc, nil
}

// Metrics are the response-time figures over incidents.
type Metrics struct {
	Open         int           `json:"open"`
	Total        int           `json:"total"`
	Acknowledged int           `json:"acknowledged"`
	Resolved     int           `json:"resolved"`
	MTTA         time.Duration `json:"mtta_ns"`
	MTTR         time.Duration `json:"mttr_ns"`
	MTTASeconds  float64       `json:"mtta_seconds"`
	MTTRSeconds  float64       `json:"mttr_seconds"`
}

// Metrics computes MTTA (created → acknowledged) and MTTR (created →
// resolved) over incidents created since since (zero: all).
func (m *Manager) Metrics(ctx context.Context, since time.Time) (Metrics, error) {
	var r Metrics
	var ackSum, resSum sql.NullFloat64
	err := m.db.QueryRowContext(ctx, `SELECT count(*),
		coalesce(sum(CASE WHEN status NOT IN ('resolved','false_positive') THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN acknowledged_at > 0 THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN resolved_at > 0 THEN 1 ELSE 0 END), 0),
		avg(CASE WHEN acknowledged_at > 0 THEN acknowledged_at - created END),
		avg(CASE WHEN resolved_at > 0 THEN resolved_at - created END)
		FROM incidents WHERE created >= ?`, nano(since)).Scan(&r.Total, &r.Open, &r.Acknowledged, &r.Resolved, &ackSum, &resSum)
	if err != nil {
		return r, fmt.Errorf("computing incident metrics: %w", err)
	}
	r.MTTA, r.MTTR = time.Duration(ackSum.Float64), time.Duration(resSum.Float64)
	r.MTTASeconds, r.MTTRSeconds = r.MTTA.Seconds(), r.MTTR.Seconds()
	return r, nil
}
