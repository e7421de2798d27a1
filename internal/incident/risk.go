package incident

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/ids"
)

// RiskOptions configure entity risk (risk-based alerting): every alert adds
// points to each of its entities by level; the score halves every HalfLife;
// when an entity's score crosses Threshold an incident opens, even though no
// single alert was severe.
type RiskOptions struct {
	// Points per alert level; defaults informational 1, low 5, medium 15,
	// high 40, critical 80.
	Points map[string]float64
	// HalfLife of a score (default 24h).
	HalfLife time.Duration
	// Threshold that opens an incident (default 100).
	Threshold float64
	// Kinds are the entity kinds scored (default user, host, source.ip).
	Kinds []string
	// MaxEntities bounds the scores held in memory (default 100,000);
	// past it the index drops what it holds (counted by OnEvict) and
	// reads scores back from the table as they come up again.
	MaxEntities int
	// OnEvict, if set, is told how many scores the index dropped.
	OnEvict func(n int)
}

// riskBook is the bounded in-memory index of entity scores (under the
// manager's mu): scoring an alert reads no table, and the scores a batch
// of alerts changed are written in one transaction.
type riskBook struct {
	o      RiskOptions
	scores map[riskKey]*riskState
	dirty  map[riskKey]*riskState
}

type riskKey struct{ kind, value string }

type riskState struct {
	score   float64
	updated time.Time
	over    bool
}

func newRiskBook(o RiskOptions) *riskBook {
	if o.Points == nil {
		o.Points = map[string]float64{"informational": 1, "low": 5, "medium": 15, "high": 40, "critical": 80}
	}
	if o.HalfLife <= 0 {
		o.HalfLife = 24 * time.Hour
	}
	if o.Threshold <= 0 {
		o.Threshold = DefaultRiskThreshold
	}
	if len(o.Kinds) == 0 {
		o.Kinds = []string{"user", "host", "source.ip"}
	}
	if o.MaxEntities <= 0 {
		o.MaxEntities = 100000
	}
	return &riskBook{o: o, scores: map[riskKey]*riskState{}, dirty: map[riskKey]*riskState{}}
}

// decay returns score s, last updated at from, as it stands at to.
func (b *riskBook) decay(s float64, from, to time.Time) float64 {
	dt := to.Sub(from)
	if dt <= 0 {
		return s
	}
	return s * math.Exp2(-float64(dt)/float64(b.o.HalfLife))
}

// Risk is one entity's score.
type Risk struct {
	Kind    string    `json:"kind"`
	Value   string    `json:"value"`
	Score   float64   `json:"score"`
	Updated time.Time `json:"updated"`
}

// riskSelectSQL and riskUpsertSQL read and write one entity's score (by
// primary key).
const (
	riskSelectSQL = `SELECT score, updated, over FROM entity_risk WHERE kind = ? AND value = ?`
	riskUpsertSQL = `INSERT INTO entity_risk (kind, value, score, updated, over) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(kind, value) DO UPDATE SET score = excluded.score, updated = excluded.updated, over = excluded.over`
)

// state returns an entity's score from the index, reading the table on
// a miss. Called with m.mu held.
func (m *Manager) riskState(ctx context.Context, k riskKey) (*riskState, error) {
	if st := m.risk.scores[k]; st != nil {
		return st, nil
	}
	var score float64
	var upd int64
	var over bool
	err := m.db.QueryRowContext(ctx, riskSelectSQL, k.kind, k.value).Scan(&score, &upd, &over)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(m.risk.scores) >= m.risk.o.MaxEntities {
		// Written scores are in the table: dropping them loses nothing
		// but the next read of each.
		if err := m.flushRisk(ctx); err != nil {
			return nil, err
		}
		n := len(m.risk.scores)
		clear(m.risk.scores)
		if m.risk.o.OnEvict != nil {
			m.risk.o.OnEvict(n)
		}
	}
	st := &riskState{score: score, updated: fromNano(upd), over: over}
	m.risk.scores[k] = st
	return st, nil
}

// flushRisk writes the scores changed since the last flush in one
// transaction. Called with m.mu held.
func (m *Manager) flushRisk(ctx context.Context) error {
	if len(m.risk.dirty) == 0 {
		return nil
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing entity risk: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, riskUpsertSQL)
	if err != nil {
		return fmt.Errorf("writing entity risk: %w", err)
	}
	defer stmt.Close()
	for k, st := range m.risk.dirty {
		if _, err := stmt.ExecContext(ctx, k.kind, k.value, st.score, st.updated.UnixNano(), st.over); err != nil {
			return fmt.Errorf("writing entity risk: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("writing entity risk: %w", err)
	}
	clear(m.risk.dirty)
	return nil
}

// addRisk scores the alert's detections against its entities (by event
// time) and opens an incident for an entity that crosses the threshold.
// Scores change in the index; AlertsChanged writes them at the end of
// its batch (flushRisk). Called with m.mu held.
func (m *Manager) addRisk(ctx context.Context, c *alert.Change) (*Incident, error) {
	pts := m.risk.o.Points[c.Alert.Level] * float64(c.Added)
	if pts == 0 {
		return nil, nil
	}
	t := c.Alert.LastSeen
	var opened *Incident
	for _, kind := range m.risk.o.Kinds {
		for _, v := range c.Alert.Entities[kind] {
			k := riskKey{kind, v}
			st, err := m.riskState(ctx, k)
			if err != nil {
				return nil, err
			}
			at := t
			if at.Before(st.updated) {
				at = st.updated // scores never go back in time
			}
			st.score = m.risk.decay(st.score, st.updated, at) + pts
			st.updated = at
			crossed := !st.over && st.score >= m.risk.o.Threshold
			st.over = st.score >= m.risk.o.Threshold/2 && (st.over || crossed) // re-arm once the score has halved
			m.risk.dirty[k] = st
			if crossed && opened == nil {
				inc, err := m.openRiskIncident(ctx, kind, v, st.score)
				if err != nil {
					return nil, err
				}
				opened = inc
			}
		}
	}
	return opened, nil
}

// openRiskIncident opens (or, if an open incident already covers the
// entity, notes on) an incident for an entity whose risk crossed the
// threshold, with the entity's recent alerts.
func (m *Manager) openRiskIncident(ctx context.Context, kind, value string, score float64) (*Incident, error) {
	now := m.opts.Now()
	if id, err := m.findOpen(ctx, m.db, map[string][]string{kind: {value}}, now); err != nil {
		return nil, err
	} else if id != "" {
		return nil, m.addEntry(ctx, m.db, id, now, "note", "vigil", fmt.Sprintf("risk of %s %s reached %.0f", kind, value, score), nil)
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	inc := &Incident{ID: ids.New(), Title: fmt.Sprintf("Risk threshold exceeded — %s %s", kind, value), Status: StatusNew,
		Severity: "high", Source: "risk", Created: now, Updated: now, Entities: map[string][]string{kind: {value}}, Tags: []string{}}
	if err := m.insert(ctx, tx, inc); err != nil {
		return nil, err
	}
	if err := m.addEntry(ctx, tx, inc.ID, now, "note", "vigil",
		fmt.Sprintf("Incident opened because the risk of %s %s reached %.0f (threshold %.0f) from several alerts", kind, value, score, m.risk.o.Threshold), nil); err != nil {
		return nil, err
	}
	// Attach the entity's unattached recent alerts.
	rows, err := tx.QueryContext(ctx, `SELECT id FROM alerts WHERE incident_id = '' AND status = 'open' AND last_seen >= ? AND lower(entities) LIKE lower(?) ESCAPE '\'`,
		now.Add(-m.risk.o.HalfLife*4).UnixNano(), "%"+likeEscape(value)+"%")
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := m.moveAlerts(ctx, tx, inc, ids, now, "vigil"); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return inc, nil
}

func likeEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' || c == '_' || c == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// RiskScores returns the current scores at or above min, highest first,
// decayed to now.
func (m *Manager) RiskScores(ctx context.Context, minScore float64, limit int) ([]Risk, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := m.db.QueryContext(ctx, `SELECT kind, value, score, updated FROM entity_risk ORDER BY score DESC LIMIT ?`, limit*4)
	if err != nil {
		return nil, fmt.Errorf("listing risk: %w", err)
	}
	defer rows.Close()
	now := m.opts.Now()
	out := []Risk{}
	for rows.Next() {
		var r Risk
		var upd int64
		if err := rows.Scan(&r.Kind, &r.Value, &r.Score, &upd); err != nil {
			return nil, err
		}
		r.Updated = fromNano(upd)
		r.Score = m.risk.decay(r.Score, r.Updated, now)
		if r.Score >= minScore && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}
