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
	// The pipes this engine runs; one it does not know (a pipe added to
	// the query language without its SQL here) is refused, never ignored.
	for _, p := range q.Pipes {
		switch p.(type) {
		case *query.Stats, *query.Timechart, *query.Sort, *query.Limit, *query.Fields:
		default:
			return nil, fmt.Errorf("the pipe %q is not supported by this store: %w", p.String(), store.ErrBadRequest)
		}
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
		res := &store.Result{Columns: q.OutputColumns()}
		if !q.IsAggregate() {
			// An event query (with a fields pipe: Columns) answers events.
			res.Events = []store.Hit{}
		}
		return res, nil
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

// events answers an event query in two passes. First every segment
// counts its matches and offers its best offset+limit candidates (id,
// time and sort keys, no document) to one bounded set shared by the
// segments; then only the documents of the candidates that made the page
// are read and decoded. Memory is bounded by the page, not by the number
// of segments times the page.
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
	bud := newBudget(req)
	cands := &candSet{need: need, keys: sortKeys, b: bud}
	counts := make([]int64, len(segs))
	err := parallel(ctx, segs, func(i int, s *segment) error {
		var hs []hit
		var err error
		switch {
		case sc.comp.where == "" && sc.comp.bloom.trivial() && len(sortKeys) == 0 && need > 0:
			err = sc.readTx(ctx, s, func(tx *sql.Tx) error {
				return sc.newestAll(ctx, tx, s, need, &counts[i], &hs)
			})
		default:
			err = sc.segTx(ctx, s, func(tx *sql.Tx, from, where string, args []any) error {
				if sc.comp.where != "" && len(sortKeys) == 0 && need > 0 {
					// One pass: the filter runs once per row, Go counts and
					// keeps the newest ids.
					return sc.newest(ctx, tx, s, from, where, args, need, &counts[i], &hs)
				}
				return sc.sorted(ctx, tx, s, from, where, args, sortKeys, need, &counts[i], &hs)
			})
		}
		if err != nil {
			return err
		}
		return cands.add(hs)
	})
	if err != nil {
		return nil, limitErr(err)
	}
	res := &store.Result{}
	for _, n := range counts {
		res.Total += n
	}
	page := cands.page(req.Offset, limit)
	if err := sc.readPage(ctx, page, bud); err != nil {
		return nil, limitErr(err)
	}
	var keep map[string]bool
	if f := q.Fields(); f != nil {
		res.Columns = append([]string(nil), f.Names...)
		keep = map[string]bool{}
		for _, n := range f.Names {
			keep[n] = true
		}
	}
	res.Events = make([]store.Hit, 0, len(page))
	for _, h := range page {
		ev := h.ev
		if ev == nil {
			continue // its segment was dropped by retention in between
		}
		if keep != nil {
			ev = ev.Project(keep)
		}
		res.Events = append(res.Events, store.Hit{ID: h.seg.day + "/" + h.seg.name + ":" + strconv.FormatInt(h.id, 10), Event: ev})
	}
	return res, nil
}

// sorted counts the matches of a segment and returns its first need rows
// in the query's order, with their sort keys computed in SQL.
func (sc *scan) sorted(ctx context.Context, tx *sql.Tx, s *segment, from, where string, args []any, keys []query.SortKey, need int, count *int64, out *[]hit) error {
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+from+where, args...).Scan(count); err != nil {
		return err
	}
	if *count == 0 || need == 0 {
		return nil
	}
	sel, selArgs, order := sortedSelect(keys)
	qargs := append(append(append([]any(nil), selArgs...), args...), need)
	rows, err := tx.QueryContext(ctx, "SELECT "+sel+" FROM "+from+where+" ORDER BY "+order+" LIMIT ?", qargs...)
	if err != nil {
		return err
	}
	defer rows.Close()
	nk := 0
	for _, k := range keys {
		if k.Field != event.FieldTimestamp {
			nk++
		}
	}
	vals := make([]any, nk)
	dest := make([]any, 2+nk)
	for {
		if !rows.Next() {
			return rows.Err()
		}
		h := hit{seg: s}
		dest[0], dest[1] = &h.id, &h.ts
		for j := range vals {
			vals[j] = nil
			dest[2+j] = &vals[j]
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		h.keys = make([]any, len(keys))
		j := 0
		for i, k := range keys {
			if k.Field == event.FieldTimestamp {
				h.keys[i] = float64(h.ts)
				continue
			}
			v := vals[j]
			j++
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			h.keys[i] = v
		}
		*out = append(*out, h)
	}
}

// sortedSelect returns the select list (id, ts, then the sort keys other
// than @timestamp), its bound arguments and the ORDER BY clause of a
// sorted event query: the keys, then newest first.
func sortedSelect(keys []query.SortKey) (sel string, args []any, order string) {
	cols := []string{"e.id", "e.ts"}
	var parts []string
	for i, k := range keys {
		expr := "e.ts"
		if k.Field != event.FieldTimestamp {
			expr = "k" + itoa(i)
			cols = append(cols, "vigil_sortkey(e.doc, ?) AS "+expr)
			args = append(args, k.Field)
		}
		if k.Desc {
			expr += " DESC"
		}
		parts = append(parts, expr)
	}
	parts = append(parts, "e.ts DESC", "e.id DESC")
	return strings.Join(cols, ", "), args, strings.Join(parts, ", ")
}

// candSet keeps the best need candidates of an event query across
// segments (by compareHits), trimming as segments add theirs.
type candSet struct {
	mu      sync.Mutex
	need    int
	keys    []query.SortKey
	b       *budget
	c       []hit
	charged int64
}

func candCost(h *hit) int64 {
	n := int64(candBytes + len(h.keys)*keyCellBytes)
	for _, k := range h.keys {
		if s, ok := k.(string); ok {
			n += int64(len(s))
		}
	}
	return n
}

// add offers one segment's candidates.
func (cs *candSet) add(hs []hit) error {
	if len(hs) == 0 {
		return nil
	}
	var n int64
	for i := range hs {
		n += candCost(&hs[i])
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if err := cs.b.charge(n); err != nil {
		cs.b.release(n)
		return err
	}
	cs.charged += n
	cs.c = append(cs.c, hs...)
	if len(cs.c) > 2*cs.need {
		cs.trim()
	}
	return nil
}

// trim sorts the candidates and keeps the best need, giving back the
// memory of the rest.
func (cs *candSet) trim() {
	slices.SortFunc(cs.c, func(a, b hit) int { return compareHits(&a, &b, cs.keys) })
	if len(cs.c) <= cs.need {
		return
	}
	var n int64
	for i := cs.need; i < len(cs.c); i++ {
		n += candCost(&cs.c[i])
	}
	cs.b.release(n)
	cs.charged -= n
	cs.c = slices.Clone(cs.c[:cs.need])
}

// page returns the candidates from offset, at most limit of them, in order.
func (cs *candSet) page(offset, limit int) []hit {
	cs.trim()
	c := cs.c
	if offset < len(c) {
		c = c[offset:]
	} else {
		c = nil
	}
	if len(c) > limit {
		c = c[:limit]
	}
	return c
}

// readPage reads and decodes the documents of the page's hits, segment by
// segment, charging them to b.
func (sc *scan) readPage(ctx context.Context, page []hit, b *budget) error {
	bySeg := map[*segment][]int{}
	var segs []*segment
	for i := range page {
		s := page[i].seg
		if _, ok := bySeg[s]; !ok {
			segs = append(segs, s)
		}
		bySeg[s] = append(bySeg[s], i)
	}
	return parallel(ctx, segs, func(_ int, s *segment) error {
		idx := bySeg[s]
		byID := make(map[int64]int, len(idx))
		ids := make([]int64, 0, len(idx))
		for _, i := range idx {
			byID[page[i].id] = i
			ids = append(ids, page[i].id)
		}
		return sc.readTx(ctx, s, func(tx *sql.Tx) error {
			return readDocs(ctx, tx, ids, func(id int64, doc []byte) error {
				i, ok := byID[id]
				if !ok {
					return nil
				}
				if err := b.charge(docCost(doc)); err != nil {
					return err
				}
				ev, err := decodeDoc(doc)
				if err != nil {
					return fmt.Errorf("event %d: %w", id, err)
				}
				page[i].ev = ev // each hit written by one worker only
				return nil
			})
		})
	})
}

// docCost estimates the heap of a decoded event from its document: its
// texts (about the document's length) and its fields.
func docCost(doc []byte) int64 {
	// Texts are copied out of the document (about its length); fields
	// cost about as much again (a 15-field, 500-byte document decodes to
	// some 1.3 KB).
	return int64(eventBytes + 2*len(doc))
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
// need of them (by time, then id) as candidates.
func (sc *scan) newest(ctx context.Context, tx *sql.Tx, s *segment, from, where string, args []any, need int, count *int64, out *[]hit) error {
	t := &topN{n: need}
	n, err := scanTop(ctx, tx, t, "SELECT e.id, e.ts FROM "+from+where, args)
	if err != nil {
		return err
	}
	*count = n
	candidates(s, t.top, out)
	return nil
}

// candidates appends the kept rows of a segment as hits without documents.
func candidates(s *segment, top [][2]int64, out *[]hit) {
	for _, r := range top {
		*out = append(*out, hit{seg: s, id: r[0], ts: r[1]})
	}
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
	candidates(s, t.top, out)
	return nil
}

// readDocs calls fn with the document of each id that exists, 500 ids to
// a statement. doc is valid only during the call.
func readDocs(ctx context.Context, tx *sql.Tx, ids []int64, fn func(id int64, doc []byte) error) error {
	const chunk = 500
	args := make([]any, 0, min(chunk, len(ids)))
	for len(ids) > 0 {
		part := ids[:min(chunk, len(ids))]
		ids = ids[len(part):]
		args = args[:0]
		for _, id := range part {
			args = append(args, id)
		}
		q := "SELECT id, doc FROM events WHERE id IN (?" + strings.Repeat(",?", len(part)-1) + ")"
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var doc sql.RawBytes
			if err := rows.Scan(&id, &doc); err != nil {
				rows.Close()
				return err
			}
			if err := fn(id, doc); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
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
		// Group keys are strings: compare them as they are (formatting
		// each side allocated twice per comparison, most of a top-N's
		// memory over many groups).
		if as, ok := a.(string); ok {
			if bs, ok := b.(string); ok {
				return strings.Compare(as, bs)
			}
		}
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
