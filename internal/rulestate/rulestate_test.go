package rulestate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/sigma"
)

// fakeMatcher reports one detection of each of its rules for every event.
type fakeMatcher []*sigma.Rule

func (f fakeMatcher) Match(ev *event.Event, fn func(detect.Detection)) {
	for _, r := range f {
		fn(detect.Detection{Rule: r, Event: ev})
	}
}

// matched returns the ids of the rules whose detections pass the filter.
func matched(s *State, rules fakeMatcher) []string {
	var out []string
	s.Filter(rules).Match(&event.Event{}, func(d detect.Detection) { out = append(out, d.Rule.ID) })
	return out
}

func keys(m map[string]bool) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type op struct {
	disable bool
	rule    string
	actor   string
}

func TestDisableEnable(t *testing.T) { metatest.Engines(t, testDisableEnable) }

func testDisableEnable(t *testing.T) {
	rules := fakeMatcher{{ID: "r1"}, {ID: "r2"}, {ID: "r3"}}
	tests := []struct {
		name      string
		ops       []op
		disabled  []string
		passed    []string
		auditActs []string // audit actions recorded, oldest first
	}{
		{name: "none", disabled: []string{}, passed: []string{"r1", "r2", "r3"}},
		{name: "disable one", ops: []op{{true, "r2", "alice"}},
			disabled: []string{"r2"}, passed: []string{"r1", "r3"}, auditActs: []string{"rule.disable r2 alice"}},
		{name: "disable twice records once", ops: []op{{true, "r2", "alice"}, {true, "r2", "bob"}},
			disabled: []string{"r2"}, passed: []string{"r1", "r3"}, auditActs: []string{"rule.disable r2 alice"}},
		{name: "disable then enable", ops: []op{{true, "r1", "alice"}, {false, "r1", "bob"}},
			disabled: []string{}, passed: []string{"r1", "r2", "r3"}, auditActs: []string{"rule.disable r1 alice", "rule.enable r1 bob"}},
		{name: "enable an enabled rule records nothing", ops: []op{{false, "r1", "alice"}},
			disabled: []string{}, passed: []string{"r1", "r2", "r3"}},
		{name: "all disabled", ops: []op{{true, "r1", "a"}, {true, "r2", "a"}, {true, "r3", "a"}},
			disabled: []string{"r1", "r2", "r3"}, auditActs: []string{"rule.disable r1 a", "rule.disable r2 a", "rule.disable r3 a"}},
		{name: "a rule not loaded", ops: []op{{true, "gone", "a"}},
			disabled: []string{"gone"}, passed: []string{"r1", "r2", "r3"}, auditActs: []string{"rule.disable gone a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "meta.db")
			db := metatest.OpenPath(t, path)
			log, err := audit.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, db, Options{Audit: log.RecordTx})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tt.ops {
				f := s.Enable
				if o.disable {
					f = s.Disable
				}
				if err := f(ctx, o.rule, o.actor); err != nil {
					t.Fatalf("%+v: %v", o, err)
				}
			}
			if got := keys(s.Disabled()); !slices.Equal(got, tt.disabled) {
				t.Errorf("Disabled: got %v, want %v", got, tt.disabled)
			}
			for _, r := range rules {
				if got, want := s.IsDisabled(r.ID), slices.Contains(tt.disabled, r.ID); got != want {
					t.Errorf("IsDisabled(%s): got %v, want %v", r.ID, got, want)
				}
			}
			if d := cmp.Diff(tt.passed, matched(s, rules)); d != "" {
				t.Errorf("detections passed (-want +got):\n%s", d)
			}
			entries, err := log.List(ctx, audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var acts []string
			for _, e := range slices.Backward(entries) {
				acts = append(acts, e.Action+" "+e.Target+" "+e.Actor)
			}
			if d := cmp.Diff(tt.auditActs, acts); d != "" {
				t.Errorf("audit entries (-want +got):\n%s", d)
			}
			// The state survives a restart.
			s2, err := Open(ctx, metatest.OpenPath(t, path), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(s2.Disabled()); !slices.Equal(got, tt.disabled) {
				t.Errorf("after reopening: got %v, want %v", got, tt.disabled)
			}
		})
	}
}

func TestAuditEntry(t *testing.T) { metatest.Engines(t, testAuditEntry) }

func testAuditEntry(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	log, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, db, Options{Audit: log.RecordTx})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Disable(ctx, "r1", "alice"); err != nil {
		t.Fatal(err)
	}
	es, err := log.List(ctx, audit.Filter{Target: "r1"})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit entries for r1: got %d, %v; want 1", len(es), err)
	}
	if got, want := string(es[0].Before)+" "+string(es[0].After), `{"disabled":false} {"disabled":true}`; got != want {
		t.Errorf("before and after: got %s, want %s", got, want)
	}
	if rep, err := log.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("audit chain: %+v, %v", rep, err)
	}
}

// TestAuditFailureUndoesChange: a change whose audit entry cannot be
// written is not made, in the database or in memory.
func TestAuditFailureUndoesChange(t *testing.T) { metatest.Engines(t, testAuditFailureUndoesChange) }

func testAuditFailureUndoesChange(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	boom := errors.New("audit log unavailable")
	s, err := Open(ctx, db, Options{Audit: func(context.Context, *sql.Tx, ...audit.Entry) error { return boom }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Disable(ctx, "r1", "alice"); !errors.Is(err, boom) {
		t.Fatalf("Disable: got %v, want %v", err, boom)
	}
	if s.IsDisabled("r1") {
		t.Errorf("rule disabled in memory though its audit entry failed")
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM console_disabled_rules`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows stored: got %d, %v; want 0", n, err)
	}
}

func TestNoRuleID(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, metatest.Open(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(context.Context, string, string) error{"Disable": s.Disable, "Enable": s.Enable} {
		if err := f(ctx, "", "alice"); !errors.Is(err, ErrNoRuleID) {
			t.Errorf("%s(\"\"): got %v, want ErrNoRuleID", name, err)
		}
	}
	if s.Filter(nil) != nil {
		t.Errorf("Filter(nil): got a matcher, want nil")
	}
}

// TestConcurrentChanges changes rules from many goroutines while the
// filter runs; the set in memory ends as the database has it.
func TestConcurrentChanges(t *testing.T) { metatest.Engines(t, testConcurrentChanges) }

func testConcurrentChanges(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	s, err := Open(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rules fakeMatcher
	for i := range 8 {
		rules = append(rules, &sigma.Rule{ID: fmt.Sprintf("r%d", i)})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				matched(s, rules)
			}
		}
	})
	var wg sync.WaitGroup
	for i, r := range rules {
		wg.Go(func() {
			for range 5 {
				if err := s.Disable(ctx, r.ID, "a"); err != nil {
					t.Error(err)
				}
				if err := s.Enable(ctx, r.ID, "a"); err != nil {
					t.Error(err)
				}
			}
			if i%2 == 0 {
				if err := s.Disable(ctx, r.ID, "a"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	want := []string{"r0", "r2", "r4", "r6"}
	if got := keys(s.Disabled()); !slices.Equal(got, want) {
		t.Errorf("in memory: got %v, want %v", got, want)
	}
	s2, err := Open(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(s2.Disabled()); !slices.Equal(got, want) {
		t.Errorf("stored: got %v, want %v", got, want)
	}
	if got := matched(s, rules); !slices.Equal(got, []string{"r1", "r3", "r5", "r7"}) {
		t.Errorf("detections passed: got %v", got)
	}
}

// BenchmarkFilter measures what the disabled-rule filter adds to the
// detection path, with no rule disabled and with one disabled.
//
//	go test -run '^$' -bench BenchmarkFilter ./internal/rulestate/
func BenchmarkFilter(b *testing.B) {
	ctx := context.Background()
	rule := fakeMatcher{{ID: "r1"}}
	ev := &event.Event{}
	count := 0
	fn := func(detect.Detection) { count++ }
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rule.Match(ev, fn)
		}
	})
	for _, disabled := range []bool{false, true} {
		name := "wrapped/none-disabled"
		if disabled {
			name = "wrapped/one-disabled"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(ctx, metatest.Open(b), Options{})
			if err != nil {
				b.Fatal(err)
			}
			if disabled {
				if err := s.Disable(ctx, "some-other-rule", "bench"); err != nil {
					b.Fatal(err)
				}
			}
			m := s.Filter(rule)
			b.ReportAllocs()
			for b.Loop() {
				m.Match(ev, fn)
			}
		})
	}
}
