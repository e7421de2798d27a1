package hunt

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/internal/csvsafe"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sigma"
	"github.com/vigilsec/vigil/internal/termsafe"
)

// Formats are the output formats of findings: an aligned table for a
// person, JSON lines for programs (a public contract: docs/hunt.md) and
// CSV for spreadsheets.
var Formats = []string{"table", "jsonl", "csv"}

// CSVHeader is the first record of the CSV format.
const CSVHeader = "timestamp,level,rule_id,rule_title,tags,host,file,event\n"

// Writer writes findings in one of Formats. JSON lines and CSV records
// are rendered on the scan's workers (Options.Render = Renderer()), so
// Write only copies them out; the table is aligned as a whole, so Write
// lays out its rows and Flush writes them.
type Writer struct {
	w      io.Writer
	format string
	tw     *tabwriter.Writer
	// err is the error of writing the header, reported by the first Write
	// or Flush.
	err error
}

// NewWriter returns a Writer of format to w and writes the format's
// header (CSV and table). w should be buffered: Write makes one call per
// finding.
func NewWriter(w io.Writer, format string) (*Writer, error) {
	fw := &Writer{w: w, format: format}
	switch format {
	case "jsonl":
	case "csv":
		_, fw.err = io.WriteString(w, CSVHeader)
	case "table":
		fw.tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		_, fw.err = io.WriteString(fw.tw, "TIME\tLEVEL\tRULE\tHOST\tFILE\n")
	default:
		return nil, fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
	}
	return fw, nil
}

// Renderer returns the function that renders a finding on a worker, for
// Options.Render, or nil for the table.
func (fw *Writer) Renderer() func(*Finding, []byte) []byte {
	switch fw.format {
	case "jsonl":
		return func(f *Finding, b []byte) []byte { return AppendJSONL(b, f) }
	case "csv":
		return func(f *Finding, b []byte) []byte { return AppendCSV(b, f) }
	}
	return nil
}

// Write writes one finding: its Line when Renderer made one, else a table
// row. It has the signature of Run's emit.
func (fw *Writer) Write(f Finding) error {
	if fw.err != nil {
		return fw.err
	}
	if f.Line != nil {
		_, err := fw.w.Write(f.Line)
		return err
	}
	if fw.tw == nil {
		// A renderer is set for every other format.
		return fmt.Errorf("finding of rule %s was not rendered", f.Rule.ID)
	}
	// The title comes from a rule, the host and the file name from the
	// logs scanned: none may drive the terminal or shift the columns.
	_, err := fmt.Fprintf(fw.tw, "%s\t%s\t%s\t%s\t%s\n", findingTime(&f).UTC().Format("2006-01-02 15:04:05"),
		termsafe.Line(f.Rule.Level, 0), termsafe.Line(f.Rule.Title, 80), termsafe.Line(f.Host, 40), termsafe.Line(f.File, 0))
	return err
}

// Flush writes the table; the other formats have nothing held back.
func (fw *Writer) Flush() error {
	if fw.err != nil {
		return fw.err
	}
	if fw.tw != nil {
		return fw.tw.Flush()
	}
	return nil
}

// findingTime is the time of a finding: the detection's, else its event's.
func findingTime(f *Finding) time.Time {
	if f.Time.IsZero() && f.Event != nil {
		return f.Event.Timestamp()
	}
	return f.Time
}

// AppendJSONL appends the finding as one JSON line, the public contract
// of docs/hunt.md: rule_id, rule_title, level, tags (always an array),
// timestamp (RFC 3339, UTC), file, for a correlation group and count, and
// event.
func AppendJSONL(b []byte, f *Finding) []byte {
	b = append(b, `{"rule_id":`...)
	b = event.AppendString(b, f.Rule.ID)
	b = append(b, `,"rule_title":`...)
	b = event.AppendString(b, f.Rule.Title)
	b = append(b, `,"level":`...)
	b = event.AppendString(b, f.Rule.Level)
	b = append(b, `,"tags":[`...)
	for i, t := range f.Rule.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = event.AppendString(b, t)
	}
	b = append(b, `],"timestamp":"`...)
	b = findingTime(f).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","file":`...)
	b = event.AppendString(b, f.File)
	if len(f.Group) > 0 {
		b = append(b, `,"group":{`...)
		for i, g := range f.Group {
			if i > 0 {
				b = append(b, ',')
			}
			b = event.AppendString(b, g.Field)
			b = append(b, ':')
			b = event.AppendString(b, g.Value)
		}
		b = append(b, `},"count":`...)
		b = strconv.AppendInt(b, int64(f.Count), 10)
	}
	b = append(b, `,"event":`...)
	if f.Event != nil {
		b = appendEventJSON(b, f.Event)
	} else {
		b = append(b, "null"...)
	}
	return append(b, "}\n"...)
}

// appendEventJSON appends the event of a finding. A record that is a JSON
// object (evtx_dump, Winlogbeat, application JSON, a record read from
// EVTX) is not repeated as log.original: its fields are the record, and the
// copy would double the output. A text line keeps its log.original.
func appendEventJSON(b []byte, ev *event.Event) []byte {
	if strings.HasPrefix(ev.Raw, "{") {
		cp := *ev
		cp.Raw = ""
		return cp.AppendJSON(b)
	}
	return ev.AppendJSON(b)
}

// AppendCSV appends the finding as one CSV record of the columns of
// CSVHeader, the event as in AppendJSONL.
func AppendCSV(b []byte, f *Finding) []byte {
	var ev []byte
	if f.Event != nil {
		ev = appendEventJSON(nil, f.Event)
	}
	// The host comes from the logs scanned: csvsafe neutralises formulas.
	return csvsafe.Append(b, []string{findingTime(f).UTC().Format(time.RFC3339Nano), f.Rule.Level, f.Rule.ID, f.Rule.Title,
		strings.Join(f.Rule.Tags, " "), f.Host, f.File, string(ev)})
}

// Summary lists in WriteSummary: the most frequent rules, tactics and
// hosts shown, the rest counted in one line.
const (
	summaryRules   = 15
	summaryTactics = 14
	summaryHosts   = 10
)

// WriteSummary writes the summary of a scan for a person: files, events,
// bytes, time and rate, records not parsed or cut, and the findings by
// level, by rule, by ATT&CK tactic and by host (the most frequent first).
func WriteSummary(w io.Writer, s *Summary) error {
	ew := &errWriter{w: w}
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Events) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(ew, "\nscanned %d files, %d events (%.1f MB) in %v: %.0f events/s; %d findings\n",
		s.Files, s.Events, float64(s.Bytes)/1e6, s.Elapsed.Round(time.Millisecond), rate, s.Findings)
	if s.ParseErrors > 0 || s.Truncated > 0 {
		fmt.Fprintf(ew, "records not parsed as their format (matched as text, tagged parse_error): %d; cut at the size limit (tagged truncated): %d\n",
			s.ParseErrors, s.Truncated)
	}
	if s.Findings == 0 {
		return ew.err
	}
	fmt.Fprint(ew, "by level:")
	for _, l := range slices.Backward(sigma.Levels) {
		if n := s.ByLevel[l.String()]; n > 0 {
			fmt.Fprintf(ew, " %s %d", l, n)
		}
	}
	fmt.Fprintln(ew)
	writeTop(ew, "by rule", s.ByRule, summaryRules)
	writeTop(ew, "by ATT&CK tactic", s.ByTactic, summaryTactics)
	writeTop(ew, "by host", s.ByHost, summaryHosts)
	return ew.err
}

// writeTop writes the n largest counts of m, the largest first (ties by
// name), and how many more there are.
func writeTop(w io.Writer, title string, m map[string]int64, n int) {
	if len(m) == 0 {
		return
	}
	type kv struct {
		k string
		v int64
	}
	kvs := make([]kv, 0, len(m))
	for k, v := range m {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v || kvs[i].v == kvs[j].v && kvs[i].k < kvs[j].k })
	fmt.Fprintf(w, "%s:\n", title)
	for i, x := range kvs {
		if i == n {
			fmt.Fprintf(w, "  ... and %d more\n", len(kvs)-n)
			break
		}
		// Host names come from the logs scanned.
		fmt.Fprintf(w, "  %6d  %s\n", x.v, termsafe.Line(x.k, 0))
	}
}

// errWriter keeps the first error of a series of writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
