package sigma

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseCondition(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"selection", "selection"},
		{"a and b", "(a and b)"},
		{"a or b", "(a or b)"},
		{"a and b and c", "(a and b and c)"},
		{"a or b and c", "(a or (b and c))"},
		{"a and b or c", "((a and b) or c)"},
		{"not a and b", "(not a and b)"},
		{"not (a and b)", "not (a and b)"},
		{"not not a", "not not a"},
		{"(a or b) and c", "((a or b) and c)"},
		{"((a))", "a"},
		{"1 of selection_*", "1 of selection_*"},
		{"all of selection_*", "all of selection_*"},
		{"any of sel*", "1 of sel*"},
		{"1 of them", "1 of them"},
		{"all of them", "all of them"},
		{"ALL OF Them", "all of them"},
		{"A AND NOT B", "(A and not B)"},
		{"selection and not 1 of filter_main_* and not 1 of filter_optional_*", "(selection and not 1 of filter_main_* and not 1 of filter_optional_*)"},
		{"1 of sel* and not (filter1 or filter2)", "(1 of sel* and not (filter1 or filter2))"},
		{"  a\n and\tb  ", "(a and b)"},
		{"all", "all"}, // a search may be called "all"
		{"1", "1"},     // ... or "1"
		{"all and any", "(all and any)"},
		{"sel.name-x", "sel.name-x"},
		{"not 1 of x*", "not 1 of x*"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := ParseCondition(tt.in)
			if err != nil {
				t.Fatalf("ParseCondition(%q): got error %v", tt.in, err)
			}
			if got := c.String(); got != tt.want {
				t.Errorf("ParseCondition(%q) = %s, want %s", tt.in, got, tt.want)
			}
			// The canonical form parses back to itself.
			c2, err := ParseCondition(c.String())
			if err != nil {
				t.Fatalf("reparsing %q: %v", c.String(), err)
			}
			if c2.String() != c.String() {
				t.Errorf("reparse of %q = %s, want the same", c.String(), c2.String())
			}
		})
	}
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantOff int
		wantMsg string
		wantErr error
	}{
		{"", 0, "empty condition", nil},
		{"   ", 0, "empty condition", nil},
		{"a and", 5, "unexpected end of condition", nil},
		{"a or or b", 5, "unexpected keyword \"or\"", nil},
		{"(a", 0, "unclosed \"(\"", nil},
		{"a)", 1, "unbalanced \")\"", nil},
		{"a b", 2, "unexpected \"b\"", nil},
		{"()", 1, "unexpected \")\"", nil},
		{"sel | count() > 5", 4, "aggregation pipe", ErrAggregation},
		{"(sel | count())", 5, "aggregation pipe", ErrAggregation},
		{"2 of sel*", 0, "unsupported quantifier \"2\"", nil},
		{"1 of", 4, "want a search identifier pattern", nil},
		{"1 of and", 5, "want a search identifier pattern", nil},
		{"sel*", 0, "wildcard in search identifier", nil},
		{"not", 3, "unexpected end", nil},
		{"a and 'b'", 6, "invalid character", nil},
		{strings.Repeat("(", MaxConditionDepth+1) + "a" + strings.Repeat(")", MaxConditionDepth+1), MaxConditionDepth, "nested deeper", nil},
		{strings.Repeat("not ", MaxConditionDepth+1) + "a", 4 * MaxConditionDepth, "nested deeper", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseCondition(tt.in)
			var ce *ConditionError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseCondition(%q): got error %v, want a *ConditionError", tt.in, err)
			}
			if ce.Offset != tt.wantOff {
				t.Errorf("ParseCondition(%q): got offset %d, want %d (%v)", tt.in, ce.Offset, tt.wantOff, err)
			}
			if !strings.Contains(ce.Msg, tt.wantMsg) {
				t.Errorf("ParseCondition(%q): got message %q, want it to contain %q", tt.in, ce.Msg, tt.wantMsg)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseCondition(%q): got %v, want errors.Is %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestResolveCondition(t *testing.T) {
	names := []string{"selection_a", "selection_b", "filter_main_x", "filter_optional_y", "_hidden", "kw"}
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"1 of selection_*", "(selection_a or selection_b)", ""},
		{"all of selection_*", "(selection_a and selection_b)", ""},
		{"1 of filter_main_*", "filter_main_x", ""},
		{"1 of them", "(selection_a or selection_b or filter_main_x or filter_optional_y or kw)", ""},
		{"all of _*", "_hidden", ""},
		{"1 of selection_? ", "(selection_a or selection_b)", ""},
		{"1 of *_x", "filter_main_x", ""},
		{"kw and not 1 of filter_*", "(kw and not (filter_main_x or filter_optional_y))", ""},
		{"missing", "", `unknown search identifier "missing"`},
		{"1 of nothing*", "", `pattern "nothing*" matches no search identifier`},
		{"Selection_a", "", `unknown search identifier "Selection_a"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := ParseCondition(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ResolveCondition(c, names)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveCondition(%q): got error %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveCondition(%q): %v", tt.in, err)
			}
			if got := r.String(); got != tt.want {
				t.Errorf("ResolveCondition(%q) = %s, want %s", tt.in, got, tt.want)
			}
			assertResolved(t, r)
		})
	}
}

// assertResolved checks that a resolved tree has no Of nodes.
func assertResolved(t *testing.T, c Cond) {
	t.Helper()
	switch n := c.(type) {
	case *And:
		for _, a := range n.Args {
			assertResolved(t, a)
		}
	case *Or:
		for _, a := range n.Args {
			assertResolved(t, a)
		}
	case *Not:
		assertResolved(t, n.Arg)
	case *Ref:
	default:
		t.Errorf("resolved tree holds %T", c)
	}
}

func TestMatchSearchPattern(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"sel*", "selection", true},
		{"sel*", "sel", true},
		{"sel*", "xsel", false},
		{"*", "anything", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"sel_?", "sel_1", true},
		{"sel_?", "sel_12", false},
		{"sel[1]", "sel[1]", true},
		{"path/*", "path/x", true},
		{"x\\*", "x\\y", true},
	}
	for _, tt := range tests {
		if got := MatchSearchPattern(tt.pat, tt.name); got != tt.want {
			t.Errorf("MatchSearchPattern(%q, %q) = %t, want %t", tt.pat, tt.name, got, tt.want)
		}
	}
}

// realConditions returns condition texts from the SigmaHQ corpus, if
// present, to seed the fuzzer.
func realConditions(tb testing.TB, limit int) []string {
	shared := sharedDir(tb)
	if shared == "" {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	_ = filepath.WalkDir(filepath.Join(shared, "sigma", "rules"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || len(out) >= limit {
			return nil
		}
		rules, _ := LoadFile(p)
		for _, r := range rules {
			if r.Detection == nil {
				continue
			}
			for _, c := range r.Detection.Conditions {
				if !seen[c.Text] {
					seen[c.Text] = true
					out = append(out, c.Text)
				}
			}
		}
		return nil
	})
	return out
}

// FuzzCondition checks that the condition parser never panics, stays
// within its limits, and that whatever it accepts prints to a canonical
// form that parses back to the same tree.
func FuzzCondition(f *testing.F) {
	seeds := []string{
		"selection", "selection and not filter", "1 of selection_* and not 1 of filter_*",
		"all of them", "not (a or (b and not c))", "sel | count() by x > 5",
		"any of x*", "((((a))))", "a and", "(a", "a)", "2 of x",
	}
	seeds = append(seeds, realConditions(f, 300)...)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		start := time.Now()
		c, err := ParseCondition(in)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("ParseCondition took %s", d)
		}
		if err != nil {
			var ce *ConditionError
			if !errors.As(err, &ce) {
				t.Fatalf("got error %T, want *ConditionError", err)
			}
			if ce.Offset < 0 || ce.Offset > len(in) && ce.Offset != MaxConditionLen {
				t.Fatalf("error offset %d outside input of %d bytes", ce.Offset, len(in))
			}
			return
		}
		s := c.String()
		c2, err := ParseCondition(s)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", s, in, err)
		}
		if c2.String() != s {
			t.Fatalf("canonical form not stable: %q -> %q", s, c2.String())
		}
		names := []string{"a", "b", "selection", "filter_x", "_u"}
		if r, err := ResolveCondition(c, names); err == nil {
			assertResolved(t, r)
		}
	})
}
