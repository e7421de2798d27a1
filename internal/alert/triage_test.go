package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// triageFixture is a store with n alerts (a0, a1, ...), a triager on it
// with a settable clock, and the audit log it records to.
type triageFixture struct {
	db  *sql.DB
	s   *Store
	tr  *Triager
	log *audit.Log
	now time.Time
}

func newTriageFixture(t *testing.T, n int) *triageFixture {
	t.Helper()
	ctx := context.Background()
	db := metatest.Open(t)
	s, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		a := &Alert{ID: fmt.Sprintf("a%d", i), RuleID: "r1", RuleTitle: "Rule", Level: "high", Count: 1,
			FirstSeen: base, LastSeen: base.Add(time.Duration(i) * time.Second), Entities: map[string][]string{}, Event: json.RawMessage(`{}`),
			Status: "open", DedupKey: fmt.Sprintf("k%d", i)}
		if err := insert(ctx, tx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	f := &triageFixture{db: db, s: s, log: log, now: base.Add(time.Hour)}
	f.tr = NewTriager(s, TriageOptions{Audit: log.RecordTx, Now: func() time.Time { return f.now }})
	return f
}

// triageStep is one change: ack (assignee unused) or assign.
type triageStep struct {
	op       string // ack, assign
	ids      []string
	assignee string
	actor    string
}

func (f *triageFixture) apply(ctx context.Context, st triageStep) error {
	f.now = f.now.Add(time.Minute) // each step at its own time
	if st.op == "ack" {
		return f.tr.Ack(ctx, st.ids, st.actor)
	}
	return f.tr.Assign(ctx, st.ids, st.assignee, st.actor)
}

func TestTriage(t *testing.T) { metatest.Engines(t, testTriage) }

func testTriage(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	at := func(step int) time.Time { return t0.Add(time.Duration(step) * time.Minute) }
	tests := []struct {
		name  string
		steps []triageStep
		want  map[string]Triage
		audit []string // "action target actor", oldest first
	}{
		{name: "untouched", want: map[string]Triage{}},
		{name: "ack one",
			steps: []triageStep{{op: "ack", ids: []string{"a0"}, actor: "alice"}},
			want:  map[string]Triage{"a0": {AckedBy: "alice", AckedAt: at(1)}},
			audit: []string{"alert.ack a0 alice"}},
		{name: "assign two, then ack one of them",
			steps: []triageStep{{op: "assign", ids: []string{"a0", "a1"}, assignee: "bob", actor: "alice"}, {op: "ack", ids: []string{"a1"}, actor: "bob"}},
			want:  map[string]Triage{"a0": {Assignee: "bob"}, "a1": {Assignee: "bob", AckedBy: "bob", AckedAt: at(2)}},
			audit: []string{"alert.assign a0 alice", "alert.assign a1 alice", "alert.ack a1 bob"}},
		{name: "a later ack replaces an earlier one",
			steps: []triageStep{{op: "ack", ids: []string{"a2"}, actor: "alice"}, {op: "ack", ids: []string{"a2"}, actor: "bob"}},
			want:  map[string]Triage{"a2": {AckedBy: "bob", AckedAt: at(2)}},
			audit: []string{"alert.ack a2 alice", "alert.ack a2 bob"}},
		{name: "assigning the same assignee again records nothing",
			steps: []triageStep{{op: "assign", ids: []string{"a0"}, assignee: "bob", actor: "alice"}, {op: "assign", ids: []string{"a0"}, assignee: " bob ", actor: "carol"}},
			want:  map[string]Triage{"a0": {Assignee: "bob"}},
			audit: []string{"alert.assign a0 alice"}},
		{name: "unassign keeps the ack",
			steps: []triageStep{{op: "ack", ids: []string{"a0"}, actor: "alice"}, {op: "assign", ids: []string{"a0"}, assignee: "bob", actor: "alice"}, {op: "assign", ids: []string{"a0"}, assignee: "", actor: "alice"}},
			want:  map[string]Triage{"a0": {AckedBy: "alice", AckedAt: at(1)}},
			audit: []string{"alert.ack a0 alice", "alert.assign a0 alice", "alert.assign a0 alice"}},
		{name: "a repeated id counts once",
			steps: []triageStep{{op: "ack", ids: []string{"a1", "a1"}, actor: "alice"}},
			want:  map[string]Triage{"a1": {AckedBy: "alice", AckedAt: at(1)}},
			audit: []string{"alert.ack a1 alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newTriageFixture(t, 3)
			f.now = t0
			for _, st := range tt.steps {
				if err := f.apply(ctx, st); err != nil {
					t.Fatalf("%+v: %v", st, err)
				}
			}
			got, err := f.tr.Of(ctx, []string{"a0", "a1", "a2", "nope"})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("triage (-want +got):\n%s", d)
			}
			// List and Get read the same triage with the alerts.
			list, err := f.tr.List(ctx, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 3 {
				t.Fatalf("List: got %d alerts, want 3", len(list))
			}
			for _, a := range list {
				if d := cmp.Diff(tt.want[a.ID], a.Triage); d != "" {
					t.Errorf("List: triage of %s (-want +got):\n%s", a.ID, d)
				}
				one, err := f.tr.Get(ctx, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.want[a.ID], one.Triage); d != "" || one.ID != a.ID {
					t.Errorf("Get(%s): got %s (-want +got):\n%s", a.ID, one.ID, d)
				}
			}
			entries, err := f.log.List(ctx, audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var acts []string
			for _, e := range slices.Backward(entries) {
				acts = append(acts, e.Action+" "+e.Target+" "+e.Actor)
			}
			if d := cmp.Diff(tt.audit, acts); d != "" {
				t.Errorf("audit entries (-want +got):\n%s", d)
			}
		})
	}
}

func TestTriageRefused(t *testing.T) { metatest.Engines(t, testTriageRefused) }

func testTriageRefused(t *testing.T) {
	tests := []struct {
		name string
		step triageStep
		want error
	}{
		{"unknown alert", triageStep{op: "ack", ids: []string{"a0", "nope"}, actor: "alice"}, ErrNotFound},
		{"unknown alert, assign", triageStep{op: "assign", ids: []string{"nope"}, assignee: "bob", actor: "alice"}, ErrNotFound},
		{"no alert", triageStep{op: "ack", actor: "alice"}, ErrInvalid},
		{"assignee too long", triageStep{op: "assign", ids: []string{"a0"}, assignee: strings.Repeat("é", MaxAssignee+1), actor: "alice"}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newTriageFixture(t, 1)
			if err := f.apply(ctx, tt.step); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			// Nothing of a refused change is kept, not even for the
			// alerts it named that exist.
			if got, err := f.tr.Of(ctx, []string{"a0"}); err != nil || len(got) != 0 {
				t.Errorf("triage after a refused change: got %v, %v; want none", got, err)
			}
			if es, err := f.log.List(ctx, audit.Filter{}); err != nil || len(es) != 0 {
				t.Errorf("audit entries after a refused change: got %d, %v; want 0", len(es), err)
			}
		})
	}
	t.Run("audit failure", func(t *testing.T) {
		ctx := context.Background()
		f := newTriageFixture(t, 1)
		boom := errors.New("audit log unavailable")
		tr := NewTriager(f.s, TriageOptions{Audit: func(context.Context, *sql.Tx, ...audit.Entry) error { return boom }})
		if err := tr.Ack(ctx, []string{"a0"}, "alice"); !errors.Is(err, boom) {
			t.Fatalf("got %v, want %v", err, boom)
		}
		if got, err := tr.Of(ctx, []string{"a0"}); err != nil || len(got) != 0 {
			t.Errorf("triage after a failed audit: got %v, %v; want none", got, err)
		}
	})
}

// TestTriageAuditEntry checks what one entry holds: the alert's triage
// before and after.
func TestTriageAuditEntry(t *testing.T) { metatest.Engines(t, testTriageAuditEntry) }

func testTriageAuditEntry(t *testing.T) {
	ctx := context.Background()
	f := newTriageFixture(t, 1)
	if err := f.tr.Assign(ctx, []string{"a0"}, "bob", "alice"); err != nil {
		t.Fatal(err)
	}
	es, err := f.log.List(ctx, audit.Filter{Target: "a0"})
	if err != nil || len(es) != 1 {
		t.Fatalf("audit entries: got %d, %v; want 1", len(es), err)
	}
	if got, want := string(es[0].Before)+" "+string(es[0].After), `{} {"assignee":"bob"}`; got != want {
		t.Errorf("before and after: got %s, want %s", got, want)
	}
	if rep, err := f.log.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("audit chain: %+v, %v", rep, err)
	}
}

// TestTriagedJSON: the triage fields are added to an alert's JSON when they
// are set, and absent otherwise, so clients of the alert JSON see nothing
// change for untriaged alerts.
func TestTriagedJSON(t *testing.T) {
	a := Alert{ID: "a0", Status: "open"}
	for _, tt := range []struct {
		name    string
		tr      Triage
		present []string
		absent  []string
	}{
		{"untriaged", Triage{}, []string{"id", "status"}, []string{"assignee", "acked_by", "acked_at"}},
		{"assigned", Triage{Assignee: "bob"}, []string{"id", "assignee"}, []string{"acked_by", "acked_at"}},
		{"acked", Triage{AckedBy: "bob", AckedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, []string{"acked_by", "acked_at"}, []string{"assignee"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(Triaged{Alert: a, Triage: tt.tr})
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.present {
				if _, ok := m[k]; !ok {
					t.Errorf("%s: field %q missing", b, k)
				}
			}
			for _, k := range tt.absent {
				if _, ok := m[k]; ok {
					t.Errorf("%s: field %q present", b, k)
				}
			}
		})
	}
}

// TestTriagePlans: reading and changing triage reaches rows by primary
// key (the alert list reads the triage of up to 500 alerts at a time).
func TestTriagePlans(t *testing.T) {
	db := metatest.Open(t)
	metatest.CheckIndexed(t, db, []metatest.Statement{
		{Name: "triageSQL", Query: triageSQL, Args: []any{"a1"}},
		{Name: "Of", Query: triageOfSQL + "?,?,?)", Args: []any{"a1", "a2", "a3"}},
	})
}
