// Package rulestate keeps which detection rules people have disabled, and
// drops those rules' detections before they become alerts. The console and
// the API change the state through the same State, which writes the change
// and its audit entry in one transaction; the detection path reads an
// immutable in-memory copy of the set without locking.
//
// The set lives in the metadata table console_disabled_rules (package
// meta owns its schema; the name is where the state lived first).
package rulestate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// ErrNoRuleID is returned for a change that names no rule.
var ErrNoRuleID = errors.New("rule id is empty")

// Options configure a State.
type Options struct {
	// Audit appends entries to the audit log inside the change's
	// transaction (audit.Log.RecordTx), so that no change is stored without
	// its record. Nil records nothing (tests).
	Audit func(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// State is the set of disabled rules.
type State struct {
	db *sql.DB
	o  Options
	// mu serialises changes, so that the in-memory set is replaced in the
	// order the changes committed and never goes back to an older set.
	mu  sync.Mutex
	ids atomic.Pointer[map[string]bool]
}

// Open reads the disabled rules of db, a metadata database migrated by
// package meta.
func Open(ctx context.Context, db *sql.DB, o Options) (*State, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	rows, err := db.QueryContext(ctx, `SELECT rule_id FROM console_disabled_rules`)
	if err != nil {
		return nil, fmt.Errorf("reading disabled rules: %w", err)
	}
	defer rows.Close()
	m := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("reading disabled rules: %w", err)
		}
		m[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading disabled rules: %w", err)
	}
	s := &State{db: db, o: o}
	s.ids.Store(&m)
	return s, nil
}

// Disable disables a rule: its detections are dropped from now on, and
// after a restart. Disabling a disabled rule changes nothing and records
// nothing.
func (s *State) Disable(ctx context.Context, ruleID, actor string) error {
	return s.set(ctx, ruleID, actor, true)
}

// Enable enables a disabled rule again. Enabling an enabled rule changes
// nothing and records nothing.
func (s *State) Enable(ctx context.Context, ruleID, actor string) error {
	return s.set(ctx, ruleID, actor, false)
}

// stateJSON is a rule's state in an audit entry's before and after.
func stateJSON(disabled bool) json.RawMessage {
	if disabled {
		return json.RawMessage(`{"disabled":true}`)
	}
	return json.RawMessage(`{"disabled":false}`)
}

func (s *State) set(ctx context.Context, ruleID, actor string, disable bool) error {
	if ruleID == "" {
		return ErrNoRuleID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	verb := "enabling"
	if disable {
		verb = "disabling"
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s rule %q: %w", verb, ruleID, err)
	}
	defer tx.Rollback()
	var res sql.Result
	if disable {
		res, err = tx.ExecContext(ctx, `INSERT INTO console_disabled_rules (rule_id, actor, at) VALUES (?, ?, ?)
			ON CONFLICT(rule_id) DO NOTHING`, ruleID, actor, s.o.Now().UnixNano())
	} else {
		res, err = tx.ExecContext(ctx, `DELETE FROM console_disabled_rules WHERE rule_id = ?`, ruleID)
	}
	if err != nil {
		return fmt.Errorf("%s rule %q: %w", verb, ruleID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s rule %q: %w", verb, ruleID, err)
	}
	if n == 0 {
		return nil // already in that state: nothing to record
	}
	if s.o.Audit != nil {
		action := "rule.enable"
		if disable {
			action = "rule.disable"
		}
		e := audit.Entry{Actor: actor, Action: action, Target: ruleID,
			Before: stateJSON(!disable), After: stateJSON(disable)}
		if err := s.o.Audit(ctx, tx, e); err != nil {
			return fmt.Errorf("%s rule %q: %w", verb, ruleID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s rule %q: %w", verb, ruleID, err)
	}
	// Copy on write: readers hold the old map as long as they need it.
	m := maps.Clone(*s.ids.Load())
	if disable {
		m[ruleID] = true
	} else {
		delete(m, ruleID)
	}
	s.ids.Store(&m)
	return nil
}

// IsDisabled reports whether the rule is disabled.
func (s *State) IsDisabled(ruleID string) bool {
	return (*s.ids.Load())[ruleID]
}

// Disabled returns the ids of the disabled rules (a copy).
func (s *State) Disabled() map[string]bool {
	return maps.Clone(*s.ids.Load())
}

// Filter wraps a rule engine so that detections of disabled rules are
// dropped. The server wraps every engine it puts in force, so that disabled
// rules stay disabled across rule reloads. A rule is still matched (a
// correlation that uses it still counts its matches); only its own
// detections are dropped.
func (s *State) Filter(m alert.Matcher) alert.Matcher {
	if m == nil {
		return nil
	}
	return &filtered{m: m, s: s}
}

// filtered drops detections of disabled rules.
type filtered struct {
	m alert.Matcher
	s *State
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
func (f *filtered) Match(ev *event.Event, fn func(detect.Detection)) { f.MatchFed(ev, fn) }

// MatchFed implements alert.FedMatcher (false when the engine filtered
// cannot tell).
func (f *filtered) MatchFed(ev *event.Event, fn func(detect.Detection)) bool {
	ids := *f.s.ids.Load()
	if len(ids) == 0 {
		// The common case costs one atomic load.
		return f.match(ev, fn)
	}
	d := droppers.Get().(*dropper)
	d.ids, d.fn = ids, fn
	fed := f.match(ev, d.call)
	d.ids, d.fn = nil, nil
	droppers.Put(d)
	return fed
}

func (f *filtered) match(ev *event.Event, fn func(detect.Detection)) bool {
	if fm, ok := f.m.(alert.FedMatcher); ok {
		return fm.MatchFed(ev, fn)
	}
	f.m.Match(ev, fn)
	return false
}
