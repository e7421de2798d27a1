package ruleset

import (
	"context"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"path/filepath"
	"sort"
	"testing"

	"github.com/vigilsec/vigil/internal/parse"
)

// sharedSigma finds ../shared/sigma beside the repository (CI always has
// it; a user's own clone may not).
func sharedSigma(t testing.TB) string { return sharedtest.Dir(t, "sigma") }

// TestSigmaHQRegression runs SigmaHQ's regression suite the way their CI
// does: every rule loaded, logsource routing on, and each test's rule must
// match its sample at least match_count times — once from the EVTX files
// (through Vigil's EVTX reader) and once from the JSON renderings.
func TestSigmaHQRegression(t *testing.T) {
	s := sharedSigma(t)
	tests, err := LoadRegression(filepath.Join(s, "regression_data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) < 200 {
		t.Fatalf("found %d regression tests, want the ~200 SigmaHQ ships", len(tests))
	}
	l, err := Load(Options{Builtin: true, Dirs: []string{
		filepath.Join(s, "rules"), filepath.Join(s, "rules-emerging-threats"), filepath.Join(s, "rules-threat-hunting"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	results := l.RunRegression(context.Background(), tests, parse.New(parse.Options{}), true, true)
	var evtx, json, extra int
	others := map[string]int{}
	for _, r := range results {
		if filepath.Ext(r.File) == ".evtx" {
			evtx++
		} else {
			json++
		}
		if !r.Passed() {
			t.Errorf("%s: rule %q matched %d times, want at least %d (err %v)", r.File, r.Test.RuleTitle, r.Matches, r.Test.MatchCount, r.Err)
		}
		if r.Matches > r.Test.MatchCount {
			extra++
		}
		for title, n := range r.Others {
			others[title] += n
		}
	}
	if evtx < 200 || json < 200 {
		t.Errorf("ran %d EVTX and %d JSON samples, want every one (~202 each)", evtx, json)
	}
	type kv struct {
		k string
		v int
	}
	var top []kv
	for k, v := range others {
		top = append(top, kv{k, v})
	}
	sort.Slice(top, func(i, j int) bool { return top[i].v > top[j].v })
	t.Logf("%d EVTX + %d JSON samples; %d with more matches than match_count; %d other rules fired on the samples", evtx, json, extra, len(others))
	for i := 0; i < len(top) && i < 10; i++ {
		t.Logf("  other rule %4d× %s", top[i].v, top[i].k)
	}
}
