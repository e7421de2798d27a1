package sigma

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestConformance parses every rule file in testdata/conformance and
// testdata/errors and compares a canonical dump of the result (rules and
// errors) with the .golden file beside it. Regenerate with -update after
// checking the difference by hand.
func TestConformance(t *testing.T) {
	for _, dir := range []string{"testdata/conformance", "testdata/errors"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no test files in %s", dir)
		}
		for _, file := range files {
			t.Run(strings.TrimSuffix(filepath.Base(file), ".yml"), func(t *testing.T) {
				rules, err := LoadFile(filepath.ToSlash(file))
				got := dumpResult(rules, err)
				golden := strings.TrimSuffix(file, ".yml") + ".golden"
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("reading golden file (run with -update to create it): %v", err)
				}
				if diff := cmp.Diff(string(want), got); diff != "" {
					t.Errorf("parsed form of %s differs from %s (-want +got):\n%s", file, golden, diff)
				}
				if dir == "testdata/errors" && !strings.Contains(got, "error: ") {
					t.Errorf("%s: got no error, want one", file)
				}
			})
		}
	}
}

// dumpResult renders rules and the load error in a stable, readable form.
func dumpResult(rules []*Rule, err error) string {
	var b strings.Builder
	for _, r := range rules {
		dumpRule(&b, r)
	}
	if err != nil {
		var errs []string
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				errs = append(errs, e.Error())
			}
		} else {
			errs = append(errs, err.Error())
		}
		for _, e := range errs {
			fmt.Fprintf(&b, "error: %s\n", e)
		}
	}
	return b.String()
}

func q(s string) string { return strconv.Quote(s) }

func dumpRule(b *strings.Builder, r *Rule) {
	fmt.Fprintf(b, "rule %d at %s: kind=%s title=%s", r.DocIndex, r.Pos, r.Kind, q(r.Title))
	if r.ID != "" {
		fmt.Fprintf(b, " id=%s", r.ID)
	}
	if r.Name != "" {
		fmt.Fprintf(b, " name=%s", r.Name)
	}
	if r.Level != "" {
		fmt.Fprintf(b, " level=%s", r.Level)
	}
	if r.Status != "" {
		fmt.Fprintf(b, " status=%s", r.Status)
	}
	b.WriteString("\n")
	if len(r.Tags) > 0 {
		fmt.Fprintf(b, "  tags: %s\n", strings.Join(r.Tags, " "))
	}
	ls := r.Logsource
	if ls.Product != "" || ls.Category != "" || ls.Service != "" || ls.Definition != "" {
		fmt.Fprintf(b, "  logsource: product=%s category=%s service=%s", q(ls.Product), q(ls.Category), q(ls.Service))
		if ls.Definition != "" {
			fmt.Fprintf(b, " definition=%s", q(ls.Definition))
		}
		b.WriteString("\n")
	}
	if len(r.Extra) > 0 {
		keys := make([]string, 0, len(r.Extra))
		for k := range r.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(b, "  extra %s: %v\n", k, r.Extra[k])
		}
	}
	if r.Detection != nil {
		dumpDetection(b, r.Detection, "  ")
	}
	if c := r.Correlation; c != nil {
		fmt.Fprintf(b, "  correlation at %s: type=%s rules=%v group-by=%v timespan=%s (%s) generate=%t\n",
			c.Pos, c.Type, c.Rules, c.GroupBy, c.TimespanText, c.Timespan, c.Generate)
		if cc := c.Condition; cc != nil {
			fmt.Fprintf(b, "    condition:")
			for _, op := range cc.Ops {
				fmt.Fprintf(b, " %s %g", op.Op, op.Value)
			}
			if len(cc.Field) > 0 {
				fmt.Fprintf(b, " field=%v", cc.Field)
			}
			if cc.Percentile != 0 {
				fmt.Fprintf(b, " percentile=%g", cc.Percentile)
			}
			b.WriteString("\n")
		}
		aliases := make([]string, 0, len(c.Aliases))
		for a := range c.Aliases {
			aliases = append(aliases, a)
		}
		sort.Strings(aliases)
		for _, a := range aliases {
			m := c.Aliases[a]
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintf(b, "    alias %s:", a)
			for _, k := range keys {
				fmt.Fprintf(b, " %s=%s", k, m[k])
			}
			b.WriteString("\n")
		}
	}
	if f := r.Filter; f != nil {
		fmt.Fprintf(b, "  filter at %s: rules=%v any=%t\n", f.Pos, f.Rules, f.AnyRule)
		dumpDetection(b, f.Detection, "    ")
	}
	if len(r.Placeholders) > 0 {
		fmt.Fprintf(b, "  placeholders: %v\n", r.Placeholders)
		fmt.Fprintf(b, "  skip: %v\n", r.SkipReason())
	}
}

func dumpDetection(b *strings.Builder, d *Detection, ind string) {
	for _, name := range d.Order {
		s := d.Searches[name]
		fmt.Fprintf(b, "%ssearch %s at %s:\n", ind, q(name), s.Pos)
		for gi, g := range s.Groups {
			fmt.Fprintf(b, "%s  group %d:\n", ind, gi)
			for _, it := range g.Items {
				dumpItem(b, it, ind+"    ")
			}
		}
	}
	if d.Timeframe != 0 {
		fmt.Fprintf(b, "%stimeframe: %s\n", ind, d.Timeframe)
	}
	for _, c := range d.Conditions {
		fmt.Fprintf(b, "%scondition at %s: %s\n", ind, c.Pos, q(c.Text))
		fmt.Fprintf(b, "%s  parsed:   %s\n", ind, c.Expr)
		fmt.Fprintf(b, "%s  resolved: %s\n", ind, c.Resolved)
	}
}

func dumpItem(b *strings.Builder, it *FieldItem, ind string) {
	field := it.Field
	if field == "" {
		field = "<keyword>"
	}
	fmt.Fprintf(b, "%sitem %s at %s: method=%s", ind, field, it.Pos, it.Method)
	if len(it.Modifiers) > 0 {
		fmt.Fprintf(b, " modifiers=%s", strings.Join(it.Modifiers, "|"))
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{it.All, "all"}, {it.Cased, "cased"}, {it.Negate, "negate"}, {it.FieldRef, "fieldref"}, {it.Expand, "expand"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	if it.TimePart != TimeNone {
		fmt.Fprintf(b, " time=%s", it.TimePart)
	}
	if it.ReFlags != 0 {
		fmt.Fprintf(b, " reflags=%d", it.ReFlags)
	}
	b.WriteString("\n")
	for _, v := range it.Values {
		fmt.Fprintf(b, "%s  value %s %s at %s:", ind, v.Kind, q(v.Raw), v.Pos)
		switch {
		case it.Method == MethodExists:
			fmt.Fprintf(b, " exists=%t", v.Bool)
		case it.FieldRef:
			fmt.Fprintf(b, " ref=%s", q(v.Ref))
		case it.Method == MethodRegexp:
			fmt.Fprintf(b, " regexp=%s", q(v.Regexp))
		case it.Method == MethodCIDR:
			fmt.Fprintf(b, " prefix=%s", v.Prefix)
		case it.TimePart != TimeNone || (it.Method >= MethodLT && it.Method <= MethodGTE):
			fmt.Fprintf(b, " number=%g", v.Number)
		case v.Kind == ValueNull:
			b.WriteString(" null")
		default:
			if v.Kind == ValueNumber {
				fmt.Fprintf(b, " number=%g", v.Number)
			}
			if v.Kind == ValueBool {
				fmt.Fprintf(b, " bool=%t", v.Bool)
			}
			b.WriteString(" patterns=")
			for i, p := range v.Patterns {
				if i > 0 {
					b.WriteString(" | ")
				}
				b.WriteString(dumpPattern(p))
			}
		}
		b.WriteString("\n")
	}
}

// dumpPattern shows a pattern's parts unambiguously: literals quoted (Go
// syntax, so encoded bytes are visible), wildcards and placeholders bare.
func dumpPattern(p Pattern) string {
	if len(p.Parts) == 0 {
		return `""`
	}
	var parts []string
	for _, part := range p.Parts {
		switch part.Kind {
		case PartLiteral:
			parts = append(parts, q(part.Text))
		case PartStar:
			parts = append(parts, "*")
		case PartQuestion:
			parts = append(parts, "?")
		case PartPlaceholder:
			parts = append(parts, "%"+part.Text+"%")
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestErrorsArePositioned checks that every error from the error corpus is
// an *Error carrying a file position.
func TestErrorsArePositioned(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		_, err := LoadFile(file)
		if err == nil {
			t.Errorf("%s: got no error, want one", file)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got error %T %v, want *sigma.Error", file, err, err)
			continue
		}
		if e.Source != file {
			t.Errorf("%s: got error source %q, want %q", file, e.Source, file)
		}
		if !e.Pos.IsValid() {
			t.Errorf("%s: got error without position: %v", file, err)
		}
	}
}
