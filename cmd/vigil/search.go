package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
			return printResult(cmd.OutOrStdout(), body, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server", "", "server URL (default http://127.0.0.1:8080 unless --data is given)")
	f.StringVar(&token, "token", "", "API token (default: env VIGIL_TOKEN)")
	f.StringVar(&dataDir, "data", "", "search this data directory directly instead of a server")
	f.StringVar(&since, "since", "", "start of the time range: RFC 3339 time, date, or a duration ago (15m, 24h, 7d)")
	f.StringVar(&until, "until", "", "end of the time range (same forms as --since)")
	f.StringVar(&format, "format", "table", "output format: table, json or csv")
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
	parsed, _ := query.Parse(q)
	res, err := st.Search(cmd.Context(), store.SearchRequest{Query: parsed, From: from, To: to, Limit: limit})
	if err != nil {
		return nil, err
	}
	return api.AppendResult(nil, res), nil
}

// printResult writes a search response body (the API's JSON) in format.
func printResult(w io.Writer, body []byte, format string) error {
	if format == "json" {
		_, err := w.Write(append(body, '\n'))
		return err
	}
	var r struct {
		Total   *int64           `json:"total"`
		Events  []map[string]any `json:"events"`
		Columns []string         `json:"columns"`
		Rows    [][]any          `json:"rows"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("decoding search result: %w", err)
	}
	cols, rows := r.Columns, r.Rows
	if r.Total != nil {
		cols, rows = eventTable(r.Events, format == "csv")
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
	case "table":
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
	return fmt.Errorf("unknown --format %q (want table, json or csv)", format)
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
