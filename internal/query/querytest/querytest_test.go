package querytest

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
)

// TestConformance runs the suite against the in-memory matcher and Run,
// the reference implementation.
func TestConformance(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Cases) < 100 {
		t.Fatalf("suite has %d cases, want at least 100", len(s.Cases))
	}
	for _, c := range s.Cases {
		t.Run(c.Query, func(t *testing.T) {
			q, err := query.Parse(c.Query)
			if err != nil {
				t.Fatalf("conformance:%d: Parse(%q): %v", c.Line, c.Query, err)
			}
			m := query.Compile(q)
			var got []string
			for _, e := range s.Events {
				if m.Match(e.Event) {
					got = append(got, e.Name)
				}
			}
			want := slices.Clone(c.Match)
			slices.Sort(got)
			slices.Sort(want)
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })); diff != "" {
				t.Errorf("conformance:%d: %q matches (-want +got):\n%s", c.Line, c.Query, diff)
			}
			if c.Rows == "" {
				if q.IsAggregate() {
					t.Errorf("conformance:%d: aggregate query without rows", c.Line)
				}
				return
			}
			evs := make([]*event.Event, 0, len(s.Events))
			for _, e := range s.Events {
				evs = append(evs, e.Event)
			}
			res, err := query.Run(q, slices.Values(evs))
			if err != nil {
				t.Fatalf("conformance:%d: Run: %v", c.Line, err)
			}
			ok, gotRows, wantRows, err := c.EqualRows(res.Rows)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Errorf("conformance:%d: %q rows\n got %s\nwant %s", c.Line, c.Query, gotRows, wantRows)
			}
		})
	}
}

func TestParseSuiteErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"event a {}\nevent a {}", `conformance:2: event "a" defined twice`},
		{"event a", `conformance:1: want "event NAME {json}"`},
		{"event a {\"x\":{}}", `conformance:1: event "a": "x": want a scalar, found {`},
		{"event a {\"@timestamp\":1}", `conformance:1: event "a": "@timestamp": want one string`},
		{"query x", `conformance:1: query without "match"`},
		{"query x\nmatch b", `conformance:2: unknown event "b"`},
		{"match", `conformance:1: "match" must follow a query, once`},
		{"query x\nmatch\nrows [", `conformance:3: rows are not valid JSON`},
		{"bogus", `conformance:1: unknown directive "bogus"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q): got error %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	ev, err := DecodeEvent([]byte(`{"@timestamp":"2026-11-22T10:00:00Z","a":[1,"x",null,true],"tags":["t"],"log.original":"raw","n":1.50}`))
	if err != nil {
		t.Fatal(err)
	}
	got := string(ev.AppendJSON(nil))
	want := `{"@timestamp":"2026-11-22T10:00:00Z","tags":["t"],"log.original":"raw","a":[1,"x",null,true],"n":1.50}`
	if got != want {
		t.Errorf("round trip through AppendJSON\n got %s\nwant %s", got, want)
	}
}
