package sigma

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// realRuleFiles returns up to limit SigmaHQ rule files (every n-th, for
// variety), or nothing when the shared corpus is absent.
func realRuleFiles(tb testing.TB, limit int) [][]byte {
	shared := sharedDir(tb)
	if shared == "" {
		return nil
	}
	var paths []string
	for _, d := range sigmaHQDirs {
		_ = filepath.WalkDir(filepath.Join(shared, "sigma", d), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && filepath.Ext(p) == ".yml" {
				paths = append(paths, p)
			}
			return nil
		})
	}
	step := max(1, len(paths)/limit)
	var out [][]byte
	for i := 0; i < len(paths); i += step {
		if data, err := os.ReadFile(paths[i]); err == nil {
			out = append(out, data)
		}
	}
	return out
}

// FuzzParseRule feeds arbitrary documents to the loader. It must never
// panic or hang; errors must be located *Error values; and every rule it
// accepts must be internally consistent: resolved conditions naming
// existing searches, items with values, patterns normalized.
func FuzzParseRule(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, data := range realRuleFiles(f, 200) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		rules, err := Parse(data, "fuzz.yml")
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Parse took %s on %d bytes", d, len(data))
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got error %T (%v), want *sigma.Error", err, err)
			}
			if e.Source != "fuzz.yml" {
				t.Fatalf("error source %q, want fuzz.yml", e.Source)
			}
		}
		for _, r := range rules {
			checkRule(t, r)
			_ = Lint(r)
			if len(r.Placeholders) > 0 {
				values := map[string][]string{}
				for _, p := range r.Placeholders {
					values[p] = []string{"v*", "w"}
				}
				if err := r.ExpandPlaceholders(values); err == nil && len(r.Placeholders) > 0 {
					t.Fatalf("placeholders %v left after a successful expansion", r.Placeholders)
				}
			}
		}
		_, _ = NewSet(rules)
	})
}

// checkRule asserts the invariants of a loaded rule.
func checkRule(t *testing.T, r *Rule) {
	t.Helper()
	switch r.Kind {
	case KindDetection:
		if r.Detection == nil {
			t.Fatal("detection rule without Detection")
		}
	case KindCorrelation:
		c := r.Correlation
		if c == nil || len(c.Rules) == 0 || c.Timespan <= 0 {
			t.Fatalf("bad correlation %+v", c)
		}
		if c.Condition != nil && len(c.Condition.Ops) == 0 {
			t.Fatal("correlation condition without comparisons")
		}
	case KindFilter:
		if r.Filter == nil || r.Filter.Detection == nil {
			t.Fatal("filter rule without Filter.Detection")
		}
	}
	for _, d := range r.detections() {
		if len(d.Conditions) == 0 {
			t.Fatal("detection without conditions")
		}
		if len(d.Order) != len(d.Searches) {
			t.Fatalf("Order has %d names, Searches %d", len(d.Order), len(d.Searches))
		}
		for _, c := range d.Conditions {
			walkRefs(c.Resolved, func(name string) {
				if d.Searches[name] == nil {
					t.Fatalf("resolved condition %q names missing search %q", c.Text, name)
				}
			})
			assertResolved(t, c.Resolved)
		}
		for _, s := range d.Searches {
			if len(s.Groups) == 0 {
				t.Fatalf("search %q without groups", s.Name)
			}
			for _, g := range s.Groups {
				if len(g.Items) == 0 {
					t.Fatalf("search %q has an empty group", s.Name)
				}
				for _, it := range g.Items {
					checkItem(t, it)
				}
			}
		}
	}
}

func checkItem(t *testing.T, it *FieldItem) {
	t.Helper()
	if len(it.Values) == 0 {
		t.Fatalf("item %q without values", it.Field)
	}
	for _, v := range it.Values {
		stringMethod := it.Method <= MethodEndsWith && !it.FieldRef && it.TimePart == TimeNone
		if stringMethod && v.Kind != ValueNull && len(v.Patterns) == 0 {
			t.Fatalf("item %q value %q without patterns", it.Field, v.Raw)
		}
		if len(v.Patterns) > maxExpansions {
			t.Fatalf("item %q value %q has %d patterns", it.Field, v.Raw, len(v.Patterns))
		}
		for _, p := range v.Patterns {
			for i, part := range p.Parts {
				if part.Kind == PartLiteral && part.Text == "" {
					t.Fatalf("empty literal part in %v", p)
				}
				if i > 0 {
					prev := p.Parts[i-1]
					if prev.Kind == PartLiteral && part.Kind == PartLiteral {
						t.Fatalf("adjacent literal parts in %v", p)
					}
					if prev.Kind == PartStar && part.Kind == PartStar {
						t.Fatalf("adjacent stars in %v", p)
					}
				}
			}
		}
	}
}
