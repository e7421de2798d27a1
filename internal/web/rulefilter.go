package web

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// ruleFilter is the set of rules disabled in the console. It lives in the
// console_disabled_rules table and in memory as an immutable map swapped
// on change, so the detection path reads it without locking.
type ruleFilter struct {
	ids atomic.Pointer[map[string]bool]
}

func loadRuleFilter(ctx context.Context, db *sql.DB) (*ruleFilter, error) {
	f := &ruleFilter{}
	if err := f.load(ctx, db); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *ruleFilter) load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT rule_id FROM console_disabled_rules`)
	if err != nil {
		return fmt.Errorf("reading disabled rules: %w", err)
	}
	defer rows.Close()
	m := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("reading disabled rules: %w", err)
		}
		m[id] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading disabled rules: %w", err)
	}
	f.ids.Store(&m)
	return nil
}

// disabled reports whether the rule is disabled.
func (f *ruleFilter) disabled(id string) bool {
	m := f.ids.Load()
	return m != nil && (*m)[id]
}

// count returns how many rules are disabled.
func (f *ruleFilter) count() int {
	if m := f.ids.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// setRuleDisabled persists a rule's state and updates the in-memory set.
func (c *Console) setRuleDisabled(ctx context.Context, id, actor string, disabled bool) error {
	var err error
	if disabled {
		_, err = c.db.ExecContext(ctx, `INSERT INTO console_disabled_rules (rule_id, actor, at) VALUES (?, ?, ?)
			ON CONFLICT(rule_id) DO NOTHING`, id, actor, c.o.Now().UnixNano())
	} else {
		_, err = c.db.ExecContext(ctx, `DELETE FROM console_disabled_rules WHERE rule_id = ?`, id)
	}
	if err != nil {
		return fmt.Errorf("saving state of rule %q: %w", id, err)
	}
	return c.disabled.load(ctx, c.db)
}

// DisabledRules returns the ids of the rules disabled in the console.
func (c *Console) DisabledRules() map[string]bool {
	m := c.disabled.ids.Load()
	out := make(map[string]bool, len(*m))
	for k := range *m {
		out[k] = true
	}
	return out
}

// filteredMatcher drops detections of disabled rules.
type filteredMatcher struct {
	m alert.Matcher
	f *ruleFilter
}

// dropper forwards the detections of enabled rules. Droppers are pooled,
// each with its method value bound once, so filtering costs no allocation
// per event.
type dropper struct {
	ids  map[string]bool
	fn   func(detect.Detection)
	call func(detect.Detection)
}

func (d *dropper) forward(det detect.Detection) {
	if det.Rule != nil && d.ids[det.Rule.ID] {
		return
	}
	d.fn(det)
}

var droppers = sync.Pool{New: func() any {
	d := &dropper{}
	d.call = d.forward
	return d
}}

// Match implements alert.Matcher.
func (fm *filteredMatcher) Match(ev *event.Event, fn func(detect.Detection)) {
	ids := fm.f.ids.Load()
	if ids == nil || len(*ids) == 0 {
		fm.m.Match(ev, fn)
		return
	}
	d := droppers.Get().(*dropper)
	d.ids, d.fn = *ids, fn
	fm.m.Match(ev, d.call)
	d.ids, d.fn = nil, nil
	droppers.Put(d)
}
