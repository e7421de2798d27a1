package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/sharedtest"
)

// The tests in this file run `vigil hunt` as a user would: real files in
// a temporary folder, rules written for the test (never the built-in
// ones, so that the expected findings are exact), and the contract of
// ARCHITECTURE.md (flags, JSONL fields) checked on the real output.

// Rules of the hunt tests. Each matches only what a test puts there on
// purpose.
const (
	huntRuleEvil = `title: Hunt test evil process
id: 5b0c6b7e-3f5a-4b8e-9a51-0d6c1e9a7f01
status: test
description: A process image named evil.exe (written for vigil's e2e tests).
author: Vigil
date: 2026-11-22
tags:
  - attack.execution
  - attack.t1059.001
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    Image|endswith: '\evil.exe'
  condition: selection
level: high
`
	huntRuleWhoami = `title: Hunt test whoami
id: 5b0c6b7e-3f5a-4b8e-9a51-0d6c1e9a7f02
status: test
description: A command line running whoami (written for vigil's e2e tests).
author: Vigil
date: 2026-11-22
tags:
  - attack.discovery
  - attack.t1033
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    CommandLine|contains: 'whoami'
  condition: selection
level: low
`
	huntRuleKeyword = `title: Hunt test magic word
id: 5b0c6b7e-3f5a-4b8e-9a51-0d6c1e9a7f03
status: test
description: A syslog line with the magic word (written for vigil's e2e tests).
author: Vigil
date: 2026-11-22
logsource:
  product: linux
  service: syslog
detection:
  keywords:
    - 'MAGICWORD'
  condition: keywords
level: medium
`
)

const (
	huntTitleEvil    = "Hunt test evil process"
	huntTitleWhoami  = "Hunt test whoami"
	huntTitleKeyword = "Hunt test magic word"
	huntIDEvil       = "5b0c6b7e-3f5a-4b8e-9a51-0d6c1e9a7f01"
)

// huntRules writes rules (file name → YAML) into a new temporary folder
// and returns it; with nil it writes the three rules above.
func huntRules(t *testing.T, rules map[string]string) string {
	t.Helper()
	if rules == nil {
		rules = map[string]string{"evil.yml": huntRuleEvil, "whoami.yml": huntRuleWhoami, "keyword.yml": huntRuleKeyword}
	}
	dir := t.TempDir()
	for name, body := range rules {
		huntWrite(t, filepath.Join(dir, name), body)
	}
	return dir
}

// huntWrite writes a file, creating its folder.
func huntWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// huntBase is the time of the test events; event n is n seconds later.
var huntBase = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// huntSysmon returns a flat Sysmon process creation event (the field names of
// NXLog and most SIEM exports) with a marker in its command line, so that
// a finding can be traced back to the event it came from.
func huntSysmon(image, marker string, n int) map[string]any {
	return map[string]any{
		"EventID":     1,
		"Channel":     "Microsoft-Windows-Sysmon/Operational",
		"Computer":    "ws1.example.test",
		"Image":       image,
		"CommandLine": image + " " + marker,
		"EventTime":   huntBase.Add(time.Duration(n) * time.Second).Format(time.RFC3339Nano),
	}
}

// Images of the test events: the high rule matches the first only.
const (
	huntEvilImage   = `C:\Users\bob\AppData\Local\Temp\evil.exe`
	huntBenignImage = `C:\Windows\System32\notepad.exe`
)

// huntCompact is v as one line of JSON.
func huntCompact(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// huntPretty is v as indented JSON over many lines.
func huntPretty(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// huntSyslogLine is an RFC 3164 line; with the magic word the keyword rule
// matches it.
func huntSyslogLine(marker string, magic bool) string {
	msg := "session opened " + marker
	if magic {
		msg = "found MAGICWORD " + marker
	}
	return "<13>Mar  4 05:06:07 web1 app[42]: " + msg
}

// huntResult is one run of vigil hunt.
type huntResult struct {
	stdout, stderr string
	code           int
}

// runHunt runs `vigil hunt args...` in dir (the test's working directory
// when empty) and fails the test if it crashed or hung.
func runHunt(t *testing.T, dir string, args ...string) huntResult {
	t.Helper()
	ctx, cancel := withTimeout(60 * time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, vigilBin, append([]string{"hunt"}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := huntResult{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("vigil hunt %q did not finish within 60s\nstderr:\n%s", args, tail(r.stderr, 4000))
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running vigil hunt %q: %v", args, err)
		}
		r.code = ee.ExitCode()
		if r.code < 0 {
			t.Fatalf("vigil hunt %q was killed: %v\nstderr:\n%s", args, err, tail(r.stderr, 4000))
		}
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("vigil hunt %q panicked:\n%s", args, tail(r.stderr, 4000))
	}
	return r
}

// huntFinding is one line of `--format jsonl`.
type huntFinding struct {
	RuleID    string         `json:"rule_id"`
	RuleTitle string         `json:"rule_title"`
	Level     string         `json:"level"`
	Tags      []string       `json:"tags"`
	Timestamp string         `json:"timestamp"`
	File      string         `json:"file"`
	Event     map[string]any `json:"event"`
}

// marker returns the marker of the event a finding is about: the last word
// of its command line (Windows) or message (syslog).
func (f huntFinding) marker() string {
	for _, k := range []string{"CommandLine", "message"} {
		if s, ok := f.Event[k].(string); ok {
			w := strings.Fields(s)
			if len(w) > 0 {
				return w[len(w)-1]
			}
		}
	}
	return ""
}

// huntContractFields are the members every JSONL finding has
// (ARCHITECTURE.md, `vigil hunt --format jsonl`).
var huntContractFields = []string{"rule_id", "rule_title", "level", "tags", "timestamp", "file", "event"}

// huntParseJSONL checks that every line of out is a JSON object with the
// contract's members, of the right JSON types, and returns the findings.
func huntParseJSONL(t *testing.T, out string) []huntFinding {
	t.Helper()
	var fnds []huntFinding
	if out == "" {
		return nil
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("JSONL output does not end with a newline: %q", tail(out, 200))
	}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v: %s", i+1, err, line)
		}
		for _, k := range huntContractFields {
			v, ok := m[k]
			if !ok {
				t.Fatalf("line %d has no %q member: %s", i+1, k, line)
			}
			var want byte
			switch k {
			case "tags":
				want = '['
			case "event":
				want = '{'
			default:
				want = '"'
			}
			if len(v) == 0 || v[0] != want {
				t.Errorf("line %d: %s is %s, want a JSON value starting with %c", i+1, k, v, want)
			}
		}
		var f huntFinding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		if _, err := time.Parse(time.RFC3339Nano, f.Timestamp); err != nil {
			t.Errorf("line %d: timestamp %q is not RFC 3339: %v", i+1, f.Timestamp, err)
		}
		fnds = append(fnds, f)
	}
	return fnds
}

// huntWhere is the file and marker of a finding: enough to check which
// events matched, and in which order.
type huntWhere struct{ File, Marker string }

func huntWheres(fnds []huntFinding) []huntWhere {
	var out []huntWhere
	for _, f := range fnds {
		out = append(out, huntWhere{f.File, f.marker()})
	}
	return out
}

// TestHuntInputForms scans one folder holding every input form hunt reads
// and checks, file by file, that exactly the events planted to match were
// found, in the order they appear in the file.
func TestHuntInputForms(t *testing.T) {
	dir := t.TempDir()
	rules := huntRules(t, nil)
	evil := func(m string, n int) map[string]any { return huntSysmon(huntEvilImage, m, n) }
	benign := func(m string, n int) map[string]any { return huntSysmon(huntBenignImage, m, n) }
	lines := func(parts ...string) string { return strings.Join(parts, "\n") + "\n" }
	// tricky puts JSON's structural characters inside strings, where the
	// splitter must not count them, and the marker last.
	tricky := func(ev map[string]any) map[string]any {
		cl := ev["CommandLine"].(string)
		i := strings.LastIndexByte(cl, ' ')
		ev["CommandLine"] = cl[:i] + ` "}{" '[' \"]\ \\` + cl[i:]
		ev["Note"] = `ends with a backslash \`
		ev["Braces"] = "}}}]]]"
		return ev
	}
	nested := func(ev map[string]any) map[string]any {
		ev["Extra"] = map[string]any{"list": []any{[]any{1, 2}, map[string]any{"k": []any{"}"}}}, "empty": map[string]any{}}
		return ev
	}

	tests := []struct {
		name, file, data string
		want             []string // markers, in order
	}{
		{
			name: "one object", file: "01-object.json",
			data: huntCompact(t, evil("obj-1", 1)),
			want: []string{"obj-1"},
		},
		{
			name: "pretty object", file: "02-pretty.json",
			data: huntPretty(t, evil("pretty-1", 2)) + "\n",
			want: []string{"pretty-1"},
		},
		{
			name: "array", file: "03-array.json",
			data: huntPretty(t, []any{evil("arr-1", 3), benign("arr-2", 4), evil("arr-3", 5)}),
			want: []string{"arr-1", "arr-3"},
		},
		{
			name: "compact array", file: "04-array-compact.json",
			data: huntCompact(t, []any{benign("carr-1", 6), evil("carr-2", 7)}),
			want: []string{"carr-2"},
		},
		{
			name: "json lines", file: "05-lines.jsonl",
			data: lines(huntCompact(t, evil("jl-1", 8)), huntCompact(t, benign("jl-2", 9)), huntCompact(t, evil("jl-3", 10))),
			want: []string{"jl-1", "jl-3"},
		},
		{
			name: "json lines with CRLF and blank lines", file: "06-crlf.jsonl",
			data: huntCompact(t, evil("crlf-1", 11)) + "\r\n\r\n" + huntCompact(t, evil("crlf-2", 12)) + "\r\n",
			want: []string{"crlf-1", "crlf-2"},
		},
		{
			name: "concatenated objects", file: "07-concat.json",
			data: huntCompact(t, evil("cat-1", 13)) + huntCompact(t, benign("cat-2", 14)) + huntCompact(t, evil("cat-3", 15)),
			want: []string{"cat-1", "cat-3"},
		},
		{
			name: "pretty concatenated objects", file: "08-pretty-concat.json",
			data: huntPretty(t, evil("pcat-1", 16)) + "\n" + huntPretty(t, evil("pcat-2", 17)) + "\n\n" + huntPretty(t, benign("pcat-3", 18)),
			want: []string{"pcat-1", "pcat-2"},
		},
		{
			name: "UTF-8 BOM before JSON lines", file: "09-bom.jsonl",
			data: "\xEF\xBB\xBF" + lines(huntCompact(t, evil("bom-1", 19)), huntCompact(t, evil("bom-2", 20))),
			want: []string{"bom-1", "bom-2"},
		},
		{
			name: "UTF-8 BOM before a pretty object", file: "10-bom-pretty.json",
			data: "\xEF\xBB\xBF" + huntPretty(t, evil("bomp-1", 21)),
			want: []string{"bomp-1"},
		},
		{
			name: "syslog lines", file: "11-syslog.log",
			data: lines(huntSyslogLine("sl-1", true), huntSyslogLine("sl-2", false), huntSyslogLine("sl-3", true)),
			want: []string{"sl-1", "sl-3"},
		},
		{
			name: "syslog lines with BOM and CRLF", file: "12-syslog-bom.log",
			data: "\xEF\xBB\xBF" + huntSyslogLine("slb-1", true) + "\r\n" + huntSyslogLine("slb-2", true) + "\r\n",
			want: []string{"slb-1", "slb-2"},
		},
		{
			name: "syslog without a final newline", file: "13-syslog-noeol.log",
			data: huntSyslogLine("sln-1", false) + "\n" + huntSyslogLine("sln-2", true),
			want: []string{"sln-2"},
		},
		{
			name: "strings with braces, quotes and backslashes", file: "16-tricky.jsonl",
			data: lines(huntCompact(t, tricky(evil("tricky-1", 24))), huntCompact(t, tricky(benign("tricky-2", 25))), huntCompact(t, tricky(evil("tricky-3", 26)))),
			want: []string{"tricky-1", "tricky-3"},
		},
		{
			name: "nested arrays and objects", file: "17-nested.json",
			data: huntCompact(t, []any{nested(evil("nest-1", 27)), nested(benign("nest-2", 28)), nested(evil("nest-3", 29))}),
			want: []string{"nest-1", "nest-3"},
		},
		{
			name: "malformed object among good ones", file: "18-malformed.jsonl",
			data: lines(huntCompact(t, evil("mal-1", 30)), `{"EventID":1,,"Image":}`, `{"Image" "C:\\x\\evil.exe"}`, huntCompact(t, evil("mal-2", 31))),
			want: []string{"mal-1", "mal-2"},
		},
		{
			name: "a text line longer than the read buffer", file: "19-long.log",
			data: lines(huntSyslogLine("long-0", false)+strings.Repeat(" filler", 400_000), huntSyslogLine("long-1", true)),
			want: []string{"long-1"},
		},
		{
			name: "empty file", file: "14-empty.json",
			data: "",
		},
		{
			name: "nothing matches", file: "15-benign.jsonl",
			data: lines(huntCompact(t, benign("none-1", 22)), huntCompact(t, benign("none-2", 23))),
		},
	}
	for _, tt := range tests {
		huntWrite(t, filepath.Join(dir, tt.file), tt.data)
	}
	r := runHunt(t, "", "--no-builtin", "--rules", rules, "--format", "jsonl", "--quiet", "--workers", "2", dir)
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr with --quiet and clean input: got %q, want nothing", r.stderr)
	}
	byFile := map[string][]string{}
	for _, f := range huntParseJSONL(t, r.stdout) {
		byFile[f.File] = append(byFile[f.File], f.marker())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			got := byFile[path]
			delete(byFile, path)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings in %s (-want +got):\n%s", tt.file, diff)
			}
		})
	}
	for file, ms := range byFile {
		t.Errorf("findings for unexpected file %q: %v", file, ms)
	}
}

// TestHuntOrderAndWorkers builds a folder tree large enough to be cut into
// many chunks and checks that findings come out in input order (paths in
// the order given, files of a folder in lexical order, records in file
// order), the same with one worker and with four.
func TestHuntOrderAndWorkers(t *testing.T) {
	root := t.TempDir()
	rules := huntRules(t, nil)
	var want []huntWhere
	n := 0
	// jsonFile writes count Sysmon events as JSON lines (or one array);
	// every step-th is evil.
	jsonFile := func(rel string, count, step int, array bool) {
		var evs []string
		for i := range count {
			n++
			m := fmt.Sprintf("%s#%d", filepath.Base(rel), i)
			img := huntBenignImage
			if i%step == 0 {
				img = huntEvilImage
				want = append(want, huntWhere{rel, m})
			}
			evs = append(evs, huntCompact(t, huntSysmon(img, m, n)))
		}
		data := strings.Join(evs, "\n") + "\n"
		if array {
			data = "[\n" + strings.Join(evs, ",\n") + "\n]\n"
		}
		huntWrite(t, filepath.Join(root, rel), data)
	}
	syslogFile := func(rel string, count, step int) {
		var b strings.Builder
		for i := range count {
			m := fmt.Sprintf("%s#%d", filepath.Base(rel), i)
			if i%step == 0 {
				want = append(want, huntWhere{rel, m})
			}
			b.WriteString(huntSyslogLine(m, i%step == 0) + "\n")
		}
		huntWrite(t, filepath.Join(root, rel), b.String())
	}
	// Given first on the command line: its findings come before the
	// folder's, although it sorts after them.
	jsonFile("z-first.jsonl", 40, 7, false)
	// The folder, in lexical order of the paths: 10 before 2, a/ before b.
	jsonFile(filepath.Join("logs", "10.jsonl"), 1500, 97, false)
	jsonFile(filepath.Join("logs", "2.jsonl"), 700, 50, false)
	syslogFile(filepath.Join("logs", "a", "deep", "x.log"), 800, 45)
	jsonFile(filepath.Join("logs", "a", "y.json"), 600, 101, true)
	jsonFile(filepath.Join("logs", "b.jsonl"), 3, 1, false)

	args := []string{"--no-builtin", "--rules", rules, "--quiet", "z-first.jsonl", "logs"}
	run := func(workers, format string) string {
		t.Helper()
		r := runHunt(t, root, append([]string{"--workers", workers, "--format", format}, args...)...)
		if r.code != 0 {
			t.Fatalf("--workers %s --format %s: exit status %d, want 0\nstderr:\n%s", workers, format, r.code, r.stderr)
		}
		return r.stdout
	}

	jsonl1 := run("1", "jsonl")
	if diff := cmp.Diff(want, huntWheres(huntParseJSONL(t, jsonl1))); diff != "" {
		t.Errorf("--workers 1: findings not in input order (-want +got):\n%s", diff)
	}
	jsonl4 := run("4", "jsonl")
	// event.ingested is the time of the run (see TestHuntReproducibleJSONL);
	// everything else must be the same.
	if a, b := huntWithoutIngested(jsonl1), huntWithoutIngested(jsonl4); a != b {
		t.Errorf("--workers 4 differs from --workers 1: %s", huntFirstDiff(a, b))
	}

	// The table has no run-dependent column: byte for byte the same,
	// run after run and worker count after worker count.
	table1 := run("1", "table")
	for i, workers := range []string{"4", "4"} {
		if got := run(workers, "table"); got != table1 {
			t.Errorf("table run %d with --workers %s differs from the first with --workers 1: %s", i+2, workers, huntFirstDiff(table1, got))
		}
	}
	if got, want := strings.Count(table1, "\n"), len(want)+1; got != want {
		t.Errorf("table has %d lines, want %d (a header and one row per finding)", got, want)
	}
}

var huntIngestedRE = regexp.MustCompile(`"event\.ingested":"[^"]*",?`)

func huntWithoutIngested(s string) string { return huntIngestedRE.ReplaceAllString(s, "") }

// huntFirstDiff describes the first line where two outputs differ (a
// full diff of thousands of findings helps nobody).
func huntFirstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d of %d/%d:\n  first:  %s\n  second: %s", i+1, len(al), len(bl), x, y)
		}
	}
	return "no difference"
}

// TestHuntReproducibleJSONL checks the promise of internal/hunt's package
// doc: the same files and rules always give the same output, byte for
// byte, whatever the number of workers.
func TestHuntReproducibleJSONL(t *testing.T) {
	root := t.TempDir()
	rules := huntRules(t, nil)
	var evs []string
	for i := range 1200 {
		img := huntBenignImage
		if i%31 == 0 {
			img = huntEvilImage
		}
		evs = append(evs, huntCompact(t, huntSysmon(img, fmt.Sprintf("r#%d", i), i)))
	}
	huntWrite(t, filepath.Join(root, "a.jsonl"), strings.Join(evs, "\n")+"\n")
	huntWrite(t, filepath.Join(root, "b.log"), huntSyslogLine("b#1", true)+"\n"+huntSyslogLine("b#2", true)+"\n")
	first := map[string]string{}
	for i, workers := range []string{"1", "1", "4", "4"} {
		for _, format := range []string{"jsonl", "csv"} {
			r := runHunt(t, root, "--no-builtin", "--rules", rules, "--quiet", "--workers", workers, "--format", format, ".")
			if r.code != 0 {
				t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
			}
			if i == 0 {
				first[format] = r.stdout
			} else if r.stdout != first[format] {
				t.Errorf("--format %s run %d (--workers %s) differs from run 1 (--workers 1): %s", format, i+1, workers, huntFirstDiff(first[format], r.stdout))
			}
		}
	}
}

// TestHuntWarnings checks that unreadable, corrupt and partly corrupt
// input each give a warning naming the file while the rest of the scan
// goes on, and that records before garbage in a JSON file are scanned.
func TestHuntWarnings(t *testing.T) {
	dir := t.TempDir()
	rules := huntRules(t, nil)
	path := func(name string) string { return filepath.Join(dir, name) }

	huntWrite(t, path("a.jsonl"), huntCompact(t, huntSysmon(huntEvilImage, "a#1", 1))+"\n")
	// EVTX by its magic, then garbage.
	huntWrite(t, path("b.evtx"), "ElfFile\x00"+strings.Repeat("\xde\xad\xbe\xef", 300))
	// 600 objects (more than one chunk) and then garbage: what came
	// before the garbage is still scanned.
	var c strings.Builder
	var wantC []string
	for i := range 600 {
		img := huntBenignImage
		if i%200 == 0 || i == 599 {
			img = huntEvilImage
			wantC = append(wantC, fmt.Sprintf("c#%d", i))
		}
		c.WriteString(huntCompact(t, huntSysmon(img, fmt.Sprintf("c#%d", i), i)) + "\n")
	}
	c.WriteString("this is not JSON at all\n")
	huntWrite(t, path("c.jsonl"), c.String())
	// Garbage after a single pretty object.
	huntWrite(t, path("d.json"), huntPretty(t, huntSysmon(huntEvilImage, "d#1", 1))+"\n}}} trailing garbage")
	// A JSON object cut off at the end of the file.
	huntWrite(t, path("e.json"), huntCompact(t, huntSysmon(huntEvilImage, "e#1", 1))+"\n"+`{"EventID":1,"Image":"C:\\x\\evil.exe","Comm`)
	huntWrite(t, path("f.jsonl"), huntCompact(t, huntSysmon(huntEvilImage, "f#1", 1))+"\n")
	unreadable := ""
	if os.Geteuid() != 0 {
		unreadable = path("g-unreadable.jsonl")
		huntWrite(t, unreadable, huntCompact(t, huntSysmon(huntEvilImage, "g#1", 1))+"\n")
		if err := os.Chmod(unreadable, 0); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Log("running as root: a file without read permission would still be readable, so that case is not tried")
	}
	missing := path("does-not-exist.jsonl")

	r := runHunt(t, "", "--no-builtin", "--rules", rules, "--format", "jsonl", "--workers", "2", dir, missing)
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0 (warnings do not stop the scan)\nstderr:\n%s", r.code, r.stderr)
	}
	var want []huntWhere
	want = append(want, huntWhere{path("a.jsonl"), "a#1"})
	for _, m := range wantC {
		want = append(want, huntWhere{path("c.jsonl"), m})
	}
	want = append(want, huntWhere{path("d.json"), "d#1"}, huntWhere{path("e.json"), "e#1"}, huntWhere{path("f.jsonl"), "f#1"})
	if diff := cmp.Diff(want, huntWheres(huntParseJSONL(t, r.stdout))); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	var warnings []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "warning:") {
			warnings = append(warnings, l)
		}
	}
	for _, name := range []string{path("b.evtx"), path("c.jsonl"), path("d.json"), path("e.json"), missing, unreadable} {
		if name == "" {
			continue
		}
		found := false
		for _, w := range warnings {
			found = found || strings.Contains(w, name)
		}
		if !found {
			t.Errorf("no warning names %s; warnings:\n%s", name, strings.Join(warnings, "\n"))
		}
	}
	for _, name := range []string{"a.jsonl", "f.jsonl"} {
		for _, w := range warnings {
			if strings.Contains(w, path(name)) {
				t.Errorf("warning about the good file %s: %s", name, w)
			}
		}
	}
}

// huntRegressionEVTX is an EVTX file of SigmaHQ's regression data and
// what its JSON rendering says about its one event.
type huntRegressionEVTX struct {
	evtx, json            string
	image, computer, time string
}

// huntFindRegressionEVTX picks, in lexical order, the first EVTX file of
// the regression data whose JSON rendering holds exactly one Sysmon
// process creation event with an Image a Sigma value can name as it is.
func huntFindRegressionEVTX(t *testing.T) huntRegressionEVTX {
	t.Helper()
	root := sharedtest.Dir(t, "sigma", "regression_data")
	var found huntRegressionEVTX
	errFound := errors.New("found")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".evtx") || !strings.Contains(path, "proc_creation") {
			return nil
		}
		jsonPath := strings.TrimSuffix(path, ".evtx") + ".json"
		data, err := os.ReadFile(jsonPath)
		if err != nil {
			return nil
		}
		docs, err := sharedtest.SplitJSON(data)
		if err != nil || len(docs) != 1 {
			return nil
		}
		var doc struct {
			Event struct {
				System struct {
					EventID     int
					Channel     string
					Computer    string
					TimeCreated struct {
						Attributes struct {
							SystemTime string
						} `json:"#attributes"`
					}
				}
				EventData map[string]any
			}
		}
		if json.Unmarshal(docs[0], &doc) != nil {
			return nil
		}
		sys := doc.Event.System
		image, _ := doc.Event.EventData["Image"].(string)
		if sys.EventID != 1 || sys.Channel != "Microsoft-Windows-Sysmon/Operational" || image == "" ||
			strings.ContainsAny(image, "*?'") || strings.Contains(image, `\\`) || sys.TimeCreated.Attributes.SystemTime == "" {
			return nil
		}
		found = huntRegressionEVTX{evtx: path, json: jsonPath, image: image, computer: sys.Computer, time: sys.TimeCreated.Attributes.SystemTime}
		return errFound
	})
	if !errors.Is(err, errFound) {
		t.Fatalf("no EVTX file with one Sysmon process creation event under %s (walk: %v)", root, err)
	}
	return found
}

// TestHuntEVTX scans an EVTX file of SigmaHQ's regression data, its JSON
// rendering and a truncated copy with a rule written for the Image its
// JSON rendering shows.
func TestHuntEVTX(t *testing.T) {
	x := huntFindRegressionEVTX(t)
	t.Logf("EVTX %s: Image %s", x.evtx, x.image)
	rules := huntRules(t, map[string]string{"image.yml": `title: Hunt test regression image
id: 5b0c6b7e-3f5a-4b8e-9a51-0d6c1e9a7f10
status: test
description: The process image of one regression EVTX file (written for vigil's e2e tests).
author: Vigil
date: 2026-11-22
tags:
  - attack.execution
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    Image: '` + x.image + `'
  condition: selection
level: critical
`})
	dir := t.TempDir()
	evtxData, err := os.ReadFile(x.evtx)
	if err != nil {
		t.Fatal(err)
	}
	jsonData, err := os.ReadFile(x.json)
	if err != nil {
		t.Fatal(err)
	}
	// The file name says nothing of the format: hunt goes by content.
	huntWrite(t, filepath.Join(dir, "1-copy.dat"), string(evtxData))
	huntWrite(t, filepath.Join(dir, "2-rendering.json"), string(jsonData))
	// Cut in the middle of the first chunk (the file header is 4096 bytes).
	huntWrite(t, filepath.Join(dir, "3-truncated.evtx"), string(evtxData[:min(len(evtxData), 4096+1000)]))

	r := runHunt(t, "", "--no-builtin", "--rules", rules, "--format", "jsonl", x.evtx, dir)
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	fnds := huntParseJSONL(t, r.stdout)
	var got []string
	for _, f := range fnds {
		got = append(got, f.File)
	}
	want := []string{x.evtx, filepath.Join(dir, "1-copy.dat"), filepath.Join(dir, "2-rendering.json")}
	// The truncated copy may keep its record or not; it must not crash
	// the scan, and it must be reported.
	if len(got) == len(want)+1 {
		want = append(want, filepath.Join(dir, "3-truncated.evtx"))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("files of the findings (-want +got):\n%s\nstderr:\n%s", diff, r.stderr)
	}
	wantTime, err := time.Parse(time.RFC3339Nano, x.time)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fnds {
		if f.RuleTitle != "Hunt test regression image" || f.Level != "critical" {
			t.Errorf("%s: rule %q level %q, want %q level critical", f.File, f.RuleTitle, f.Level, "Hunt test regression image")
		}
		if got, _ := f.Event["Image"].(string); got != x.image {
			t.Errorf("%s: event Image %q, want %q", f.File, got, x.image)
		}
		if got, _ := f.Event["Computer"].(string); got != x.computer {
			t.Errorf("%s: event Computer %q, want %q", f.File, got, x.computer)
		}
		if ts, _ := time.Parse(time.RFC3339Nano, f.Timestamp); !ts.Equal(wantTime) {
			t.Errorf("%s: timestamp %s, want the event's SystemTime %s", f.File, f.Timestamp, x.time)
		}
	}
	if !strings.Contains(r.stderr, "warning:") || !strings.Contains(r.stderr, filepath.Join(dir, "3-truncated.evtx")) {
		t.Errorf("no warning names the truncated EVTX file; stderr:\n%s", r.stderr)
	}
}

// huntLevelsInput writes a file with one finding per level of the three
// test rules: high (evil.exe), medium (the magic word), low (whoami).
func huntLevelsInput(t *testing.T, dir string) (jsonPath, logPath string) {
	t.Helper()
	jsonPath = filepath.Join(dir, "win.jsonl")
	logPath = filepath.Join(dir, "sys.log")
	huntWrite(t, jsonPath, huntCompact(t, huntSysmon(huntEvilImage, "lv#high", 1))+"\n"+
		huntCompact(t, huntSysmon(huntBenignImage, "lv#none", 2))+"\n"+
		huntCompact(t, huntSysmon(`C:\Windows\System32\whoami.exe`, "lv#low", 3))+"\n")
	huntWrite(t, logPath, huntSyslogLine("lv#medium", true)+"\n")
	return jsonPath, logPath
}

// TestHuntOutputFormats checks the three formats and --output.
func TestHuntOutputFormats(t *testing.T) {
	dir := t.TempDir()
	jsonPath, logPath := huntLevelsInput(t, dir)
	// --rules is repeatable and takes folders and files.
	winRules := huntRules(t, map[string]string{"evil.yml": huntRuleEvil, "whoami.yml": huntRuleWhoami})
	kwRule := filepath.Join(huntRules(t, map[string]string{"keyword.yml": huntRuleKeyword}), "keyword.yml")
	base := []string{"--no-builtin", "--rules", winRules, "--rules", kwRule, "--quiet", jsonPath, logPath}
	want := []struct{ title, level, marker, file string }{
		{huntTitleEvil, "high", "lv#high", jsonPath},
		{huntTitleWhoami, "low", "lv#low", jsonPath},
		{huntTitleKeyword, "medium", "lv#medium", logPath},
	}

	t.Run("jsonl to --output", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "findings.jsonl")
		r := runHunt(t, "", append([]string{"--format", "jsonl", "--output", out}, base...)...)
		if r.code != 0 {
			t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("stdout with --output: got %q, want nothing", r.stdout)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		fnds := huntParseJSONL(t, string(data))
		if len(fnds) != len(want) {
			t.Fatalf("%d findings in %s, want %d:\n%s", len(fnds), out, len(want), data)
		}
		for i, w := range want {
			f := fnds[i]
			if f.RuleTitle != w.title || f.Level != w.level || f.marker() != w.marker || f.File != w.file {
				t.Errorf("finding %d: got %q %s %s in %s, want %q %s %s in %s", i, f.RuleTitle, f.Level, f.marker(), f.File,
					w.title, w.level, w.marker, w.file)
			}
		}
		evil := fnds[0]
		if evil.RuleID != huntIDEvil {
			t.Errorf("rule_id %q, want %q", evil.RuleID, huntIDEvil)
		}
		if diff := cmp.Diff([]string{"attack.execution", "attack.t1059.001"}, evil.Tags); diff != "" {
			t.Errorf("tags (-want +got):\n%s", diff)
		}
		if ts, _ := time.Parse(time.RFC3339Nano, evil.Timestamp); !ts.Equal(huntBase.Add(time.Second)) {
			t.Errorf("timestamp %s, want the event's time %s", evil.Timestamp, huntBase.Add(time.Second).Format(time.RFC3339))
		}
		if got, _ := evil.Event["Image"].(string); got != huntEvilImage {
			t.Errorf("event Image %q, want %q", got, huntEvilImage)
		}
		if got, _ := evil.Event["Computer"].(string); got != "ws1.example.test" {
			t.Errorf("event Computer %q, want %q", got, "ws1.example.test")
		}
		if fnds[2].Tags == nil || len(fnds[2].Tags) != 0 {
			t.Errorf("tags of a rule without tags: got %#v, want an empty array", fnds[2].Tags)
		}
	})

	t.Run("csv", func(t *testing.T) {
		r := runHunt(t, "", append([]string{"--format", "csv"}, base...)...)
		if r.code != 0 {
			t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
		}
		rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil {
			t.Fatalf("output is not CSV: %v\n%s", err, r.stdout)
		}
		if len(rows) != len(want)+1 {
			t.Fatalf("%d CSV records, want %d (a header and one per finding):\n%s", len(rows), len(want)+1, r.stdout)
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		for _, h := range []string{"timestamp", "level", "rule_id", "rule_title", "file", "event"} {
			if _, ok := col[h]; !ok {
				t.Fatalf("CSV header %q has no column %q", rows[0], h)
			}
		}
		for i, w := range want {
			row := rows[i+1]
			if row[col["rule_title"]] != w.title || row[col["level"]] != w.level || row[col["file"]] != w.file ||
				!strings.Contains(row[col["event"]], w.marker) {
				t.Errorf("CSV row %d: got %q, want title %q level %s file %s and an event with %s", i+1, row, w.title, w.level, w.file, w.marker)
			}
			var ev map[string]any
			if err := json.Unmarshal([]byte(row[col["event"]]), &ev); err != nil {
				t.Errorf("CSV row %d: event column is not a JSON object: %v", i+1, err)
			}
		}
		if got := rows[1][col["rule_id"]]; got != huntIDEvil {
			t.Errorf("CSV rule_id %q, want %q", got, huntIDEvil)
		}
	})

	t.Run("table", func(t *testing.T) {
		// table is the default format.
		r := runHunt(t, "", base...)
		if r.code != 0 {
			t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != len(want)+1 {
			t.Fatalf("%d table lines, want %d (a header and one row per finding):\n%s", len(lines), len(want)+1, r.stdout)
		}
		for _, h := range []string{"LEVEL", "RULE", "FILE"} {
			if !strings.Contains(lines[0], h) {
				t.Errorf("table header %q has no %s column", lines[0], h)
			}
		}
		for i, w := range want {
			row := lines[i+1]
			if !strings.Contains(row, w.title) || !strings.Contains(row, w.level) || !strings.Contains(row, w.file) {
				t.Errorf("table row %d: got %q, want one with %q, %s and %s", i+1, row, w.title, w.level, w.file)
			}
		}
		if !strings.Contains(lines[1], "2026-03-04 05:06:08") {
			t.Errorf("table row 1: got %q, want the event time 2026-03-04 05:06:08", lines[1])
		}
	})
}

// TestHuntLevels checks --min-level, --fail-on, --quiet and the summary.
func TestHuntLevels(t *testing.T) {
	dir := t.TempDir()
	rules := huntRules(t, nil)
	jsonPath, logPath := huntLevelsInput(t, dir)
	base := []string{"--no-builtin", "--rules", rules, "--format", "jsonl"}

	t.Run("min-level keeps that level and above", func(t *testing.T) {
		r := runHunt(t, "", append(base, "--quiet", "--min-level", "medium", jsonPath, logPath)...)
		if r.code != 0 {
			t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
		}
		var got []string
		for _, f := range huntParseJSONL(t, r.stdout) {
			got = append(got, f.Level)
		}
		if diff := cmp.Diff([]string{"high", "medium"}, got); diff != "" {
			t.Errorf("levels with --min-level medium (-want +got):\n%s", diff)
		}
		if r.stderr != "" {
			t.Errorf("stderr with --quiet: got %q, want nothing", r.stderr)
		}
	})

	t.Run("unknown min-level", func(t *testing.T) {
		r := runHunt(t, "", append(base, "--quiet", "--min-level", "severe", jsonPath)...)
		if r.code != 2 {
			t.Fatalf("exit status %d with --min-level severe, want 2 (usage error)", r.code)
		}
		if !strings.Contains(r.stderr, `"severe"`) || !strings.Contains(r.stderr, "level") {
			t.Errorf("stderr %q does not say that level %q is unknown", r.stderr, "severe")
		}
		if r.stdout != "" {
			t.Errorf("stdout: got %q, want nothing", r.stdout)
		}
	})

	t.Run("unknown fail-on", func(t *testing.T) {
		r := runHunt(t, "", append(base, "--quiet", "--fail-on", "severe", jsonPath)...)
		if r.code != 2 {
			t.Fatalf("exit status %d with --fail-on severe, want 2 (usage error)", r.code)
		}
		if !strings.Contains(r.stderr, `"severe"`) || !strings.Contains(r.stderr, "--fail-on") {
			t.Errorf("stderr %q does not say that --fail-on %q is unknown", r.stderr, "severe")
		}
	})

	t.Run("fail-on high with a high finding", func(t *testing.T) {
		// No --quiet: the summary is checked here too.
		r := runHunt(t, "", append(base, "--fail-on", "high", jsonPath, logPath)...)
		if r.code != 1 {
			t.Fatalf("exit status %d, want 1\nstderr:\n%s", r.code, r.stderr)
		}
		if got := len(huntParseJSONL(t, r.stdout)); got != 3 {
			t.Errorf("%d findings written, want 3 (failing does not hide them)", got)
		}
		if strings.Contains(r.stderr, "hunting") {
			t.Errorf("progress bar drawn although standard error is not a terminal:\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr, "3 findings") {
			t.Errorf("summary does not count 3 findings:\n%s", r.stderr)
		}
		var byLevel string
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.HasPrefix(l, "by level:") {
				byLevel = l
			}
		}
		for _, s := range []string{"high 1", "medium 1", "low 1"} {
			if !strings.Contains(byLevel, s) {
				t.Errorf("summary line by level %q has no %q; stderr:\n%s", byLevel, s, r.stderr)
			}
		}
		byRule := map[string]string{}
		for _, l := range strings.Split(r.stderr, "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				byRule[strings.Join(f[1:], " ")] = f[0]
			}
		}
		for _, title := range []string{huntTitleEvil, huntTitleWhoami, huntTitleKeyword} {
			if byRule[title] != "1" {
				t.Errorf("summary: no line counting 1 finding of rule %q; stderr:\n%s", title, r.stderr)
			}
		}
	})

	t.Run("fail-on high without one", func(t *testing.T) {
		r := runHunt(t, "", append(base, "--quiet", "--fail-on", "high", logPath)...)
		if r.code != 0 {
			t.Fatalf("exit status %d with only a medium finding, want 0\nstderr:\n%s", r.code, r.stderr)
		}
		if got := len(huntParseJSONL(t, r.stdout)); got != 1 {
			t.Errorf("%d findings, want 1", got)
		}
	})

	t.Run("fail-on high with high findings filtered out", func(t *testing.T) {
		// --fail-on judges what is reported: nothing reported, nothing failed.
		r := runHunt(t, "", append(base, "--quiet", "--fail-on", "medium", "--min-level", "critical", jsonPath, logPath)...)
		if r.code != 0 {
			t.Fatalf("exit status %d, want 0 (no finding at or above critical was reported)\nstderr:\n%s", r.code, r.stderr)
		}
	})
}

// TestHuntBadUsage checks that wrong invocations fail with a message.
func TestHuntBadUsage(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "x.jsonl")
	huntWrite(t, in, "{}\n")
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no paths", []string{"--no-builtin"}, "arg"},
		{"unknown format", []string{"--format", "xml", in}, `"xml"`},
		{"unknown flag", []string{"--colour", in}, "--colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runHunt(t, "", tt.args...)
			if r.code != 2 {
				t.Fatalf("exit status %d, want 2 (usage error); stdout:\n%s", r.code, r.stdout)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q does not mention %q", r.stderr, tt.want)
			}
			if r.stdout != "" && !strings.Contains(r.stdout, "Usage:") {
				t.Errorf("stdout: got %q, want nothing or usage", r.stdout)
			}
		})
	}
}

// TestHuntLinesWithoutLogsource checks that events without a logsource —
// plain text lines, JSON of an application — can be matched by a rule
// that asks for no particular logsource.
func TestHuntLinesWithoutLogsource(t *testing.T) {
	dir := t.TempDir()
	rules := huntRules(t, map[string]string{"any.yml": `title: Hunt test magic word anywhere
id: 5b0c6b7e-3f5a-4b8e-9a51-0d6c1e9a7f20
status: test
description: The magic word in any event (written for vigil's e2e tests).
author: Vigil
date: 2026-11-22
logsource: {}
detection:
  keywords:
    - 'MAGICWORD'
  condition: keywords
level: medium
`})
	huntWrite(t, filepath.Join(dir, "a.txt"), "first plain line\nplain text with MAGICWORD pt#1\n")
	huntWrite(t, filepath.Join(dir, "b.jsonl"), `{"msg":"app said MAGICWORD","user":"bob","id":"gj#1"}`+"\n")
	huntWrite(t, filepath.Join(dir, "c.log"), huntSyslogLine("sl#1", true)+"\n")
	r := runHunt(t, "", "--no-builtin", "--rules", rules, "--format", "jsonl", "--quiet", dir)
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	var got []string
	for _, f := range huntParseJSONL(t, r.stdout) {
		got = append(got, filepath.Base(f.File))
	}
	if diff := cmp.Diff([]string{"a.txt", "b.jsonl", "c.log"}, got); diff != "" {
		t.Errorf("files with a finding (-want +got):\n%s", diff)
	}
}

// TestHuntBadLevelKeepsOutput checks that a usage error does not clobber
// the --output file.
func TestHuntBadLevelKeepsOutput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "x.jsonl")
	huntWrite(t, in, huntCompact(t, huntSysmon(huntEvilImage, "k#1", 1))+"\n")
	out := filepath.Join(dir, "findings.txt")
	huntWrite(t, out, "earlier findings\n")
	r := runHunt(t, "", "--no-builtin", "--rules", huntRules(t, nil), "--min-level", "severe", "--output", out, in)
	if r.code != 2 {
		t.Fatalf("exit status %d with --min-level severe, want 2 (usage error)", r.code)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "earlier findings\n" {
		t.Errorf("--output file after a usage error: got %q, want it untouched", data)
	}
}

// TestHuntBracketedTextLines checks that a text log whose lines start with
// "[" (Apache's error log, PHP, many application logs) is read as lines.
func TestHuntBracketedTextLines(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "error.log")
	huntWrite(t, in, "[Sun Mar 04 05:06:07.123456 2026] [core:error] [pid 42] [client 192.0.2.7:50000] File does not exist: /var/www/x\n"+
		"[Sun Mar 04 05:06:08.123456 2026] [core:notice] [pid 1] AH00094: Command line: '/usr/sbin/apache2'\n")
	r := runHunt(t, "", "--no-builtin", "--rules", huntRules(t, nil), "--format", "jsonl", in)
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "warning:") {
		t.Errorf("warning about a well-formed text log:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, " 2 events") {
		t.Errorf("summary does not count the 2 lines as 2 events:\n%s", r.stderr)
	}
}

// TestHuntOutputWriteError checks that findings that could not be written
// make the run fail: a CI gate must not pass on a full disk.
func TestHuntOutputWriteError(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skipf("no /dev/full on this system: %v", err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "x.jsonl")
	huntWrite(t, in, huntCompact(t, huntSysmon(huntEvilImage, "full#1", 1))+"\n")
	rules := huntRules(t, nil)
	for _, format := range []string{"jsonl", "csv", "table"} {
		t.Run(format, func(t *testing.T) {
			r := runHunt(t, "", "--no-builtin", "--rules", rules, "--quiet", "--format", format, "--output", "/dev/full", in)
			if r.code == 0 {
				t.Errorf("exit status 0 after writing a finding to /dev/full, want non-zero")
			}
			if !strings.Contains(r.stderr, "/dev/full") {
				t.Errorf("stderr %q does not name the output that failed", r.stderr)
			}
		})
	}
}

// TestHuntProgressBar runs hunt on a pseudo-terminal (util-linux script)
// and checks that the progress bar is drawn there, and not with
// --no-progress.
func TestHuntProgressBar(t *testing.T) {
	if testing.Short() {
		t.Skip("scans 200,000 events twice; skipped under -short")
	}
	script := requireProgram(t, "script")
	dir := t.TempDir()
	in := filepath.Join(dir, "many.jsonl")
	var b strings.Builder
	for i := range 200_000 {
		fmt.Fprintf(&b, `{"n":%d,"msg":"benign"}`+"\n", i)
	}
	huntWrite(t, in, b.String())
	rules := huntRules(t, nil)
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	onTerminal := func(extra ...string) string {
		t.Helper()
		args := append([]string{vigilBin, "hunt", "--no-builtin", "--rules", rules, "--format", "jsonl",
			"--output", filepath.Join(dir, "findings.jsonl"), "--workers", "2"}, extra...)
		args = append(args, in)
		var q []string
		for _, a := range args {
			q = append(q, quote(a))
		}
		ctx, cancel := withTimeout(60 * time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, script, "-qec", strings.Join(q, " "), "/dev/null").CombinedOutput()
		if err != nil {
			t.Fatalf("vigil hunt %q on a terminal: %v\n%s", extra, err, tail(string(out), 4000))
		}
		return string(out)
	}

	out := onTerminal()
	if !strings.Contains(out, "hunting") {
		// The bar is throttled to 100 ms: on a machine fast enough to
		// scan everything sooner it may rightly never be drawn.
		m := regexp.MustCompile(`events \([0-9.]+ MB\) in (\S+):`).FindStringSubmatch(out)
		if m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil && d < 300*time.Millisecond {
				t.Skipf("the scan took only %v, too short to be sure the throttled bar is drawn", d)
			}
		}
		t.Errorf("no progress bar on a terminal; output:\n%s", tail(out, 2000))
	}
	if !strings.Contains(out, "scanned 1 files") {
		t.Errorf("no summary on a terminal; output:\n%s", tail(out, 2000))
	}
	if out := onTerminal("--no-progress"); strings.Contains(out, "hunting") {
		t.Errorf("progress bar drawn with --no-progress; output:\n%s", tail(out, 2000))
	}
}

// TestHuntCountsBadRecords checks that records that do not parse as their
// format, and lines cut at the size limit, are counted in the summary
// rather than silently absorbed (they are still matched as text).
func TestHuntCountsBadRecords(t *testing.T) {
	dir := t.TempDir()
	rules := huntRules(t, map[string]string{"kw.yml": `title: keyword
id: 5b1f6a55-0000-4000-8000-000000000001
status: test
level: low
logsource: {}
detection:
  keywords: [BADRECORD]
  condition: keywords
`})
	huntWrite(t, filepath.Join(dir, "in.jsonl"), "{\"a\":1}\n{\"b\":tru, \"m\":\"BADRECORD\"}\n{\"c\":2}\n")
	huntWrite(t, filepath.Join(dir, "long.log"), "short line\n"+strings.Repeat("x", 2<<20)+"\n")
	r := runHunt(t, dir, "--no-builtin", "--rules", rules, "--no-progress", "in.jsonl", "long.log")
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "(matched as text, tagged parse_error): 1;") || !strings.Contains(r.stderr, "(tagged truncated): 1") {
		t.Errorf("summary does not count one unparsed and one truncated record:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "keyword") {
		t.Errorf("the unparsed record was not matched as text:\n%s", r.stdout)
	}
}

// TestHuntProfilesOnFailOn checks that --cpuprofile and --memprofile are
// written even when the run ends with --fail-on's exit status 1.
func TestHuntProfilesOnFailOn(t *testing.T) {
	dir := t.TempDir()
	rules := huntRules(t, map[string]string{"kw.yml": `title: keyword
id: 5b1f6a55-0000-4000-8000-000000000002
status: test
level: high
logsource: {}
detection:
  keywords: [PROFILEME]
  condition: keywords
`})
	huntWrite(t, filepath.Join(dir, "in.log"), "a line with PROFILEME\n")
	r := runHunt(t, dir, "--no-builtin", "--rules", rules, "-q", "--fail-on", "high",
		"--cpuprofile", "cpu.prof", "--memprofile", "mem.prof", "in.log")
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1 (--fail-on tripped)\nstderr:\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"cpu.prof", "mem.prof"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v, size %d; want a written profile", name, err, sizeOf(st))
		}
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}
