package vlstore

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/query/querytest"
	"github.com/vigilsec/vigil/internal/store"
)

// checkSubstring asserts that substring(col, v) parses as exactly one
// regular-expression filter on col whose expression is v's literal: the
// engine's canonical form of the parsed query is that filter and nothing
// else, so no value can add a filter, a pipe or an option.
func checkSubstring(t *testing.T, col, v string) {
	t.Helper()
	f := substring(col, v)
	if f == "" {
		return // invalid UTF-8: no filter, every row read
	}
	q, err := logstorage.ParseQuery(f)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", f, err)
	}
	re := ":~" + strconv.Quote("(?i)"+regexp.QuoteMeta(v))
	got := q.String()
	if col == "_msg" {
		// The engine's default field is written without its name.
		re = re[1:]
		col = ""
	}
	if got != col+re && got != strconv.Quote(col)+re {
		t.Fatalf("substring(%q, %q) parses as %q, want the one filter %q", col, v, got, strconv.Quote(col)+re)
	}
}

// checkAnyCase asserts that anyCase(col, v) parses as exactly one
// any-case phrase filter on col with v's text.
func checkAnyCase(t *testing.T, col, v string) {
	t.Helper()
	f := anyCase(col, v)
	if f == "" {
		return // invalid UTF-8: no filter, every row read
	}
	q, err := logstorage.ParseQuery(f)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", f, err)
	}
	got := q.String()
	var wants []string
	for _, c := range []string{col, strconv.Quote(col)} {
		if col == "_msg" {
			c = ""
		}
		for _, val := range []string{strconv.Quote(v), v} {
			w := c + ":i(" + val + ")"
			if c == "" {
				w = "i(" + val + ")"
			}
			wants = append(wants, w)
		}
	}
	if !slices.Contains(wants, got) {
		t.Fatalf("anyCase(%q, %q) parses as %q, want the one filter %q", col, v, got, wants[1])
	}
}

func TestSubstringHostile(t *testing.T) {
	for _, v := range []string{
		"a", `x|y`, `"q"`, `a\b`, "l1\nl2", "*", "a b | stats count()", `" OR _msg:*`,
		`\" | delete`, "(?-i)", "}{", "\x00", "é", "\xff",
	} {
		for _, name := range []string{"user.name", "message", `we"ird | name`, "_time", "x*", ""} {
			checkSubstring(t, column(name), v)
			checkAnyCase(t, column(name), v)
		}
	}
}

func FuzzSubstring(f *testing.F) {
	for _, s := range []string{"root", `x" | stats count() by (a)`, "a\\", "\n", "*", "?", "10.0.0.0/8"} {
		f.Add("user.name", s)
	}
	f.Fuzz(func(t *testing.T, col, v string) {
		checkSubstring(t, column(col), v)
		checkAnyCase(t, column(col), v)
	})
}

func TestPrefilter(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want string
	}{
		{`root`, `~"(?i)root"`},
		{`"Failed password"`, `~"(?i)Failed password"`},
		{`10.0.0.1`, `~"(?i)10" ~"(?i)0" ~"(?i)1"`},
		{`user.name:root`, `"user.name":i(root)`},
		{`message:x`, `i(x)`},
		{`user.name:ro*t`, `"user.name":~"(?i)ro" "user.name":~"(?i)t"`},
		{`user.name:root OR host.name:web`, `"user.name":i(root) or "host.name":i(web)`},
		{`user.name:root AND NOT host.name:web`, `"user.name":i(root)`},
		{`user.name:root OR NOT host.name:web`, `*`},
		{`source.ip:10.0.0.0/8`, `*`},
		{`source.port>1000`, `*`},
		{`user.name:*`, `*`},
		{`@timestamp>2026-01-01T00:00:00Z`, `*`},
		{`_private:x`, `_u_private:i(x)`},
	} {
		t.Run(tc.q, func(t *testing.T) {
			q, err := query.Parse(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			f := prefilter(q.Filter)
			if f == "" {
				f = "*"
			}
			lq, err := logstorage.ParseQuery(f)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", f, err)
			}
			if got := lq.String(); got != tc.want {
				t.Errorf("prefilter(%q): got %s, want %s", tc.q, got, tc.want)
			}
		})
	}
}

var (
	fuzzOnce sync.Once
	fuzzDB   *DB
	fuzzEvs  []*event.Event
	fuzzErr  error
)

// FuzzSearch checks that for any query the store answers what the
// reference (query.Run over the same events in memory) answers: the
// compiled filter never drops a matching event, and never fails to parse.
func FuzzSearch(f *testing.F) {
	s, err := querytest.Load()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range s.Cases {
		f.Add(c.Query)
	}
	f.Add(`user.name:"x\" | stats count()"`)
	f.Add(`"\\" OR *\\**`)
	fuzzOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			fuzzErr = err
			return
		}
		fuzzDB, fuzzErr = Open(context.Background(), dir, Options{Retention: 100 * 365 * 24 * time.Hour})
		if fuzzErr != nil {
			return
		}
		for _, e := range s.Events {
			fuzzEvs = append(fuzzEvs, e.Event)
		}
		fuzzErr = fuzzDB.Append(context.Background(), fuzzEvs)
	})
	if fuzzErr != nil {
		f.Fatal(fuzzErr)
	}
	f.Fuzz(func(t *testing.T, text string) {
		q, err := query.Parse(text)
		if err != nil {
			return
		}
		fq := &query.Query{Filter: q.Filter}
		want, err := query.Run(fq, slices.Values(fuzzEvs))
		if err != nil {
			return
		}
		got, err := fuzzDB.Search(context.Background(), store.SearchRequest{Query: fq, Limit: store.MaxLimit})
		if err != nil {
			t.Fatalf("Search(%q): %v", text, err)
		}
		if got.Total != int64(len(want.Events)) {
			t.Fatalf("Search(%q): total got %d, want %d (prefilter %s)", text, got.Total, len(want.Events), prefilter(q.Filter))
		}
		if !q.IsAggregate() {
			return
		}
		// The rows of an aggregate, against query.Run's.
		wantAgg, err := query.Run(q, slices.Values(fuzzEvs))
		if err != nil {
			return
		}
		gotAgg, err := fuzzDB.Search(context.Background(), store.SearchRequest{Query: q})
		if err != nil {
			t.Fatalf("Search(%q): %v", text, err)
		}
		gr, err := querytest.RowsJSON(gotAgg.Rows)
		if err != nil {
			t.Fatal(err)
		}
		wr, err := querytest.RowsJSON(wantAgg.Rows)
		if err != nil {
			t.Fatal(err)
		}
		if gr != wr {
			t.Fatalf("Search(%q): rows\n got %s\nwant %s", text, gr, wr)
		}
	})
}
