package detect

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sigma"
)

// Conformance tests are data: each testdata/conformance/*.yml file holds a
// list of cases, each with Sigma rules (one YAML stream), events and the
// expected detections as "event index: rule id" lines, in the order the
// engine reports them. See testdata/conformance/README.md.

type confCase struct {
	Name   string      `yaml:"name"`
	Rules  string      `yaml:"rules"`
	Events []confEvent `yaml:"events"`
	Want   []string    `yaml:"want"`
	// Skipped lists rule ids that must not be loaded (refused by the
	// sigma loader or skipped by Compile).
	Skipped []string `yaml:"skipped"`
	// LoadError is set when the sigma loader is expected to reject some
	// document of Rules (the others load).
	LoadError bool `yaml:"load_error"`
	// Options tune the correlation state bounds.
	MaxGroups       int `yaml:"max_groups"`
	MaxGroupEntries int `yaml:"max_group_entries"`
}

type confEvent struct {
	Time      string          `yaml:"time"`
	Logsource event.Logsource `yaml:"logsource"`
	Raw       string          `yaml:"raw"`
	Fields    yaml.MapSlice   `yaml:"fields"`
}

var confBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (ce *confEvent) event(i int) (*event.Event, error) {
	ev := &event.Event{Logsource: ce.Logsource, Raw: ce.Raw, Received: confBase}
	if ev.Logsource == (event.Logsource{}) {
		ev.Logsource = event.Logsource{Product: "test"}
	}
	switch {
	case ce.Time == "":
		ev.Time = confBase.Add(time.Duration(i) * time.Second)
	case strings.HasPrefix(ce.Time, "+"):
		d, err := time.ParseDuration(ce.Time[1:])
		if err != nil {
			return nil, err
		}
		ev.Time = confBase.Add(d)
	default:
		t, err := time.Parse(time.RFC3339Nano, ce.Time)
		if err != nil {
			return nil, err
		}
		ev.Time = t
	}
	for _, it := range ce.Fields {
		name := fmt.Sprint(it.Key)
		vals, ok := it.Value.([]any)
		if !ok {
			vals = []any{it.Value}
		}
		for _, v := range vals {
			switch x := v.(type) {
			case nil:
				ev.Set(name, event.Null())
			case string:
				ev.Set(name, event.String(x))
			case bool:
				ev.Set(name, event.Bool(x))
			case int:
				ev.Set(name, event.Int(int64(x)))
			case int64:
				ev.Set(name, event.Int(x))
			case uint64:
				ev.Set(name, event.Int(int64(x)))
			case float64:
				ev.Set(name, event.Float(x))
			default:
				return nil, fmt.Errorf("field %s: unsupported value %T", name, v)
			}
		}
	}
	return ev, nil
}

func TestConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "conformance", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance files: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var cases []confCase
		if err := yaml.Unmarshal(data, &cases); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, c := range cases {
			t.Run(filepath.Base(file)+"/"+c.Name, func(t *testing.T) {
				runConfCase(t, c)
			})
		}
	}
}

func runConfCase(t *testing.T, c confCase) {
	rules, err := sigma.Parse([]byte(c.Rules), c.Name)
	if err != nil && !c.LoadError {
		t.Fatalf("parsing rules: %v", err)
	}
	if err == nil && c.LoadError {
		t.Errorf("parsing rules: no error, want one")
	}
	if _, errs := sigma.NewSet(rules); len(errs) > 0 {
		t.Fatalf("rule set: %v", errs)
	}
	eng, skipped, err := Compile(rules, Options{MaxGroups: c.MaxGroups, MaxGroupEntries: c.MaxGroupEntries})
	if err != nil {
		t.Fatal(err)
	}
	var gotSkipped []string
	loaded := map[string]bool{}
	for _, r := range rules {
		loaded[r.ID] = true
	}
	for _, id := range c.Skipped {
		if !loaded[id] {
			gotSkipped = append(gotSkipped, id)
		}
	}
	for _, s := range skipped {
		gotSkipped = append(gotSkipped, s.Rule.ID)
		if !contains(c.Skipped, s.Rule.ID) {
			t.Errorf("rule %s skipped: %v", s.Rule.ID, s.Reason)
		}
	}
	for _, id := range c.Skipped {
		if !contains(gotSkipped, id) {
			t.Errorf("rule %s loaded, want it skipped", id)
		}
	}
	var got []string
	for i, ce := range c.Events {
		ev, err := ce.event(i)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		eng.Match(ev, func(d Detection) {
			got = append(got, fmt.Sprintf("%d: %s", i, d.Rule.ID))
		})
	}
	if diff := cmp.Diff(c.Want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("detections mismatch (-want +got):\n%s", diff)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
