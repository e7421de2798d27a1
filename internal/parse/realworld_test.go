package parse_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"github.com/vigilsec/vigil/internal/sigma"
)

// realworldWant is the expectation file (<name>.want.json) beside each
// record (<name>.input) of testdata/realworld.
type realworldWant struct {
	Description string `json:"description"`
	// Time is the event time (RFC 3339).
	Time      string `json:"time"`
	Logsource struct {
		Product  string `json:"product"`
		Category string `json:"category"`
		Service  string `json:"service"`
	} `json:"logsource"`
	// Fields maps a field name to its text, or to the list of all its
	// values in order.
	Fields map[string]json.RawMessage `json:"fields"`
	// Absent lists fields the event must not have.
	Absent []string `json:"absent"`
	// Rules are SigmaHQ rule files (relative to shared/sigma) that must
	// match the event.
	Rules []string `json:"rules"`
}

type realworldCase struct {
	name  string
	input []byte
	want  realworldWant
}

func realworldCases(t *testing.T) []realworldCase {
	t.Helper()
	wants, err := filepath.Glob(filepath.Join("testdata", "realworld", "*.want.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(wants) == 0 {
		t.Fatal("no cases in testdata/realworld")
	}
	var cases []realworldCase
	for _, wp := range wants {
		name := strings.TrimSuffix(filepath.Base(wp), ".want.json")
		c := realworldCase{name: name}
		data, err := os.ReadFile(wp)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c.want); err != nil {
			t.Fatalf("%s: %v", wp, err)
		}
		in, err := os.ReadFile(filepath.Join("testdata", "realworld", name+".input"))
		if err != nil {
			t.Fatal(err)
		}
		c.input = []byte(strings.TrimSuffix(string(in), "\n"))
		cases = append(cases, c)
	}
	return cases
}

var realworldReceived = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// TestRealworldConformance parses each record of testdata/realworld (real
// shapes, written for this suite after the formats' documentation) and
// checks the logsource, time and fields its .want.json names.
func TestRealworldConformance(t *testing.T) {
	p := parse.New(parse.Options{})
	for _, c := range realworldCases(t) {
		t.Run(c.name, func(t *testing.T) {
			var ev event.Event
			p.Parse(&ingest.Raw{Data: c.input, Input: "test", Received: realworldReceived}, &ev)
			checkRealworld(t, &ev, c.want)
		})
	}
}

func checkRealworld(t *testing.T, ev *event.Event, want realworldWant) {
	t.Helper()
	if ev.HasTag(event.TagParseError) {
		t.Errorf("tagged %s", event.TagParseError)
	}
	ls := ev.Logsource
	if ls.Product != want.Logsource.Product || ls.Category != want.Logsource.Category || ls.Service != want.Logsource.Service {
		t.Errorf("got logsource %+v, want %+v", ls, want.Logsource)
	}
	wt, err := time.Parse(time.RFC3339Nano, want.Time)
	if err != nil {
		t.Fatalf("want time: %v", err)
	}
	if !ev.Time.Equal(wt) {
		t.Errorf("got time %s, want %s", ev.Time.Format(time.RFC3339Nano), want.Time)
	}
	for name, raw := range want.Fields {
		var wantVals []string
		var one string
		if err := json.Unmarshal(raw, &one); err == nil {
			wantVals = []string{one}
		} else if err := json.Unmarshal(raw, &wantVals); err != nil {
			t.Fatalf("field %s: want a string or a list of strings: %v", name, err)
		}
		var got []string
		for _, f := range ev.Fields {
			if f.Key.Name() == name {
				got = append(got, f.Value.Str)
			}
		}
		if len(wantVals) == 1 && len(got) > 0 {
			// A single text checks the first value only.
			got = got[:1]
		}
		if !slices.Equal(got, wantVals) {
			t.Errorf("got %s %q, want %q", name, got, wantVals)
		}
	}
	for _, name := range want.Absent {
		if _, ok := ev.GetName(name); ok {
			t.Errorf("got field %s, want none", name)
		}
	}
}

// TestRealworldRules checks that the SigmaHQ rules each case names match
// its event, with the default logsource table routing it.
func TestRealworldRules(t *testing.T) {
	root := sharedtest.Dir(t, "sigma")
	cases := realworldCases(t)
	var rules []*sigma.Rule
	loaded := map[string]string{} // rule file -> rule id
	for _, c := range cases {
		for _, rf := range c.want.Rules {
			if _, ok := loaded[rf]; ok {
				continue
			}
			rs, err := sigma.LoadFile(filepath.Join(root, rf))
			if err != nil {
				t.Fatalf("%s: %v", rf, err)
			}
			if len(rs) != 1 {
				t.Fatalf("%s: got %d rules, want 1", rf, len(rs))
			}
			loaded[rf] = rs[0].ID
			rules = append(rules, rs...)
		}
	}
	eng, skipped, err := detect.Compile(rules, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range skipped {
		t.Errorf("rule %s not compiled: %v", s.Rule.Source, s.Reason)
	}
	p := parse.New(parse.Options{})
	for _, c := range cases {
		if len(c.want.Rules) == 0 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			var ev event.Event
			p.Parse(&ingest.Raw{Data: c.input, Input: "test", Received: realworldReceived}, &ev)
			matched := map[string]bool{}
			for _, d := range eng.MatchAll(&ev) {
				matched[d.Rule.ID] = true
			}
			for _, rf := range c.want.Rules {
				if !matched[loaded[rf]] {
					t.Errorf("rule %s did not match", rf)
				}
			}
		})
	}
}
