package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/evtx"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/sigma"
)

// sharedSigma finds the SigmaHQ checkout (shared/sigma beside the
// repository root) by walking up from the package directory, or skips.
func sharedSigma(t testing.TB) string { return sharedtest.Dir(t, "sigma") }

var (
	allRulesOnce sync.Once
	allRules     []*sigma.Rule
	allRulesErrs []error
)

// loadAllRules loads rules/, rules-emerging-threats/ and
// rules-threat-hunting/ once per test binary.
func loadAllRules(t testing.TB) []*sigma.Rule {
	root := sharedSigma(t)
	allRulesOnce.Do(func() {
		set, errs := sigma.LoadDir(filepath.Join(root, "rules"), filepath.Join(root, "rules-emerging-threats"), filepath.Join(root, "rules-threat-hunting"))
		allRules, allRulesErrs = set.Rules, errs
	})
	if len(allRules) == 0 {
		t.Fatalf("no rules loaded: %v", allRulesErrs)
	}
	return allRules
}

var testReceived = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// parseEvents parses an evtx_dump JSON file into events.
func parseEvents(t testing.TB, p *parse.Parser, path string) []*event.Event {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := sharedtest.SplitJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []*event.Event
	for _, d := range docs {
		ev := &event.Event{}
		p.Parse(&ingest.Raw{Data: d, Format: ingest.FormatJSON, Received: testReceived}, ev)
		out = append(out, ev)
	}
	return out
}

type regressionCase struct {
	dir        string
	ruleID     string
	matchCount int
	jsonFiles  []string
	evtxFiles  []string
}

// parseEVTX reads an EVTX file with internal/evtx, renders each record as
// evtx_dump JSON and parses it into events.
func parseEVTX(t testing.TB, p *parse.Parser, path string) []*event.Event {
	f, err := evtx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*event.Event
	var buf []byte
	for rec, err := range f.All() {
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		buf = rec.AppendJSON(buf[:0])
		ev := &event.Event{}
		p.Parse(&ingest.Raw{Data: bytes.Clone(buf), Format: ingest.FormatJSON, Received: testReceived}, ev)
		out = append(out, ev)
	}
	return out
}

func regressionCases(t testing.TB, root string) []regressionCase {
	var cases []regressionCase
	err := filepath.WalkDir(filepath.Join(root, "regression_data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "info.yml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var info struct {
			RuleMetadata []struct {
				ID string `yaml:"id"`
			} `yaml:"rule_metadata"`
			Tests []struct {
				Type       string `yaml:"type"`
				Path       string `yaml:"path"`
				MatchCount *int   `yaml:"match_count"`
			} `yaml:"regression_tests_info"`
		}
		if err := yaml.Unmarshal(data, &info); err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		if len(info.RuleMetadata) == 0 {
			return nil
		}
		c := regressionCase{dir: filepath.Dir(p), ruleID: info.RuleMetadata[0].ID, matchCount: 1}
		for _, tc := range info.Tests {
			if tc.MatchCount != nil {
				c.matchCount = *tc.MatchCount
			}
		}
		c.jsonFiles, _ = filepath.Glob(filepath.Join(c.dir, "*.json"))
		c.evtxFiles, _ = filepath.Glob(filepath.Join(c.dir, "*.evtx"))
		cases = append(cases, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].dir < cases[j].dir })
	return cases
}

// TestSigmaHQRegression runs every SigmaHQ regression test with all rules
// loaded and logsource routing on: the tested rule must match the test's
// JSON events at least match_count times.
func TestSigmaHQRegression(t *testing.T) {
	root := sharedSigma(t)
	rules := loadAllRules(t)
	start := time.Now()
	eng, skipped, err := Compile(rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compiled %d rules in %v; %d skipped; %d load errors from internal/sigma", len(rules), time.Since(start), len(skipped), len(allRulesErrs))
	for _, err := range allRulesErrs {
		t.Logf("sigma: %v", err)
	}
	skippedByID := map[string]error{}
	for _, s := range skipped {
		skippedByID[s.Rule.ID] = s.Reason
		t.Logf("not loaded: %s (%s): %v", s.Rule.Source, s.Rule.Title, s.Reason)
	}
	p := parse.New(parse.Options{})
	cases := regressionCases(t, root)
	if len(cases) == 0 {
		t.Skip("no regression tests found")
	}
	others := map[string]int{}
	pass, passEVTX := 0, 0
	var extra []string
	for _, c := range cases {
		name, _ := filepath.Rel(filepath.Join(root, "regression_data"), c.dir)
		t.Run(name, func(t *testing.T) {
			if reason, ok := skippedByID[c.ruleID]; ok {
				t.Fatalf("rule %s not loaded: %v", c.ruleID, reason)
			}
			if len(c.jsonFiles) == 0 {
				t.Skip("no JSON rendering of the events")
			}
			got := 0
			var routed []string
			for _, f := range c.jsonFiles {
				for _, ev := range parseEvents(t, p, f) {
					for _, d := range eng.MatchAll(ev) {
						if d.Rule.ID == c.ruleID {
							got++
						} else {
							others[d.Rule.Title]++
						}
					}
					routed = append(routed, ev.Logsource.Service+"/"+ev.Str("EventID"))
				}
			}
			if got > c.matchCount {
				extra = append(extra, fmt.Sprintf("%s: %d matches, match_count %d", name, got, c.matchCount))
			}
			if got < c.matchCount {
				t.Errorf("JSON: rule %s matched %d times, want at least %d (events: %v)", c.ruleID, got, c.matchCount, routed)
			} else {
				pass++
			}
			gotEVTX := 0
			for _, f := range c.evtxFiles {
				for _, ev := range parseEVTX(t, p, f) {
					for _, d := range eng.MatchAll(ev) {
						if d.Rule.ID == c.ruleID {
							gotEVTX++
						}
					}
				}
			}
			if len(c.evtxFiles) > 0 {
				if gotEVTX < c.matchCount {
					t.Errorf("EVTX: rule %s matched %d times, want at least %d", c.ruleID, gotEVTX, c.matchCount)
				} else {
					passEVTX++
				}
			}
		})
	}
	t.Logf("%d/%d regression tests pass on the JSON events, %d on the EVTX files", pass, len(cases), passEVTX)
	if len(extra) > 0 {
		t.Logf("tests where the rule matched more often than match_count:\n%s", strings.Join(extra, "\n"))
	}
	if testing.Verbose() {
		var lines []string
		for title, n := range others {
			lines = append(lines, title+": "+itoa(n))
		}
		sort.Strings(lines)
		t.Logf("other rules matching regression events:\n%s", strings.Join(lines, "\n"))
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
