package searchcli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/vigilsec/vigil/internal/csvsafe"
	"github.com/vigilsec/vigil/internal/termsafe"
)

// Formats are the output formats of Print: an aligned table, JSON (the
// API's answer as it came), NDJSON (one object per event or row) and CSV.
var Formats = []string{"table", "json", "ndjson", "csv"}

// tableCell is the widest a table cell is shown, in bytes.
const tableCell = 160

// answer is the API's search answer, as api.AppendResult writes it:
// {"total", "events"} for events, with "columns" after a fields pipe;
// {"columns", "rows"} for an aggregate; "warnings" when there are any.
// The api package writes it as bytes and exports no type for it.
type answer struct {
	Total    *int64              `json:"total"`
	Columns  []string            `json:"columns"`
	Events   []json.RawMessage   `json:"events"`
	Rows     [][]json.RawMessage `json:"rows"`
	Warnings []string            `json:"warnings"`
}

// Print writes a search answer (the API's JSON) to w in format, and its
// warnings to errw, one a line, with their control characters made safe.
// A fields pipe's columns are kept, in their order, in every format.
func Print(w, errw io.Writer, body []byte, format string) error {
	var r answer
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decoding search result: %w", err)
	}
	if err := write(w, body, &r, format); err != nil {
		return err
	}
	for _, msg := range r.Warnings {
		// A warning can quote names that came from logs.
		if _, err := fmt.Fprintf(errw, "warning: %s\n", termsafe.String(msg)); err != nil {
			return err
		}
	}
	return nil
}

func write(w io.Writer, body []byte, r *answer, format string) error {
	switch format {
	case "json":
		_, err := w.Write(append(body, '\n'))
		return err
	case "ndjson":
		return writeNDJSON(w, r)
	case "csv", "table":
	default:
		return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
	}
	cols, rows, err := r.table(format == "csv")
	if err != nil {
		return err
	}
	if format == "csv" {
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
	}
	// Names and values come from logs: none may drive the terminal or
	// shift the columns.
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(termsafe.Line(c, tableCell))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, row := range rows {
		parts := make([]string, len(row))
		for i, c := range row {
			parts[i] = termsafe.Line(cell(c), tableCell)
		}
		fmt.Fprintln(tw, strings.Join(parts, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Total != nil {
		if _, err := fmt.Fprintf(w, "%d of %d matching events\n", len(r.Events), *r.Total); err != nil {
			return err
		}
	}
	return nil
}

// table lays the answer out as columns and rows: an aggregate's table, the
// columns of a fields pipe, or for other events the time, host, dataset
// and message (all: every field seen).
func (r *answer) table(all bool) ([]string, [][]any, error) {
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
func writeNDJSON(w io.Writer, r *answer) error {
	bw := bufio.NewWriter(w)
	var buf bytes.Buffer
	if r.Total != nil {
		for _, ev := range r.Events {
			buf.Reset()
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
			buf.Reset()
			if err := json.Compact(&buf, row[i]); err != nil {
				return fmt.Errorf("decoding search result: %w", err)
			}
			bw.Write(buf.Bytes())
		}
		bw.WriteString("}\n")
	}
	return bw.Flush()
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
