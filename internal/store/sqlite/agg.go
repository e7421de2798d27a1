package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
)

// Aggregation. Group keys are the first non-null value of each by field
// (its text), nil when the field is absent; a timechart's bucket is the
// event time rounded down to a multiple of the span since the epoch.
// count() counts events; count(f) events with a non-null value of f; dc(f)
// distinct texts of all non-null values of f; min, max, sum and avg the
// numeric values of f (query.NumericValue), all elements of arrays
// included. When every by field is a promoted column and every aggregate
// is count() or count(promoted), each segment answers in SQL with GROUP BY
// (an index scan on sealed segments); otherwise its matching documents are
// aggregated in Go. Either way the per-segment groups merge in Go.
//
// The search's budget bounds the groups (per segment and merged) and the
// memory of keys and aggregate state, distinct sets included: past either
// the search stops with a *store.LimitError instead of growing.

type aggSpec struct {
	by     []string
	aggs   []query.Agg
	span   int64 // timechart bucket, ns; 0 for stats
	isTC   bool
	fast   bool
	byCols []int // promoted slot of each by field (fast path)
}

type groupState struct {
	key  []any // bucket (time.Time) first for timechart, then by values
	n    int64 // events
	aggs []aggState
}

type aggState struct {
	count    int64
	num      int64 // numeric values seen
	sum      float64
	min, max float64
	set      map[string]struct{}
}

func newSpec(q *query.Query) *aggSpec {
	sp := &aggSpec{}
	if s := q.Stats(); s != nil {
		sp.by, sp.aggs = s.By, s.Aggs
	} else if t := q.Timechart(); t != nil {
		sp.isTC = true
		sp.span = int64(t.Span)
		if t.By != "" {
			sp.by = []string{t.By}
		}
		sp.aggs = t.Aggs
	}
	sp.fast = true
	for _, f := range sp.by {
		i := promotedIndex(f)
		sp.byCols = append(sp.byCols, i)
		if i < 0 {
			sp.fast = false
		}
	}
	for _, a := range sp.aggs {
		if a.Func != query.AggCount || (a.Field != "" && promotedIndex(a.Field) < 0) {
			sp.fast = false
		}
	}
	if sp.isTC && sp.span <= 0 {
		sp.fast = false
	}
	return sp
}

// groups collects groups under an encoded key, within a budget.
type groups struct {
	m map[string]*groupState
	b *budget
}

func newGroups(b *budget) *groups { return &groups{m: map[string]*groupState{}, b: b} }

func keyString(key []any) string {
	if len(key) == 1 {
		if s, ok := key[0].(string); ok {
			return s + "s" // the common case: one text key
		}
	}
	b := make([]byte, 0, 32)
	for _, k := range key {
		switch k := k.(type) {
		case nil:
			b = append(b, 'n')
		case string:
			b = append(b, 's')
			b = strconv.AppendInt(b, int64(len(k)), 10)
			b = append(b, ':')
			b = append(b, k...)
		case time.Time:
			b = append(b, 't')
			b = strconv.AppendInt(b, k.UnixNano(), 10)
		default:
			b = append(b, 'v')
			b = fmt.Appendf(b, "%v", k)
		}
		b = append(b, ';')
	}
	return string(b)
}

// get returns the group of key, creating it when the budget allows.
func (g *groups) get(sp *aggSpec, key []any) (*groupState, error) {
	ks := keyString(key)
	st := g.m[ks]
	if st == nil {
		if err := g.b.checkGroups(len(g.m) + 1); err != nil {
			return nil, err
		}
		if err := g.b.charge(groupCost(ks, key, len(sp.aggs), sp.sets())); err != nil {
			return nil, err
		}
		st = &groupState{key: key, aggs: make([]aggState, len(sp.aggs))}
		for i := range st.aggs {
			st.aggs[i].min, st.aggs[i].max = math.Inf(1), math.Inf(-1)
			if sp.aggs[i].Func == query.AggDC {
				st.aggs[i].set = map[string]struct{}{}
			}
		}
		g.m[ks] = st
	}
	return st, nil
}

// sets is the number of distinct sets (dc aggregates) of a group.
func (sp *aggSpec) sets() int {
	n := 0
	for _, a := range sp.aggs {
		if a.Func == query.AggDC {
			n++
		}
	}
	return n
}

// addToSet adds v to a distinct set, charging a new value to b.
func addToSet(b *budget, set map[string]struct{}, v string) error {
	if _, ok := set[v]; ok {
		return nil
	}
	if err := b.charge(int64(setValueBytes + len(v))); err != nil {
		return err
	}
	set[v] = struct{}{}
	return nil
}

func bucketTime(ts, span int64) time.Time {
	b := ts - ((ts%span)+span)%span
	return time.Unix(0, b).UTC()
}

// addEvent aggregates one event (general path).
func (sp *aggSpec) addEvent(g *groups, ts int64, ev *event.Event) error {
	key := make([]any, 0, len(sp.by)+1)
	if sp.isTC {
		key = append(key, bucketTime(ts, sp.span))
	}
	for _, f := range sp.by {
		var v any
		query.FieldValues(ev, f, func(x event.Value) bool {
			if x.Kind == event.KindNull {
				return true
			}
			v = x.Str
			return false
		})
		key = append(key, v)
	}
	st, err := g.get(sp, key)
	if err != nil {
		return err
	}
	st.n++
	for i, a := range sp.aggs {
		as := &st.aggs[i]
		if a.Field == "" {
			as.count++
			continue
		}
		seen := false
		query.FieldValues(ev, a.Field, func(x event.Value) bool {
			if x.Kind == event.KindNull {
				return true
			}
			seen = true
			switch a.Func {
			case query.AggDC:
				if err = addToSet(g.b, as.set, x.Str); err != nil {
					return false
				}
			case query.AggMin, query.AggMax, query.AggSum, query.AggAvg:
				if n, ok := query.NumericValue(x); ok {
					as.num++
					as.sum += n
					as.min = math.Min(as.min, n)
					as.max = math.Max(as.max, n)
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		if seen {
			as.count++
		}
	}
	return nil
}

func (sc *scan) aggregate(ctx context.Context, q *query.Query, segs []*segment, req store.SearchRequest) (*store.Result, error) {
	sp := newSpec(q)
	bud := newBudget(req)
	perSeg := make([]*groups, len(segs))
	err := parallel(ctx, segs, func(i int, s *segment) error {
		g := newGroups(bud)
		perSeg[i] = g
		var absorb func(minTS, maxTS, n int64) bool
		var absorbErr error
		if sp.fast && len(sp.by) == 0 && sp.countOnly() && sc.comp.where == "" && sc.comp.bloom.trivial() {
			// Without a filter, a block inside the time range (and inside
			// one time bucket) is counted from its row count alone.
			absorb = func(minTS, maxTS, n int64) bool {
				var key []any
				if sp.isTC {
					b := bucketTime(minTS, sp.span)
					if !b.Equal(bucketTime(maxTS, sp.span)) {
						return false
					}
					key = []any{b}
				}
				if absorbErr != nil {
					return false
				}
				st, err := g.get(sp, key)
				if err != nil {
					absorbErr = err
					return false
				}
				st.n += n
				for i := range st.aggs {
					st.aggs[i].count += n
				}
				return true
			}
		}
		err := sc.segTxAbsorb(ctx, s, absorb, func(tx *sql.Tx, from, where string, args []any, absorbed *idSet) error {
			if absorbErr != nil {
				return absorbErr
			}
			if sp.fast && (sp.isTC || absorbed.len() > 0 || !sc.db.groupsByIndex(s, sp)) {
				// Grouping by a time bucket sorts in SQLite; a Go map over
				// the rows is several times cheaper. So is grouping by a
				// column without an index, which SQLite would sort whole
				// in memory before the first group (a temporary B-tree
				// that no budget bounds); the Go map stops at the bound.
				return sc.fastRows(ctx, tx, sp, g, from, where, args, absorbed)
			}
			if sp.fast {
				return sc.fastAgg(ctx, tx, sp, g, from, where, args)
			}
			rows, err := tx.QueryContext(ctx, "SELECT e.ts, e.doc FROM "+from+where, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var ts int64
				var doc sql.RawBytes
				if err := rows.Scan(&ts, &doc); err != nil {
					return err
				}
				ev, err := decodeDoc(doc)
				if err != nil {
					return err
				}
				if err := sp.addEvent(g, ts, ev); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		if err == nil {
			err = absorbErr // the segment had nothing else to scan
		}
		return err
	})
	if err != nil {
		return nil, limitErr(err)
	}
	// Merge: groups move into all (their memory is already counted); a
	// distinct value new to the merged set is counted again.
	all := newGroups(bud)
	for i, g := range perSeg {
		if g == nil {
			continue
		}
		perSeg[i] = nil
		if len(all.m) == 0 {
			// The first segment's groups are the start of the merge, as
			// they are (copying them cost a second map of every group).
			all.m = g.m
			continue
		}
		for ks, st := range g.m {
			dst := all.m[ks]
			if dst == nil {
				if err := bud.checkGroups(len(all.m) + 1); err != nil {
					return nil, err
				}
				all.m[ks] = st
				continue
			}
			dst.n += st.n
			for i := range dst.aggs {
				d, s := &dst.aggs[i], &st.aggs[i]
				d.count += s.count
				d.num += s.num
				d.sum += s.sum
				d.min = math.Min(d.min, s.min)
				d.max = math.Max(d.max, s.max)
				for v := range s.set {
					if err := addToSet(bud, d.set, v); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if !sp.isTC && len(sp.by) == 0 && len(all.m) == 0 {
		// Stats without by: one row, even over no events.
		if _, err := all.get(sp, []any{}); err != nil {
			return nil, err
		}
	}
	res := &store.Result{}
	cols := []string{}
	if sp.isTC {
		cols = append(cols, query.TimeColumn)
	}
	cols = append(cols, sp.by...)
	for _, a := range sp.aggs {
		cols = append(cols, a.Name())
	}
	res.Rows = make([][]any, 0, len(all.m))
	for _, st := range all.m {
		res.Total += st.n
		row := make([]any, 0, len(st.key)+len(sp.aggs))
		row = append(row, st.key...)
		for i, a := range sp.aggs {
			as := &st.aggs[i]
			switch a.Func {
			case query.AggCount:
				row = append(row, as.count)
			case query.AggDC:
				row = append(row, int64(len(as.set)))
			case query.AggMin, query.AggMax, query.AggSum, query.AggAvg:
				if as.num == 0 {
					row = append(row, nil)
					continue
				}
				v := map[string]float64{query.AggMin: as.min, query.AggMax: as.max, query.AggSum: as.sum, query.AggAvg: as.sum / float64(as.num)}[a.Func]
				row = append(row, v)
			default:
				row = append(row, nil)
			}
		}
		res.Rows = append(res.Rows, row)
	}
	// Default order: by the group keys; then the query's sort.
	slices.SortFunc(res.Rows, func(a, b []any) int {
		for i := 0; i < len(a)-len(sp.aggs); i++ {
			if c := compareValues(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	if s := q.Sort(); s != nil {
		idx := make([]int, len(s.Keys))
		for i, k := range s.Keys {
			idx[i] = slices.Index(cols, k.Field)
			if idx[i] < 0 {
				return nil, fmt.Errorf("sort by %q: not an output column: %w", k.Field, store.ErrBadRequest)
			}
		}
		slices.SortStableFunc(res.Rows, func(a, b []any) int {
			for i, k := range s.Keys {
				c := compareValues(a[idx[i]], b[idx[i]])
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
	limit := effectiveLimit(q, req, store.MaxLimit)
	if req.Offset < len(res.Rows) {
		res.Rows = res.Rows[req.Offset:]
	} else {
		res.Rows = nil
	}
	if len(res.Rows) > limit {
		res.Rows = res.Rows[:limit]
	}
	res.Columns = cols
	if f := q.Fields(); f != nil {
		idx := make([]int, len(f.Names))
		for i, n := range f.Names {
			idx[i] = slices.Index(cols, n)
			if idx[i] < 0 {
				return nil, fmt.Errorf("fields %q: not an output column: %w", n, store.ErrBadRequest)
			}
		}
		for r, row := range res.Rows {
			out := make([]any, len(idx))
			for i, j := range idx {
				out[i] = row[j]
			}
			res.Rows[r] = out
		}
		res.Columns = append([]string(nil), f.Names...)
	}
	return res, nil
}

// groupsByIndex reports whether SQLite can group s's rows by sp's by
// fields in index order, streaming groups one after another: no by field,
// or one that the sealed segment has an index on.
func (db *DB) groupsByIndex(s *segment, sp *aggSpec) bool {
	switch len(sp.by) {
	case 0:
		return true
	case 1:
		return s.sealed.Load() && slices.Contains(db.opts.IndexFields, sp.by[0])
	}
	return false
}

// countOnly reports whether every aggregate is count().
func (sp *aggSpec) countOnly() bool {
	for _, a := range sp.aggs {
		if a.Func != query.AggCount || a.Field != "" {
			return false
		}
	}
	return true
}

// fastRows computes count() and count(promoted) groups in Go from the
// promoted columns, skipping rows of absorbed blocks.
func (sc *scan) fastRows(ctx context.Context, tx *sql.Tx, sp *aggSpec, g *groups, from, where string, args []any, absorbed *idSet) error {
	// Every column read costs the driver several calls: read as few as
	// possible. The id only when blocks were absorbed; a by value with a
	// leading 's' so that NULL (which stays NULL) differs from "".
	withID := absorbed.len() > 0
	sel := []string{"e.ts"}
	if withID {
		sel = append(sel, "e.id")
	}
	for _, c := range sp.byCols {
		sel = append(sel, "'s' || e."+promoted[c].col)
	}
	for _, a := range sp.aggs {
		if a.Field != "" {
			sel = append(sel, "e."+promoted[promotedIndex(a.Field)].col+" IS NOT NULL")
		}
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+from+where, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var id, ts int64
	byVals := make([]sql.RawBytes, len(sp.byCols))
	flags := make([]bool, len(sel)-1-len(sp.byCols))
	if withID {
		flags = flags[:len(flags)-1]
	}
	dest := []any{&ts}
	if withID {
		dest = append(dest, &id)
	}
	for i := range byVals {
		dest = append(dest, &byVals[i])
	}
	for i := range flags {
		dest = append(dest, &flags[i])
	}
	var (
		last       *groupState
		lastBucket int64
		lastVals   = make([]any, len(byVals))
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if withID && absorbed.has(id) {
			continue
		}
		var bucket int64
		if sp.isTC {
			bucket = ts - ((ts%sp.span)+sp.span)%sp.span
		}
		// Rows come in runs of one group (the covering index is ordered by
		// the field, then time): look the group up only when it changes,
		// without allocating otherwise.
		same := last != nil && bucket == lastBucket
		for i := 0; same && i < len(byVals); i++ {
			switch v := lastVals[i].(type) {
			case nil:
				same = byVals[i] == nil
			case string:
				same = byVals[i] != nil && string(byVals[i][1:]) == v
			}
		}
		st := last
		if !same {
			key := make([]any, 0, len(byVals)+1)
			if sp.isTC {
				key = append(key, time.Unix(0, bucket).UTC())
			}
			for i, v := range byVals {
				if v == nil {
					lastVals[i] = nil
				} else {
					lastVals[i] = string(v[1:])
				}
				key = append(key, lastVals[i])
			}
			var err error
			if st, err = g.get(sp, key); err != nil {
				return err
			}
			last, lastBucket = st, bucket
		}
		st.n++
		j := 0
		for i, a := range sp.aggs {
			if a.Field == "" {
				st.aggs[i].count++
				continue
			}
			if flags[j] {
				st.aggs[i].count++
			}
			j++
		}
	}
	return rows.Err()
}

// fastAgg computes count() and count(promoted) groups in SQL.
func (sc *scan) fastAgg(ctx context.Context, tx *sql.Tx, sp *aggSpec, g *groups, from, where string, args []any) error {
	var sel, grp []string
	var pre []any
	if sp.isTC {
		sel = append(sel, "e.ts - ((e.ts % ?) + ?) % ?")
		pre = append(pre, sp.span, sp.span, sp.span)
		grp = append(grp, "1")
	}
	for i, c := range sp.byCols {
		sel = append(sel, "e."+promoted[c].col)
		grp = append(grp, itoa(len(grp)+1))
		_ = i
	}
	sel = append(sel, "count(*)")
	for _, a := range sp.aggs {
		if a.Field != "" {
			sel = append(sel, "count(e."+promoted[promotedIndex(a.Field)].col+")")
		}
	}
	stmt := "SELECT " + strings.Join(sel, ", ") + " FROM " + from + where
	if len(grp) > 0 {
		stmt += " GROUP BY " + strings.Join(grp, ", ")
	}
	rows, err := tx.QueryContext(ctx, stmt, append(pre, args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	nkey := len(sp.byCols)
	if sp.isTC {
		nkey++
	}
	nfield := 0
	for _, a := range sp.aggs {
		if a.Field != "" {
			nfield++
		}
	}
	dest := make([]any, nkey+1+nfield)
	ptrs := make([]any, len(dest))
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		n, _ := dest[nkey].(int64)
		if n == 0 {
			continue // an aggregate without GROUP BY over no rows
		}
		key := make([]any, 0, nkey)
		for i := 0; i < nkey; i++ {
			v := dest[i]
			if sp.isTC && i == 0 {
				ts, _ := v.(int64)
				key = append(key, time.Unix(0, ts).UTC())
				continue
			}
			switch x := v.(type) {
			case nil:
				key = append(key, nil)
			case string:
				key = append(key, x)
			case []byte:
				key = append(key, string(x))
			default:
				key = append(key, fmt.Sprint(x))
			}
		}
		st, err := g.get(sp, key)
		if err != nil {
			return err
		}
		st.n += n
		j := nkey + 1
		for i, a := range sp.aggs {
			if a.Field == "" {
				st.aggs[i].count += n
				continue
			}
			c, _ := dest[j].(int64)
			j++
			st.aggs[i].count += c
		}
	}
	return rows.Err()
}
