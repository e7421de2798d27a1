package sigma

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// LoadFile reads and parses one rule file. Like Parse, it returns the good
// documents of the file together with an error for the bad ones.
func LoadFile(path string) ([]*Rule, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading rule file: %w", err)
	}
	if fi.Size() > MaxFileSize {
		return nil, &Error{Source: path, Msg: fmt.Sprintf("file larger than %d bytes", MaxFileSize)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading rule file: %w", err)
	}
	return Parse(data, path)
}

// Set is a collection of loaded rules, indexed by id and name.
type Set struct {
	// Rules are all loaded rules, in file path order, then document order.
	// It includes rules with unresolved placeholders (see Rule.SkipReason).
	Rules []*Rule

	byID   map[string]*Rule
	byName map[string]*Rule
}

// NewSet indexes rules into a Set and checks the references between them:
// duplicate ids or names, correlation and filter rules naming rules that do
// not exist, and cycles in correlation chains. The returned errors are
// located at the offending rule; the Set holds every rule regardless (the
// first of duplicates is the one indexed).
func NewSet(rules []*Rule) (*Set, []error) {
	s := &Set{Rules: rules, byID: map[string]*Rule{}, byName: map[string]*Rule{}}
	var errs []error
	for _, r := range rules {
		if r.ID != "" {
			if prev, dup := s.byID[r.ID]; dup {
				errs = append(errs, r.errorAt("id", "duplicate rule id %q (also in %s)", r.ID, prev.location()))
			} else {
				s.byID[r.ID] = r
			}
		}
		if r.Name != "" {
			if prev, dup := s.byName[r.Name]; dup {
				errs = append(errs, r.errorAt("name", "duplicate rule name %q (also in %s)", r.Name, prev.location()))
			} else {
				s.byName[r.Name] = r
			}
		}
	}
	for _, r := range rules {
		var refs []string
		var what string
		switch {
		case r.Correlation != nil:
			refs, what = r.Correlation.Rules, "correlation"
		case r.Filter != nil:
			refs, what = r.Filter.Rules, "filter"
		}
		for _, ref := range refs {
			t, ok := s.Lookup(ref)
			if !ok {
				errs = append(errs, r.errorAt(what, "%s references unknown rule %q", what, ref))
				continue
			}
			if what == "filter" && t.Kind != KindDetection {
				errs = append(errs, r.errorAt(what, "filter references %s rule %q; filters apply to detection rules", t.Kind, ref))
			}
		}
	}
	// Cycles in correlation chains.
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[*Rule]int{}
	var visit func(r *Rule) bool
	visit = func(r *Rule) bool {
		switch state[r] {
		case visiting:
			return false
		case done:
			return true
		}
		state[r] = visiting
		if r.Correlation != nil {
			for _, ref := range r.Correlation.Rules {
				if t, ok := s.Lookup(ref); ok && !visit(t) {
					return false
				}
			}
		}
		state[r] = done
		return true
	}
	for _, r := range rules {
		if r.Correlation != nil && state[r] == unvisited && !visit(r) {
			errs = append(errs, r.errorAt("correlation", "correlation chain through rule %q refers back to itself", r.Title))
		}
	}
	return s, errs
}

// Lookup finds a rule by id, or else by name.
func (s *Set) Lookup(ref string) (*Rule, bool) {
	if r, ok := s.byID[ref]; ok {
		return r, true
	}
	r, ok := s.byName[ref]
	return r, ok
}

// ExpandPlaceholders calls ExpandPlaceholders on every rule of the set
// that has placeholders, and returns the errors of the rules that remain
// unresolved (each wraps ErrPlaceholder) or failed to expand.
func (s *Set) ExpandPlaceholders(values map[string][]string) []error {
	var errs []error
	for _, r := range s.Rules {
		if len(r.Placeholders) == 0 {
			continue
		}
		if err := r.ExpandPlaceholders(values); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Counts returns how many rules of each kind the set holds, and how many
// have unresolved placeholders.
func (s *Set) Counts() (detections, correlations, filters, placeholders int) {
	for _, r := range s.Rules {
		switch r.Kind {
		case KindDetection:
			detections++
		case KindCorrelation:
			correlations++
		case KindFilter:
			filters++
		}
		if len(r.Placeholders) > 0 {
			placeholders++
		}
	}
	return
}

// LoadDir loads every .yml and .yaml file under the given files or
// folders (recursively), in parallel, and returns the rules as a Set with
// one error per bad file or document and per broken reference between
// rules. One bad file never stops the others from loading. Errors are
// sorted by file. To combine rules from several sources before checking
// references, use LoadRules and NewSet.
func LoadDir(paths ...string) (*Set, []error) {
	rules, errs := LoadRules(paths...)
	set, refErrs := NewSet(rules)
	return set, append(errs, refErrs...)
}

// LoadRules loads every .yml and .yaml file under the given files or
// folders like LoadDir, but returns the rules without indexing them or
// checking the references between them.
func LoadRules(paths ...string) ([]*Rule, []error) {
	var files []string
	var errs []error
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, fmt.Errorf("walking rule folder %q: %w", root, err))
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if p != root && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if ext := strings.ToLower(filepath.Ext(p)); ext == ".yml" || ext == ".yaml" {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("walking rule folder %q: %w", root, err))
		}
	}
	sort.Strings(files)
	type result struct {
		rules []*Rule
		err   error
	}
	results := make([]result, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	workers := min(runtime.GOMAXPROCS(0), len(files))
	for range workers {
		wg.Go(func() {
			for i := range next {
				rs, err := LoadFile(files[i])
				results[i] = result{rs, err}
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	var rules []*Rule
	for _, res := range results {
		rules = append(rules, res.rules...)
		if res.err != nil {
			errs = append(errs, res.err)
		}
	}
	return rules, errs
}

// location is "source:line:col" of the rule's first attribute.
func (r *Rule) location() string {
	if r.Pos.IsValid() {
		return fmt.Sprintf("%s:%d:%d", r.Source, r.Pos.Line, r.Pos.Col)
	}
	return r.Source
}

// errorAt builds an *Error at the position of the rule's top-level key.
func (r *Rule) errorAt(key, format string, args ...any) error {
	pos := r.keyPos[key]
	if !pos.IsValid() {
		pos = r.Pos
	}
	return &Error{Source: r.Source, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// KeyPos returns the position of the rule's top-level attribute key (for
// example "level"), or the zero Pos if the rule does not have it.
func (r *Rule) KeyPos(key string) Pos {
	return r.keyPos[key]
}
