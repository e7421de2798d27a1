package query

import (
	"bufio"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func eq(f, v string) *Term   { return &Term{Field: f, Op: OpEq, Value: v} }
func word(v string) *Term    { return &Term{Op: OpWord, Value: v} }
func phrase(v string) *Term  { return &Term{Op: OpPhrase, Value: v} }
func and(x ...Expr) *And     { return &And{Terms: x} }
func or(x ...Expr) *Or       { return &Or{Terms: x} }
func not(x Expr) *Not        { return &Not{X: x} }
func wild(f, p string) *Term { return &Term{Field: f, Op: OpWildcard, Value: p} }

func TestParseFilter(t *testing.T) {
	ts := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want Expr
	}{
		{"", nil},
		{"   ", nil},
		{"*", nil},
		{"root", word("root")},
		{"user.name:root", eq("user.name", "root")},
		{`user.name:"John Smith"`, eq("user.name", "John Smith")},
		{`"Failed password"`, phrase("Failed password")},
		{`"say \"hi\" \\ C:\Temp"`, phrase(`say "hi" \ C:\Temp`)},
		{"a b", and(word("a"), word("b"))},
		{"a AND b", and(word("a"), word("b"))},
		{"a OR b", or(word("a"), word("b"))},
		{"a or b", and(word("a"), word("or"), word("b"))},
		{"a b OR c", or(and(word("a"), word("b")), word("c"))},
		{"a OR b c", or(word("a"), and(word("b"), word("c")))},
		{"a OR b OR c", or(word("a"), word("b"), word("c"))},
		{"a (b c) d", and(word("a"), word("b"), word("c"), word("d"))},
		{"(a OR b) OR (c OR d)", or(word("a"), word("b"), word("c"), word("d"))},
		{"(a OR b) c", and(or(word("a"), word("b")), word("c"))},
		{"NOT a b", and(not(word("a")), word("b"))},
		{"NOT (a b)", not(and(word("a"), word("b")))},
		{"NOT NOT a", not(not(word("a")))},
		{"-a", not(word("a"))},
		{"-user.name:root", not(eq("user.name", "root"))},
		{"a -b", and(word("a"), not(word("b")))},
		{"a-b", word("a-b")},
		{"NOT(a)", not(word("a"))},
		{"NOTE", word("NOTE")},
		{"ANDROID OR ORACLE", or(word("ANDROID"), word("ORACLE"))},
		{"AND:1", eq("AND", "1")},
		{"process.name:ssh*", wild("process.name", "ssh*")},
		{"f:a?c", wild("f", "a?c")},
		{`f:\*x`, eq("f", "*x")},
		{`f:a\*b*`, wild("f", `a\*b*`)},
		{`f:\\*`, wild("f", `\\*`)},
		{`Image:*\rundll32.exe`, wild("Image", `*\\rundll32.exe`)},
		{`f:"a*"`, eq("f", "a*")},
		{"f:*", &Term{Field: "f", Op: OpExists}},
		{`f:"*"`, eq("f", "*")},
		{"f:**", wild("f", "**")},
		{"ssh*", wild("", "ssh*")},
		{"source.ip:10.0.0.0/8", &Term{Field: "source.ip", Op: OpCIDR, Value: "10.0.0.0/8", Prefix: netip.MustParsePrefix("10.0.0.0/8")}},
		{"source.ip:10.1.2.3/8", &Term{Field: "source.ip", Op: OpCIDR, Value: "10.1.2.3/8", Prefix: netip.MustParsePrefix("10.0.0.0/8")}},
		{"source.ip:fe80::/10", &Term{Field: "source.ip", Op: OpCIDR, Value: "fe80::/10", Prefix: netip.MustParsePrefix("fe80::/10")}},
		{`source.ip:"10.0.0.0/8"`, eq("source.ip", "10.0.0.0/8")},
		{"source.ip:::1", eq("source.ip", "::1")},
		{"path:a/b", eq("path", "a/b")},
		{"port>10", &Term{Field: "port", Op: OpGt, Value: "10", Num: 10}},
		{"port>=10.5", &Term{Field: "port", Op: OpGte, Value: "10.5", Num: 10.5}},
		{"port<-3", &Term{Field: "port", Op: OpLt, Value: "-3", Num: -3}},
		{"port<=1e3", &Term{Field: "port", Op: OpLte, Value: "1e3", Num: 1000}},
		{"port:>10", &Term{Field: "port", Op: OpGt, Value: "10", Num: 10}},
		{`port>"10"`, &Term{Field: "port", Op: OpGt, Value: "10", Num: 10}},
		{"@timestamp>=2026-11-22T10:00:00Z", &Term{Field: "@timestamp", Op: OpGte, Value: "2026-11-22T10:00:00Z", Time: ts}},
		{"@timestamp<2026-11-22T11:00:00+01:00", &Term{Field: "@timestamp", Op: OpLt, Value: "2026-11-22T11:00:00+01:00", Time: ts}},
		{"@timestamp<2026-11-22", &Term{Field: "@timestamp", Op: OpLt, Value: "2026-11-22", Time: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}},
		{"f:(a OR b)", or(eq("f", "a"), eq("f", "b"))},
		{`f:(a b* "c d" -e)`, and(eq("f", "a"), wild("f", "b*"), eq("f", "c d"), not(eq("f", "e")))},
		{"f:(a OR (b c))", or(eq("f", "a"), and(eq("f", "b"), eq("f", "c")))},
		{"x f:(a b)", and(word("x"), eq("f", "a"), eq("f", "b"))},
		{`process.executable:C:\Windows\cmd.exe`, eq("process.executable", `C:\Windows\cmd.exe`)},
		{`url:http://x/y?z=1`, wild("url", "http://x/y?z=1")},
		{`a\ b`, word("a b")},
		{`a\(b\)`, word("a(b)")},
		{"10.0.0.1", word("10.0.0.1")},
		{"!!!", phrase("!!!")},
		{"a - b", and(word("a"), phrase("-"), word("b"))},
		{"f:a:b", eq("f", "a:b")},
		{"f:a>b", eq("f", "a>b")},
		{"user=root", word("user=root")},
		{"héllo:wörld", eq("héllo", "wörld")},
		{"a\n\tb", and(word("a"), word("b"))},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, q.Filter, cmpOpts); diff != "" {
				t.Errorf("Parse(%q) filter mismatch (-want +got):\n%s", tt.in, diff)
			}
			if len(q.Pipes) != 0 {
				t.Errorf("Parse(%q): got %d pipes, want 0", tt.in, len(q.Pipes))
			}
			assertRoundTrip(t, q)
		})
	}
}

func TestParsePipes(t *testing.T) {
	tests := []struct {
		in   string
		want []Pipe
		cols []string
	}{
		{"| stats count()", []Pipe{&Stats{Aggs: []Agg{{Func: "count"}}}}, []string{"count"}},
		{
			"x | stats count() by source.ip | sort -count | limit 10",
			[]Pipe{&Stats{Aggs: []Agg{{Func: "count"}}, By: []string{"source.ip"}}, &Sort{Keys: []SortKey{{Field: "count", Desc: true}}}, &Limit{N: 10}},
			[]string{"source.ip", "count"},
		},
		{
			"| STATS Count(user.name) AS n, dc(user.name), min(p), max(p), avg(p), sum(p) BY host.name, source.ip",
			[]Pipe{&Stats{Aggs: []Agg{
				{Func: "count", Field: "user.name", As: "n"}, {Func: "dc", Field: "user.name"},
				{Func: "min", Field: "p"}, {Func: "max", Field: "p"}, {Func: "avg", Field: "p"}, {Func: "sum", Field: "p"},
			}, By: []string{"host.name", "source.ip"}}},
			[]string{"host.name", "source.ip", "n", "dc(user.name)", "min(p)", "max(p)", "avg(p)", "sum(p)"},
		},
		{
			"| stats dc(user.name) by host.name | sort -dc(user.name), +host.name | fields host.name",
			[]Pipe{
				&Stats{Aggs: []Agg{{Func: "dc", Field: "user.name"}}, By: []string{"host.name"}},
				&Sort{Keys: []SortKey{{Field: "dc(user.name)", Desc: true}, {Field: "host.name"}}},
				&Fields{Names: []string{"host.name"}},
			},
			[]string{"host.name"},
		},
		{"| stats count() | sort -count()", []Pipe{&Stats{Aggs: []Agg{{Func: "count"}}}, &Sort{Keys: []SortKey{{Field: "count", Desc: true}}}}, []string{"count"}},
		{
			"| timechart span=1m count()",
			[]Pipe{&Timechart{Span: time.Minute, Aggs: []Agg{{Func: "count"}}}},
			[]string{"@timestamp", "count"},
		},
		{
			"| timechart span=90s count(), max(bytes) as m by host.name | sort -m",
			[]Pipe{&Timechart{Span: 90 * time.Second, Aggs: []Agg{{Func: "count"}, {Func: "max", Field: "bytes", As: "m"}}, By: "host.name"}, &Sort{Keys: []SortKey{{Field: "m", Desc: true}}}},
			[]string{"@timestamp", "host.name", "count", "m"},
		},
		{"| timechart span=2d count()", []Pipe{&Timechart{Span: 48 * time.Hour, Aggs: []Agg{{Func: "count"}}}}, []string{"@timestamp", "count"}},
		{"| timechart span=60m count()", []Pipe{&Timechart{Span: time.Hour, Aggs: []Agg{{Func: "count"}}}}, []string{"@timestamp", "count"}},
		{"a | sort -@timestamp, user.name | limit 5", []Pipe{&Sort{Keys: []SortKey{{Field: "@timestamp", Desc: true}, {Field: "user.name"}}}, &Limit{N: 5}}, nil},
		{"a | fields user.name, source.ip | sort user.name", []Pipe{&Fields{Names: []string{"user.name", "source.ip"}}, &Sort{Keys: []SortKey{{Field: "user.name"}}}}, []string{"user.name", "source.ip"}},
		{"a | limit 10000", []Pipe{&Limit{N: 10000}}, nil},
		{"a|limit 1", []Pipe{&Limit{N: 1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, q.Pipes, cmpOpts); diff != "" {
				t.Errorf("Parse(%q) pipes mismatch (-want +got):\n%s", tt.in, diff)
			}
			if diff := cmp.Diff(tt.cols, q.OutputColumns()); diff != "" {
				t.Errorf("OutputColumns() mismatch (-want +got):\n%s", diff)
			}
			_, isAgg := tt.want[0].(*Stats)
			_, isTC := tt.want[0].(*Timechart)
			if got, want := q.IsAggregate(), isAgg || isTC; got != want {
				t.Errorf("IsAggregate() = %v, want %v", got, want)
			}
			assertRoundTrip(t, q)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"user.name:", `query:1:11: expected value after "user.name:"`},
		{"root AND user.name: x", `query:1:20: expected value after "user.name:" (no space after the colon)`},
		{"a\nb AND user.name:", `query:2:17: expected value after "user.name:"`},
		{`"unterminated`, `query:1:1: unterminated quoted string`},
		{`a "unterminated \"`, `query:1:3: unterminated quoted string`},
		{`""`, `query:1:1: empty phrase`},
		{"(a b", `query:1:5: expected ")" to close "(" at column 1, found end of query`},
		{"a b)", `query:1:4: unexpected ")" without a matching "("`},
		{"AND a", `query:1:1: expected a term before AND`},
		{"a OR", `query:1:5: expected a term, found end of query`},
		{"a AND OR b", `query:1:7: expected a term before OR`},
		{"NOT", `query:1:4: expected a term after NOT, found end of query`},
		{"()", `query:1:2: expected a term, found ")"`},
		{"* a", `query:1:1: a bare * is not a term: use an empty query (or *) for all events, or field:* for events that have a field`},
		{"10.0.*", `query:1:1: full-text wildcard "10.0.*" may hold only letters, digits, * and ?: quote it as a phrase or name a field`},
		{":x", `query:1:1: expected a field name before ':'`},
		{"a!b:x", `query:1:1: invalid field name "a!b" (quote text that contains ':')`},
		{`a\(:x`, `query:1:1: invalid field name "a(" (quote text that contains ':')`},
		{"f:()", `query:1:4: expected a value in "f:(...)"`},
		{"f:(a", `query:1:5: expected ")" to close "f:(", found end of query`},
		{"port>", `query:1:6: expected a number or time after "port>"`},
		{"port>abc", `query:1:6: expected a number or an RFC 3339 time after "port>", found "abc"`},
		{"port>NaN", `query:1:6: expected a number or an RFC 3339 time after "port>", found "NaN"`},
		{"@timestamp>5", `query:1:12: expected an RFC 3339 time such as 2026-11-22T10:00:00Z after "@timestamp>", found "5"`},
		{"a |", `query:1:4: expected a command after "|", found end of query`},
		{"a | grep x", `query:1:5: unknown command "grep": want stats, timechart, sort, limit or fields`},
		{"| stats", `query:1:8: expected an aggregate such as count() or dc(field), found end of query`},
		{"| stats cnt()", `query:1:9: unknown function "cnt": want count, dc, min, max, avg or sum`},
		{"| stats count", `query:1:14: expected "(" after "count"`},
		{"| stats dc()", `query:1:9: dc() needs a field, as in dc(source.port)`},
		{"| stats count(a b)", `query:1:17: expected ")" after "count(a", found "b"`},
		{"| stats count() by", `query:1:19: expected a field after "by", found end of query`},
		{"| stats count() as", `query:1:19: expected a column name after "as", found end of query`},
		{"| stats count() x", `query:1:17: unexpected "x" in "stats"`},
		{"| stats count(), count()", `query:1:3: column "count" appears twice in stats: name one with "as"`},
		{"| stats count() by a, a", `query:1:3: column "a" appears twice in stats`},
		{"| stats count() by source.ip | sort -n", `query:1:32: sort column "n" is not an output column (columns: source.ip, count)`},
		{"| stats count() | fields x", `query:1:19: fields column "x" is not an output column (columns: count)`},
		{"| sort a | stats count()", `query:1:12: stats must be the first pipe`},
		{"| limit 5 | sort a", `query:1:13: sort after limit is not supported: put sort before limit`},
		{"| limit 5 | limit 6", `query:1:13: only one limit pipe is allowed`},
		{"| stats count() | timechart span=1m count()", `query:1:19: timechart must be the first pipe`},
		{"| limit 0", `query:1:9: limit 0 out of range 1..10000`},
		{"| limit 10001", `query:1:9: limit 10001 out of range 1..10000`},
		{"| limit 99999999999999999999999", `query:1:9: limit 99999999999999999999999 out of range 1..10000`},
		{"| limit x", `query:1:9: expected a number after "limit", found "x"`},
		{"| limit 5 6", `query:1:11: unexpected "6" in "limit"`},
		{"| sort", `query:1:7: expected a column name after "sort", found end of query`},
		{"| sort a,", `query:1:10: expected a column name after "sort", found end of query`},
		{"| fields a, a", `query:1:13: column "a" listed twice`},
		{"| timechart count()", `query:1:13: expected span=<n><s|m|h|d> after "timechart", found "count"`},
		{"| timechart span=5 count()", `query:1:18: bad span "5": want a count and a unit s, m, h or d, as in span=5m`},
		{"| timechart span=0m count()", `query:1:18: span 0m out of range 1s..366d`},
		{"| timechart span=367d count()", `query:1:18: span 367d out of range 1s..366d`},
		{"| timechart span=5mx count()", `query:1:20: unexpected "x" after span`},
		{"| timechart span=5m count() by a, b", `query:1:33: timechart splits by one field only`},
		{"| timechart span=5m count() as @timestamp", `query:1:3: column "@timestamp" is the time bucket in timechart`},
		{strings.Repeat("(", 65) + "a" + strings.Repeat(")", 65), `query:1:65: query nests deeper than 64 levels`},
		{strings.Repeat("NOT ", 65) + "a", `query:1:257: query nests deeper than 64 levels`},
		{strings.Repeat("-", 65) + "a", `query:1:65: query nests deeper than 64 levels`},
		{strings.Repeat("f:(", 65) + "a" + strings.Repeat(")", 65), `query:1:195: query nests deeper than 64 levels`},
		{"é é:", `query:1:5: expected value after "é:"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error %q", tt.in, q, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q) error\n got %s\nwant %s", tt.in, got, tt.want)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Errorf("Parse(%q) error is %T, want *Error", tt.in, err)
			}
		})
	}
}

func TestParseBounds(t *testing.T) {
	long := strings.Repeat("a ", DefaultMaxLength/2+1)
	if _, err := Parse(long); err == nil || !strings.Contains(err.Error(), "longer than 65536 bytes") {
		t.Errorf("Parse(%d bytes): got error %v, want a length error", len(long), err)
	}
	for _, in := range []string{
		"f:" + strings.Repeat("x", MaxTermLength+1),
		`"` + strings.Repeat("x", MaxTermLength+1) + `"`,
		"a f:(b " + strings.Repeat("x", MaxTermLength+1) + ")",
		strings.Repeat("x", MaxTermLength+1),
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), "value is longer than 4096 bytes") {
			t.Errorf("Parse(long value %.20q...): got error %v, want a value length error", in, err)
		}
	}
	if _, err := Parse("f:" + strings.Repeat("x", MaxTermLength)); err != nil {
		t.Errorf("Parse(value of %d bytes): %v", MaxTermLength, err)
	}
	if _, err := Parse(strings.Repeat("(", 64) + "a" + strings.Repeat(")", 64)); err != nil {
		t.Errorf("Parse(64 levels): %v", err)
	}
	o := Options{MaxLength: 10, MaxDepth: 2, MaxLimit: 50}
	tests := []struct {
		in      string
		wantErr string
	}{
		{"| limit 50", ""},
		{"| limit 51", "limit 51 out of range 1..50"},
		{"((a))", ""},
		{"(((a)))", "nests deeper than 2 levels"},
		{"abcdefghijk", "longer than 10 bytes"},
	}
	for _, tt := range tests {
		_, err := ParseWith(tt.in, o)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseWith(%q): %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseWith(%q): got error %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

// assertRoundTrip checks the canonical-form invariant: String() re-parses
// to the same AST, and is a fixed point.
func assertRoundTrip(t *testing.T, q *Query) {
	t.Helper()
	s := q.String()
	q2, err := Parse(s)
	if err != nil {
		t.Fatalf("re-parsing canonical %q: %v", s, err)
	}
	if diff := cmp.Diff(q, q2, cmpOpts); diff != "" {
		t.Fatalf("canonical %q re-parses differently (-first +second):\n%s", s, diff)
	}
	if s2 := q2.String(); s2 != s {
		t.Fatalf("String() not a fixed point: %q then %q", s, s2)
	}
}

func readQueries(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/queries.txt")
	if err != nil {
		t.Fatalf("opening sample queries: %v", err)
	}
	defer f.Close()
	var qs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "# ") {
			qs = append(qs, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading sample queries: %v", err)
	}
	return qs
}

func TestSampleQueries(t *testing.T) {
	for _, s := range readQueries(t) {
		t.Run(s, func(t *testing.T) {
			q, err := Parse(s)
			if err != nil {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			assertRoundTrip(t, q)
		})
	}
}

func TestCanonicalString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a b", "a AND b"},
		{"a b OR c", "a AND b OR c"},
		{"(a OR b) c", "(a OR b) AND c"},
		{"-(a b)", "NOT (a AND b)"},
		{"-(a OR b)", "NOT (a OR b)"},
		{"f:(a OR b) c", "(f:a OR f:b) AND c"},
		{`f:"x y"`, `f:"x y"`},
		{`f:"xy"`, `f:xy`},
		{`f:"a/b"`, `f:"a/b"`},
		{`f:""`, `f:""`},
		{`f:a\ b*`, `f:a\ b*`},
		{`f:\*`, `f:"*"`},
		{`a\:b`, `a\:b`},
		{"port:>5", "port>5"},
		{"| timechart span=120m count()", "| timechart span=2h count()"},
		{"x | STATS COUNT() BY a,b | SORT - count", ""},
		{"x | stats count() by a,b | sort -count,a | fields a , count", "x | stats count() by a, b | sort -count, a | fields a, count"},
	}
	for _, tt := range tests {
		q, err := Parse(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %q, want an error", tt.in, q)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := q.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range readQueries(f) {
		f.Add(s)
	}
	// The conformance suite's queries are real samples too.
	if data, err := os.ReadFile("querytest/conformance.txt"); err == nil {
		for line := range strings.Lines(string(data)) {
			if q, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "query "); ok {
				f.Add(q)
			}
		}
	}
	for _, s := range []string{
		`f:(a OR "b c" -d*)`, `a\ b\*c\\`, `"\"`, `port>=-1e9`, `x:y:z`, "a\x00b", "\xff\xfe:\x80",
		`| timechart span=1d count() by h | sort -count | limit 3 | fields count`,
		`status:[400 TO 499]`, `n:{1 TO *]`, `f:(a OR [1 TO 2})`, `@timestamp:["2026-11-22" TO 2026-11-23}`,
		`a and b or not c`, `_exists_:user.name`, `user.name="x"`, `a && b || !c`, `"a b"~2`, `| head 10`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, ws, werr := ParseWarn(s, Options{})
		if len(ws) > MaxWarnings+1 {
			t.Fatalf("ParseWarn(%q): %d warnings, want at most %d", s, len(ws), MaxWarnings+1)
		}
		for _, w := range ws {
			if w.Offset < 0 || w.Offset > len(s) || w.Line < 0 || w.Col < 0 || w.Msg == "" {
				t.Fatalf("ParseWarn(%q) warning out of range: %+v", s, w)
			}
		}
		q, err := Parse(s)
		if (err == nil) != (werr == nil) {
			t.Fatalf("Parse(%q) error %v, ParseWarn error %v", s, err, werr)
		}
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) error is %T, want *Error", s, err)
			}
			if perr.Offset < 0 || perr.Offset > len(s) || perr.Line < 1 || perr.Col < 1 {
				t.Fatalf("Parse(%q) error position out of range: %+v", s, perr)
			}
			return
		}
		canon := q.String()
		if len(canon) > DefaultMaxLength {
			return // expansion of field groups can outgrow the length bound
		}
		assertRoundTrip(t, q)
		// The matcher and the pipes must not fail on any parsed query.
		Compile(q).Match(sampleEvent())
		if _, err := Run(q, slices.Values(append(runEvents(), sampleEvent()))); err != nil {
			t.Fatalf("Run(%q): %v", s, err)
		}
	})
}
