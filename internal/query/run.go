package query

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// Result is the outcome of Run: events for an event query, a table for an
// aggregate query.
type Result struct {
	// Events are the matching events after sort and limit (newest first
	// unless sorted otherwise). A Fields pipe does not trim them: projecting
	// is the caller's job (see Query.OutputColumns).
	Events []*event.Event
	// Columns and Rows are the table of an aggregate query. Cells are nil
	// (null), string (group-by values), int64 (count, dc), float64 (min,
	// max, avg, sum) or time.Time (timechart buckets, UTC).
	Columns []string
	Rows    [][]any
}

// Run evaluates q over events in memory: the filter, then the pipes. It is
// the reference for what a storage engine must return, and serves small
// in-memory data sets (live tail windows, tests).
//
// Group-by values are the text of a field's first non-null value; events
// that lack one form a group whose value is null. count(f) counts events
// with a non-null value of f; dc, min, max, sum and avg take every non-null
// value of f (every element of an array), min to avg only the numeric ones
// (NumericValue), and are null when there are none. Stats without By fields
// always yields one row, even over no events. Events sort by a field's
// first non-null value: a number when it is numeric (NumericValue, so
// "1500" sorts as 1500), its text otherwise; @timestamp sorts by time. Timechart yields a row per
// non-empty bucket (and By value). Unsorted aggregate rows come in
// ascending order of their group values (bucket first for timechart).
// Sorting orders null first, then numbers, times and text (byte order), as
// SQLite does. Descending keys reverse all of that. Sorts are stable.
func Run(q *Query, events iter.Seq[*event.Event]) (*Result, error) {
	m := Compile(q)
	var evs []*event.Event
	for ev := range events {
		if m.Match(ev) {
			evs = append(evs, ev)
		}
	}
	pl := &runPlan{evs: evs, res: &Result{}, limit: -1}
	for _, p := range q.Pipes {
		if p == nil {
			return nil, errNilPipe
		}
		if err := p.plan(pl); err != nil {
			return nil, err
		}
	}
	res, sorter, limit, fields := pl.res, pl.sorter, pl.limit, pl.fields
	if !q.IsAggregate() {
		// Newest first, then the requested order (stable, so ties stay
		// newest first).
		slices.SortStableFunc(evs, func(a, b *event.Event) int {
			return b.Timestamp().Compare(a.Timestamp())
		})
		if sorter != nil {
			keys := make([][]any, len(evs))
			for i, ev := range evs {
				keys[i] = make([]any, len(sorter.Keys))
				for j, k := range sorter.Keys {
					keys[i][j] = sortValue(ev, k.Field)
				}
			}
			idx := make([]int, len(evs))
			for i := range idx {
				idx[i] = i
			}
			slices.SortStableFunc(idx, func(a, b int) int {
				return compareKeys(keys[a], keys[b], sorter.Keys)
			})
			sorted := make([]*event.Event, len(evs))
			for i, j := range idx {
				sorted[i] = evs[j]
			}
			evs = sorted
		}
		if limit >= 0 && len(evs) > limit {
			evs = evs[:limit]
		}
		res.Events = evs
		return res, nil
	}
	if sorter != nil {
		cols := make([]int, len(sorter.Keys))
		for i, k := range sorter.Keys {
			cols[i] = slices.Index(res.Columns, k.Field)
			if cols[i] < 0 {
				return nil, fmt.Errorf("running query: sort column %q is not an output column", k.Field)
			}
		}
		slices.SortStableFunc(res.Rows, func(a, b []any) int {
			for i, k := range sorter.Keys {
				c := compareAny(a[cols[i]], b[cols[i]])
				if k.Desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	if limit >= 0 && len(res.Rows) > limit {
		res.Rows = res.Rows[:limit]
	}
	if fields != nil {
		idx := make([]int, len(fields.Names))
		for i, n := range fields.Names {
			idx[i] = slices.Index(res.Columns, n)
			if idx[i] < 0 {
				return nil, fmt.Errorf("running query: fields column %q is not an output column", n)
			}
		}
		for r, row := range res.Rows {
			out := make([]any, len(idx))
			for i, j := range idx {
				out[i] = row[j]
			}
			res.Rows[r] = out
		}
		res.Columns = slices.Clone(fields.Names)
	}
	return res, nil
}

func compareKeys(a, b []any, keys []SortKey) int {
	for i, k := range keys {
		c := compareAny(a[i], b[i])
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// sortValue returns the value events sort by: for @timestamp the event's
// Timestamp(); otherwise the field's first non-null value, as a float64 when
// it is numeric (see NumericValue) and as its text otherwise; nil when the
// event has none.
func sortValue(ev *event.Event, name string) any {
	if name == event.FieldTimestamp {
		return ev.Timestamp()
	}
	var out any
	FieldValues(ev, name, func(v event.Value) bool {
		if v.Kind == event.KindNull {
			return true
		}
		if n, ok := NumericValue(v); ok {
			out = n
		} else {
			out = v.Str
		}
		return false
	})
	return out
}

// rank orders the types of cells as SQLite does: nil, numbers, then text;
// times (timechart buckets, @timestamp) after numbers.
func rank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool, int64, float64:
		return 1
	case time.Time:
		return 2
	case string:
		return 3
	}
	return 4
}

// compareAny orders two cells (see Run).
func compareAny(a, b any) int {
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	switch a := a.(type) {
	case bool, int64, float64:
		if ai, ok := a.(int64); ok {
			if bi, ok := b.(int64); ok {
				return cmp.Compare(ai, bi)
			}
		}
		return cmp.Compare(toFloat(a), toFloat(b))
	case string:
		return strings.Compare(a, b.(string))
	case time.Time:
		return a.Compare(b.(time.Time))
	}
	return 0
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case bool:
		if v {
			return 1
		}
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// aggState accumulates one aggregate of one group.
type aggState struct {
	n        int64 // rows counted; numeric values seen
	sum      float64
	min, max float64
	distinct map[string]struct{}
}

func (s *aggState) add(a Agg, ev *event.Event) {
	if a.Func == AggCount && a.Field == "" {
		s.n++
		return
	}
	seen := false
	FieldValues(ev, a.Field, func(v event.Value) bool {
		if v.Kind == event.KindNull {
			return true
		}
		seen = true
		switch a.Func {
		case AggCount:
			return false
		case AggDC:
			if s.distinct == nil {
				s.distinct = map[string]struct{}{}
			}
			s.distinct[v.Str] = struct{}{}
		default:
			x, ok := NumericValue(v)
			if !ok {
				return true
			}
			if s.n == 0 || x < s.min {
				s.min = x
			}
			if s.n == 0 || x > s.max {
				s.max = x
			}
			s.sum += x
			s.n++
		}
		return true
	})
	if seen && a.Func == AggCount {
		s.n++
	}
}

func (s *aggState) value(a Agg) any {
	switch a.Func {
	case AggCount:
		return s.n
	case AggDC:
		return int64(len(s.distinct))
	}
	if s.n == 0 {
		return nil
	}
	switch a.Func {
	case AggMin:
		return s.min
	case AggMax:
		return s.max
	case AggSum:
		return s.sum
	case AggAvg:
		return s.sum / float64(s.n)
	}
	return nil
}

type group struct {
	keys []any
	aggs []aggState
}

// runStats groups evs by the by fields (and by time bucket when span > 0)
// and computes aggs.
func runStats(evs []*event.Event, by []string, aggs []Agg, span time.Duration) ([]string, [][]any) {
	var cols []string
	if span > 0 {
		cols = append(cols, TimeColumn)
	}
	cols = append(cols, by...)
	for _, a := range aggs {
		cols = append(cols, a.Name())
	}
	groups := map[string]*group{}
	var order []*group
	var kb strings.Builder
	for _, ev := range evs {
		keys := make([]any, 0, len(by)+1)
		if span > 0 {
			keys = append(keys, bucket(ev.Timestamp(), span))
		}
		for _, f := range by {
			var s any
			FieldValues(ev, f, func(v event.Value) bool {
				if v.Kind == event.KindNull {
					return true
				}
				s = v.Str
				return false
			})
			keys = append(keys, s)
		}
		kb.Reset()
		for _, k := range keys {
			switch k := k.(type) {
			case nil:
				kb.WriteString("n;")
			case string:
				kb.WriteString("s")
				kb.WriteString(strconv.Itoa(len(k)))
				kb.WriteByte(':')
				kb.WriteString(k)
			case time.Time:
				kb.WriteString("t")
				kb.WriteString(strconv.FormatInt(k.Unix(), 10))
				kb.WriteByte(';')
			}
		}
		g := groups[kb.String()]
		if g == nil {
			g = &group{keys: keys, aggs: make([]aggState, len(aggs))}
			groups[kb.String()] = g
			order = append(order, g)
		}
		for i, a := range aggs {
			g.aggs[i].add(a, ev)
		}
	}
	if len(by) == 0 && span == 0 && len(order) == 0 {
		order = append(order, &group{aggs: make([]aggState, len(aggs))})
	}
	slices.SortStableFunc(order, func(a, b *group) int {
		for i := range a.keys {
			if c := compareAny(a.keys[i], b.keys[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	rows := make([][]any, len(order))
	for r, g := range order {
		row := append(make([]any, 0, len(cols)), g.keys...)
		for i, a := range aggs {
			row = append(row, g.aggs[i].value(a))
		}
		rows[r] = row
	}
	return cols, rows
}

// bucket returns the start of t's span-wide bucket, counted from the Unix
// epoch, in UTC. span is a whole number of seconds.
func bucket(t time.Time, span time.Duration) time.Time {
	secs, w := t.Unix(), int64(span/time.Second)
	b := secs / w * w
	if secs%w < 0 {
		b -= w
	}
	return time.Unix(b, 0).UTC()
}
