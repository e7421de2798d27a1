package alert

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/query"
)

// Suppression keeps a rule (or every rule, with RuleID "*") from raising
// alerts for events that match Query, until Expires. It is applied before
// alerting; the events are still stored and searchable.
type Suppression struct {
	ID     string `json:"id"`
	RuleID string `json:"rule_id"`
	// Query is a filter in Vigil's query language, such as
	// `source.ip:10.0.0.0/8 AND user.name:backup`; empty matches every
	// event of the rule.
	Query   string    `json:"query"`
	Reason  string    `json:"reason"`
	Author  string    `json:"author"`
	Created time.Time `json:"created"`
	// Expires is when the suppression stops applying (zero: never).
	Expires time.Time `json:"expires,omitzero"`
	Hits    int64     `json:"hits"`
	LastHit time.Time `json:"last_hit,omitzero"`
}

// DefaultSuppressionMaxExpiry is the longest a suppression added by
// someone who is not an admin may last, unless configured otherwise.
const DefaultSuppressionMaxExpiry = 30 * 24 * time.Hour

// ErrForbidden is returned for a suppression its author's role may not
// add.
var ErrForbidden = errors.New("forbidden")

// CheckSuppression applies the rules on who may silence what, before s is
// stored. A suppression for every rule (rule_id "*") silences everything
// its query matches, and all of it when the query is empty: only an admin
// may add one, and it must expire. Anyone else's suppression must expire,
// within maxExpiry of now; an admin's for one rule may be permanent.
// Wildcards other than the whole "*" are refused: rule ids match exactly.
// Refusals by role wrap ErrForbidden.
func CheckSuppression(s *Suppression, admin bool, now time.Time, maxExpiry time.Duration) error {
	s.RuleID = strings.TrimSpace(s.RuleID)
	if s.RuleID != "*" && strings.Contains(s.RuleID, "*") {
		return fmt.Errorf("rule_id %q: name one rule, or \"*\" for every rule; rule ids do not take wildcards", s.RuleID)
	}
	limit := strings.TrimSuffix(strings.TrimSuffix(maxExpiry.String(), "0s"), "0m")
	if days := maxExpiry / (24 * time.Hour); days > 0 && maxExpiry%(24*time.Hour) == 0 {
		limit = fmt.Sprintf("%dd", days)
	}
	switch {
	case s.RuleID == "*" && !admin:
		return fmt.Errorf("%w: rule_id \"*\" silences every rule: only an admin may add it", ErrForbidden)
	case s.RuleID == "*" && s.Expires.IsZero():
		return errors.New("rule_id \"*\" silences every rule: it needs an expiry (expires)")
	case admin:
		return nil
	case s.Expires.IsZero():
		return fmt.Errorf("%w: a suppression needs an expiry (expires) of at most %s; only an admin may add a permanent one", ErrForbidden, limit)
	case s.Expires.Sub(now) > maxExpiry:
		return fmt.Errorf("%w: expires %s is more than %s from now; only an admin may suppress for longer", ErrForbidden, s.Expires.UTC().Format(time.RFC3339), limit)
	}
	return nil
}

// Active reports whether s applies at t.
func (s *Suppression) Active(t time.Time) bool { return s.Expires.IsZero() || t.Before(s.Expires) }

type compiledSuppression struct {
	Suppression
	m    *query.Matcher
	hits atomic.Int64 // not yet written to the database
	last atomic.Int64
}

// suppressor holds the compiled suppressions, swapped whole on change.
type suppressor struct {
	store *Store
	mu    sync.Mutex // serialises changes
	cur   atomic.Pointer[[]*compiledSuppression]
	now   func() time.Time
	log   *slog.Logger
}

func newSuppressor(s *Store, now func() time.Time, log *slog.Logger) *suppressor {
	sp := &suppressor{store: s, now: now, log: log}
	empty := []*compiledSuppression{}
	sp.cur.Store(&empty)
	return sp
}

// load compiles every stored suppression.
func (sp *suppressor) load(ctx context.Context) error {
	list, err := sp.store.ListSuppressions(ctx)
	if err != nil {
		return err
	}
	out := make([]*compiledSuppression, 0, len(list))
	for _, s := range list {
		q, err := query.Parse(s.Query)
		if err != nil {
			// A query saved by an older version that this one no longer
			// reads (its syntax became an error) must not stop the
			// server: the suppression is not applied, so its alerts come
			// through (noise, not silence), and the operator is told.
			sp.log.Warn("suppression not applied: its query no longer parses; remove it and add it again", "id", s.ID, "rule_id", s.RuleID, "query", s.Query, "err", err)
			continue
		}
		out = append(out, &compiledSuppression{Suppression: s, m: query.CompileExpr(q.Filter)})
	}
	sp.cur.Store(&out)
	return nil
}

// match returns the suppression covering rule ruleID on ev, if any, and
// counts the hit.
func (sp *suppressor) match(ruleID string, ev *event.Event) *compiledSuppression {
	list := *sp.cur.Load()
	if len(list) == 0 {
		return nil
	}
	now := sp.now()
	for _, s := range list {
		if (s.RuleID == "*" || s.RuleID == ruleID) && s.Active(now) && (ev == nil || s.m.Match(ev)) {
			s.hits.Add(1)
			s.last.Store(now.UnixNano())
			return s
		}
	}
	return nil
}

// flushHits writes the hit counters.
func (sp *suppressor) flushHits(ctx context.Context) error {
	for _, s := range *sp.cur.Load() {
		n := s.hits.Swap(0)
		if n == 0 {
			continue
		}
		if _, err := sp.store.db.ExecContext(ctx, `UPDATE suppressions SET hits = hits + ?, last_hit = CASE WHEN last_hit > ? THEN last_hit ELSE ? END WHERE id = ?`,
			n, s.last.Load(), s.last.Load(), s.ID); err != nil {
			s.hits.Add(n)
			return fmt.Errorf("recording suppression hits: %w", err)
		}
	}
	return nil
}

// CreateSuppression validates and stores s, filling ID and Created.
func (s *Store) CreateSuppression(ctx context.Context, sp *Suppression, now time.Time) error {
	if sp.RuleID == "" {
		return errors.New("rule_id must name a rule, or be \"*\" for every rule")
	}
	if sp.Reason == "" {
		return errors.New("reason must not be empty: say why the alerts are not wanted")
	}
	if _, err := query.Parse(sp.Query); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	if q, _ := query.Parse(sp.Query); q.IsAggregate() || len(q.Pipes) > 0 {
		return errors.New("query: a suppression takes a filter, without pipes")
	}
	if !sp.Expires.IsZero() && !sp.Expires.After(now) {
		return errors.New("expires is in the past")
	}
	sp.ID, sp.Created = ids.New(), now.UTC()
	var exp int64
	if !sp.Expires.IsZero() {
		exp = sp.Expires.UnixNano()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO suppressions (id, rule_id, query, reason, author, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		sp.ID, sp.RuleID, sp.Query, sp.Reason, sp.Author, sp.Created.UnixNano(), exp)
	if err != nil {
		return fmt.Errorf("storing suppression: %w", err)
	}
	return nil
}

// DeleteSuppression removes a suppression.
func (s *Store) DeleteSuppression(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM suppressions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("deleting suppression: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("suppression %q: %w", id, ErrNotFound)
	}
	return nil
}

// GetSuppression returns one suppression.
func (s *Store) GetSuppression(ctx context.Context, id string) (Suppression, error) {
	sp, err := scanSuppression(s.db.QueryRowContext(ctx, `SELECT `+suppressionColumns+` FROM suppressions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return sp, fmt.Errorf("suppression %q: %w", id, ErrNotFound)
	}
	return sp, err
}

const suppressionColumns = `id, rule_id, query, reason, author, created, expires, hits, last_hit`

func scanSuppression(r scanner) (Suppression, error) {
	var (
		s                     Suppression
		created, exp, lastHit int64
	)
	if err := r.Scan(&s.ID, &s.RuleID, &s.Query, &s.Reason, &s.Author, &created, &exp, &s.Hits, &lastHit); err != nil {
		return s, err
	}
	s.Created = time.Unix(0, created).UTC()
	if exp != 0 {
		s.Expires = time.Unix(0, exp).UTC()
	}
	if lastHit != 0 {
		s.LastHit = time.Unix(0, lastHit).UTC()
	}
	return s, nil
}

// ListSuppressions returns every suppression, newest first (expired ones
// too: they stay listed for the record).
func (s *Store) ListSuppressions(ctx context.Context) ([]Suppression, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+suppressionColumns+` FROM suppressions ORDER BY created DESC`)
	if err != nil {
		return nil, fmt.Errorf("listing suppressions: %w", err)
	}
	defer rows.Close()
	out := []Suppression{}
	for rows.Next() {
		sp, err := scanSuppression(rows)
		if err != nil {
			return nil, fmt.Errorf("listing suppressions: %w", err)
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}
