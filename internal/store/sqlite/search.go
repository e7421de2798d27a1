package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
)

// Search runs req over the partitions its time range touches: the filter
// is compiled to SQL once and run per segment (in parallel), and the
// per-segment answers are merged in Go.
func (db *DB) Search(ctx context.Context, req store.SearchRequest) (*store.Result, error) {
	if req.Limit < 0 || req.Offset < 0 || req.Limit > store.MaxLimit || req.Offset > store.MaxLimit {
		return nil, fmt.Errorf("limit %d, offset %d: %w", req.Limit, req.Offset, store.ErrBadRequest)
	}
	q := req.Query
	if q == nil {
		q = &query.Query{}
	}
	segs, err := db.segmentsFor(req.From, req.To)
	if err != nil {
		return nil, err
	}
	comp := compileFilter(q.Filter)
	defer comp.release()
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !req.From.IsZero() {
		lo = clampNanos(req.From)
	}
	if !req.To.IsZero() {
		hi = clampNanos(req.To)
	}
	if lo > hi {
		return &store.Result{Columns: q.OutputColumns()}, nil
	}
	sc := scan{db: db, comp: comp, lo: lo, hi: hi}
	if q.IsAggregate() {
		return sc.aggregate(ctx, q, segs, req)
	}
	return sc.events(ctx, q, segs, req)
}

// segmentsFor returns the segments of the days that overlap [from, to].
func (db *DB) segmentsFor(from, to time.Time) ([]*segment, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, store.ErrClosed
	}
	var out []*segment
	for _, d := range db.days {
		if !to.IsZero() && d.start.After(to) {
			continue
		}
		if !from.IsZero() && !d.start.Add(24*time.Hour).After(from) {
			continue
		}
		out = append(out, d.segs...)
	}
	// Newest day first, then by name, so that ties merge deterministically.
	slices.SortFunc(out, func(a, b *segment) int {
		if c := cmp.Compare(b.day, a.day); c != 0 {
			return c
		}
		return cmp.Compare(b.name, a.name)
	})
	return out, nil
}

type scan struct {
	db     *DB
	comp   *compiled
	lo, hi int64
}

// segTx runs fn in one read transaction on s (one snapshot for all its
// queries), with the FROM clause and the WHERE clause that restrict the
// rows to the time range, to the blocks whose filter may match and to the
// query's filter. fn is not called when no row of s can match.
func (sc *scan) segTx(ctx context.Context, s *segment, fn func(tx *sql.Tx, from string, where string, args []any) error) error {
	return sc.segTxAbsorb(ctx, s, nil, func(tx *sql.Tx, from, where string, args []any, _ *idSet) error {
		return fn(tx, from, where, args)
	})
}

// readTx runs fn in one read transaction on s.
func (sc *scan) readTx(ctx context.Context, s *segment, fn func(tx *sql.Tx) error) error {
	s.use.RLock()
	defer s.use.RUnlock()
	if s.dropped {
		return nil
	}
	r, err := sc.db.readers.acquire(s.path, s.sealed.Load())
	if err != nil {
		return fmt.Errorf("opening segment %q: %w", s.path, err)
	}
	defer sc.db.readers.release(r)
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("reading segment %q: %w", s.path, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return fmt.Errorf("searching segment %q: %w", s.path, err)
	}
	return nil
}

// segTxAbsorb is segTx for aggregations that can account for a whole block
// from its row count: absorb is offered every block inside the time range
// that the filter cannot exclude; when it returns true the block's rows are
// not scanned, and fn must skip any row whose id is in the set it receives
// (a coarse id range may still cover them).
func (sc *scan) segTxAbsorb(ctx context.Context, s *segment, absorb func(minTS, maxTS, n int64) bool, fn func(tx *sql.Tx, from, where string, args []any, absorbed *idSet) error) error {
	return sc.readTx(ctx, s, func(tx *sql.Tx) error {
		absorbed := &idSet{}
		from, conds, args, skip, err := sc.prune(ctx, tx, absorb, absorbed)
		if err != nil {
			if strings.Contains(err.Error(), "no such table") {
				return nil // created but never written
			}
			return fmt.Errorf("reading blocks: %w", err)
		}
		if skip {
			return nil
		}
		if sc.comp.where != "" {
			conds = append(conds, sc.comp.where)
			args = append(args, sc.comp.args...)
		}
		where := ""
		if len(conds) > 0 {
			where = " WHERE " + strings.Join(conds, " AND ")
		}
		return fn(tx, from, where, args, absorbed)
	})
}

// maxRanges bounds the id ranges a segment query names; past it, one
// range from the first to the last candidate block is used. A variable for
// tests.
var maxRanges = 256

// prune reads a segment's blocks: those overlapping the time range whose
// Bloom filter may match. It returns the FROM clause and conditions that
// restrict the scan to them, or skip when there are none.
func (sc *scan) prune(ctx context.Context, tx *sql.Tx, absorb func(minTS, maxTS, n int64) bool, absorbed *idSet) (from string, conds []string, args []any, skip bool, err error) {
	from = "events e"
	bloom := !sc.comp.bloom.trivial()
	q := "SELECT b.id, b.min_id, b.max_id, b.min_ts, b.max_ts, 1, b.n FROM blocks b WHERE b.max_ts >= ? AND b.min_ts <= ? ORDER BY b.id"
	qargs := []any{sc.lo, sc.hi}
	if bloom {
		q = "SELECT b.id, b.min_id, b.max_id, b.min_ts, b.max_ts, vigil_bloom(f.bloom, ?), b.n FROM blocks b JOIN blooms f ON f.id = b.id WHERE b.max_ts >= ? AND b.min_ts <= ? ORDER BY b.id"
		qargs = []any{sc.comp.bloomProgram(), sc.lo, sc.hi}
	}
	var nblk int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM blocks").Scan(&nblk); err != nil {
		return "", nil, nil, false, err
	}
	rows, err := tx.QueryContext(ctx, q, qargs...)
	if err != nil {
		return "", nil, nil, false, err
	}
	defer rows.Close()
	type rng struct{ lo, hi int64 }
	var ranges []rng
	var seen, kept int64
	inside := true
	lastID := int64(-1)
	for rows.Next() {
		var id, minID, maxID, minTS, maxTS, ok, n int64
		if err := rows.Scan(&id, &minID, &maxID, &minTS, &maxTS, &ok, &n); err != nil {
			return "", nil, nil, false, err
		}
		seen++
		if ok == 0 {
			continue
		}
		if absorb != nil && minTS >= sc.lo && maxTS <= sc.hi && absorb(minTS, maxTS, n) {
			absorbed.add(minID, maxID)
			continue
		}
		kept++
		if minTS < sc.lo || maxTS > sc.hi {
			inside = false
		}
		if n := len(ranges); n > 0 && id == lastID+1 {
			ranges[n-1].hi = maxID
		} else {
			ranges = append(ranges, rng{minID, maxID})
		}
		lastID = id
	}
	if err := rows.Err(); err != nil {
		return "", nil, nil, false, err
	}
	if kept == 0 {
		return "", nil, nil, true, nil
	}
	if kept < nblk || absorbed.len() > 0 {
		if len(ranges) > maxRanges {
			// The one range spans skipped blocks, perhaps outside the time
			// range: the time condition must stay.
			ranges = []rng{{ranges[0].lo, ranges[len(ranges)-1].hi}}
			inside = false
		}
		var b strings.Builder
		b.WriteByte('(')
		for i, r := range ranges {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("e.id BETWEEN ? AND ?")
			args = append(args, r.lo, r.hi)
		}
		b.WriteByte(')')
		conds = append(conds, b.String())
	}
	if !inside {
		conds = append(conds, "e.ts BETWEEN ? AND ?")
		args = append(args, sc.lo, sc.hi)
	}
	return from, conds, args, false, nil
}

// idSet is a sorted set of id ranges.
type idSet struct{ r [][2]int64 }

func (s *idSet) add(lo, hi int64) { s.r = append(s.r, [2]int64{lo, hi}) }
func (s *idSet) len() int         { return len(s.r) }

// has reports whether id is in a range; ranges were added in order.
func (s *idSet) has(id int64) bool {
	i, _ := slices.BinarySearchFunc(s.r, id, func(r [2]int64, id int64) int {
		switch {
		case r[1] < id:
			return -1
		case r[0] > id:
			return 1
		}
		return 0
	})
	return i < len(s.r) && s.r[i][0] <= id && id <= s.r[i][1]
}

// parallel runs fn for every segment on up to GOMAXPROCS goroutines.
func parallel(ctx context.Context, segs []*segment, fn func(i int, s *segment) error) error {
	n := min(runtime.GOMAXPROCS(0), len(segs))
	if n <= 1 {
		for i, s := range segs {
			if err := fn(i, s); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
		errs []error
	)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(segs) {
					return
				}
				if err := fn(i, segs[i]); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) == 0 && ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// hit is a candidate event with its sort keys.
type hit struct {
	seg  *segment
	id   int64
	ts   int64
	ev   *event.Event
	keys []any
}

func effectiveLimit(q *query.Query, req store.SearchRequest, def int) int {
	n := req.Limit
	if n == 0 {
		n = def
	}
	if l := q.Limit(); l != nil && l.N < n {
		n = l.N
	}
	return n
}

func (sc *scan) events(ctx context.Context, q *query.Query, segs []*segment, req store.SearchRequest) (*store.Result, error) {
	limit := effectiveLimit(q, req, store.DefaultLimit)
	need := req.Offset + limit
	if need > store.MaxLimit {
		return nil, fmt.Errorf("offset %d + limit %d over %d: %w", req.Offset, limit, store.MaxLimit, store.ErrBadRequest)
	}
	var sortKeys []query.SortKey
	if s := q.Sort(); s != nil {
		sortKeys = s.Keys
	}
	order, orderArgs := orderBy(sortKeys)
	counts := make([]int64, len(segs))
	hits := make([][]hit, len(segs))
	err := parallel(ctx, segs, func(i int, s *segment) error {
		if sc.comp.where == "" && sc.comp.bloom.trivial() && len(sortKeys) == 0 && need > 0 {
			return sc.readTx(ctx, s, func(tx *sql.Tx) error {
				return sc.newestAll(ctx, tx, s, need, &counts[i], &hits[i])
			})
		}
		return sc.segTx(ctx, s, func(tx *sql.Tx, from, where string, args []any) error {
			if sc.comp.where != "" && len(sortKeys) == 0 && need > 0 {
				// One pass: the filter runs once per row, Go counts and
				// keeps the newest ids, then reads only their documents.
				return sc.newest(ctx, tx, s, from, where, args, need, &counts[i], &hits[i])
			}
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+from+where, args...).Scan(&counts[i]); err != nil {
				return err
			}
			if counts[i] == 0 || need == 0 {
				return nil
			}
			qargs := append(append(append([]any(nil), args...), orderArgs...), need)
			rows, err := tx.QueryContext(ctx, "SELECT e.id, e.ts, e.doc FROM "+from+where+" ORDER BY "+order+" LIMIT ?", qargs...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var h hit
				var doc []byte
				if err := rows.Scan(&h.id, &h.ts, &doc); err != nil {
					return err
				}
				ev, err := decodeDoc(doc)
				if err != nil {
					return fmt.Errorf("event %d: %w", h.id, err)
				}
				h.seg, h.ev = s, ev
				h.keys = hitKeys(&h, sortKeys)
				hits[i] = append(hits[i], h)
			}
			return rows.Err()
		})
	})
	if err != nil {
		return nil, err
	}
	res := &store.Result{}
	var all []hit
	for i := range segs {
		res.Total += counts[i]
		all = append(all, hits[i]...)
	}
	slices.SortStableFunc(all, func(a, b hit) int { return compareHits(&a, &b, sortKeys) })
	if req.Offset < len(all) {
		all = all[req.Offset:]
	} else {
		all = nil
	}
	if len(all) > limit {
		all = all[:limit]
	}
	var keep map[string]bool
	if f := q.Fields(); f != nil {
		res.Columns = append([]string(nil), f.Names...)
		keep = map[string]bool{}
		for _, n := range f.Names {
			keep[n] = true
		}
	}
	res.Events = make([]store.Hit, 0, len(all))
	for _, h := range all {
		ev := h.ev
		if keep != nil {
			ev = project(ev, keep)
		}
		res.Events = append(res.Events, store.Hit{ID: h.seg.day + "/" + h.seg.name + ":" + strconv.FormatInt(h.id, 10), Event: ev})
	}
	return res, nil
}

// topN keeps the newest n (id, ts) pairs: a min-heap on (ts, id) whose
// root is the oldest kept row.
type topN struct {
	n   int
	top [][2]int64
}

func lessTS(a, b [2]int64) bool { return a[1] < b[1] || a[1] == b[1] && a[0] < b[0] }

func (t *topN) full() bool { return len(t.top) >= t.n }

// oldest is the root; call only when full.
func (t *topN) oldest() [2]int64 { return t.top[0] }

func (t *topN) add(r [2]int64) {
	top := t.top
	switch {
	case len(top) < t.n:
		top = append(top, r)
		for i := len(top) - 1; i > 0; {
			p := (i - 1) / 2
			if !lessTS(top[i], top[p]) {
				break
			}
			top[i], top[p] = top[p], top[i]
			i = p
		}
		t.top = top
	case lessTS(top[0], r):
		top[0] = r
		for i := 0; ; {
			l := 2*i + 1
			if l >= len(top) {
				break
			}
			m := l
			if r := l + 1; r < len(top) && lessTS(top[r], top[l]) {
				m = r
			}
			if !lessTS(top[m], top[i]) {
				break
			}
			top[i], top[m] = top[m], top[i]
			i = m
		}
	}
}

// scanTop feeds the (id, ts) rows of a query to t and returns their count.
func scanTop(ctx context.Context, tx *sql.Tx, t *topN, q string, args []any) (int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var r [2]int64
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			return 0, err
		}
		n++
		t.add(r)
	}
	return n, rows.Err()
}

// newest counts the matching rows of a segment and returns the newest
// need of them (by time, then id) with their documents.
func (sc *scan) newest(ctx context.Context, tx *sql.Tx, s *segment, from, where string, args []any, need int, count *int64, out *[]hit) error {
	t := &topN{n: need}
	n, err := scanTop(ctx, tx, t, "SELECT e.id, e.ts FROM "+from+where, args)
	if err != nil {
		return err
	}
	*count = n
	return readHits(ctx, tx, s, t.top, out)
}

// newestAll serves a search without a filter: it counts whole blocks from
// their row counts and reads blocks newest first, stopping once the kept
// rows are newer than anything a further block holds.
func (sc *scan) newestAll(ctx context.Context, tx *sql.Tx, s *segment, need int, count *int64, out *[]hit) error {
	type blk struct{ minID, maxID, minTS, maxTS, n int64 }
	rows, err := tx.QueryContext(ctx, "SELECT min_id, max_id, min_ts, max_ts, n FROM blocks WHERE max_ts >= ? AND min_ts <= ?", sc.lo, sc.hi)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil
		}
		return err
	}
	var blks []blk
	for rows.Next() {
		var b blk
		if err := rows.Scan(&b.minID, &b.maxID, &b.minTS, &b.maxTS, &b.n); err != nil {
			rows.Close()
			return err
		}
		blks = append(blks, b)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	rows.Close()
	slices.SortFunc(blks, func(a, b blk) int { return cmp.Compare(b.maxTS, a.maxTS) })
	t := &topN{n: need}
	const q = "SELECT id, ts FROM events WHERE id BETWEEN ? AND ? AND ts BETWEEN ? AND ?"
	for _, b := range blks {
		inside := b.minTS >= sc.lo && b.maxTS <= sc.hi
		if t.full() && b.maxTS < t.oldest()[1] {
			// Nothing here is kept: only the count is needed.
			if inside {
				*count += b.n
				continue
			}
			var n int64
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE id BETWEEN ? AND ? AND ts BETWEEN ? AND ?", b.minID, b.maxID, sc.lo, sc.hi).Scan(&n); err != nil {
				return err
			}
			*count += n
			continue
		}
		n, err := scanTop(ctx, tx, t, q, []any{b.minID, b.maxID, sc.lo, sc.hi})
		if err != nil {
			return err
		}
		*count += n
	}
	return readHits(ctx, tx, s, t.top, out)
}

// readHits reads and decodes the documents of the kept rows.
func readHits(ctx context.Context, tx *sql.Tx, s *segment, top [][2]int64, out *[]hit) error {
	byID := make(map[int64]int64, len(top))
	ids := make([]any, 0, len(top))
	for _, r := range top {
		byID[r[0]] = r[1]
		ids = append(ids, r[0])
	}
	const chunk = 500
	for len(ids) > 0 {
		part := ids[:min(chunk, len(ids))]
		ids = ids[len(part):]
		q := "SELECT id, doc FROM events WHERE id IN (?" + strings.Repeat(",?", len(part)-1) + ")"
		rows, err := tx.QueryContext(ctx, q, part...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var h hit
			var doc sql.RawBytes
			if err := rows.Scan(&h.id, &doc); err != nil {
				rows.Close()
				return err
			}
			ev, err := decodeDoc(doc)
			if err != nil {
				rows.Close()
				return fmt.Errorf("event %d: %w", h.id, err)
			}
			h.ts, h.seg, h.ev = byID[h.id], s, ev
			*out = append(*out, h)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// project keeps only the named fields of ev (and its time).
func project(ev *event.Event, keep map[string]bool) *event.Event {
	out := &event.Event{Time: ev.Time, Received: ev.Received}
	if keep["log.original"] {
		out.Raw = ev.Raw
	}
	if keep["vigil.input"] {
		out.Input = ev.Input
	}
	if keep["tags"] {
		out.Tags = ev.Tags
	}
	if keep["logsource.product"] {
		out.Logsource.Product = ev.Logsource.Product
	}
	if keep["logsource.category"] {
		out.Logsource.Category = ev.Logsource.Category
	}
	if keep["logsource.service"] {
		out.Logsource.Service = ev.Logsource.Service
	}
	for _, f := range ev.Fields {
		if keep[f.Key.Name()] {
			out.Fields = append(out.Fields, f)
		}
	}
	return out
}

// orderBy returns the ORDER BY clause of an event query: the sort keys,
// then newest first.
func orderBy(keys []query.SortKey) (string, []any) {
	var parts []string
	var args []any
	for _, k := range keys {
		expr := "vigil_sortkey(e.doc, ?)"
		if k.Field == event.FieldTimestamp {
			expr = "e.ts"
		} else {
			args = append(args, k.Field)
		}
		if k.Desc {
			expr += " DESC"
		}
		parts = append(parts, expr)
	}
	parts = append(parts, "e.ts DESC", "e.id DESC")
	return strings.Join(parts, ", "), args
}

func hitKeys(h *hit, keys []query.SortKey) []any {
	if len(keys) == 0 {
		return nil
	}
	out := make([]any, len(keys))
	for i, k := range keys {
		if k.Field == event.FieldTimestamp {
			out[i] = float64(h.ts)
			continue
		}
		out[i] = sortKey(h.ev, k.Field)
	}
	return out
}

func compareHits(a, b *hit, keys []query.SortKey) int {
	for i, k := range keys {
		c := compareValues(a.keys[i], b.keys[i])
		if k.Field == event.FieldTimestamp {
			c = cmp.Compare(a.ts, b.ts)
		}
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	if c := cmp.Compare(b.ts, a.ts); c != 0 {
		return c
	}
	if c := cmp.Compare(b.seg.day, a.seg.day); c != 0 {
		return c
	}
	if c := cmp.Compare(b.seg.name, a.seg.name); c != 0 {
		return c
	}
	return cmp.Compare(b.id, a.id)
}

// compareValues orders cells as SQLite does: nil, then numbers, then text
// (bytewise); time.Time cells by time.
func compareValues(a, b any) int {
	rank := func(v any) int {
		switch v.(type) {
		case nil:
			return 0
		case int64, float64:
			return 1
		case time.Time:
			return 2
		}
		return 3
	}
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch ra {
	case 1:
		return cmp.Compare(toFloat(a), toFloat(b))
	case 2:
		return a.(time.Time).Compare(b.(time.Time))
	case 3:
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	}
	return 0
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}
