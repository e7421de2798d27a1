package ruleset

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/goccy/go-yaml"
	"github.com/vigilsec/vigil/internal/hunt"
)

// RegressionTest is one test of SigmaHQ's regression_data layout: an
// info.yml naming a rule, a sample file (EVTX, with a JSON rendering beside
// it) and the number of matches the rule must make at least.
type RegressionTest struct {
	Info      string // path of info.yml
	RuleID    string
	RuleTitle string
	Name      string
	// MatchCount is the least number of matches; SigmaHQ's CI treats a
	// test without match_count as "at least one".
	MatchCount int
	EVTX, JSON string // sample files ("" if absent)
}

type infoFile struct {
	RuleMetadata []struct {
		ID    string `yaml:"id"`
		Title string `yaml:"title"`
	} `yaml:"rule_metadata"`
	Tests []struct {
		Name       string `yaml:"name"`
		Type       string `yaml:"type"`
		MatchCount *int   `yaml:"match_count"`
		Path       string `yaml:"path"`
	} `yaml:"regression_tests_info"`
}

// LoadRegression reads every info.yml under dir.
func LoadRegression(dir string) ([]RegressionTest, error) {
	var out []RegressionTest
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "info.yml" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var info infoFile
		if err := unmarshalYAML(data, &info); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if len(info.RuleMetadata) == 0 {
			return fmt.Errorf("%s: no rule_metadata", p)
		}
		for _, t := range info.Tests {
			rt := RegressionTest{Info: p, RuleID: info.RuleMetadata[0].ID, RuleTitle: info.RuleMetadata[0].Title, Name: t.Name, MatchCount: 1}
			if t.MatchCount != nil {
				rt.MatchCount = *t.MatchCount
			}
			// The path is relative to the rule repository; the file also
			// sits beside info.yml, which is what we use.
			base := filepath.Join(filepath.Dir(p), filepath.Base(t.Path))
			ext := filepath.Ext(base)
			if f := base[:len(base)-len(ext)] + ".evtx"; exists(f) {
				rt.EVTX = f
			}
			if f := base[:len(base)-len(ext)] + ".json"; exists(f) {
				rt.JSON = f
			}
			if rt.EVTX == "" && rt.JSON == "" {
				return fmt.Errorf("%s: sample %s not found beside it", p, filepath.Base(t.Path))
			}
			out = append(out, rt)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Info < out[j].Info })
	return out, err
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// RegressionResult is the outcome of one test on one sample file.
type RegressionResult struct {
	Test RegressionTest
	File string
	// Matches is how many times the test's rule matched.
	Matches int
	// Others counts matches of other rules on the same file, by rule title.
	Others map[string]int
	Err    error
}

// Passed reports whether the rule matched at least MatchCount times.
func (r RegressionResult) Passed() bool { return r.Err == nil && r.Matches >= r.Test.MatchCount }

// RunRegression runs each test's sample (the EVTX file, the JSON rendering,
// or both) through the loaded engine.
func (l *Loaded) RunRegression(ctx context.Context, tests []RegressionTest, p hunt.Parser, useEVTX, useJSON bool) []RegressionResult {
	var out []RegressionResult
	for _, t := range tests {
		var files []string
		if useEVTX && t.EVTX != "" {
			files = append(files, t.EVTX)
		}
		if useJSON && t.JSON != "" {
			files = append(files, t.JSON)
		}
		for _, f := range files {
			res := RegressionResult{Test: t, File: f, Others: map[string]int{}}
			sum, err := hunt.Run(ctx, []string{f}, hunt.Options{Engine: l.Engine, Parser: p, Workers: 1}, func(fd hunt.Finding) error {
				if fd.Rule.ID == t.RuleID {
					res.Matches++
				} else {
					res.Others[fd.Rule.Title]++
				}
				return nil
			})
			if err == nil && sum != nil && len(sum.Errors) > 0 {
				err = sum.Errors[0]
			}
			res.Err = err
			out = append(out, res)
		}
	}
	return out
}

// unmarshalYAML decodes YAML, turning a panic of the YAML library (it has
// panicked on some malformed documents) into an error.
func unmarshalYAML(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed YAML (parser failure: %v)", r)
		}
	}()
	return yaml.Unmarshal(data, v)
}
