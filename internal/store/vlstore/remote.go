package vlstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/internal/store"
)

// RemoteOptions configure a store in a VictoriaLogs server.
type RemoteOptions struct {
	// URL is the server's base URL (http://host:9428): /insert/jsonline,
	// /select/logsql/query and /internal/force_flush are under it.
	URL string
	// SelectURL, if set, is the base URL of the select path when it is
	// not URL's (a cluster's vlselect beside its vlinsert).
	SelectURL string
	// Retention and FutureSkew are the server's -retentionPeriod and
	// -futureRetention: the server drops rows outside them without an
	// error, so the store refuses those events itself, as the embedded
	// engine does. Zero reads them from the server's /flags (a flag it
	// does not list has the server's default: 7 days, 2 days).
	Retention, FutureSkew time.Duration
	// Client makes the requests (default: one with a 60 s timeout).
	Client *http.Client
	// MaxRow bounds one row of a search answer (default 64 MiB); past it
	// the search fails.
	MaxRow int
}

// Remote is an event store in a VictoriaLogs server (single-node, or a
// cluster's insert and select front), reached over its HTTP API: the same
// rows as the embedded engine (rowBuilder), the same compiled queries
// (plan) and the same exact matching and pipes (collector). An Append
// returns after the server took the rows and flushed them
// (/internal/force_flush), so they are searchable and in its files.
type Remote struct {
	o         RemoteOptions
	insertURL string
	selectURL string
	flushURL  string
	idBase    string
	seq       atomic.Uint64

	mu     sync.RWMutex
	closed bool

	// Flushes are shared (flush): fmu guards the round that collects
	// waiters and whether a flusher runs.
	fmu      sync.Mutex
	next     *flushRound
	flushing bool
}

// flushRound is one force_flush that every waiter registered before it
// started shares.
type flushRound struct {
	done chan struct{}
	err  error
}

// OpenRemote checks that the server at o.URL answers and returns the
// store.
func OpenRemote(ctx context.Context, o RemoteOptions) (*Remote, error) {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 60 * time.Second}
	}
	if o.MaxRow <= 0 {
		o.MaxRow = 64 << 20
	}
	base, err := baseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("events URL: %w", err)
	}
	sel := base
	if o.SelectURL != "" {
		if sel, err = baseURL(o.SelectURL); err != nil {
			return nil, fmt.Errorf("events select URL: %w", err)
		}
	}
	r := &Remote{o: o,
		insertURL: base + "/insert/jsonline?" + url.Values{
			"_stream_fields": {strings.Join(streamColumns(), ",")},
			"_time_field":    {"_time"},
			"_msg_field":     {"_msg"},
		}.Encode(),
		selectURL: sel + "/select/logsql/query",
		flushURL:  base + "/internal/force_flush",
		idBase:    strconv.FormatInt(time.Now().UnixNano(), 36) + "-r-",
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sel+"/health", nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("events server %s: %w", redact.URL(base), err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("events server %s: /health answered %s", redact.URL(base), resp.Status)
	}
	if o.Retention <= 0 || o.FutureSkew <= 0 {
		flags, err := r.serverFlags(ctx, base)
		if err != nil {
			return nil, err
		}
		for _, f := range []struct {
			name string
			dst  *time.Duration
			def  time.Duration
		}{{"retentionPeriod", &r.o.Retention, 7 * 24 * time.Hour}, {"futureRetention", &r.o.FutureSkew, 2 * 24 * time.Hour}} {
			if *f.dst > 0 {
				continue
			}
			*f.dst = f.def
			if v, ok := flags[f.name]; ok {
				if *f.dst, err = parseFlagDuration(v); err != nil {
					return nil, fmt.Errorf("events server %s: -%s=%q: %w", redact.URL(base), f.name, v, err)
				}
			}
		}
	}
	return r, nil
}

// serverFlags reads the flags the server was started with (its /flags
// page lists those not at their default, one "-name=\"value\"" a line).
func (r *Remote) serverFlags(ctx context.Context, base string) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/flags", nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("events server %s: reading /flags: %w", redact.URL(base), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("events server %s: /flags answered %s", redact.URL(base), resp.Status)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		name, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || !strings.HasPrefix(name, "-") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		out[name[1:]] = v
	}
	return out, sc.Err()
}

// parseFlagDuration reads a VictoriaLogs duration flag: a number with a
// unit of s, m, h, d, w or y, or without one, months (31 days).
func parseFlagDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a duration")
	}
	unit := map[string]time.Duration{"": 31 * 24 * time.Hour, "s": time.Second, "m": time.Minute, "h": time.Hour,
		"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}
	u, ok := unit[s[i:]]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", s[i:])
	}
	if n*float64(u) > float64(200*365*24*time.Hour) {
		return 200 * 365 * 24 * time.Hour, nil
	}
	return time.Duration(n * float64(u)), nil
}

// CheckURL reports whether u can be an events server's URL (the
// configuration's events: key).
func CheckURL(u string) error {
	_, err := baseURL(u)
	return err
}

// baseURL checks u is an http(s) URL without a query and trims its
// trailing slash.
func baseURL(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	if p.Scheme != "http" && p.Scheme != "https" || p.Host == "" || p.RawQuery != "" || p.Fragment != "" {
		return "", fmt.Errorf("%q: want http(s)://host[:port][/path]", u)
	}
	return strings.TrimRight(p.String(), "/"), nil
}

func streamColumns() []string {
	out := make([]string, len(streamFields))
	for i, f := range streamFields {
		out[i] = column(f)
	}
	return out
}

// Append sends evs as rows and returns once the server has flushed them.
// Events outside the server's accepted range are refused with a
// *store.PartialError wrapping store.ErrOutOfRange (the server would drop
// them silently); the others are stored.
func (r *Remote) Append(ctx context.Context, evs []*event.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return store.ErrClosed
	}
	now := time.Now()
	oldest, newest := now.Add(-r.o.Retention), now.Add(r.o.FutureSkew)
	var rb rowBuilder
	var body bytes.Buffer
	var refused []*event.Event
	line := make([]byte, 0, 4096)
	n := 0
	for _, ev := range evs {
		ts := ev.Timestamp()
		if ts.Before(oldest) || ts.After(newest) {
			refused = append(refused, ev)
			continue
		}
		id := r.idBase + strconv.FormatUint(r.seq.Add(1), 36)
		fields, _ := rb.build(ev, ts, id)
		line = append(line[:0], `{"_time":`...)
		line = event.AppendString(line, ts.UTC().Format(time.RFC3339Nano))
		for _, f := range fields {
			if f.Value == "" {
				continue // the engine keeps no empty value (colEmpty lists them)
			}
			line = append(line, ',')
			line = event.AppendString(line, f.Name)
			line = append(line, ':')
			line = event.AppendString(line, f.Value)
		}
		line = append(line, "}\n"...)
		body.Write(line)
		n++
	}
	if n > 0 {
		if err := r.post(ctx, r.insertURL, "application/stream+json", &body); err != nil {
			return fmt.Errorf("appending %d events: %w", n, err)
		}
		if err := r.flush(ctx); err != nil {
			return fmt.Errorf("appending %d events: flushing: %w", n, err)
		}
	}
	if len(refused) > 0 {
		return &store.PartialError{Unstored: refused, Err: fmt.Errorf("%d events before %s or after %s: %w",
			len(refused), oldest.UTC().Format(time.RFC3339), newest.UTC().Format(time.RFC3339), store.ErrOutOfRange)}
	}
	return nil
}

// flush returns once a force_flush that started after the call has
// ended: one flush covers every Append whose rows the server took before
// it began, so that concurrent Appends (the partitions of a detect node)
// share flushes instead of each asking for its own.
func (r *Remote) flush(ctx context.Context) error {
	r.fmu.Lock()
	if r.next == nil {
		r.next = &flushRound{done: make(chan struct{})}
	}
	rd := r.next
	if !r.flushing {
		r.flushing = true
		go r.flushRounds()
	}
	r.fmu.Unlock()
	select {
	case <-rd.done:
		return rd.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flushRounds runs the rounds waiters registered, one after another,
// until none is waiting.
func (r *Remote) flushRounds() {
	for {
		r.fmu.Lock()
		rd := r.next
		r.next = nil
		if rd == nil {
			r.flushing = false
			r.fmu.Unlock()
			return
		}
		r.fmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rd.err = r.post(ctx, r.flushURL, "", nil)
		cancel()
		close(rd.done)
	}
}

// post sends body to u and checks for a 2xx answer.
func (r *Remote) post(ctx context.Context, u, contentType string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("events server answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}

// Search runs req on the server: the compiled query (plan) on the select
// path, its rows streamed into the collector (exact matching, pipes and
// bounds as for the embedded engine).
func (r *Remote) Search(ctx context.Context, req store.SearchRequest) (*store.Result, error) {
	pl, err := plan(req)
	if err != nil || pl.empty {
		return pl.emptyOr(err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil, store.ErrClosed
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	col := pl.collector(cancel)
	return col.finish(ctx, r.query(qctx, pl.lq.String(), col))
}

// query streams the rows of the LogsQL query text into col.
func (r *Remote) query(ctx context.Context, text string, col *collector) error {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.selectURL, strings.NewReader(url.Values{"query": {text}}.Encode()))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := r.o.Client.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("events server answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var vals []string
	var missing []bool
	if col.byCols != nil {
		vals, missing = make([]string, len(col.byCols)), make([]bool, len(col.byCols))
	}
	for {
		line, err := readLine(br, r.o.MaxRow)
		if len(line) > 0 {
			var row map[string]string
			if jerr := json.Unmarshal(line, &row); jerr != nil {
				return fmt.Errorf("reading the events server's answer: %w", jerr)
			}
			if col.byCols != nil {
				cols := make([][]string, len(col.byCols))
				for j, f := range col.byCols {
					cols[j] = []string{row[column(f)]}
				}
				var empties []string
				if e, ok := row[colEmpty]; ok {
					empties = []string{e}
				}
				if columnValues(cols, empties, 0, vals, missing) {
					col.addColumns(vals, missing)
					continue
				}
			}
			if !col.row(row[colDoc], row[colID]) {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if col.err != nil {
				return nil // the collector stopped the request
			}
			return err
		}
	}
}

// errRowTooLarge is a search answer row over RemoteOptions.MaxRow.
var errRowTooLarge = errors.New("events server answer: row too large")

// readLine reads one line of at most max bytes (without its newline).
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		part, err := br.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > max {
			return nil, errRowTooLarge
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimRight(buf, "\r\n"), err
	}
}

// Stats counts the server's events and the days of the oldest and newest
// (Bytes and Partitions are the server's own business: 0).
func (r *Remote) Stats(ctx context.Context) (store.Stats, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return store.Stats{}, store.ErrClosed
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.selectURL,
		strings.NewReader(url.Values{"query": {"* | stats count() n, min(_time) oldest, max(_time) newest"}}.Encode()))
	if err != nil {
		return store.Stats{}, err
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := r.o.Client.Do(hreq)
	if err != nil {
		return store.Stats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return store.Stats{}, fmt.Errorf("events server answered %s", resp.Status)
	}
	var row struct{ N, Oldest, Newest string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&row); err != nil {
		return store.Stats{}, fmt.Errorf("reading the events server's stats: %w", err)
	}
	var st store.Stats
	if st.Events, err = strconv.ParseInt(row.N, 10, 64); err != nil {
		return store.Stats{}, fmt.Errorf("reading the events server's stats: count %q", row.N)
	}
	if st.Events > 0 {
		day := func(s string) time.Time {
			t, _ := time.Parse(time.RFC3339Nano, s)
			return t.UTC().Truncate(24 * time.Hour)
		}
		st.Oldest, st.Newest = day(row.Oldest), day(row.Newest)
	}
	return st, nil
}

// Ping checks that the server answers its /health.
func (r *Remote) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(r.selectURL, "/select/logsql/query")+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("events server: /health answered %s", resp.Status)
	}
	return nil
}

// Close stops using the server.
func (r *Remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}
