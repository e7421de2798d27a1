package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/sharedtest"
	"github.com/vigilsec/vigil/internal/sigma"
)

// TestHuntRealworldCorpus runs vigil hunt over the real-shaped records of
// internal/parse/testdata/realworld (Azure Monitor / Sentinel rows, AUOMS
// and auditd lines, an evtx_dump 5145) with the SigmaHQ rules their
// .want.json files name, and checks that each record raises exactly those
// rules: the parse conformance suite, end to end through the binary.
func TestHuntRealworldCorpus(t *testing.T) {
	shared := sharedtest.Dir(t, "sigma")
	corpus := filepath.Join("..", "..", "internal", "parse", "testdata", "realworld")
	wants, err := filepath.Glob(filepath.Join(corpus, "*.want.json"))
	if err != nil || len(wants) == 0 {
		t.Fatalf("no realworld cases: %v", err)
	}
	rules, logs := t.TempDir(), t.TempDir()
	wantIDs := map[string][]string{} // log file -> rule ids
	for _, wp := range wants {
		name := strings.TrimSuffix(filepath.Base(wp), ".want.json")
		var want struct {
			Rules []string `json:"rules"`
		}
		data, err := os.ReadFile(wp)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("%s: %v", wp, err)
		}
		in, err := os.ReadFile(filepath.Join(corpus, name+".input"))
		if err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(logs, name+".log")
		huntWrite(t, logPath, string(in))
		ids := []string{}
		for _, rf := range want.Rules {
			body, err := os.ReadFile(filepath.Join(shared, rf))
			if err != nil {
				t.Fatal(err)
			}
			rs, err := sigma.Parse(body, rf)
			if err != nil || len(rs) != 1 {
				t.Fatalf("%s: %d rules, %v", rf, len(rs), err)
			}
			huntWrite(t, filepath.Join(rules, filepath.Base(rf)), string(body))
			ids = append(ids, rs[0].ID)
		}
		slices.Sort(ids)
		wantIDs[logPath] = ids
	}
	r := runHunt(t, "", "--no-builtin", "--rules", rules, "--format", "jsonl", "--quiet", "--workers", "2", logs)
	if r.code != 0 && r.code != 1 {
		t.Fatalf("exit status %d\nstderr:\n%s", r.code, r.stderr)
	}
	got := map[string][]string{}
	for _, f := range huntParseJSONL(t, r.stdout) {
		got[f.File] = append(got[f.File], f.RuleID)
	}
	for path, want := range wantIDs {
		g := got[path]
		slices.Sort(g)
		if g == nil {
			g = []string{}
		}
		if !slices.Equal(g, want) {
			t.Errorf("%s: got rules %v, want %v", filepath.Base(path), g, want)
		}
	}
}
