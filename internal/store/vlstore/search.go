package vlstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
)

// eventOverhead approximates the memory of a decoded event beyond its
// document's bytes (the struct, its fields slice, strings' headers).
const eventOverhead = 256

// Search runs req: the engine reads the rows the compiled filter selects
// in the time range, the exact filter keeps the matching events, and the
// query's pipes run in memory (query.Run). Memory is bounded by
// req.MaxBytes (the decoded events kept), groups by req.MaxGroups.
func (db *DB) Search(ctx context.Context, req store.SearchRequest) (*store.Result, error) {
	pl, err := plan(req)
	if err != nil || pl.empty {
		return pl.emptyOr(err)
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, store.ErrClosed
	}
	if db.dirty.Swap(false) {
		db.s.DebugFlush()
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	col := pl.collector(cancel)
	qc := logstorage.NewQueryContext(qctx, &logstorage.QueryStats{}, []logstorage.TenantID{tenant}, pl.lq, false, nil)
	runErr := db.s.RunQuery(qc, col.block)
	return col.finish(ctx, runErr)
}

// searchPlan is a search compiled for the engine, embedded or remote: one
// compiler for both.
type searchPlan struct {
	q   *query.Query
	req store.SearchRequest
	// lq is the LogsQL query: the prefilter (a superset of the matches),
	// the time range, and the columns to read.
	lq *logstorage.Query
	// by, when fast, are the by fields an aggregate is answered from
	// (columnsOnly).
	by   []string
	fast bool
	// empty is set for a time range that holds nothing.
	empty bool
}

// plan compiles req.
func plan(req store.SearchRequest) (*searchPlan, error) {
	if req.Limit < 0 || req.Offset < 0 || req.Limit > store.MaxLimit || req.Offset > store.MaxLimit {
		return nil, fmt.Errorf("limit %d, offset %d: %w", req.Limit, req.Offset, store.ErrBadRequest)
	}
	q := req.Query
	if q == nil {
		q = &query.Query{}
	}
	pl := &searchPlan{q: q, req: req}
	text := prefilter(q.Filter)
	if text == "" {
		text = "*"
	}
	lq, err := logstorage.ParseQuery(text)
	if err != nil {
		// The compiled filter is built from quoted pieces only: failing to
		// parse it is a bug, not the user's error.
		return nil, fmt.Errorf("compiling query: %w", err)
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !req.From.IsZero() {
		lo = clampNanos(req.From)
	}
	if !req.To.IsZero() {
		hi = clampNanos(req.To)
	}
	if lo > hi {
		pl.empty = true
		return pl, nil
	}
	if lo != math.MinInt64 || hi != math.MaxInt64 {
		lq.AddTimeFilter(lo, hi)
	}
	pl.by, pl.fast = columnsOnly(q)
	fields := []string{colDoc, colID}
	if pl.fast {
		fields = append(fields, colEmpty)
		for _, f := range pl.by {
			fields = append(fields, column(f))
		}
	}
	lq.AddPipeFields(fields)
	pl.lq = lq
	return pl, nil
}

// emptyOr returns err, or the empty result of a plan whose range holds
// nothing.
func (pl *searchPlan) emptyOr(err error) (*store.Result, error) {
	if err != nil {
		return nil, err
	}
	return emptyResult(pl.q, pl.req)
}

// collector returns the collector of the plan's rows; cancel stops the
// rows' source when a bound is hit.
func (pl *searchPlan) collector(cancel context.CancelFunc) *collector {
	maxBytes := pl.req.MaxBytes
	if maxBytes == 0 {
		maxBytes = store.DefaultMaxBytes
	}
	maxGroups := pl.req.MaxGroups
	if maxGroups == 0 {
		maxGroups = store.DefaultMaxGroups
	}
	col := newCollector(pl.q, pl.req, maxBytes, maxGroups)
	if pl.fast {
		col.byCols = pl.by
	}
	col.cancel = cancel
	return col
}

// finish returns the collected result once the rows' source returned
// runErr.
func (c *collector) finish(ctx context.Context, runErr error) (*store.Result, error) {
	if c.err != nil {
		return nil, c.err
	}
	if runErr != nil {
		return nil, fmt.Errorf("searching: %w", runErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.result()
}

func clampNanos(t time.Time) int64 {
	switch {
	case t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

func emptyResult(q *query.Query, req store.SearchRequest) (*store.Result, error) {
	col := newCollector(q, req, -1, -1)
	return col.result()
}

// collector receives the engine's blocks (from several workers at once),
// keeps the events that match exactly and enforces the bounds.
type meta struct {
	id   string
	size int64
}

type collector struct {
	q         *query.Query
	req       store.SearchRequest
	m         *query.Matcher
	maxBytes  int64
	maxGroups int
	// topN, when > 0, keeps only the newest topN events (an event query
	// without a sort): Total still counts every match.
	topN   int
	cancel context.CancelFunc

	mu    sync.Mutex
	err   error
	total int64
	bytes int64
	evs   []*event.Event
	meta  map[*event.Event]meta
	// need, for an aggregate, names the fields its groups and aggregates
	// read: the events kept are projected to them.
	need   map[string]bool
	groups map[string]struct{}
	key    strings.Builder
	// agg holds an aggregate's projected events, each once with the
	// number of events it stands for: events alike in everything the
	// aggregate reads (their times cut to the timechart bucket, or dropped
	// when not read) are kept once, so memory grows with distinct inputs,
	// not with events.
	agg    map[string]*aggEntry
	span   time.Duration
	keyBuf []byte
	// byCols, when not nil, are the by fields of an aggregate answered
	// from its columns (see columnsOnly).
	byCols []string
}

type aggEntry struct {
	ev *event.Event
	n  int
}

func newCollector(q *query.Query, req store.SearchRequest, maxBytes int64, maxGroups int) *collector {
	c := &collector{q: q, req: req, m: query.Compile(q), maxBytes: maxBytes, maxGroups: maxGroups, meta: map[*event.Event]meta{}}
	if !q.IsAggregate() && q.Sort() == nil {
		c.topN = req.Offset + effectiveLimit(q, req, store.DefaultLimit)
	}
	if q.IsAggregate() {
		if maxGroups >= 0 {
			c.groups = map[string]struct{}{}
		}
		c.need = map[string]bool{}
		if s := q.Stats(); s != nil {
			for _, f := range s.By {
				c.need[f] = true
			}
			for _, a := range s.Aggs {
				c.need[a.Field] = true
			}
		}
		if t := q.Timechart(); t != nil {
			c.need[t.By] = true
			for _, a := range t.Aggs {
				c.need[a.Field] = true
			}
			c.span = t.Span
		}
		c.agg = map[string]*aggEntry{}
	}
	return c
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

func (c *collector) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.cancel()
}

// block is the engine's callback: one block of rows with the document and
// id columns.
func (c *collector) block(_ uint, db *logstorage.DataBlock) {
	docs := db.GetColumnByName(colDoc)
	ids := db.GetColumnByName(colID)
	if docs == nil || ids == nil {
		return
	}
	var byVals [][]string
	if c.byCols != nil {
		byVals = make([][]string, len(c.byCols))
		for j, f := range c.byCols {
			if bc := db.GetColumnByName(column(f)); bc != nil {
				byVals[j] = bc.Values
			}
		}
	}
	var empties []string
	if ec := db.GetColumnByName(colEmpty); ec != nil {
		empties = ec.Values
	}
	vals := make([]string, len(c.byCols))
	missing := make([]bool, len(c.byCols))
	for i, doc := range docs.Values {
		if byVals != nil && columnValues(byVals, empties, i, vals, missing) {
			c.addColumns(vals, missing)
			continue
		}
		if !c.row(doc, ids.Values[i]) {
			return
		}
	}
}

// row takes one row by its document (hex) and id, and reports whether the
// search goes on (false after a row that does not decode).
func (c *collector) row(doc, id string) bool {
	raw, err := hex.DecodeString(doc)
	if err == nil {
		var ev *event.Event
		if ev, err = event.DecodeBinary(raw); err == nil {
			if c.m.Match(ev) {
				c.add(ev, id, int64(len(doc))+eventOverhead)
			}
			return true
		}
	}
	c.mu.Lock()
	c.fail(fmt.Errorf("reading stored event: %w", err))
	c.mu.Unlock()
	return false
}

func (c *collector) add(ev *event.Event, id string, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.total++
	if c.groups != nil {
		k := c.groupKey(ev)
		if _, ok := c.groups[k]; !ok {
			if len(c.groups) >= c.maxGroups {
				c.fail(&store.LimitError{Err: store.ErrTooManyGroups, Limit: int64(c.maxGroups)})
				return
			}
			c.groups[k] = struct{}{}
			size += int64(len(k))
		}
	}
	if c.agg != nil {
		c.addAgg(ev)
		return
	}
	size += int64(len(id))
	c.evs = append(c.evs, ev)
	c.meta[ev] = meta{id: strings.Clone(id), size: size}
	c.bytes += size
	if c.topN > 0 && len(c.evs) >= 2*c.topN+64 {
		c.trim()
	}
	if c.maxBytes >= 0 && c.bytes > c.maxBytes {
		c.fail(&store.LimitError{Err: store.ErrMemoryBudget, Limit: c.maxBytes})
	}
}

// columnValues fills vals with row i's texts of the by columns (missing
// when the field has no non-null value) and reports whether they answer.
// They do not when a line break may separate values or be in one, or
// when the row holds an empty value somewhere (empties): the document
// tells then.
func columnValues(cols [][]string, empties []string, i int, vals []string, missing []bool) bool {
	for j, col := range cols {
		v := ""
		if col != nil {
			v = col[i]
		}
		if v == "" && empties != nil && empties[i] != "" {
			return false
		}
		if strings.IndexByte(v, '\n') >= 0 {
			return false
		}
		vals[j], missing[j] = v, v == ""
	}
	return true
}

// columnsOnly reports whether q is an aggregate that its columns answer
// without decoding documents, and its by fields: no filter, a stats pipe
// of count() only, by fields whose column holds the text of their values
// (not message, whose column is the full text, nor the times).
func columnsOnly(q *query.Query) ([]string, bool) {
	s := q.Stats()
	if q.Filter != nil || s == nil {
		return nil, false
	}
	for _, a := range s.Aggs {
		if a.Func != query.AggCount || a.Field != "" {
			return nil, false
		}
	}
	for _, f := range s.By {
		switch f {
		case event.FieldTimestamp, "event.ingested", event.FieldMessage:
			return nil, false
		}
	}
	return s.By, true
}

// addColumns counts one event of a columns-only aggregate whose by fields
// have the single texts vals, or none (missing).
func (c *collector) addColumns(vals []string, missing []bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.total++
	c.keyBuf = append(c.keyBuf[:0], 1) // unlike a document's first byte
	for i, v := range vals {
		if missing[i] {
			c.keyBuf = append(c.keyBuf, 2)
		}
		c.keyBuf = append(c.keyBuf, v...)
		c.keyBuf = append(c.keyBuf, 0)
	}
	if e, ok := c.agg[string(c.keyBuf)]; ok {
		e.n++
		return
	}
	p := &event.Event{}
	for i, f := range c.byCols {
		if missing[i] {
			continue
		}
		v := strings.Clone(vals[i])
		switch f {
		case "vigil.input":
			p.Input = v
		case "logsource.product":
			p.Logsource.Product = v
		case "logsource.category":
			p.Logsource.Category = v
		case "logsource.service":
			p.Logsource.Service = v
		case event.FieldTags:
			p.Tags = []string{v}
		case event.FieldOriginal:
			p.Raw = v
		default:
			p.Set(f, event.String(v))
		}
	}
	if c.groups != nil {
		k := c.groupKey(p)
		if _, ok := c.groups[k]; !ok {
			if len(c.groups) >= c.maxGroups {
				c.fail(&store.LimitError{Err: store.ErrTooManyGroups, Limit: int64(c.maxGroups)})
				return
			}
			c.groups[k] = struct{}{}
			c.bytes += int64(len(k))
		}
	}
	c.agg[string(c.keyBuf)] = &aggEntry{ev: p, n: 1}
	c.bytes += int64(2*len(c.keyBuf)) + eventOverhead
	if c.maxBytes >= 0 && c.bytes > c.maxBytes {
		c.fail(&store.LimitError{Err: store.ErrMemoryBudget, Limit: c.maxBytes})
	}
}

// addAgg keeps ev, projected to what the aggregate reads, once per
// distinct projection.
func (c *collector) addAgg(ev *event.Event) {
	p := ev.Project(c.need)
	p.Time, p.Received = time.Time{}, time.Time{}
	switch {
	case c.span > 0:
		p.Time = bucketStart(ev.Timestamp(), c.span)
	case c.need[event.FieldTimestamp]:
		p.Time = ev.Timestamp()
	}
	if c.need["event.ingested"] {
		p.Received = ev.Received
		if p.Time.IsZero() {
			// Keep @timestamp from falling back to Received; it is not read.
			p.Time = time.Unix(0, 0)
		}
	}
	c.keyBuf = event.AppendBinary(c.keyBuf[:0], p, p.Time)
	if e, ok := c.agg[string(c.keyBuf)]; ok {
		e.n++
		return
	}
	c.agg[string(c.keyBuf)] = &aggEntry{ev: p, n: 1}
	c.bytes += int64(2*len(c.keyBuf)) + eventOverhead
	if c.maxBytes >= 0 && c.bytes > c.maxBytes {
		c.fail(&store.LimitError{Err: store.ErrMemoryBudget, Limit: c.maxBytes})
	}
}

// bucketStart is the start of t's span-wide bucket from the Unix epoch, as
// query.Run's timechart counts them.
func bucketStart(t time.Time, span time.Duration) time.Time {
	secs, w := t.Unix(), int64(span/time.Second)
	if w <= 0 {
		return t
	}
	b := secs / w * w
	if secs%w < 0 {
		b -= w
	}
	return time.Unix(b, 0).UTC()
}

// trim keeps the newest topN events (ties broken by id, so that the
// answer does not depend on the order in which blocks arrive).
func (c *collector) trim() {
	c.sortNewest()
	for _, ev := range c.evs[c.topN:] {
		c.bytes -= c.meta[ev].size
		delete(c.meta, ev)
	}
	c.evs = slices.Clip(c.evs[:c.topN])
}

func (c *collector) sortNewest() {
	slices.SortFunc(c.evs, func(a, b *event.Event) int {
		if d := b.Timestamp().Compare(a.Timestamp()); d != 0 {
			return d
		}
		return strings.Compare(c.meta[a].id, c.meta[b].id)
	})
}

// groupKey is the identity of ev's aggregate group: the text of the first
// non-null value of each by field (and the timechart bucket).
func (c *collector) groupKey(ev *event.Event) string {
	c.key.Reset()
	var by []string
	if s := c.q.Stats(); s != nil {
		by = s.By
	}
	if t := c.q.Timechart(); t != nil {
		if t.By != "" {
			by = []string{t.By}
		}
		secs, w := ev.Timestamp().Unix(), int64(t.Span/time.Second)
		if w > 0 {
			b := secs / w
			if secs%w < 0 {
				b--
			}
			fmt.Fprintf(&c.key, "%d\x00", b)
		}
	}
	for _, f := range by {
		found := false
		query.FieldValues(ev, f, func(v event.Value) bool {
			if v.Kind == event.KindNull {
				return true
			}
			c.key.WriteByte(1)
			c.key.WriteString(v.Str)
			found = true
			return false
		})
		if !found {
			c.key.WriteByte(0)
		}
		c.key.WriteByte(0)
	}
	return c.key.String()
}

func (c *collector) result() (*store.Result, error) {
	q := c.q
	if q.IsAggregate() {
		return c.aggregate()
	}
	limit := effectiveLimit(q, c.req, store.DefaultLimit)
	if c.req.Offset+limit > store.MaxLimit {
		return nil, fmt.Errorf("offset %d + limit %d over %d: %w", c.req.Offset, limit, store.MaxLimit, store.ErrBadRequest)
	}
	// Newest first (ties by id), then the query's sort, stable.
	c.sortNewest()
	noLimit := &query.Query{}
	for _, p := range q.Pipes {
		if _, ok := p.(*query.Limit); !ok {
			noLimit.Pipes = append(noLimit.Pipes, p)
		}
	}
	res, err := query.Run(noLimit, slices.Values(c.evs))
	if err != nil {
		return nil, fmt.Errorf("running pipes: %w", err)
	}
	evs := res.Events
	if c.req.Offset < len(evs) {
		evs = evs[c.req.Offset:]
	} else {
		evs = nil
	}
	if len(evs) > limit {
		evs = evs[:limit]
	}
	out := &store.Result{Total: c.total, Events: make([]store.Hit, 0, len(evs))}
	var keep map[string]bool
	if f := q.Fields(); f != nil {
		out.Columns = slices.Clone(f.Names)
		keep = map[string]bool{}
		for _, n := range f.Names {
			keep[n] = true
		}
	}
	for _, ev := range evs {
		id := c.meta[ev].id
		if keep != nil {
			ev = ev.Project(keep)
		}
		out.Events = append(out.Events, store.Hit{ID: id, Event: ev})
	}
	return out, nil
}

func (c *collector) aggregate() (*store.Result, error) {
	q := c.q
	noLimit := &query.Query{}
	for _, p := range q.Pipes {
		if _, ok := p.(*query.Limit); !ok {
			noLimit.Pipes = append(noLimit.Pipes, p)
		}
	}
	all := func(yield func(*event.Event) bool) {
		for _, e := range c.agg {
			for range e.n {
				if !yield(e.ev) {
					return
				}
			}
		}
	}
	res, err := query.Run(noLimit, all)
	if err != nil {
		if strings.Contains(err.Error(), "not an output column") {
			return nil, fmt.Errorf("%w: %w", store.ErrBadRequest, err)
		}
		return nil, fmt.Errorf("running pipes: %w", err)
	}
	rows := res.Rows
	if c.req.Offset < len(rows) {
		rows = rows[c.req.Offset:]
	} else {
		rows = nil
	}
	if limit := effectiveLimit(q, c.req, store.MaxLimit); len(rows) > limit {
		rows = rows[:limit]
	}
	return &store.Result{Total: c.total, Columns: res.Columns, Rows: rows}, nil
}
