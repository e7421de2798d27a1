package query

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/event"
)

func cmpTerm(f string, op Op, v string, n float64) *Term {
	return &Term{Field: f, Op: op, Value: v, Num: n}
}

func TestParseRange(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		in   string
		want Expr
	}{
		{"status:[400 TO 499]", and(cmpTerm("status", OpGte, "400", 400), cmpTerm("status", OpLte, "499", 499))},
		{"status:{400 TO 499}", and(cmpTerm("status", OpGt, "400", 400), cmpTerm("status", OpLt, "499", 499))},
		{"status:[400 TO 500}", and(cmpTerm("status", OpGte, "400", 400), cmpTerm("status", OpLt, "500", 500))},
		{"status:{399 TO 499]", and(cmpTerm("status", OpGt, "399", 399), cmpTerm("status", OpLte, "499", 499))},
		{"status:[ 400  to  499 ]", and(cmpTerm("status", OpGte, "400", 400), cmpTerm("status", OpLte, "499", 499))},
		{"status:[400 TO 400]", and(cmpTerm("status", OpGte, "400", 400), cmpTerm("status", OpLte, "400", 400))},
		{`bytes:["-1.5" TO 1e3]`, and(cmpTerm("bytes", OpGte, "-1.5", -1.5), cmpTerm("bytes", OpLte, "1e3", 1000))},
		{"status:[500 TO *]", cmpTerm("status", OpGte, "500", 500)},
		{"status:{* TO 300}", cmpTerm("status", OpLt, "300", 300)},
		{"status:[* TO *]", &Term{Field: "status", Op: OpExists}},
		{"@timestamp:[2026-11-21 TO 2026-11-22}", and(
			&Term{Field: "@timestamp", Op: OpGte, Value: "2026-11-21", Time: day(21)},
			&Term{Field: "@timestamp", Op: OpLt, Value: "2026-11-22", Time: day(22)})},
		{"seen:[2026-11-21 TO 2026-11-22T00:00:00Z]", and(
			&Term{Field: "seen", Op: OpGte, Value: "2026-11-21", Time: day(21)},
			&Term{Field: "seen", Op: OpLte, Value: "2026-11-22T00:00:00Z", Time: day(22)})},
		{"a status:[1 TO 2] b", and(word("a"), cmpTerm("status", OpGte, "1", 1), cmpTerm("status", OpLte, "2", 2), word("b"))},
		{"a OR status:[1 TO 2]", or(word("a"), and(cmpTerm("status", OpGte, "1", 1), cmpTerm("status", OpLte, "2", 2)))},
		{"NOT status:[1 TO 2]", not(and(cmpTerm("status", OpGte, "1", 1), cmpTerm("status", OpLte, "2", 2)))},
		{"status:(404 OR [500 TO 599])", or(eq("status", "404"), and(cmpTerm("status", OpGte, "500", 500), cmpTerm("status", OpLte, "599", 599)))},
		{"(status:[1 TO 2])", and(cmpTerm("status", OpGte, "1", 1), cmpTerm("status", OpLte, "2", 2))},
		{`msg:"[error]"`, eq("msg", "[error]")},
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
			assertRoundTrip(t, q)
		})
	}
}

// TestRangeMatchesComparisons checks that a range matches exactly the
// events its two comparisons match.
func TestRangeMatchesComparisons(t *testing.T) {
	evs := []*event.Event{}
	for _, v := range []event.Value{event.Int(399), event.Int(400), event.Int(450), event.Int(499), event.Int(500), event.String("404"), event.String("x"), event.Bool(true), event.Null()} {
		ev := &event.Event{Time: time.Unix(0, 0)}
		ev.Set("status", v)
		evs = append(evs, ev)
	}
	for _, pair := range [][2]string{
		{"status:[400 TO 499]", "status>=400 status<=499"},
		{"status:{400 TO 499}", "status>400 status<499"},
		{"status:[400 TO 499}", "status>=400 status<499"},
		{"status:[450 TO *]", "status>=450"},
	} {
		r, c := Compile(mustParse(t, pair[0])), Compile(mustParse(t, pair[1]))
		for _, ev := range evs {
			if got, want := r.Match(ev), c.Match(ev); got != want {
				t.Errorf("%s on %s: got %v, want %v (as %s)", pair[0], ev.AppendJSON(nil), got, want, pair[1])
			}
		}
	}
}

func mustParse(t *testing.T, s string) *Query {
	t.Helper()
	q, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return q
}

func TestParseRangeErrors(t *testing.T) {
	long := strings.Repeat("1", MaxTermLength+1)
	tests := []struct{ in, want string }{
		{"status:[499 TO 400]", `query:1:8: range [499 TO 400] matches no value: its lower bound "499" is not below its upper bound "400"`},
		{"status:{400 TO 400]", `query:1:8: range {400 TO 400] matches no value: its lower bound "400" is not below its upper bound "400"`},
		{"@timestamp:[2026-11-22 TO 2026-11-21]", `query:1:12: range [2026-11-22 TO 2026-11-21] matches no value: its lower bound "2026-11-22" is not below its upper bound "2026-11-21"`},
		{"status:[400 499]", `query:1:13: expected "TO" in range "status:[a TO b]", found "499"`},
		{"status:[400 TO 499", `query:1:19: expected "]" or "}" to close the range at column 8, found end of query`},
		{"status:[400 TO 499)", `query:1:19: expected "]" or "}" to close the range at column 8, found ")"`},
		{"status:[400 TO]", `query:1:15: expected a bound in range "status:[a TO b]", found "]"`},
		{"status:[TO 5]", `query:1:12: expected "TO" in range "status:[a TO b]", found "5"`},
		{"msg:[error]", `query:1:11: expected "TO" in range "msg:[a TO b]", found "]" (to match a value that starts with "[", quote it: msg:"[...")`},
		{"host.name:[a TO m]", `query:1:12: expected a number, an RFC 3339 time or * as a bound of "host.name:[a TO b]", found "a" (ranges compare numbers and times; for text, use wildcards such as host.name:web*)`},
		{"@timestamp:[5 TO 6]", `query:1:13: expected an RFC 3339 time such as 2026-11-22T10:00:00Z or * as a bound of "@timestamp:[a TO b]", found "5"`},
		{"n:[5 TO 2026-11-22]", `query:1:3: range bounds of "n" must both be numbers or both times, found "5" and "2026-11-22"`},
		{"n:[1 TO 2]x", `query:1:11: unexpected "x" after the range`},
		{`n:["1 TO 2]`, `query:1:4: unterminated quoted string`},
		{"n:[" + long + " TO 2]", `query:1:4: value is longer than 4096 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			q, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error %q", tt.in, q, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q) error\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
	// The longest bound accepted.
	if _, err := Parse("n:[" + strings.Repeat("0", MaxTermLength-1) + "1 TO 2]"); err != nil {
		t.Errorf("Parse(bound of %d bytes): %v", MaxTermLength, err)
	}
}

// TestForeignSyntax is what people type from Lucene, KQL, SPL and SQL:
// each either works (want) or fails with a message that says what to
// write (wantErr); none quietly runs as a different query.
func TestForeignSyntax(t *testing.T) {
	tests := []struct {
		in      string
		want    Expr
		wantErr string
	}{
		{in: "process.name:ssh*", want: wild("process.name", "ssh*")},
		{in: "_exists_:user.name", want: &Term{Field: "user.name", Op: OpExists}},
		{in: "NOT _exists_:user.name", want: not(&Term{Field: "user.name", Op: OpExists})},
		{in: "port:>5", want: cmpTerm("port", OpGt, "5", 5)},
		{in: "port:<=5", want: cmpTerm("port", OpLte, "5", 5)},
		{in: "NOT user.name:x", want: not(eq("user.name", "x"))},
		{in: "-user.name:x", want: not(eq("user.name", "x"))},
		{in: "status:[400 TO 499]", want: and(cmpTerm("status", OpGte, "400", 400), cmpTerm("status", OpLte, "499", 499))},
		{in: `user.name:(alice OR bob)`, want: or(eq("user.name", "alice"), eq("user.name", "bob"))},
		{in: `user.name="x"`, wantErr: `query:1:1: "user.name=" before a quoted value is not a comparison: write user.name:"..." to match the field, or quote the whole text to search for it`},
		{in: `user.name=="x"`, wantErr: `query:1:1: "user.name==" before a quoted value is not a comparison: write user.name:"..." to match the field, or quote the whole text to search for it`},
		{in: `user.name!="x"`, wantErr: `query:1:1: "user.name!=" before a quoted value is not a comparison: write NOT user.name:"..." to match the field, or quote the whole text to search for it`},
		{in: "user.name = root", wantErr: `query:1:11: "=" is not an operator: write field:value`},
		{in: "user.name != root", wantErr: `query:1:11: "!=" is not an operator: write NOT field:value`},
		{in: "port >= 5", wantErr: `query:1:6: expected a field name before '>' (write field>value, without spaces)`},
		{in: "user.name : root", wantErr: `query:1:11: expected a field name before ':' (write field:value, without spaces)`},
		{in: "user.name: root", wantErr: `query:1:11: expected value after "user.name:" (no space after the colon)`},
		{in: "a && b", wantErr: `query:1:3: "&&" is not an operator: write AND`},
		{in: "a || b", wantErr: `query:1:3: "||" is not an operator: write OR`},
		{in: "!user.name:root", wantErr: `query:1:1: "!" is not an operator: write NOT user.name:...`},
		{in: "!root", wantErr: `query:1:1: "!" is not an operator: write NOT root, or quote "!root" to search for the text`},
		{in: "+user.name:root", wantErr: `query:1:1: "+" is not needed: terms are required (joined by AND) unless OR joins them; write user.name:...`},
		{in: `"failed password"~3`, wantErr: `query:1:18: proximity search ("..."~N) is not supported: search the words without quotes, or the exact phrase without ~`},
		{in: "_exists_:", wantErr: `query:1:10: expected a field name after "_exists_:" (or write field:* for events that have the field)`},
		{in: "_exists_:a*", wantErr: `query:1:10: expected a field name after "_exists_:" (or write field:* for events that have the field)`},
		{in: "a | where b>1", wantErr: `query:1:5: unknown command "where": put conditions in the filter before the first "|" (as in status>=500 | stats count())`},
		{in: "a | head 10", wantErr: `query:1:5: unknown command "head": write "limit N" (as in | limit 10)`},
		{in: "a | top source.ip", wantErr: `query:1:5: unknown command "top": write "stats count() by FIELD | sort -count | limit 10"`},
		{in: "a | table user.name", wantErr: `query:1:5: unknown command "table": write "fields a, b"`},
		{in: "a | count", wantErr: `query:1:5: unknown command "count": write "stats count()"`},
		{in: "a | dedup user.name", wantErr: `query:1:5: unknown command "dedup": write "stats count() by FIELD" for the distinct values`},
		{in: "a | tail 5", wantErr: `query:1:5: unknown command "tail": write "sort @timestamp | limit N" for the oldest events (results come newest first)`},
		{in: "a | rex x", wantErr: `query:1:5: unknown command "rex": want stats, timechart, sort, limit or fields`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want error %q", tt.in, q, tt.wantErr)
				}
				if got := err.Error(); got != tt.wantErr {
					t.Errorf("Parse(%q) error\n got %s\nwant %s", tt.in, got, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, q.Filter, cmpOpts); diff != "" {
				t.Errorf("Parse(%q) filter mismatch (-want +got):\n%s", tt.in, diff)
			}
			assertRoundTrip(t, q)
		})
	}
}

func TestParseWarnings(t *testing.T) {
	many := strings.Repeat("a and ", MaxWarnings+3) + "b"
	var manyWant []string
	for i := range MaxWarnings {
		manyWant = append(manyWant, fmt.Sprintf(`query:1:%d: lowercase "and" is searched as a word; write AND for the operator`, 3+6*i))
	}
	manyWant = append(manyWant, "3 more warnings not shown")
	tests := []struct {
		in   string
		want []string
	}{
		{"user.name:bob and host.name:web1", []string{`query:1:15: lowercase "and" is searched as a word; write AND for the operator`}},
		{"status:404 or status:500", []string{`query:1:12: lowercase "or" is searched as a word; write OR for the operator`}},
		{"not user.name:root", []string{`query:1:1: lowercase "not" is searched as a word; write NOT for the operator`}},
		{"file not found", []string{`query:1:6: lowercase "not" is searched as a word; write NOT for the operator`}},
		{"a And b", []string{`query:1:3: mixed-case "And" is searched as a word; write AND for the operator`}},
		{"a and (b OR c)", []string{`query:1:3: lowercase "and" is searched as a word; write AND for the operator`}},
		{"a and\n  b", []string{`query:1:3: lowercase "and" is searched as a word; write AND for the operator`}},
		{"x\na or b", []string{`query:2:3: lowercase "or" is searched as a word; write OR for the operator`}},
		{"user.name:(alice or bob)", []string{`query:1:18: lowercase "or" is searched as a word; write OR for the operator`}},
		{"a AND b", nil},
		{"a OR NOT b", nil},
		{"android oracle nothing", nil},
		{"and", nil},
		{"a and", nil},
		{"and b", nil},
		{"(a and)", nil},
		{"a and | stats count()", nil},
		{`a "and" b`, nil},
		{"f:and", nil},
		{"a and-b", nil},
		{`a \and b`, nil},
		{many, manyWant},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			_, ws, err := ParseWarn(tt.in, Options{})
			if err != nil {
				t.Fatalf("ParseWarn(%q): %v", tt.in, err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, w.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseWarn(%q) warnings (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// names is a FieldSet for tests.
type names []string

func (n names) Has(name string) bool      { return slices.Contains(n, name) }
func (n names) Names() iter.Seq[string]   { return slices.Values(n) }
func (n names) with(more ...string) names { return append(slices.Clip(n), more...) }

func TestAdvise(t *testing.T) {
	known := names{"@timestamp", "message", "source.ip", "source.port", "user.name", "host.name", "EventID", "event.outcome", "event.action", "url.path"}
	tests := []struct {
		in    string
		empty bool
		want  []string
	}{
		{"soruce.ip:10.0.0.1", true, []string{`no event has field "soruce.ip"; did you mean "source.ip"?`}},
		{"soruce.ip:10.0.0.1", false, []string{`no event has field "soruce.ip"; did you mean "source.ip"?`}},
		{"source.ip:10.0.0.1 user.name:root", true, nil},
		{"eventid:4625", true, []string{`no event has field "eventid"; did you mean "EventID"?`}},
		{"source:10.0.0.1", true, []string{`no event has field "source"; fields under it: "source.ip", "source.port"`}},
		{"event.outcom:failure", true, []string{`no event has field "event.outcom"; did you mean "event.outcome"?`}},
		{"event.actoin:x OR event.outcomes:y", true, []string{
			`no event has field "event.actoin"; did you mean "event.action"?`,
			`no event has field "event.outcomes"; did you mean "event.outcome"?`,
		}},
		{"zzz.qqq:1", true, []string{`no event has field "zzz.qqq"`}},
		{"NOT soruce.ip:1.2.3.4 AND NOT soruce.ip:1.2.3.5", false, []string{`no event has field "soruce.ip"; did you mean "source.ip"?`}},
		{"x | stats count() by usr.name", false, []string{`no event has field "usr.name"; did you mean "user.name"?`}},
		{"x | stats dc(usr.name) as n by host.name | sort -n | fields n", false, []string{`no event has field "usr.name"; did you mean "user.name"?`}},
		{"x | timechart span=1m count() by hots.name", false, []string{`no event has field "hots.name"; did you mean "host.name"?`}},
		{"x | sort url.pth | fields url.path, sorce.port", false, []string{
			`no event has field "url.pth"; did you mean "url.path"?`,
			`no event has field "sorce.port"; did you mean "source.port"?`,
		}},
		{"user.name=root", true, []string{`"user.name=root" is searched as text; write user.name:root to match the field`}},
		{"user.name!=root", true, []string{`"user.name!=root" is searched as text; write NOT user.name:root to match the field`}},
		{`SRC=10.0.0.1`, true, []string{`"SRC=10.0.0.1" is searched as text; write SRC:10.0.0.1 to match the field`}},
		{"user.name=root", false, nil},
		{"a=", true, nil},
		{"a==b", true, nil},
		{"=b", true, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/empty=%v", tt.in, tt.empty), func(t *testing.T) {
			var got []string
			for _, w := range Advise(mustParse(t, tt.in), known, tt.empty) {
				got = append(got, w.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Advise(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestAdviseBounds(t *testing.T) {
	// More unknown names than MaxWarnings: the rest are counted.
	var terms []string
	for i := range MaxWarnings + 2 {
		terms = append(terms, fmt.Sprintf("f%02d:x", i))
	}
	ws := Advise(mustParse(t, strings.Join(terms, " OR ")), names{}, true)
	if got, want := len(ws), MaxWarnings+1; got != want {
		t.Fatalf("got %d warnings, want %d", got, want)
	}
	if got, want := ws[MaxWarnings].String(), "2 more warnings not shown"; got != want {
		t.Errorf("last warning: got %q, want %q", got, want)
	}

	// Suggestions for the first MaxSuggestFor unknown names only.
	var typos []string
	for i := range MaxSuggestFor + 1 {
		typos = append(typos, fmt.Sprintf("sorce%d.ip:1", i))
	}
	var got []string
	for _, w := range Advise(mustParse(t, strings.Join(typos, " ")), names{"source0.ip", "source1.ip", "source2.ip", "source3.ip"}, true) {
		got = append(got, w.String())
	}
	want := []string{
		`no event has field "sorce0.ip"; did you mean "source0.ip"?`,
		`no event has field "sorce1.ip"; did you mean "source1.ip"?`,
		`no event has field "sorce2.ip"; did you mean "source2.ip"?`,
		`no event has field "sorce3.ip"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("suggestions past MaxSuggestFor (-want +got):\n%s", diff)
	}

	// Suggestions come from the first MaxSuggestNames names only.
	filler := make(names, MaxSuggestNames-1)
	for i := range filler {
		filler[i] = fmt.Sprintf("filler.%d", i)
	}
	q := mustParse(t, "source.iq:1")
	for _, tt := range []struct {
		known names
		want  string
	}{
		{filler.with("source.ip"), `no event has field "source.iq"; did you mean "source.ip"?`},
		{filler.with("other", "source.ip"), `no event has field "source.iq"`},
	} {
		ws := Advise(q, tt.known, true)
		if len(ws) != 1 || ws[0].String() != tt.want {
			t.Errorf("with source.ip as name %d: got %v, want [%s]", len(tt.known), ws, tt.want)
		}
	}

	// At most three suggestions, closest first by distance, then by name.
	ws = Advise(mustParse(t, "ab.c:1"), names{"ab.d", "ab.e", "ab.f", "ab.g", "ab.cd"}, true)
	if got, want := ws[0].String(), `no event has field "ab.c"; did you mean "ab.d", "ab.e" or "ab.f"?`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	// A known name longer than maxSuggestLen, or not a field name, is
	// never suggested (names come from logs).
	long := strings.Repeat("a", maxSuggestLen) + "b"
	ws = Advise(mustParse(t, strings.Repeat("a", maxSuggestLen)+"c:1"), names{long, "x\x1b[31m"}, true)
	if len(ws) != 1 || strings.Contains(ws[0].Msg, "did you mean") {
		t.Errorf("got %v, want no suggestion", ws)
	}
	ws = Advise(mustParse(t, "x:1"), names{"x\x1b"}, true)
	if len(ws) != 1 || strings.Contains(ws[0].Msg, "did you mean") {
		t.Errorf("got %v, want no suggestion", ws)
	}
}

func TestSeenFields(t *testing.T) {
	name := "seenfields.test.only"
	if SeenFields.Has(name) {
		t.Fatalf("Has(%q) before Intern: got true, want false", name)
	}
	event.Intern(name)
	for _, n := range []string{name, "@timestamp", "event.ingested", "tags", "log.original", "logsource.product", "vigil.input", "message"} {
		if !SeenFields.Has(n) {
			t.Errorf("Has(%q): got false, want true", n)
		}
	}
	if !slices.Contains(slices.Collect(SeenFields.Names()), name) {
		t.Errorf("Names() lacks %q", name)
	}
	ws := Advise(mustParse(t, "seenfields.test.onyl:x"), SeenFields, true)
	if want := `no event has field "seenfields.test.onyl"; did you mean "seenfields.test.only"?`; len(ws) != 1 || ws[0].String() != want {
		t.Errorf("got %v, want [%s]", ws, want)
	}
}

// refOSA is the textbook optimal string alignment distance.
func refOSA(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func FuzzOSADistance(f *testing.F) {
	for _, s := range [][2]string{{"soruce.ip", "source.ip"}, {"", "abc"}, {"ca", "abc"}, {"EventID", "eventid"}, {"a", "a"}} {
		f.Add(s[0], s[1], 3)
	}
	f.Fuzz(func(t *testing.T, a, b string, limit int) {
		if len(a) > 64 || len(b) > 64 || limit < 1 || limit > 8 {
			return
		}
		want := refOSA(a, b)
		got, _, _, _ := osaDistance(a, b, limit, nil, nil, nil)
		if want < limit && got != want || want >= limit && got < limit {
			t.Fatalf("osaDistance(%q, %q, %d) = %d, want %d", a, b, limit, got, want)
		}
	})
}

// BenchmarkAdviseSuggest measures the worst case of one query: MaxWarnings
// unknown names, MaxSuggestFor of them compared with MaxSuggestNames known
// names of their length and prefix.
func BenchmarkAdviseSuggest(b *testing.B) {
	known := make([]string, MaxSuggestNames)
	has := make(map[string]bool, len(known))
	for i := range known {
		known[i] = fmt.Sprintf("field.name.%07d", i)
		has[known[i]] = true
	}
	var terms []string
	for i := range MaxWarnings {
		terms = append(terms, fmt.Sprintf("field.name.x%06d:1", i))
	}
	q, err := Parse(strings.Join(terms, " "))
	if err != nil {
		b.Fatal(err)
	}
	fs := mapFields{has, known}
	for b.Loop() {
		if ws := Advise(q, fs, true); len(ws) != MaxWarnings {
			b.Fatalf("got %d warnings, want %d", len(ws), MaxWarnings)
		}
	}
}

// mapFields is a FieldSet with a map lookup, as the real one has.
type mapFields struct {
	has   map[string]bool
	names []string
}

func (m mapFields) Has(name string) bool    { return m.has[name] }
func (m mapFields) Names() iter.Seq[string] { return slices.Values(m.names) }
