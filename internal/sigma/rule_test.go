package sigma

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t *testing.T, src string) []*Rule {
	t.Helper()
	rules, err := Parse([]byte(src), "test.yml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return rules
}

func TestErrorMessageFormat(t *testing.T) {
	src := `title: x
logsource:
    product: test
detection:
    selection:
        Image|endswith: '\x.exe'
        CommandLine|contians: 'evil'
    condition: selection
`
	_, err := Parse([]byte(src), "rules/x.yml")
	if err == nil {
		t.Fatal("got no error, want one")
	}
	if got, want := err.Error(), `rules/x.yml:7:21: unknown modifier "contians"`; got != want {
		t.Errorf("got error %q, want %q", got, want)
	}
	if !errors.Is(err, ErrUnknownModifier) {
		t.Errorf("got %v, want errors.Is ErrUnknownModifier", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Pos != (Pos{Line: 7, Col: 21}) {
		t.Errorf("got %#v, want *Error at 7:21", err)
	}
}

func TestModifierPositionQuotedKey(t *testing.T) {
	src := "title: x\nlogsource: {product: test}\ndetection:\n    sel:\n        'Field|bogus': x\n    condition: sel\n"
	_, err := Parse([]byte(src), "q.yml")
	if got, want := errString(err), `q.yml:5:16: unknown modifier "bogus"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestConditionErrorPositions(t *testing.T) {
	tests := []struct {
		name, cond, want string
	}{
		{"plain", "condition: sel and nope", "c.yml:6:24: condition: unknown search identifier \"nope\""},
		{"quoted", "condition: 'sel and nope'", "c.yml:6:25: condition: unknown search identifier \"nope\""},
		{"multi-line", "condition:\n        sel and\n        nope", "c.yml:8:9: condition: unknown search identifier \"nope\""},
		{"list", "condition:\n        - sel\n        - sel or nope", "c.yml:8:18: condition: unknown search identifier \"nope\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "title: x\nlogsource: {product: test}\ndetection:\n    sel:\n        F: x\n    " + tt.cond + "\n"
			_, err := Parse([]byte(src), "c.yml")
			if got := errString(err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseKeepsGoodDocuments(t *testing.T) {
	src := `title: good
logsource: {product: test}
detection:
    sel: {F: x}
    condition: sel
---
title: bad
logsource: {product: test}
detection:
    sel: {F: x}
    condition: sel and
---
title: also good
logsource: {product: test}
detection:
    sel: {F: y}
    condition: sel
`
	rules, err := Parse([]byte(src), "m.yml")
	if err == nil {
		t.Fatal("got no error, want one for the bad document")
	}
	var titles []string
	for _, r := range rules {
		titles = append(titles, r.Title)
	}
	if diff := cmp.Diff([]string{"good", "also good"}, titles); diff != "" {
		t.Errorf("rules differ (-want +got):\n%s", diff)
	}
	if rules[1].DocIndex != 2 {
		t.Errorf("got DocIndex %d, want 2", rules[1].DocIndex)
	}
}

func TestRuleAttributes(t *testing.T) {
	src := `title: Attributes
id: 11111111-2222-4333-8444-555555555555
name: attr_rule
related:
    - id: 21111111-2222-4333-8444-555555555555
      type: derived
status: test
description: desc
license: DRL-1.1
author:
    - A
    - B
references: https://example.com
date: 2026-01-02
modified: 2026-02-03
taxonomy: sigma
tags: [attack.t1059, cve.2026-1234]
logsource:
    product: Windows
    service: security
    custom: thing
detection:
    sel: {EventID: 1}
    condition: sel
fields: [A, B]
falsepositives: Admins
level: low
scope: [server]
x_custom:
    nested: [1, two]
`
	r := mustParse(t, src)[0]
	got := struct {
		Title, ID, Name, Status, Description, License, Author, Date, Modified, Taxonomy, Level string
		Related                                                                                []Related
		References, Tags, Fields, FalsePositives, Scope                                        []string
		Logsource                                                                              Logsource
		Extra                                                                                  map[string]any
	}{r.Title, r.ID, r.Name, r.Status, r.Description, r.License, r.Author, r.Date, r.Modified, r.Taxonomy, r.Level,
		r.Related, r.References, r.Tags, r.Fields, r.FalsePositives, r.Scope, r.Logsource, r.Extra}
	want := got
	want.Title, want.ID, want.Name, want.Status = "Attributes", "11111111-2222-4333-8444-555555555555", "attr_rule", "test"
	want.Description, want.License, want.Author = "desc", "DRL-1.1", "A, B"
	want.Date, want.Modified, want.Taxonomy, want.Level = "2026-01-02", "2026-02-03", "sigma", "low"
	want.Related = []Related{{ID: "21111111-2222-4333-8444-555555555555", Type: "derived"}}
	want.References = []string{"https://example.com"}
	want.Tags = []string{"attack.t1059", "cve.2026-1234"}
	want.Fields = []string{"A", "B"}
	want.FalsePositives = []string{"Admins"}
	want.Scope = []string{"server"}
	want.Logsource = Logsource{Product: "Windows", Service: "security", Extra: map[string]string{"custom": "thing"}, Pos: Pos{Line: 19, Col: 5}}
	want.Extra = map[string]any{"x_custom": map[string]any{"nested": []any{int64(1), "two"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attributes differ (-want +got):\n%s", diff)
	}
	if got, want := r.KeyPos("level"), (Pos{Line: 27, Col: 1}); got != want {
		t.Errorf("KeyPos(level) = %v, want %v", got, want)
	}
}

func TestPlaceholders(t *testing.T) {
	src := `title: P
logsource: {product: windows}
detection:
    sel:
        User|expand: '%Admins%'
    other:
        Host|expand|windash|contains: '-x %Hosts%*'
    condition: sel and other
`
	r := mustParse(t, src)[0]
	if diff := cmp.Diff([]string{"Admins", "Hosts"}, r.Placeholders); diff != "" {
		t.Fatalf("placeholders differ (-want +got):\n%s", diff)
	}
	if err := r.SkipReason(); !errors.Is(err, ErrPlaceholder) || !strings.Contains(err.Error(), "%Admins%, %Hosts%") {
		t.Fatalf("SkipReason = %v, want ErrPlaceholder naming both", err)
	}
	// Partial expansion keeps the rule skipped.
	err := r.ExpandPlaceholders(map[string][]string{"Admins": {"root", "adm_*"}})
	if !errors.Is(err, ErrPlaceholder) || !strings.Contains(err.Error(), "%Hosts%") || strings.Contains(err.Error(), "Admins") {
		t.Fatalf("ExpandPlaceholders(Admins) = %v, want ErrPlaceholder for Hosts only", err)
	}
	sel := r.Detection.Searches["sel"].Groups[0].Items[0].Values[0]
	if got, want := patternStrings(sel.Patterns), []string{"root", "adm_*"}; !cmp.Equal(got, want) {
		t.Errorf("sel patterns = %q, want %q", got, want)
	}
	if err := r.ExpandPlaceholders(map[string][]string{"Hosts": {"web1", "db?"}}); err != nil {
		t.Fatalf("ExpandPlaceholders(Hosts): %v", err)
	}
	if r.Placeholders != nil {
		t.Errorf("Placeholders = %v after expansion, want none", r.Placeholders)
	}
	other := r.Detection.Searches["other"].Groups[0].Items[0].Values[0]
	got := patternStrings(other.Patterns)
	if len(got) != 10 { // 2 host values x 5 dashes
		t.Errorf("other patterns = %q, want 10 (2 values x 5 windash forms)", got)
	}
	for _, want := range []string{"-x web1*", "/x db?*", "―x web1*"} {
		found := false
		for _, g := range got {
			if g == want {
				found = true
			}
		}
		if !found {
			t.Errorf("other patterns = %q, want %q among them", got, want)
		}
	}
}

func patternStrings(ps []Pattern) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func TestPlaceholderEmptyListMatchesNothing(t *testing.T) {
	r := mustParse(t, "title: P\nlogsource: {product: x}\ndetection:\n    sel:\n        U|expand: '%A%'\n    condition: sel\n")[0]
	if err := r.ExpandPlaceholders(map[string][]string{"A": nil}); err != nil {
		t.Fatal(err)
	}
	if got := r.Detection.Searches["sel"].Groups[0].Items[0].Values[0].Patterns; len(got) != 0 {
		t.Errorf("patterns = %v, want none", got)
	}
}

func TestSetReferences(t *testing.T) {
	src := `title: base
id: 11111111-2222-4333-8444-555555555555
name: base
logsource: {product: x}
detection:
    sel: {F: 1}
    condition: sel
---
title: c1
name: c1
correlation:
    type: event_count
    rules: [base]
    timespan: 5m
    condition: {gte: 2}
---
title: c2
correlation:
    type: temporal
    rules: [c1, 11111111-2222-4333-8444-555555555555, missing_rule]
    timespan: 5m
---
title: f
logsource: {product: x}
filter:
    rules: [c1]
    sel: {F: 2}
    condition: not sel
---
title: dup
name: base
logsource: {product: x}
detection:
    sel: {F: 1}
    condition: sel
`
	rules := mustParse(t, src)
	set, errs := NewSet(rules)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{
		`test.yml:31:1: duplicate rule name "base" (also in test.yml:1:1)`,
		`test.yml:18:1: correlation references unknown rule "missing_rule"`,
		`test.yml:25:1: filter references correlation rule "c1"; filters apply to detection rules`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors differ (-want +got):\n%s", diff)
	}
	if r, ok := set.Lookup("c1"); !ok || r.Title != "c1" {
		t.Errorf("Lookup(c1) = %v, %t", r, ok)
	}
	if r, ok := set.Lookup("11111111-2222-4333-8444-555555555555"); !ok || r.Title != "base" {
		t.Errorf("Lookup(id) = %v, %t", r, ok)
	}
	d, c, f, p := set.Counts()
	if d != 2 || c != 2 || f != 1 || p != 0 {
		t.Errorf("Counts() = %d, %d, %d, %d, want 2, 2, 1, 0", d, c, f, p)
	}
}

func TestSetCycle(t *testing.T) {
	src := `title: a
name: a
correlation: {type: temporal, rules: [b], timespan: 1m}
---
title: b
name: b
correlation: {type: temporal, rules: [a], timespan: 1m}
`
	_, errs := NewSet(mustParse(t, src))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "refers back to itself") {
		t.Errorf("got errors %v, want one cycle error", errs)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := "title: g\nlogsource: {product: x}\ndetection:\n    sel: {F: 1}\n    condition: sel\n"
	write("a/good.yml", good)
	write("b/good2.yaml", good)
	write("b/bad.yml", "title: b\nlogsource: {product: x}\ndetection:\n    sel: {F|nope: 1}\n    condition: sel\n")
	write("b/ignored.txt", "not yaml")
	write(".hidden/skip.yml", "{{{")
	set, errs := LoadDir(dir)
	if len(set.Rules) != 2 {
		t.Errorf("got %d rules, want 2", len(set.Rules))
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `bad.yml:4:13: unknown modifier "nope"`) {
		t.Errorf("got errors %v, want one for bad.yml", errs)
	}
	_, errs = LoadDir(filepath.Join(dir, "does-not-exist"))
	if len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) {
		t.Errorf("got errors %v, want one not-exist error", errs)
	}
}

func TestLint(t *testing.T) {
	src := `title: ''
id: not-a-uuid
status: wip
level: severe
date: 2026/01/02
tags: [Attack.T1059]
logsource:
    product: Windows Server
detection:
    sel:
        F|contains|all: one
        G|expand: nothing
    unused: {F: 2}
    _private: {F: 3}
    condition: all of them
`
	r := mustParse(t, src)[0]
	var got []string
	for _, is := range Lint(r) {
		got = append(got, is.String())
	}
	want := []string{
		`test.yml:1:1: error: missing title`,
		`test.yml:2:1: error: id "not-a-uuid" is not a UUID`,
		`test.yml:4:1: error: unknown level "severe" (want informational, low, medium, high or critical)`,
		`test.yml:3:1: error: unknown status "wip" (want stable, test, experimental, deprecated or unsupported)`,
		`test.yml:5:1: error: date "2026/01/02" is not a YYYY-MM-DD date`,
		`test.yml:6:1: warning: tag "Attack.T1059" is not a lowercase namespaced tag such as attack.t1059`,
		`test.yml:8:5: warning: logsource product "Windows Server" should be lowercase letters, digits, _, . and -`,
		`test.yml:15:16: warning: "all of them" is discouraged: it prevents generic filtering; use "all of selection*"`,
		`test.yml:11:9: warning: the all modifier needs more than one value`,
		`test.yml:12:9: warning: expand modifier without a %placeholder% in the values`,
		`test.yml:14:5: warning: search "_private" is not used by the condition`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lint issues differ (-want +got):\n%s", diff)
	}
}

func TestLintHandBuiltRule(t *testing.T) {
	r := &Rule{Title: "x", Kind: KindDetection, Logsource: Logsource{Product: "p"}, Detection: &Detection{
		Searches:   map[string]*Search{"a": {Name: "a"}},
		Order:      []string{"a"},
		Conditions: []*Condition{{Text: "a and b", Expr: &And{Args: []Cond{&Ref{Name: "a"}, &Ref{Name: "b", Off: 6}}}}},
	}}
	var got []string
	for _, is := range Lint(r) {
		got = append(got, is.String())
	}
	want := []string{`error: condition at offset 6: unknown search identifier "b"`, `warning: search "a" is not used by the condition`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lint issues differ (-want +got):\n%s", diff)
	}
}

func TestHostileYAML(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{"billion laughs", `a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
title: x
`},
		{"deep nesting", strings.Repeat("[", 5000) + strings.Repeat("]", 5000)},
		{"deep maps", func() string {
			var b strings.Builder
			for i := range 200 {
				b.WriteString(strings.Repeat("  ", i) + "k:\n")
			}
			return b.String()
		}()},
		{"windash bomb", "title: x\nlogsource: {product: x}\ndetection:\n    sel:\n        F|windash: '" + strings.Repeat(" -a", 40) + "'\n    condition: sel\n"},
		{"huge condition", "title: x\nlogsource: {product: x}\ndetection:\n    sel: {F: 1}\n    condition: '" + strings.Repeat("(", 100000) + "'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse([]byte(tt.src), "h.yml")
			if err == nil {
				t.Errorf("got no error, want one")
			}
			// The bound is loose on purpose: these inputs would take
			// minutes or exhaust memory without the limits, and a tight
			// wall-clock bound fails on a loaded machine under -race.
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestLintCorrelation(t *testing.T) {
	src := `title: c
correlation:
    type: temporal
    rules: [a, a]
    timespan: 5m
    aliases:
        ip:
            a: source.ip
`
	r := mustParse(t, src)[0]
	var got []string
	for _, is := range Lint(r) {
		got = append(got, is.String())
	}
	want := []string{
		`test.yml:2:1: warning: temporal correlation without group-by counts all events together`,
		`test.yml:2:1: error: rule "a" referenced twice`,
		`test.yml:2:1: warning: alias "ip" is not used in group-by`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lint issues differ (-want +got):\n%s", diff)
	}
}

// TestAliasBombAcrossDocuments checks that the node budget covers the whole
// file, not each document, so many small alias bombs cannot add up.
func TestAliasBombAcrossDocuments(t *testing.T) {
	doc := `a: &a [x,x,x,x,x,x,x,x,x,x]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
title: t
`
	src := strings.Repeat(doc+"---\n", 200)
	_, err := Parse([]byte(src), "bomb.yml")
	if err == nil || !strings.Contains(err.Error(), "YAML nodes") {
		t.Errorf("got %v, want a node budget error", err)
	}
}

func TestCompareOpHolds(t *testing.T) {
	tests := []struct {
		op   CompareOp
		x, v float64
		want bool
	}{
		{OpGT, 2, 1, true}, {OpGT, 1, 1, false},
		{OpGTE, 1, 1, true}, {OpGTE, 0, 1, false},
		{OpLT, 0, 1, true}, {OpLT, 1, 1, false},
		{OpLTE, 1, 1, true}, {OpLTE, 2, 1, false},
		{OpEQ, 1, 1, true}, {OpEQ, 2, 1, false},
		{OpNEQ, 2, 1, true}, {OpNEQ, 1, 1, false},
		{CompareOp("bogus"), 1, 1, false},
	}
	for _, tt := range tests {
		if got := tt.op.Holds(tt.x, tt.v); got != tt.want {
			t.Errorf("%s.Holds(%g, %g) = %t, want %t", tt.op, tt.x, tt.v, got, tt.want)
		}
	}
}

func TestPatternHelpers(t *testing.T) {
	tests := []struct {
		in                          string
		literal, wildcards, holders bool
		lit                         string
	}{
		{"abc", true, false, false, "abc"},
		{"a*c", false, true, false, "ac"},
		{"a?c", false, true, false, "ac"},
		{"%x%", false, false, true, ""},
	}
	for _, tt := range tests {
		p := parsePattern(tt.in, true)
		if p.IsLiteral() != tt.literal || p.HasWildcards() != tt.wildcards || p.HasPlaceholders() != tt.holders || p.Literal() != tt.lit {
			t.Errorf("%q: IsLiteral=%t HasWildcards=%t HasPlaceholders=%t Literal=%q, want %t %t %t %q",
				tt.in, p.IsLiteral(), p.HasWildcards(), p.HasPlaceholders(), p.Literal(), tt.literal, tt.wildcards, tt.holders, tt.lit)
		}
	}
	if got := len(Modifiers()); got != len(modifiers) {
		t.Errorf("Modifiers() has %d names, want %d", got, len(modifiers))
	}
}

func TestSetExpandPlaceholders(t *testing.T) {
	src := "title: a\nlogsource: {product: x}\ndetection:\n    sel: {U|expand: '%A%'}\n    condition: sel\n---\n" +
		"title: b\nlogsource: {product: x}\ndetection:\n    sel: {U|expand: '%B%'}\n    condition: sel\n"
	set, errs := NewSet(mustParse(t, src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	errs = set.ExpandPlaceholders(map[string][]string{"A": {"x"}})
	if len(errs) != 1 || !errors.Is(errs[0], ErrPlaceholder) || !strings.Contains(errs[0].Error(), "%B%") {
		t.Errorf("got errors %v, want one for %%B%%", errs)
	}
	if _, _, _, p := set.Counts(); p != 1 {
		t.Errorf("got %d rules with placeholders, want 1", p)
	}
}
