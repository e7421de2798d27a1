// Package logsource maps events to the Sigma logsources they belong to.
//
// A Sigma rule names the log data it applies to with a logsource: a product,
// a category and a service (for example windows/process_creation or
// linux/sshd). Events do not carry that triple ready-made: a Sysmon event
// with EventID 1 and a Security event with EventID 4688 are both
// windows/process_creation, and a CloudTrail record is aws/cloudtrail only
// because its eventSource ends in amazonaws.com. The mapping is data: a
// table of Sources, each naming the logsource it provides, a predicate on
// events (their parser-set logsource, EventID, field values) and how rule
// field names map to the event's field names for that source.
//
// The default table is embedded (default.yml); users extend or override it
// with their own YAML files (see Merge). The Table is compiled into a
// routing index keyed by product, EventID and indexed field values, so that
// Route costs a few map lookups per event.
package logsource

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"

	"github.com/vigilsec/vigil/internal/ascii"
	"github.com/vigilsec/vigil/internal/event"
)

//go:embed default.yml
var defaultYAML []byte

// DefaultYAML returns the embedded default mapping file.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// File is the YAML document of a mapping file.
type File struct {
	// Sources are the mapping entries.
	Sources []Source `yaml:"sources"`
}

// Source is one entry of the mapping: events that satisfy Match belong to
// the logsource Logsource, and rules of that logsource read their fields
// through Fields.
type Source struct {
	// Name identifies the entry; a user file's entry with the same name
	// replaces the default one.
	Name string `yaml:"name"`
	// Description is documentation only.
	Description string `yaml:"description,omitempty"`
	// Disabled removes the entry (used by user files to drop a default).
	Disabled bool `yaml:"disabled,omitempty"`
	// Logsource is the Sigma logsource the matching events belong to.
	Logsource event.Logsource `yaml:"logsource"`
	// Match says which events belong to the source.
	Match Match `yaml:"match"`
	// Fields maps a rule field name to the event field name that holds it
	// for this source. Names not listed are read as they are.
	Fields map[string]string `yaml:"fields,omitempty"`
}

// Match is the predicate of a Source. All members that are set must hold.
type Match struct {
	// Product, Category and Service are compared (case-insensitively) with
	// the logsource the parser set on the event; any listed value matches.
	// The value "" in a list matches an event where that member is unset.
	// An absent list matches anything.
	Product  StringList `yaml:"product,omitempty"`
	Category StringList `yaml:"category,omitempty"`
	Service  StringList `yaml:"service,omitempty"`
	// EventID lists Windows event IDs (the EventID field).
	EventID IntList `yaml:"event_id,omitempty"`
	// Where are conditions on event fields.
	Where []Cond `yaml:"where,omitempty"`
}

// Cond is one field condition of a Match. Exactly one of Equals,
// StartsWith, EndsWith, Contains or Exists is set. String comparisons
// ignore ASCII case. A field that occurs several times matches when any of
// its values does.
type Cond struct {
	Field      string     `yaml:"field"`
	Equals     StringList `yaml:"equals,omitempty"`
	StartsWith StringList `yaml:"startswith,omitempty"`
	EndsWith   StringList `yaml:"endswith,omitempty"`
	Contains   StringList `yaml:"contains,omitempty"`
	Exists     *bool      `yaml:"exists,omitempty"`
}

// StringList is a list of strings that may be written in YAML as a single
// scalar.
type StringList []string

// UnmarshalYAML implements yaml.BytesUnmarshaler.
func (l *StringList) UnmarshalYAML(b []byte) error {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	switch x := v.(type) {
	case string:
		*l = StringList{x}
		return nil
	case []any:
		out := make(StringList, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want a string or a list of strings, found %T in the list", e)
			}
			out = append(out, s)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("want a string or a list of strings, not %T", v)
}

// IntList is a list of integers that may be written in YAML as a single
// number.
type IntList []int64

// UnmarshalYAML implements yaml.BytesUnmarshaler.
func (l *IntList) UnmarshalYAML(b []byte) error {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("want a number or a list of numbers: %w", err)
	}
	toInt := func(e any) (int64, bool) {
		switch n := e.(type) {
		case int:
			return int64(n), true
		case int64:
			return n, true
		case uint64:
			return int64(n), n <= 1<<63-1
		}
		return 0, false
	}
	if n, ok := toInt(v); ok {
		*l = IntList{n}
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf("want a number or a list of numbers, not %T", v)
	}
	out := make(IntList, 0, len(list))
	for _, e := range list {
		n, ok := toInt(e)
		if !ok {
			return fmt.Errorf("want a number or a list of numbers, found %T in the list", e)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// ParseFile decodes a mapping file. Unknown attributes are errors, so that
// typos do not silently drop a condition.
func ParseFile(name string, data []byte) (f *File, err error) {
	// The YAML library has crashed on some malformed input (found by
	// FuzzParseFile); a user's file must never take the process down.
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("logsource mapping %s: %w: %v", name, ErrMalformed, r)
		}
	}()
	f = &File{}
	if err := yaml.UnmarshalWithOptions(data, f, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("logsource mapping %s: %w", name, err)
	}
	seen := map[string]bool{}
	for i := range f.Sources {
		s := &f.Sources[i]
		if s.Name == "" {
			return nil, fmt.Errorf("logsource mapping %s: source #%d has no name", name, i+1)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("logsource mapping %s: source %q defined twice", name, s.Name)
		}
		seen[s.Name] = true
		if s.Disabled {
			continue
		}
		if s.Logsource == (event.Logsource{}) {
			return nil, fmt.Errorf("logsource mapping %s: source %q has an empty logsource", name, s.Name)
		}
		for j, c := range s.Match.Where {
			if err := c.validate(); err != nil {
				return nil, fmt.Errorf("logsource mapping %s: source %q: where #%d: %w", name, s.Name, j+1, err)
			}
		}
	}
	return f, nil
}

// ErrMalformed is wrapped by ParseFile errors for YAML the decoder could
// not read at all.
var ErrMalformed = errors.New("malformed YAML")

func (c *Cond) validate() error {
	if c.Field == "" {
		return errors.New("condition has no field")
	}
	n := 0
	for _, l := range []StringList{c.Equals, c.StartsWith, c.EndsWith, c.Contains} {
		if l != nil {
			n++
		}
	}
	if c.Exists != nil {
		n++
	}
	if n != 1 {
		return fmt.Errorf("condition on %q must set exactly one of equals, startswith, endswith, contains, exists", c.Field)
	}
	return nil
}

// Merge returns base with the sources of over applied: a source whose name
// exists in base replaces it in place (or removes it when Disabled); other
// sources are appended in order.
func Merge(base, over *File) *File {
	out := &File{Sources: slices.Clone(base.Sources)}
	for _, s := range over.Sources {
		i := slices.IndexFunc(out.Sources, func(b Source) bool { return b.Name == s.Name })
		switch {
		case i >= 0 && s.Disabled:
			out.Sources = slices.Delete(out.Sources, i, i+1)
		case i >= 0:
			out.Sources[i] = s
		case !s.Disabled:
			out.Sources = append(out.Sources, s)
		}
	}
	return out
}

// Default returns the compiled embedded table. It is built once; the
// Table is immutable and shared.
func Default() *Table { return defaultTable() }

var defaultTable = sync.OnceValue(func() *Table {
	f, err := ParseFile("default.yml", defaultYAML)
	if err != nil {
		panic("logsource: embedded default.yml: " + err.Error())
	}
	t, err := Compile(f)
	if err != nil {
		panic("logsource: embedded default.yml: " + err.Error())
	}
	return t
})

// Load returns the default table extended with the given user mapping
// files, merged in order.
func Load(paths ...string) (*Table, error) {
	f, err := ParseFile("default.yml", defaultYAML)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading logsource mapping: %w", err)
		}
		u, err := ParseFile(p, data)
		if err != nil {
			return nil, err
		}
		f = Merge(f, u)
	}
	return Compile(f)
}

// Satisfies reports whether a source providing logsource have satisfies a
// rule's logsource want: every member want sets is equal (ignoring case).
func Satisfies(have, want event.Logsource) bool {
	return (want.Product == "" || strings.EqualFold(want.Product, have.Product)) &&
		(want.Category == "" || strings.EqualFold(want.Category, have.Category)) &&
		(want.Service == "" || strings.EqualFold(want.Service, have.Service))
}

func lowerAll(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = ascii.Lower(s)
	}
	return out
}
