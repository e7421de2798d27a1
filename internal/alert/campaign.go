package alert

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// CampaignOptions tune storm grouping: when one rule raises alerts for
// Threshold distinct subjects within Window, every further detection of
// the rule (until it has been quiet for Window) folds into one campaign
// alert that lists the subjects, instead of raising an alert, and so an
// incident and a playbook run, per subject. It is what Splunk ES's
// throttling and Elastic's alert grouping give an analyst facing a wave
// from thousands of addresses: one thing to work, with every address on it.
type CampaignOptions struct {
	// Threshold is the number of distinct subjects that makes a campaign
	// (default 5; negative: never group).
	Threshold int
	// Window is how close together the subjects must be, and how long a
	// quiet campaign stays open (default 10 minutes).
	Window time.Duration
	// MaxMembers bounds the subjects a campaign keeps in memory to tell
	// new ones from repeats (default 500,000). Past it, subjects are still
	// recorded in the table and counted there.
	MaxMembers int
}

func (o *CampaignOptions) setDefaults() {
	if o.Threshold == 0 {
		o.Threshold = DefaultCampaignThreshold
	}
	if o.Window <= 0 {
		o.Window = DefaultCampaignWindow
	}
	if o.MaxMembers <= 0 {
		o.MaxMembers = 500000
	}
}

// Member is one subject of a campaign alert.
type Member struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int64     `json:"count"`
}

type memberKey struct{ kind, value string }

// subject is what a campaign counts for an alert: a correlation's
// group-by values, else its first acting entity.
func subject(a *Alert) memberKey {
	if len(a.Group) > 0 {
		keys := make([]string, 0, len(a.Group))
		for k := range a.Group {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = a.Group[k]
		}
		return memberKey{strings.Join(keys, ","), strings.Join(vals, ",")}
	}
	for _, k := range []string{"source.ip", "user", "host", "destination.ip", "file.hash", "process", "file"} {
		if vs := a.Entities[k]; len(vs) > 0 {
			return memberKey{k, vs[0]}
		}
	}
	return memberKey{}
}

// MemberFilter selects members of a campaign alert.
type MemberFilter struct {
	// Kind keeps one kind of subject (default: the campaign's, which is
	// one kind in practice: a rule's subjects are all of one kind).
	Kind string
	// Prefix keeps values that start with it (an address prefix such as
	// "198.51.100.").
	Prefix string
	// After starts the page after this value (the last of the previous
	// page): paging by After reads only the page.
	After string
	// Limit bounds the page (default 1,000, at most 100,000); Offset
	// skips that many first.
	Limit, Offset int
}

// membersSQL lists one alert's members of one kind in value order, from
// a value on (a range of the primary key: a page from a prefix or after
// the last value of the previous page costs its size, not the
// campaign's).
const membersSQL = `SELECT kind, value, first_seen, last_seen, count FROM alert_members
	WHERE alert_id = ? AND kind = ? AND value >= ? AND value < ? ORDER BY alert_id, kind, value LIMIT ? OFFSET ?`

// memberKindSQL finds the kind of a campaign's subjects.
const memberKindSQL = `SELECT kind FROM alert_members WHERE alert_id = ? LIMIT 1`

// Members lists the subjects of a campaign alert.
func (s *Store) Members(ctx context.Context, alertID string, f MemberFilter) ([]Member, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	f.Limit = min(f.Limit, 100000)
	f.Offset = max(f.Offset, 0)
	hi := "\U0010FFFF"
	if f.Prefix != "" {
		hi = f.Prefix + "\U0010FFFF"
	}
	if f.Kind == "" {
		err := s.db.QueryRowContext(ctx, memberKindSQL, alertID).Scan(&f.Kind)
		if errors.Is(err, sql.ErrNoRows) {
			return []Member{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing members of alert %s: %w", alertID, err)
		}
	}
	lo := f.Prefix
	if f.After != "" && f.After >= lo {
		lo = f.After + "\x00"
	}
	rows, err := s.db.QueryContext(ctx, membersSQL, alertID, f.Kind, lo, hi, f.Limit, f.Offset)
	if err != nil {
		return nil, fmt.Errorf("listing members of alert %s: %w", alertID, err)
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		var m Member
		var first, last int64
		if err := rows.Scan(&m.Kind, &m.Value, &first, &last, &m.Count); err != nil {
			return nil, fmt.Errorf("listing members of alert %s: %w", alertID, err)
		}
		m.FirstSeen, m.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// upsertMemberSQL records a member's latest state (hot path: by primary
// key). It returns the stored count: when that is the batch's own count
// the member is new (every stored count is at least one), which is how a
// campaign whose member set is no longer in memory tells new members from
// repeats.
const upsertMemberSQL = `INSERT INTO alert_members (alert_id, kind, value, first_seen, last_seen, count) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT(alert_id, kind, value) DO UPDATE SET
	first_seen = CASE WHEN excluded.first_seen < alert_members.first_seen THEN excluded.first_seen ELSE alert_members.first_seen END,
	last_seen = CASE WHEN excluded.last_seen > alert_members.last_seen THEN excluded.last_seen ELSE alert_members.last_seen END,
	count = alert_members.count + excluded.count
	RETURNING kind, value, count`

// membersPerStatement is how many members one upsert statement writes: a
// wave's members arrive by the thousand, and a statement per member spent
// more in database/sql than in SQLite.
const membersPerStatement = 64

// upsertMembersSQL is upsertMemberSQL for n members at once.
func upsertMembersSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO alert_members (alert_id, kind, value, first_seen, last_seen, count) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?, ?, ?, ?, ?)`)
	}
	_, rest, _ := strings.Cut(upsertMemberSQL, "(?, ?, ?, ?, ?, ?)")
	b.WriteString(rest)
	return b.String()
}

// campaign is a campaign alert the recorder is folding detections into
// (writer goroutine only).
type campaign struct {
	alert   Alert
	members map[memberKey]struct{}
	// overflow is set once members outgrew MaxMembers: from then on the
	// table, not the map, tells how many there are.
	overflow bool
}

// campDelta is what one batch does to a campaign; it is applied to the
// campaign only once the batch is committed, so a failed commit that is
// retried does not count twice.
type campDelta struct {
	c       *campaign
	isNew   bool
	alert   Alert
	added   int64
	members map[memberKey]*Member
	order   []memberKey // members in the order first seen in the batch
	// freshKeys are the members new to the campaign.
	freshKeys []memberKey
	// founders are the subjects whose own alerts made the campaign: its
	// members, but already acted on (fewer than the threshold).
	founders []memberKey
	ev       *event.Event
	// countFromTable is set when the members outgrow the in-memory set:
	// the table then tells how many there are.
	countFromTable bool
}

// tracker counts the distinct subjects of a rule's recent alerts, until
// they make a campaign.
type tracker struct {
	seen map[memberKey]time.Time
}

func (t *tracker) add(k memberKey, at time.Time, window time.Duration) int {
	for m, when := range t.seen {
		if at.Sub(when) > window {
			delete(t.seen, m)
		}
	}
	if old, ok := t.seen[k]; !ok || at.After(old) {
		t.seen[k] = at
	}
	return len(t.seen)
}

// writeDelta stores a campaign's batch: the alert row and its members.
// When the campaign's member set is not in memory (it overflowed
// MaxMembers, or the campaign was loaded at start), every subject of the
// batch is a candidate in freshKeys, and the table tells which are new.
func writeDelta(ctx context.Context, tx *sql.Tx, stmts *memberStmts, d *campDelta) error {
	var known map[memberKey]bool
	var added int64 // rows new to the table
	args := make([]any, 0, 6*membersPerStatement)
	for start := 0; start < len(d.order); start += membersPerStatement {
		chunk := d.order[start:min(start+membersPerStatement, len(d.order))]
		args = args[:0]
		for _, k := range chunk {
			m := d.members[k]
			args = append(args, d.alert.ID, m.Kind, m.Value, m.FirstSeen.UnixNano(), m.LastSeen.UnixNano(), m.Count)
		}
		stmt, err := stmts.get(ctx, tx, len(chunk))
		if err != nil {
			return fmt.Errorf("recording campaign members: %w", err)
		}
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("recording campaign members: %w", err)
		}
		for rows.Next() {
			var k memberKey
			var stored int64
			if err := rows.Scan(&k.kind, &k.value, &stored); err != nil {
				rows.Close()
				return fmt.Errorf("recording campaign members: %w", err)
			}
			m := d.members[k]
			if m == nil {
				continue
			}
			// A row whose stored count is this batch's was inserted by
			// it: every stored count is at least one.
			if stored == m.Count {
				added++
			} else if d.c.overflow {
				if known == nil {
					known = map[memberKey]bool{}
				}
				known[k] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("recording campaign members: %w", err)
		}
	}
	if len(known) > 0 {
		d.freshKeys = slices.DeleteFunc(d.freshKeys, func(k memberKey) bool { return known[k] })
	}
	if d.countFromTable {
		// Past the in-memory set, the table tells which members are new.
		d.alert.EntityCount = d.c.alert.EntityCount + added
	}
	if d.isNew {
		return insert(ctx, tx, &d.alert)
	}
	return update(ctx, tx, &d.alert)
}

// memberStmts are a transaction's member upserts, by number of rows.
type memberStmts struct {
	byN map[int]*sql.Stmt
}

func (m *memberStmts) get(ctx context.Context, tx *sql.Tx, n int) (*sql.Stmt, error) {
	if st := m.byN[n]; st != nil {
		return st, nil
	}
	st, err := tx.PrepareContext(ctx, upsertMembersSQL(n))
	if err != nil {
		return nil, err
	}
	if m.byN == nil {
		m.byN = map[int]*sql.Stmt{}
	}
	m.byN[n] = st
	return st, nil
}

func (m *memberStmts) close() {
	for _, st := range m.byN {
		st.Close()
	}
}
