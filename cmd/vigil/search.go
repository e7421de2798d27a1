package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/csvsafe"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/timeparse"
)

func newSearchCmd() *cobra.Command {
	var (
		serverURL, token, dataDir, since, until, format string
		limit                                           int
	)
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Search events on a server or in a data directory",
		Long: `Run a query (see docs/query.md) against a running server (--server, --token
or env VIGIL_TOKEN) or directly against a data directory (--data).

  vigil search 'event.dataset:sshd "Failed password" | stats count() by source.ip | sort -count | limit 10' --since 24h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := args[0]
			if _, err := query.Parse(q); err != nil {
				return err
			}
			now := time.Now()
			from, err := timeparse.Parse(since, now)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			to, err := timeparse.Parse(until, now)
			if err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			var body []byte
			switch {
			case serverURL != "" && dataDir != "":
				return errors.New("give --server or --data, not both")
			case dataDir != "":
				body, err = searchDir(cmd, dataDir, q, from, to, limit)
			default:
				if serverURL == "" {
					serverURL = "http://127.0.0.1:8080"
				}
				body, err = searchServer(cmd, serverURL, serverToken(token), q, from, to, limit)
			}
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), cmd.ErrOrStderr(), body, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server", "", "server URL (default http://127.0.0.1:8080 unless --data is given)")
	f.StringVar(&token, "token", "", "API token (default: env VIGIL_TOKEN)")
	f.StringVar(&dataDir, "data", "", "search this data directory directly instead of a server")
	f.StringVar(&since, "since", "", "start of the time range: RFC 3339 time, date, or a duration ago (15m, 24h, 7d)")
	f.StringVar(&until, "until", "", "end of the time range (same forms as --since)")
	f.StringVar(&format, "format", "table", "output format: table, json, ndjson (one JSON object per event or row) or csv")
	f.IntVar(&limit, "limit", 100, "most events to return")
	return cmd
}

func searchServer(cmd *cobra.Command, base, token, q string, from, to time.Time, limit int) ([]byte, error) {
	v := url.Values{"q": {q}, "limit": {strconv.Itoa(limit)}}
	if !from.IsZero() {
		v.Set("from", from.Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		v.Set("to", to.Format(time.RFC3339Nano))
	}
	return serverCall(cmd.Context(), "searching", base, token, "GET", "/api/v1/search", v, nil, 1<<30)
}

func searchDir(cmd *cobra.Command, dir, q string, from, to time.Time, limit int) ([]byte, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	st, err := sqlite.Open(cmd.Context(), dir, sqlite.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	parsed, warns, err := query.ParseWarn(q, query.Options{})
	if err != nil {
		return nil, err
	}
	res, err := st.Search(cmd.Context(), store.SearchRequest{Query: parsed, From: from, To: to, Limit: limit})
	if err != nil {
		return nil, err
	}
	fields := dirFields{ctx: cmd.Context(), st: st, from: from, to: to}
	return api.AppendResult(nil, res, api.Warnings(parsed, warns, res, fields)...), nil
}

// dirFields is the FieldSet of a data directory searched directly. A fresh
// process has read few events, so a name it has not seen is looked for in
// the searched range (a search for name:*, which reads the events and so
// learns their field names for suggestions) before a warning says that no
// event has it.
type dirFields struct {
	ctx      context.Context
	st       store.Store
	from, to time.Time
}

func (d dirFields) Has(name string) bool {
	if query.SeenFields.Has(name) {
		return true
	}
	q := &query.Query{Filter: &query.Term{Field: name, Op: query.OpExists}}
	res, err := d.st.Search(d.ctx, store.SearchRequest{Query: q, From: d.from, To: d.to, Limit: 1})
	// On an error, say nothing rather than something untrue.
	return err != nil || res.Total > 0
}

func (d dirFields) Names() iter.Seq[string] { return query.SeenFields.Names() }

// searchBody is the API's search response (see api.AppendResult).
type searchBody struct {
	Total    *int64              `json:"total"`
	Columns  []string            `json:"columns"`
	Events   []json.RawMessage   `json:"events"`
	Rows     [][]json.RawMessage `json:"rows"`
	Warnings []string            `json:"warnings"`
}

// printResult writes a search response body (the API's JSON) in format,
// and its warnings to errw. A fields pipe's columns are kept, in their
// order, in every format.
func printResult(w, errw io.Writer, body []byte, format string) error {
	var r searchBody
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decoding search result: %w", err)
	}
	if err := writeResult(w, body, &r, format); err != nil {
		return err
	}
	for _, msg := range r.Warnings {
		fmt.Fprintf(errw, "warning: %s\n", printable(msg))
	}
	return nil
}

func writeResult(w io.Writer, body []byte, r *searchBody, format string) error {
	switch format {
	case "json":
		_, err := w.Write(append(body, '\n'))
		return err
	case "ndjson":
		return writeNDJSON(w, r)
	case "csv", "table":
	default:
		return fmt.Errorf("unknown --format %q (want table, json, ndjson or csv)", format)
	}
	cols, rows, err := r.table(format == "csv")
	if err != nil {
		return err
	}
	switch format {
	case "csv":
		// Field names and values come from logs: csvsafe quotes every
		// cell and neutralises formulas, in the header too.
		cw := csvsafe.NewWriter(w)
		cw.Write(cols)
		for _, row := range rows {
			rec := make([]string, len(row))
			for i, c := range row {
				rec[i] = cell(c)
			}
			cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	default:
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
		for _, row := range rows {
			parts := make([]string, len(row))
			for i, c := range row {
				parts[i] = oneLine(cell(c), 160)
			}
			fmt.Fprintln(tw, strings.Join(parts, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if r.Total != nil {
			fmt.Fprintf(w, "%d of %d matching events\n", len(r.Events), *r.Total)
		}
		return nil
	}
}

// table lays the result out as columns and rows: an aggregate's table, the
// columns of a fields pipe, or for other events the time, host, dataset
// and message (all: every field seen).
func (r *searchBody) table(all bool) ([]string, [][]any, error) {
	if r.Total == nil {
		rows := make([][]any, len(r.Rows))
		for i, raw := range r.Rows {
			rows[i] = make([]any, len(raw))
			for j, c := range raw {
				v, err := decodeValue(c)
				if err != nil {
					return nil, nil, err
				}
				rows[i][j] = v
			}
		}
		return r.Columns, rows, nil
	}
	evs := make([]map[string]any, len(r.Events))
	for i, raw := range r.Events {
		v, err := decodeValue(raw)
		if err != nil {
			return nil, nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("decoding search result: event %d is not an object", i)
		}
		evs[i] = m
	}
	if r.Columns != nil {
		rows := make([][]any, len(evs))
		for i, e := range evs {
			rows[i] = make([]any, len(r.Columns))
			for j, c := range r.Columns {
				rows[i][j] = e[c]
			}
		}
		return r.Columns, rows, nil
	}
	cols, rows := eventTable(evs, all)
	return cols, rows, nil
}

func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding search result: %w", err)
	}
	return v, nil
}

// writeNDJSON writes one JSON object per line: each event as the API gives
// it (with a fields pipe: exactly its columns, in order), or each
// aggregate row as an object of its columns, in order.
func writeNDJSON(w io.Writer, r *searchBody) error {
	bw := bufio.NewWriter(w)
	if r.Total != nil {
		for _, ev := range r.Events {
			var buf bytes.Buffer
			if err := json.Compact(&buf, ev); err != nil {
				return fmt.Errorf("decoding search result: %w", err)
			}
			buf.WriteByte('\n')
			bw.Write(buf.Bytes())
		}
		return bw.Flush()
	}
	for _, row := range r.Rows {
		if len(row) != len(r.Columns) {
			return fmt.Errorf("decoding search result: a row has %d cells for %d columns", len(row), len(r.Columns))
		}
		bw.WriteByte('{')
		for i, c := range r.Columns {
			if i > 0 {
				bw.WriteByte(',')
			}
			k, _ := json.Marshal(c)
			bw.Write(k)
			bw.WriteByte(':')
			var buf bytes.Buffer
			if err := json.Compact(&buf, row[i]); err != nil {
				return fmt.Errorf("decoding search result: %w", err)
			}
			bw.Write(buf.Bytes())
		}
		bw.WriteString("}\n")
	}
	return bw.Flush()
}

// printable replaces control characters (a warning can quote names that
// came from logs) so that they cannot drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}

// eventTable lays events out as rows: for a table, the time, host, dataset
// and message; for CSV, every field seen.
func eventTable(evs []map[string]any, all bool) ([]string, [][]any) {
	cols := []string{"@timestamp", "host.name", "event.dataset", "message"}
	if all {
		seen := map[string]bool{}
		cols = cols[:1]
		for _, e := range evs {
			for k := range e {
				if k != "@timestamp" && !seen[k] {
					seen[k] = true
					cols = append(cols, k)
				}
			}
		}
		sort.Strings(cols[1:])
	}
	rows := make([][]any, len(evs))
	for i, e := range evs {
		row := make([]any, len(cols))
		for j, c := range cols {
			row[j] = e[c]
			if c == "message" && !all && row[j] == nil {
				row[j] = e["log.original"]
			}
		}
		rows[i] = row
	}
	return cols, rows
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case []any, map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
