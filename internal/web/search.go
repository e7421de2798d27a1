package web

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/csvsafe"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/searchlimit"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/timeparse"
)

// Time ranges offered by the time picker.
var ranges = []struct{ Value, Label string }{
	{"15m", "Last 15 minutes"}, {"1h", "Last hour"}, {"24h", "Last 24 hours"},
	{"7d", "Last 7 days"}, {"30d", "Last 30 days"}, {"all", "All time"}, {"custom", "Custom…"},
}

// searchPage is how many events (or rows) a page of results shows.
const searchPage = store.DefaultLimit

// maxSearchOffset is the deepest page of a search: the store answers at
// most store.MaxLimit events past the offset's start.
const maxSearchOffset = store.MaxLimit - searchPage

// searchParams is a search as the URL carries it.
type searchParams struct {
	Q, Range, From, To string
	Tail               bool
	// Offset is where the page of results starts.
	Offset   int
	from, to time.Time
	parsed   *query.Query
	warnings []query.Warning
}

func (c *Console) parseSearch(v url.Values) (searchParams, error) {
	p := searchParams{Q: v.Get("q"), Range: v.Get("range"), From: v.Get("from"), To: v.Get("to"), Tail: v.Get("tail") == "1"}
	if p.Range == "" {
		p.Range = "24h"
	}
	if len(p.Q) > api.MaxQueryLength {
		return p, errors.New("query longer than 16 KiB")
	}
	var err error
	if p.Offset, err = pageOffset(v, maxSearchOffset); err != nil {
		return p, fmt.Errorf("%w (a search pages through its first %s results: narrow the time range or the query to see the rest)", err, fmtNum(store.MaxLimit))
	}
	now := c.o.Now()
	switch p.Range {
	case "all":
	case "custom":
		if p.from, err = timeparse.Parse(p.From, now); err != nil {
			return p, fmt.Errorf("from: %w", err)
		}
		if p.to, err = timeparse.Parse(p.To, now); err != nil {
			return p, fmt.Errorf("to: %w", err)
		}
	default:
		d, err := timeparse.Duration(p.Range)
		if err != nil {
			return p, fmt.Errorf("range: %w", err)
		}
		p.from = now.Add(-d)
	}
	if p.parsed, p.warnings, err = query.ParseWarn(p.Q, query.Options{}); err != nil {
		return p, err
	}
	return p, nil
}

// values returns the URL parameters of p, with q replaced when q != "".
func (p searchParams) values(q string) url.Values {
	v := url.Values{}
	v.Set("q", q)
	v.Set("range", p.Range)
	if p.Range == "custom" {
		v.Set("from", p.From)
		v.Set("to", p.To)
	}
	return v
}

// Query returns the URL query of the search (for links and htmx), typed
// as a URL so that html/template keeps its & and = separators.
func (p searchParams) Query() template.URL { return template.URL(p.values(p.Q).Encode()) }

// With returns the URL query of the search narrowed to field = value.
func (p searchParams) With(field, value string) string {
	return p.values(addFilter(p.Q, field, value)).Encode()
}

// Without returns the URL query of the search narrowed to events that lack
// field (the sidebar's "(empty)" value).
func (p searchParams) Without(field string) string {
	q := addFilter(p.Q, field, "x")
	q = strings.TrimSuffix(q, (&query.Term{Field: field, Op: query.OpEq, Value: "x"}).String()) + "NOT " + field + ":*"
	return p.values(q).Encode()
}

// cell is one cell of a result table: text, or a time (shown as a
// <time> in the user's zone).
type cell struct {
	S string
	T time.Time
}

type eventRow struct {
	ID     string
	Time   time.Time
	Fields []kv
	JSON   string
}

type kv struct{ K, V string }

type searchData struct {
	P       searchParams
	Ranges  []struct{ Value, Label string }
	Ran     bool
	Err     string
	Total   int64
	Events  []eventRow
	Columns []string
	Rows    [][]cell
	// Pager pages through the events (or the rows of an aggregate).
	Pager pager
	// Chart draws a timechart's rows.
	Chart  template.HTML
	Took   time.Duration
	Fields []string
	// Warnings say why a query may not find what was meant (see
	// api.Warnings).
	Warnings []string
	// Projected is set for an event query with a fields pipe, shown as a
	// table of its columns.
	Projected bool
}

// maxSidebarFields bounds the fields whose top values the sidebar shows.
const maxSidebarFields = 8

// runSearch runs a search for the signed-in user within the search
// limits (the same limiter as the API's; the console's user is one
// "user").
func (c *Console) runSearch(r *http.Request, s *session, p searchParams, limit, offset int) (*store.Result, time.Duration, error) {
	start := time.Now()
	res, err := c.o.Search.Search(r.Context(), c.o.Store, "user:"+s.Username, store.SearchRequest{Query: p.parsed, From: p.from, To: p.to, Limit: limit, Offset: offset})
	took := time.Since(start)
	if err == nil && c.o.Metrics != nil {
		c.o.Metrics.QuerySeconds.Observe(took.Seconds())
	}
	return res, took, err
}

// searchError is what the page says of a search error: bounds and bad
// queries say what was wrong, anything else is logged and shown without
// its detail (a store error may name files).
func (c *Console) searchError(r *http.Request, err error) string {
	status, msg, _ := searchlimit.Public(err)
	if status == http.StatusInternalServerError && r.Context().Err() == nil {
		c.o.Log.Error("search failed", "err", err)
	}
	return msg
}

func (c *Console) search(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	v := r.URL.Query()
	d := searchData{Ranges: ranges}
	p, err := c.parseSearch(v)
	d.P = p
	if err != nil {
		d.Err = err.Error()
		c.show(w, r, s, "search", "Search", d, start)
		return
	}
	// An aggregate's rows are few and cheap next to the events they
	// count: all of them (up to the store's bound) are read, to draw a
	// timechart whole and to say how many rows there are; a page of them
	// is shown. Events are read a page at a time.
	agg := p.parsed.IsAggregate()
	limit, offset := searchPage, p.Offset
	if agg {
		limit, offset = store.MaxLimit, 0
	}
	res, took, err := c.runSearch(r, s, p, limit, offset)
	d.Ran, d.Took = true, took
	if err != nil {
		d.Err = c.searchError(r, err)
		c.show(w, r, s, "search", "Search", d, start)
		return
	}
	c.fillResult(&d, res)
	d.Warnings = api.Warnings(p.parsed, p.warnings, res, query.SeenFields)
	d.Pager = pager{Path: "/search", Params: p.values(p.Q), Offset: p.Offset, Size: searchPage, Exact: true,
		MaxOffset: maxSearchOffset, Noun: "events", Beyond: "narrow the time range or the query to see the rest."}
	if agg {
		d.Chart = timechartChart(p.parsed, res)
		d.Pager.Noun, d.Pager.Total = "rows", int64(len(d.Rows))
		d.Pager.Exact = len(d.Rows) < store.MaxLimit
		d.Rows = d.Rows[min(p.Offset, len(d.Rows)):min(p.Offset+searchPage, len(d.Rows))]
		d.Pager.Shown = len(d.Rows)
	} else {
		d.Pager.Total = res.Total
		if n, ok := limitPipe(p.parsed); ok && int64(n) < d.Pager.Total {
			d.Pager.Total = int64(n) // the query asks for no more
		}
		d.Pager.Shown = len(d.Events) + len(d.Rows)
	}
	c.show(w, r, s, "search", "Search", d, start)
}

// limitPipe returns the N of the query's limit pipe.
func limitPipe(q *query.Query) (int, bool) {
	for _, pp := range q.Pipes {
		if l, ok := pp.(*query.Limit); ok {
			return l.N, true
		}
	}
	return 0, false
}

// timechartChart draws the rows of a timechart query as lines over time:
// one per aggregate, or per value of the by field (and aggregate); ""
// when the query has no timechart or its rows lost the time column.
func timechartChart(q *query.Query, res *store.Result) template.HTML {
	var tc *query.Timechart
	for _, pp := range q.Pipes {
		if t, ok := pp.(*query.Timechart); ok {
			tc = t
		}
	}
	if tc == nil || len(res.Rows) == 0 {
		return ""
	}
	col := func(name string) int { return slices.Index(res.Columns, name) }
	ti, bi := col(query.TimeColumn), -1
	if ti < 0 {
		return ""
	}
	if tc.By != "" {
		bi = col(tc.By)
	}
	type aggCol struct {
		i        int
		name     string
		additive bool
	}
	var aggs []aggCol
	for _, a := range tc.Aggs {
		if i := col(a.Name()); i >= 0 {
			aggs = append(aggs, aggCol{i, a.Name(), a.Func == query.AggCount || a.Func == query.AggSum || a.Func == query.AggDC})
		}
	}
	if len(aggs) == 0 {
		return ""
	}
	var order []string
	series := map[string]*lineSeries{}
	for _, row := range res.Rows {
		t, ok := row[ti].(time.Time)
		if !ok {
			continue
		}
		for _, a := range aggs {
			v, ok := numericCell(row[a.i])
			if !ok {
				continue
			}
			name := a.name
			if bi >= 0 {
				name = cellString(row[bi])
				if row[bi] == nil {
					name = "(none)"
				}
				if len(aggs) > 1 {
					name += " · " + a.name
				}
			}
			sr := series[name]
			if sr == nil {
				sr = &lineSeries{Name: name, Additive: a.additive}
				series[name] = sr
				order = append(order, name)
			}
			sr.Points = append(sr.Points, linePoint{T: t, V: v})
		}
	}
	var ss []lineSeries
	for _, name := range order {
		sr := series[name]
		slices.SortStableFunc(sr.Points, func(a, b linePoint) int { return a.T.Compare(b.T) })
		ss = append(ss, *sr)
	}
	if len(ss) == 0 {
		return ""
	}
	return lineChart("Timechart: "+strings.TrimPrefix(tc.String(), "timechart "), tc.Span, ss)
}

func numericCell(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case int:
		return float64(x), true
	}
	return 0, false
}

func (c *Console) fillResult(d *searchData, res *store.Result) {
	d.Total = res.Total
	if res.Columns != nil && !api.IsAggregateResult(res) {
		// A fields pipe: exactly its columns, in its order.
		d.Projected, d.Columns = true, res.Columns
		for _, h := range res.Events {
			var cells []cell
			for _, s := range projectedCells(h.Event, res.Columns) {
				cells = append(cells, cell{S: s})
			}
			d.Rows = append(d.Rows, cells)
		}
		return
	}
	if api.IsAggregateResult(res) {
		d.Columns = res.Columns
		for _, row := range res.Rows {
			cells := make([]cell, len(row))
			for i, v := range row {
				if t, ok := v.(time.Time); ok {
					cells[i].T = t
				}
				cells[i].S = cellString(v)
			}
			d.Rows = append(d.Rows, cells)
		}
		return
	}
	count := map[string]int{}
	for _, h := range res.Events {
		row := eventRow{ID: h.ID, Time: h.Event.Timestamp(), JSON: prettyJSON(h.Event.AppendJSON(nil))}
		seen := map[event.Key]bool{}
		for _, f := range h.Event.Fields {
			row.Fields = append(row.Fields, kv{f.Key.Name(), f.Value.Str})
			if !seen[f.Key] {
				seen[f.Key] = true
				count[f.Key.Name()]++
			}
		}
		// The summary line leads with the message and the fields analysts
		// filter on; the rest follow in their order.
		sort.SliceStable(row.Fields, func(i, j int) bool { return summaryRank(row.Fields[i].K) < summaryRank(row.Fields[j].K) })
		d.Events = append(d.Events, row)
	}
	for f := range count {
		d.Fields = append(d.Fields, f)
	}
	sort.Slice(d.Fields, func(i, j int) bool {
		pi, pj := preferredField(d.Fields[i]), preferredField(d.Fields[j])
		if pi != pj {
			return pi < pj
		}
		if count[d.Fields[i]] != count[d.Fields[j]] {
			return count[d.Fields[i]] > count[d.Fields[j]]
		}
		return d.Fields[i] < d.Fields[j]
	})
	if len(d.Fields) > maxSidebarFields {
		d.Fields = d.Fields[:maxSidebarFields]
	}
}

// sidebarFirst are the fields an analyst filters on most, shown first in
// the sidebar when the results have them.
var sidebarFirst = []string{"source.ip", "user.name", "host.name", "event.action", "event.outcome",
	"process.name", "destination.ip", "event.dataset", "url.path", "http.response.status_code"}

func summaryRank(f string) int {
	switch {
	case f == "message":
		return -1
	case strings.HasPrefix(f, "log.syslog."), f == "log.original", strings.HasPrefix(f, "logsource."), strings.HasPrefix(f, "vigil."):
		return len(sidebarFirst) + 1
	}
	return preferredField(f)
}

func preferredField(f string) int {
	for i, p := range sidebarFirst {
		if p == f {
			return i
		}
	}
	return len(sidebarFirst)
}

// projectedCells returns the text of ev's values of cols, in order;
// several values of one field are joined by "; ".
func projectedCells(ev *event.Event, cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		query.FieldValues(ev, c, func(v event.Value) bool {
			if out[i] != "" {
				out[i] += "; "
			}
			out[i] += v.Str
			return true
		})
	}
	return out
}

func cellString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// searchRows answers the live tail: the newest events as table rows.
func (c *Console) searchRows(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	d := searchData{}
	p, err := c.parseSearch(r.URL.Query())
	d.P = p
	if err == nil {
		var res *store.Result
		res, d.Took, err = c.runSearch(r, s, p, store.DefaultLimit, 0)
		if err == nil {
			c.fillResult(&d, res)
		} else {
			err = errors.New(c.searchError(r, err))
		}
	}
	if err != nil {
		d.Err = err.Error()
	}
	v := c.newView(r, s, "search", "Search", d)
	v.Partial = "rows"
	v.Took = time.Since(start)
	c.tmpl.render(w, http.StatusOK, "search", v)
}

type fieldTop struct {
	Field  string
	Values []valueCount
	// Note replaces the values when there are too many to count.
	Note string
}

type valueCount struct {
	Value string
	Count int64
	Link  string
}

// searchFields answers the sidebar: top values of the given fields
// (stats count() by field), loaded by htmx after the results.
func (c *Console) searchFields(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	v := r.URL.Query()
	p, err := c.parseSearch(v)
	var tops []fieldTop
	fields := v["field"]
	if len(fields) > maxSidebarFields {
		fields = fields[:maxSidebarFields]
	}
	for _, f := range fields {
		if err != nil {
			break
		}
		if _, perr := query.Parse(f + ":*"); perr != nil {
			continue // not a field name the language accepts
		}
		filter := ""
		if p.parsed.Filter != nil {
			filter = p.parsed.Filter.String()
		}
		sq, perr := query.Parse(filter + " | stats count() by " + f + " | sort -count | limit 5")
		if perr != nil {
			continue
		}
		var res *store.Result
		sp := p
		sp.parsed = sq
		res, _, err = c.runSearch(r, s, sp, 5, 0)
		if le, ok := errors.AsType[*store.LimitError](err); ok && errors.Is(le, store.ErrTooManyGroups) {
			// A field with more values than an aggregate may group: say
			// so and go on with the other fields.
			tops = append(tops, fieldTop{Field: f, Note: fmt.Sprintf("more than %d values", le.Limit)})
			err = nil
			continue
		}
		if err != nil {
			err = errors.New(c.searchError(r, err))
			break
		}
		ft := fieldTop{Field: f}
		for _, row := range res.Rows {
			if len(row) < 2 {
				continue
			}
			val := cellString(row[0])
			n, _ := row[1].(int64)
			link := "/search?" + p.With(f, val)
			if row[0] == nil {
				link = "/search?" + p.Without(f)
			}
			ft.Values = append(ft.Values, valueCount{Value: val, Count: n, Link: link})
		}
		tops = append(tops, ft)
	}
	view := c.newView(r, s, "search", "Search", struct {
		Tops []fieldTop
		Err  string
	}{tops, errString(err)})
	view.Partial = "fields"
	view.Took = time.Since(start)
	c.tmpl.render(w, http.StatusOK, "search", view)
}

// searchChart answers the histogram: a timechart of the query's filter.
func (c *Console) searchChart(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	p, err := c.parseSearch(r.URL.Query())
	var chart template.HTML
	if err == nil {
		from, to := p.from, p.to
		now := c.o.Now()
		if to.IsZero() {
			to = now
		}
		if from.IsZero() {
			st, serr := c.o.Store.Stats(r.Context())
			if serr == nil && !st.Oldest.IsZero() {
				from = st.Oldest
			} else {
				from = to.Add(-24 * time.Hour)
			}
		}
		span := niceSpan(to.Sub(from) / 60)
		filter := ""
		if p.parsed.Filter != nil {
			filter = p.parsed.Filter.String()
		}
		var sq *query.Query
		sq, err = query.Parse(filter + " | timechart span=" + query.FormatSpan(span) + " count()")
		if err == nil {
			sp := p
			sp.parsed, sp.from, sp.to = sq, from, to
			var res *store.Result
			res, _, err = c.runSearch(r, s, sp, store.MaxLimit, 0)
			if err != nil {
				err = errors.New(c.searchError(r, err))
			} else {
				first := from.Truncate(span)
				n := int(to.Sub(first)/span) + 1
				vals := make([]float64, n)
				for _, row := range res.Rows {
					if len(row) < 2 {
						continue
					}
					t, ok := row[0].(time.Time)
					if !ok {
						continue
					}
					i := int(t.Sub(first) / span)
					if i >= 0 && i < n {
						vals[i] += toFloat(row[1])
					}
				}
				chart = barChart("Events over time", first, span, []series{{Class: "bar", Values: vals}})
			}
		}
	}
	view := c.newView(r, s, "search", "Search", struct {
		Chart template.HTML
		Err   string
	}{chart, errString(err)})
	view.Partial = "chart"
	view.Took = time.Since(start)
	c.tmpl.render(w, http.StatusOK, "search", view)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case int:
		return float64(x)
	}
	return 0
}

// niceSpan rounds a bucket width up to a readable one.
func niceSpan(d time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
		5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if d <= s {
			return s
		}
	}
	return 7 * 24 * time.Hour
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// searchExport downloads up to store.MaxLimit results as CSV or JSON.
func (c *Console) searchExport(w http.ResponseWriter, r *http.Request, s *session) {
	p, err := c.parseSearch(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	res, _, err := c.runSearch(r, s, p, store.MaxLimit, 0)
	if err != nil {
		code, _, retry := searchlimit.Public(err)
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
		}
		http.Error(w, c.searchError(r, err), code)
		return
	}
	c.audit(r.Context(), s.Username, "search.export", p.Q, map[string]any{"format": r.URL.Query().Get("format")})
	switch r.URL.Query().Get("format") {
	case "json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="vigil-search.json"`)
		w.Write(api.AppendResult(nil, res))
	case "csv", "":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="vigil-search.csv"`)
		writeCSV(w, res)
	default:
		http.Error(w, "format: want csv or json", http.StatusBadRequest)
	}
}

// writeCSV writes a result as CSV: the aggregate's columns, or for events
// @timestamp then every field name seen (repeated fields joined by "; ").
// Every cell, the header's field names included (they come from logs), is
// quoted, and one a spreadsheet would run as a formula is prefixed with '
// (csvsafe).
func writeCSV(w http.ResponseWriter, res *store.Result) {
	cw := csvsafe.NewWriter(w)
	defer cw.Flush()
	if res.Columns != nil && !api.IsAggregateResult(res) {
		// A fields pipe: exactly its columns, in its order.
		cw.Write(res.Columns)
		for _, h := range res.Events {
			cw.Write(projectedCells(h.Event, res.Columns))
		}
		return
	}
	if api.IsAggregateResult(res) {
		cw.Write(res.Columns)
		for _, row := range res.Rows {
			out := make([]string, len(row))
			for i, cell := range row {
				out[i] = cellString(cell)
			}
			cw.Write(out)
		}
		return
	}
	idx := map[string]int{}
	var cols []string
	for _, h := range res.Events {
		for _, f := range h.Event.Fields {
			n := f.Key.Name()
			if _, ok := idx[n]; !ok {
				idx[n] = -1
				cols = append(cols, n)
			}
		}
	}
	sort.Strings(cols)
	cols = append([]string{"@timestamp"}, cols...)
	for i, n := range cols {
		idx[n] = i
	}
	cw.Write(cols)
	for _, h := range res.Events {
		out := make([]string, len(cols))
		out[0] = h.Event.Timestamp().UTC().Format(time.RFC3339Nano)
		for _, f := range h.Event.Fields {
			i := idx[f.Key.Name()]
			if i == 0 {
				continue
			}
			if out[i] != "" {
				out[i] += "; "
			}
			out[i] += f.Value.Str
		}
		cw.Write(out)
	}
}
