// Package detect compiles Sigma rules (internal/sigma) into an evaluation
// plan and runs events through it.
//
// Compilation resolves every rule field name to an event.Key per logsource
// variant (the same rule is compiled once for Sysmon events, which name the
// process Image, and once for Security 4688 events, which name it
// NewProcessName), groups rules by the logsource sources of the mapping
// table (internal/logsource) so that an event only meets the rules of its
// logsource, and gathers the literal strings of the rules into per-field
// Aho-Corasick automata and hash sets. Matching an event routes it, scans
// each interesting field value once (lowered once, lazily), and evaluates
// the full condition only of the rules that the literal hits leave
// possible, plus the rules whose condition can hold without any positive
// hit (such as "not selection").
//
// Filter rules are ANDed into the rules they name; correlation rules of the
// seven Sigma types keep bounded, event-time windowed state keyed by their
// group-by values (see correlate.go).
package detect

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/logsource"
	"github.com/vigilsec/vigil/internal/sigma"
)

// Options tune compilation and correlation state.
type Options struct {
	// Logsources is the logsource mapping; nil means logsource.Default().
	Logsources *logsource.Table
	// MaxGroups caps the correlation groups held across all correlation
	// rules (0: 100,000). When full, the group seen least recently is
	// evicted and counted.
	MaxGroups int
	// MaxGroupEntries caps the events (or values) kept per correlation
	// group (0: 10,000). Past it, the oldest entry is dropped and counted.
	MaxGroupEntries int
	// MaxEventsPerDetection caps how many contributing events a
	// correlation Detection carries (0: 16; the count is always exact).
	MaxEventsPerDetection int
	// KeepFields, if set, are the only fields correlation state keeps of
	// a contributing event (with its time and logsource, not its raw
	// text): what Detection.Events is used for, such as alert entities,
	// at a fraction of the memory of whole events. Nil keeps whole events.
	KeepFields []string
}

func (o *Options) withDefaults() Options {
	r := *o
	if r.Logsources == nil {
		r.Logsources = logsource.Default()
	}
	if r.MaxGroups <= 0 {
		r.MaxGroups = 100_000
	}
	if r.MaxGroupEntries <= 0 {
		r.MaxGroupEntries = 10_000
	}
	if r.MaxEventsPerDetection <= 0 {
		r.MaxEventsPerDetection = 16
	}
	return r
}

// Skipped is a rule that was not loaded into the engine, and why.
type Skipped struct {
	Rule   *sigma.Rule
	Reason error
}

// Errors reported in Skipped.Reason (wrapped, check with errors.Is).
var (
	// ErrUnsupported marks a rule using a feature the engine cannot
	// evaluate (for example a regular expression RE2 cannot compile).
	ErrUnsupported = errors.New("unsupported rule feature")
	// ErrReference marks a correlation or filter naming a rule that is not
	// loaded.
	ErrReference = errors.New("reference to a rule that is not loaded")
)

// GroupValue is one group-by field of a correlation match and its value.
type GroupValue struct {
	// Field is the group-by name as written (an alias name, if aliased).
	Field string
	// Value is the field's text in the contributing event.
	Value string
}

// Detection is one rule match.
type Detection struct {
	// Rule is the matching rule (a detection or a correlation rule).
	Rule *sigma.Rule
	// Event is the matching event; for a correlation, the event that
	// completed it.
	Event *event.Event
	// Time is the event time of Event.
	Time time.Time
	// First is, for a correlation, the event time of the first event that
	// contributed (the window's start, which Events may not reach: they
	// hold at most MaxEventsPerDetection events and never the group's
	// first); zero for detections.
	First time.Time
	// Group is the correlation's group-by values (nil for detections).
	Group []GroupValue
	// Count is, for a correlation, how many events contributed (within
	// the window); 1 for detections.
	Count int
	// Value is the measured quantity of a correlation (the count, distinct
	// values, matched rules, sum, average or percentile).
	Value float64
	// Events are up to Options.MaxEventsPerDetection of the contributing
	// events of a correlation, oldest first (nil for detections).
	Events []*event.Event
}

// Engine is a compiled rule set. Match is safe for concurrent use.
type Engine struct {
	opts  Options
	table *logsource.Table

	rules      []*crule    // detection rules, in input order
	insts      []*instance // compiled variants; ids increase with rule order
	bySource   [][]int32   // logsource source -> instances
	atomInst   []int32     // atom id -> instance id
	anchorAtom map[int32]bool
	isAnchor   []bool // atom id -> is an anchor of its instance
	numAtoms   int
	corr       *correlator
	// usedProducts, usedCategories and usedServices are the (lowered)
	// logsource values of the loaded rules.
	usedProducts   map[string]bool
	usedCategories map[string]bool
	usedServices   map[string]bool
	plansMu        sync.Mutex
	plans          atomic.Pointer[map[string]*plan]
	scratches      sync.Pool
}

// crule is one compiled detection rule.
type crule struct {
	rule    *sigma.Rule
	idx     int
	filters []*sigma.Rule
	// emit is false when the rule is only the input of correlations that
	// do not set generate.
	emit       bool
	corrs      []*ccorr
	corrInputs []int // input index of this rule in corrs[i]
	// variants maps a field-mapping signature to its instance.
	variants map[string]int32
	// ident is the instance with the rule's field names as written, used
	// for events whose own logsource satisfies the rule's.
	ident  int32
	fields []string // distinct field names used by the rule and its filters
}

// Compile compiles rules into an Engine. Rules that cannot be evaluated are
// returned as Skipped with the reason; they never make Compile fail. The
// error is reserved for unusable options.
func Compile(rules []*sigma.Rule, opts Options) (*Engine, []Skipped, error) {
	o := opts.withDefaults()
	e := &Engine{
		opts:       o,
		table:      o.Logsources,
		bySource:   make([][]int32, o.Logsources.Len()),
		anchorAtom: map[int32]bool{},
	}
	var skipped []Skipped
	skip := func(r *sigma.Rule, err error) { skipped = append(skipped, Skipped{Rule: r, Reason: err}) }

	// References resolve by id, else by name; the first of duplicates
	// wins, as in sigma.NewSet.
	byRef := map[string]*sigma.Rule{}
	byID := map[string]bool{}
	for _, r := range rules {
		if r.ID != "" && !byID[r.ID] {
			byRef[r.ID] = r
			byID[r.ID] = true
		}
	}
	for _, r := range rules {
		if _, taken := byRef[r.Name]; r.Name != "" && !taken {
			byRef[r.Name] = r
		}
	}

	var dets, corrs, filters []*sigma.Rule
	for _, r := range rules {
		switch {
		case len(r.Placeholders) > 0:
			skip(r, fmt.Errorf("%w: %s", sigma.ErrPlaceholder, strings.Join(r.Placeholders, ", ")))
		case r.Kind == sigma.KindDetection && r.Detection != nil:
			dets = append(dets, r)
		case r.Kind == sigma.KindCorrelation && r.Correlation != nil:
			corrs = append(corrs, r)
		case r.Kind == sigma.KindFilter && r.Filter != nil && r.Filter.Detection != nil:
			filters = append(filters, r)
		default:
			skip(r, fmt.Errorf("%w: document has no detection, correlation or filter", ErrUnsupported))
		}
	}

	ruleOf := map[*sigma.Rule]*crule{}
	for _, r := range dets {
		cr := &crule{rule: r, emit: true, variants: map[string]int32{}}
		ruleOf[r] = cr
	}
	// Filters attach to the rules they name (or to every rule of their
	// logsource).
	for _, f := range filters {
		var targets []*sigma.Rule
		if f.Filter.AnyRule {
			targets = dets
		} else {
			for _, ref := range f.Filter.Rules {
				t, ok := byRef[ref]
				if !ok {
					skip(f, fmt.Errorf("%w: filter names %q", ErrReference, ref))
					continue
				}
				targets = append(targets, t)
			}
		}
		for _, t := range targets {
			cr := ruleOf[t]
			if cr == nil || !filterApplies(f.Logsource, t.Logsource) {
				continue
			}
			cr.filters = append(cr.filters, f)
		}
	}

	for _, r := range dets {
		cr := ruleOf[r]
		if err := e.compileRule(cr); err != nil {
			skip(r, err)
			delete(ruleOf, r)
			continue
		}
		cr.idx = len(e.rules)
		e.rules = append(e.rules, cr)
	}

	if len(corrs) > 0 {
		c, sk := newCorrelator(e, corrs, byRef, ruleOf)
		skipped = append(skipped, sk...)
		if len(c.corrs) > 0 {
			e.corr = c
		}
	}
	e.usedProducts, e.usedCategories, e.usedServices = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, cr := range e.rules {
		ls := evLogsource(cr.rule.Logsource)
		e.usedProducts[ls.Product] = true
		e.usedCategories[ls.Category] = true
		e.usedServices[ls.Service] = true
	}
	e.isAnchor = make([]bool, e.numAtoms)
	for a := range e.anchorAtom {
		e.isAnchor[a] = true
	}
	e.plans.Store(&map[string]*plan{})
	e.scratches.New = func() any { return newScratch() }
	return e, skipped, nil
}

// filterApplies reports whether a filter with logsource fl applies to a
// rule with logsource rl: every member the filter sets is equal.
func filterApplies(fl, rl sigma.Logsource) bool {
	eq := func(f, r string) bool { return f == "" || strings.EqualFold(f, r) }
	return eq(fl.Product, rl.Product) && eq(fl.Category, rl.Category) && eq(fl.Service, rl.Service)
}

func evLogsource(l sigma.Logsource) event.Logsource {
	return event.Logsource{
		Product:  strings.ToLower(l.Product),
		Category: strings.ToLower(l.Category),
		Service:  strings.ToLower(l.Service),
	}
}

// compileRule compiles the variants of one rule: the identity variant
// (field names as written) and one per logsource source that provides the
// rule's logsource and maps its fields differently.
func (e *Engine) compileRule(cr *crule) error {
	cr.fields = ruleFields(cr.rule, cr.filters)
	ls := evLogsource(cr.rule.Logsource)
	id, err := e.variant(cr, -1)
	if err != nil {
		return err
	}
	cr.ident = id
	for _, s := range e.table.Covering(ls) {
		inst, err := e.variant(cr, s)
		if err != nil {
			return err
		}
		e.bySource[s] = append(e.bySource[s], inst)
	}
	return nil
}

// variant returns the instance of cr for logsource source src (-1: the
// identity mapping), compiling it unless an instance with the same field
// mapping exists.
func (e *Engine) variant(cr *crule, src int) (int32, error) {
	var sig strings.Builder
	mapName := func(n string) string { return n }
	if src >= 0 {
		mapName = func(n string) string { return e.table.Field(src, n) }
	}
	for _, f := range cr.fields {
		sig.WriteString(mapName(f))
		sig.WriteByte(0)
	}
	if id, ok := cr.variants[sig.String()]; ok {
		return id, nil
	}
	inst, err := e.compileInstance(cr, mapName)
	if err != nil {
		return 0, err
	}
	inst.id = int32(len(e.insts))
	e.insts = append(e.insts, inst)
	for _, it := range inst.items {
		if it.atom >= 0 {
			e.atomInst[it.atom] = inst.id
		}
	}
	for _, a := range inst.anchors {
		e.anchorAtom[a] = true
	}
	cr.variants[sig.String()] = inst.id
	return inst.id, nil
}

// ruleFields lists the distinct field names a rule and its filters use,
// sorted.
func ruleFields(r *sigma.Rule, filters []*sigma.Rule) []string {
	set := map[string]bool{}
	add := func(d *sigma.Detection) {
		for _, s := range d.Searches {
			for _, g := range s.Groups {
				for _, it := range g.Items {
					if it.Field != "" {
						set[it.Field] = true
					}
					if it.FieldRef {
						for _, v := range it.Values {
							set[v.Ref] = true
						}
					}
				}
			}
		}
	}
	add(r.Detection)
	for _, f := range filters {
		add(f.Filter.Detection)
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// Rules returns the detection rules loaded, in input order.
func (e *Engine) Rules() []*sigma.Rule {
	out := make([]*sigma.Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.rule
	}
	return out
}

// Logsources returns the logsource mapping the engine routes events
// with: which events belong to a rule's logsource and how its field names
// map to theirs.
func (e *Engine) Logsources() *logsource.Table { return e.table }

// Correlations returns the correlation rules loaded.
func (e *Engine) Correlations() []*sigma.Rule {
	if e.corr == nil {
		return nil
	}
	out := make([]*sigma.Rule, len(e.corr.corrs))
	for i, c := range e.corr.corrs {
		out[i] = c.rule
	}
	return out
}

// Coverage is one logsource used by loaded rules.
type Coverage struct {
	// Logsource is the rules' logsource, lowercased.
	Logsource event.Logsource
	// Rules is how many loaded detection rules use it.
	Rules int
	// Sources names the mapping sources that provide it; empty means the
	// logsource is only reached when a parser sets it on events itself.
	Sources []string
}

// Coverage returns, for each logsource used by the loaded detection rules,
// how many rules use it and which mapping sources provide it, sorted by
// product, category and service.
func (e *Engine) Coverage() []Coverage {
	idx := map[event.Logsource]*Coverage{}
	for _, cr := range e.rules {
		ls := evLogsource(cr.rule.Logsource)
		c := idx[ls]
		if c == nil {
			c = &Coverage{Logsource: ls}
			for _, s := range e.table.Covering(ls) {
				c.Sources = append(c.Sources, e.table.Source(s).Name)
			}
			idx[ls] = c
		}
		c.Rules++
	}
	out := make([]Coverage, 0, len(idx))
	for _, c := range idx {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Coverage) int {
		return cmp.Or(cmp.Compare(a.Logsource.Product, b.Logsource.Product),
			cmp.Compare(a.Logsource.Category, b.Logsource.Category),
			cmp.Compare(a.Logsource.Service, b.Logsource.Service))
	})
	return out
}
