package sigma

import (
	"errors"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// sigmaHQDirs are the SigmaHQ rule folders of the acceptance corpus.
var sigmaHQDirs = []string{"rules", "rules-emerging-threats", "rules-threat-hunting", "rules-compliance", "rules-placeholder"}

// sharedDir finds the project's shared/ folder: the sibling of the
// repository root (the folder holding go.mod), found by walking up from the
// package folder. It returns "" when there is none.
// sharedDir returns shared/ beside the repository root, or "" if absent.
func sharedDir(tb testing.TB) string { return sharedtest.Find() }

// sigmaHQPaths returns the SigmaHQ rule folders, skipping the test when the
// shared corpus is absent.
func sigmaHQPaths(tb testing.TB) []string {
	tb.Helper()
	shared := sharedDir(tb)
	if shared == "" {
		tb.Skip("skipping: shared/ (SigmaHQ rules) not found beside the repository root")
	}
	var paths []string
	for _, d := range sigmaHQDirs {
		p := filepath.Join(shared, "sigma", d)
		if _, err := os.Stat(p); err != nil {
			tb.Skipf("skipping: SigmaHQ folder %s not found: %v", p, err)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestLoadSigmaHQ loads every SigmaHQ rule: none may fail; rules with
// placeholders are loaded and reported as skipped with the reason.
func TestLoadSigmaHQ(t *testing.T) {
	paths := sigmaHQPaths(t)
	start := time.Now()
	set, errs := LoadDir(paths...)
	elapsed := time.Since(start)
	for _, err := range errs {
		t.Errorf("load error: %v", err)
	}
	det, corr, filt, ph := set.Counts()
	t.Logf("loaded %d rules (%d detection, %d correlation, %d filter) in %s; %d skipped for placeholders",
		len(set.Rules), det, corr, filt, elapsed, ph)
	if len(set.Rules) < 3000 {
		t.Errorf("got %d rules, want at least 3000", len(set.Rules))
	}
	var placeholderRules int
	for _, r := range set.Rules {
		if err := r.SkipReason(); err != nil {
			placeholderRules++
			if !errors.Is(err, ErrPlaceholder) {
				t.Errorf("%s: got skip reason %v, want one wrapping ErrPlaceholder", r.Source, err)
			}
			if testing.Verbose() {
				t.Logf("skipped: %v", err)
			}
		}
		if r.Kind == KindDetection {
			for _, c := range r.Detection.Conditions {
				if c.Resolved == nil {
					t.Errorf("%s: condition %q not resolved", r.Source, c.Text)
				}
			}
		}
	}
	if placeholderRules == 0 {
		t.Errorf("got no rules with placeholders, want the rules-placeholder folder's")
	}
	// Every rule of rules-placeholder that uses expand must be skipped until
	// values are supplied, and become usable once they are.
	for _, r := range set.Rules {
		if len(r.Placeholders) == 0 {
			continue
		}
		values := map[string][]string{}
		for _, p := range r.Placeholders {
			values[p] = []string{"value-for-" + p, "prefix*"}
		}
		if err := r.ExpandPlaceholders(values); err != nil {
			t.Errorf("%s: expanding placeholders: %v", r.Source, err)
		}
		if err := r.SkipReason(); err != nil {
			t.Errorf("%s: still skipped after expansion: %v", r.Source, err)
		}
	}
}

// TestLintSigmaHQ runs Lint over the corpus: SigmaHQ rules are held to the
// specification by their own CI, so Lint must report no errors on them
// (warnings are allowed and counted).
func TestLintSigmaHQ(t *testing.T) {
	paths := sigmaHQPaths(t)
	set, _ := LoadDir(paths...)
	var warnings int
	for _, r := range set.Rules {
		for _, is := range Lint(r) {
			if is.Severity == SeverityError {
				t.Errorf("lint: %s", is)
			} else {
				warnings++
			}
		}
	}
	t.Logf("%d lint warnings over %d rules", warnings, len(set.Rules))
}

// BenchmarkLoadAll loads and parses every SigmaHQ rule folder.
func BenchmarkLoadAll(b *testing.B) {
	paths := sigmaHQPaths(b)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		set, errs := LoadDir(paths...)
		if len(errs) > 0 {
			b.Fatalf("load errors: %v", errs[0])
		}
		n = len(set.Rules)
	}
	b.ReportMetric(float64(n), "rules")
}

// BenchmarkParseRule parses one typical rule from memory.
func BenchmarkParseRule(b *testing.B) {
	data, err := os.ReadFile("testdata/conformance/methods.yml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, "methods.yml"); err != nil {
			b.Fatal(err)
		}
	}
}
