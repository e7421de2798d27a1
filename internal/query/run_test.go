package query

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/event"
)

// runEvents are sshd events over three minutes: alice fails twice from
// 10.0.0.1, bob once from 10.0.0.2 and succeeds once; one event has no
// source.ip; bytes are numeric, a numeric string, or not numeric.
func runEvents() []*event.Event {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	mk := func(sec int, user, ip, outcome string, bytes event.Value) *event.Event {
		ev := &event.Event{Time: base.Add(time.Duration(sec) * time.Second)}
		ev.SetString("user.name", user)
		ev.SetString("source.ip", ip)
		ev.SetString("event.outcome", outcome)
		ev.Set("bytes", bytes)
		ev.SetString("message", outcome+" for "+user)
		return ev
	}
	return []*event.Event{
		mk(10, "alice", "10.0.0.1", "failure", event.Int(100)),
		mk(70, "alice", "10.0.0.1", "failure", event.String("300")),
		mk(75, "bob", "10.0.0.2", "failure", event.Float(50.5)),
		mk(130, "bob", "10.0.0.2", "success", event.String("n/a")),
		mk(140, "carol", "", "failure", event.Null()),
	}
}

func TestRun(t *testing.T) {
	bucket := func(min int) time.Time { return time.Date(2026, 11, 22, 10, min, 0, 0, time.UTC) }
	tests := []struct {
		q    string
		cols []string
		rows [][]any
	}{
		{
			"failure | stats count() by source.ip",
			[]string{"source.ip", "count"},
			[][]any{{nil, int64(1)}, {"10.0.0.1", int64(2)}, {"10.0.0.2", int64(1)}},
		},
		{
			"| stats count(), count(source.ip) as with_ip, dc(user.name), min(bytes), max(bytes), sum(bytes), avg(bytes)",
			[]string{"count", "with_ip", "dc(user.name)", "min(bytes)", "max(bytes)", "sum(bytes)", "avg(bytes)"},
			[][]any{{int64(5), int64(4), int64(3), 50.5, 300.0, 450.5, 450.5 / 3}},
		},
		{
			"nomatch | stats count(), max(bytes)",
			[]string{"count", "max(bytes)"},
			[][]any{{int64(0), nil}},
		},
		{
			"nomatch | stats count() by user.name",
			[]string{"user.name", "count"},
			[][]any{},
		},
		{
			"| stats count() by user.name, event.outcome | sort -count, -user.name | limit 2",
			[]string{"user.name", "event.outcome", "count"},
			[][]any{{"alice", "failure", int64(2)}, {"carol", "failure", int64(1)}},
		},
		{
			"| stats count() as n, dc(source.ip) by user.name | sort n | fields n, user.name",
			[]string{"n", "user.name"},
			[][]any{{int64(1), "carol"}, {int64(2), "alice"}, {int64(2), "bob"}},
		},
		{
			"| timechart span=1m count()",
			[]string{"@timestamp", "count"},
			[][]any{{bucket(0), int64(1)}, {bucket(1), int64(2)}, {bucket(2), int64(2)}},
		},
		{
			"| timechart span=1m count(), max(bytes) by user.name | sort -max(bytes) | limit 3",
			[]string{"@timestamp", "user.name", "count", "max(bytes)"},
			[][]any{{bucket(1), "alice", int64(1), 300.0}, {bucket(0), "alice", int64(1), 100.0}, {bucket(1), "bob", int64(1), 50.5}},
		},
		{
			"| timechart span=1h count()",
			[]string{"@timestamp", "count"},
			[][]any{{bucket(0), int64(5)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			q, err := Parse(tt.q)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.q, err)
			}
			res, err := Run(q, slices.Values(runEvents()))
			if err != nil {
				t.Fatalf("Run(%q): %v", tt.q, err)
			}
			if diff := cmp.Diff(tt.cols, res.Columns); diff != "" {
				t.Errorf("columns mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.rows, res.Rows, cmp.Comparer(func(a, b [][]any) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })); diff != "" {
				t.Errorf("rows mismatch (-want +got):\n%s", diff)
			}
			if cols := q.OutputColumns(); !cmp.Equal(cols, tt.cols) {
				t.Errorf("OutputColumns() = %v, want %v", cols, tt.cols)
			}
		})
	}
}

func TestRunEvents(t *testing.T) {
	tests := []struct {
		q    string
		want []string // messages, in order
	}{
		{"", []string{"failure for carol", "success for bob", "failure for bob", "failure for alice", "failure for alice"}},
		{"failure | limit 2", []string{"failure for carol", "failure for bob"}},
		{"| sort user.name | limit 3", []string{"failure for alice", "failure for alice", "success for bob"}},
		// Numbers (50.5, 100, and "300" as a number) sort before text
		// ("n/a"), null first.
		{"| sort -bytes", []string{"success for bob", "failure for alice", "failure for alice", "failure for bob", "failure for carol"}},
		{"| sort bytes", []string{"failure for carol", "failure for bob", "failure for alice", "failure for alice", "success for bob"}},
		{"| sort @timestamp | limit 1 | fields message", []string{"failure for alice"}},
		{"success | sort -source.ip", []string{"success for bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			q, err := Parse(tt.q)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.q, err)
			}
			res, err := Run(q, slices.Values(runEvents()))
			if err != nil {
				t.Fatalf("Run(%q): %v", tt.q, err)
			}
			var got []string
			for _, ev := range res.Events {
				got = append(got, ev.Str("message"))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunArrays(t *testing.T) {
	a := &event.Event{Time: time.Unix(100, 0)}
	a.Set("host.name", event.String("h1"))
	a.Set("host.name", event.String("h2"))
	a.Set("n", event.Int(5))
	a.Set("n", event.String("7"))
	a.Set("n", event.Null())
	b := &event.Event{Time: time.Unix(200, 0)}
	b.Set("host.name", event.Null())
	b.Set("host.name", event.String("h2"))
	b.Set("n", event.Null())
	q, err := Parse("| stats count(), count(n), dc(host.name), sum(n), min(n), max(n), avg(n) by host.name")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(q, slices.Values([]*event.Event{a, b}))
	if err != nil {
		t.Fatal(err)
	}
	// Groups by the first non-null value (h1 for a, h2 for b); aggregates
	// take every element.
	want := [][]any{
		{"h1", int64(1), int64(1), int64(2), 12.0, 5.0, 7.0, 6.0},
		{"h2", int64(1), int64(0), int64(1), nil, nil, nil, nil},
	}
	if diff := cmp.Diff(want, res.Rows); diff != "" {
		t.Errorf("rows mismatch (-want +got):\n%s", diff)
	}
}

func TestBucket(t *testing.T) {
	tests := []struct {
		t    time.Time
		span time.Duration
		want time.Time
	}{
		{time.Date(2026, 11, 22, 10, 7, 59, 999, time.UTC), 5 * time.Minute, time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)},
		{time.Date(2026, 11, 22, 10, 7, 0, 0, time.FixedZone("x", 3600)), time.Hour, time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
		{time.Date(1969, 12, 31, 23, 59, 30, 0, time.UTC), time.Minute, time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC)},
		{time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), 7 * 24 * time.Hour, time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)}, // epoch was a Thursday
	}
	for _, tt := range tests {
		if got := bucket(tt.t, tt.span); !got.Equal(tt.want) {
			t.Errorf("bucket(%v, %v) = %v, want %v", tt.t, tt.span, got, tt.want)
		}
	}
}

func TestCompileBeforeFieldExists(t *testing.T) {
	const name = "query.test.field.interned.after.compile"
	if _, ok := event.Lookup(name); ok {
		t.Fatalf("field %q already interned", name)
	}
	m := Compile(&Query{Filter: &Term{Field: name, Op: OpEq, Value: "x"}})
	if _, ok := event.Lookup(name); ok {
		t.Errorf("Compile interned %q; query field names must not grow the key table", name)
	}
	ev := &event.Event{}
	ev.Set(name, event.String("X"))
	if !m.Match(ev) {
		t.Errorf("Match on a field interned after Compile = false, want true")
	}
}
