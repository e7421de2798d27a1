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
// In pipes a field stands for its first non-null value (see FirstValue);
// @timestamp is the event's Timestamp(). Stats puts events that lack a
// group-by field in a group whose value is null; with no By fields it
// always yields one row, even over no events. Timechart yields a row per
// non-empty bucket (and By value). Unsorted aggregate rows come in
// ascending order of their group values (bucket first for timechart).
// Sorting orders null first, then numbers (booleans as 0 and 1), strings
// (byte order) and times, each in their natural order, as SQL does; a
// number held in a string sorts as a string. Descending keys reverse all of
// that. Sorts are stable.
func Run(q *Query, events iter.Seq[*event.Event]) (*Result, error) {
	m := Compile(q)
	var evs []*event.Event
	for ev := range events {
		if m.Match(ev) {
			evs = append(evs, ev)
		}
	}
	res := &Result{}
	var sorter *Sort
	limit := -1
	var fields *Fields
	for _, p := range q.Pipes {
		switch p := p.(type) {
		case *Stats:
			res.Columns, res.Rows = runStats(evs, p.By, p.Aggs, 0)
		case *Timechart:
			var by []string
			if p.By != "" {
				by = []string{p.By}
			}
			if p.Span < time.Second || p.Span%time.Second != 0 {
				return nil, fmt.Errorf("running timechart: span %v is not a positive whole number of seconds", p.Span)
			}
			res.Columns, res.Rows = runStats(evs, by, p.Aggs, p.Span)
		case *Sort:
			sorter = p
		case *Limit:
			limit = p.N
		case *Fields:
			fields = p
		default:
			return nil, fmt.Errorf("running query: unknown pipe %T", p)
		}
	}
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
					keys[i][j] = FirstValue(ev, k.Field)
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

// FirstValue returns the first non-null value of the named field as a Go
// value: string, int64, float64 or bool, or nil when the event has none.
// @timestamp is the event's Timestamp() as a time.Time in UTC, and
// event.ingested its Received (nil when zero). An integer whose text does
// not fit int64 is returned as float64.
func FirstValue(ev *event.Event, name string) any {
	switch name {
	case event.FieldTimestamp:
		return ev.Timestamp().UTC()
	case fieldIngested:
		if ev.Received.IsZero() {
			return nil
		}
		return ev.Received.UTC()
	}
	var out any
	FieldValues(ev, name, func(v event.Value) bool {
		out = goValue(v)
		return out == nil
	})
	return out
}

func goValue(v event.Value) any {
	switch v.Kind {
	case event.KindString:
		return v.Str
	case event.KindInt:
		if n, err := strconv.ParseInt(v.Str, 10, 64); err == nil {
			return n
		}
		return v.Num
	case event.KindFloat:
		return v.Num
	case event.KindBool:
		return v.Num != 0
	}
	return nil
}

// rank orders the types of cells: nil, numbers (booleans as 0 and 1, as
// in SQL), strings, times.
func rank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool, int64, float64:
		return 1
	case string:
		return 2
	case time.Time:
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
	var v event.Value
	found := false
	FieldValues(ev, a.Field, func(x event.Value) bool {
		if x.Kind == event.KindNull {
			return true
		}
		v, found = x, true
		return false
	})
	if !found {
		return
	}
	switch a.Func {
	case AggCount:
		s.n++
	case AggDC:
		if s.distinct == nil {
			s.distinct = map[string]struct{}{}
		}
		s.distinct[v.Str] = struct{}{}
	default:
		x, ok := NumericValue(v)
		if !ok {
			return
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
