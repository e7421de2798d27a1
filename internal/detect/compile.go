package detect

import (
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	re2 "github.com/wasilibs/go-re2"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sigma"
)

// instance is a rule compiled for one field mapping.
type instance struct {
	id      int32
	rule    *crule
	main    *cdet
	filters []*cdet
	// anchors are atoms one of which must hit for the rule to be able to
	// match; nil means the rule is evaluated for every routed event.
	anchors []int32
	// clauses are further atom sets each of which must have a hit.
	clauses [][]int32
	items   []*citem // every item of main and filters, for plan building
}

// cdet is a compiled detection: searches and the ORed conditions.
type cdet struct {
	searches []csearch
	conds    []*cnode
}

// csearch is an OR of groups, each an AND of items.
type csearch struct {
	groups [][]*citem
}

type nodeOp uint8

const (
	nodeRef nodeOp = iota
	nodeAnd
	nodeOr
	nodeNot
)

type cnode struct {
	op     nodeOp
	search int
	args   []*cnode
}

// citem is a compiled field item.
type citem struct {
	key      event.Key
	keyword  bool
	method   sigma.Method
	all      bool
	cased    bool
	negate   bool
	fieldref bool
	timePart sigma.TimePart
	values   []cvalue
	// atom is the item's prefilter atom, or -1 when the item is not
	// prefiltered. An atom that did not hit means the item is false.
	atom int32
	// quality ranks atoms for anchor choice: the shortest literal the
	// item's patterns require (exact values rank high).
	quality int
	// pf is true when the item can be prefiltered; it gets an atom only if
	// it is chosen as an anchor (or allItemAtoms).
	pf bool
	// exact is true when a hit of the item's atom proves the item true:
	// case-insensitive contains of plain literals short enough to be
	// needles unclipped.
	exact bool
}

type cvalue struct {
	// exact and needles are the prefilter literals (lowered) of the
	// value: whole-value strings, and substrings one of which occurs in
	// any matching value.
	exact   []string
	needles []string
	kind    sigma.ValueKind
	pats    []cpat
	num     float64
	isInt   bool
	b       bool
	re      matcher
	prefix  netip.Prefix
	ref     event.Key
}

// cpat is a compiled string pattern. Text is lowered unless the item is
// cased.
type cpat struct {
	parts []sigma.Part
	// simple is true when the pattern has no wildcards; lit is then its
	// text.
	simple bool
	lit    string
	// needle is the longest literal part, lowered: what the prefilter looks
	// for.
	needle string
	// glob is parts with the method's implicit leading/trailing stars.
	glob []sigma.Part
}

const exactQuality = 1 << 20

// keywordKey is the pseudo field of keyword items in the prefilter: its
// needles are looked for in the event's text (see keywordTexts).
var keywordKey = event.Intern("\x00keywords")

func (e *Engine) compileInstance(cr *crule, mapName func(string) string) (*instance, error) {
	inst := &instance{rule: cr}
	var err error
	inst.main, err = e.compileDet(inst, cr.rule.Detection, mapName)
	if err != nil {
		return nil, err
	}
	for _, f := range cr.filters {
		d, err := e.compileDet(inst, f.Filter.Detection, mapName)
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", f.Title, err)
		}
		inst.filters = append(inst.filters, d)
	}
	if clauses, ok := detClauses(inst.main); ok {
		for ci, cl := range clauses {
			var atoms []int32
			for _, it := range cl.items {
				if it.atom < 0 {
					it.atom = int32(e.numAtoms)
					e.numAtoms++
					e.atomInst = append(e.atomInst, -1)
				}
				atoms = appendUnique(atoms, it.atom)
			}
			if ci == 0 {
				inst.anchors = atoms
			} else {
				inst.clauses = append(inst.clauses, atoms)
			}
		}
	}
	if allItemAtoms {
		for _, it := range inst.items {
			if it.pf && it.atom < 0 {
				it.atom = int32(e.numAtoms)
				e.numAtoms++
				e.atomInst = append(e.atomInst, -1)
			}
		}
	}
	return inst, nil
}

// allItemAtoms gives every prefilterable item an atom, not only the
// anchors: an item whose atom did not hit is false without evaluation, and
// an exact atom that hit is true.
const allItemAtoms = false

func (e *Engine) compileDet(inst *instance, d *sigma.Detection, mapName func(string) string) (*cdet, error) {
	cd := &cdet{}
	index := map[string]int{}
	for _, name := range d.Order {
		s := d.Searches[name]
		if s == nil {
			continue
		}
		var cs csearch
		for _, g := range s.Groups {
			var items []*citem
			for _, it := range g.Items {
				ci, err := e.compileItem(it, mapName)
				if err != nil {
					return nil, fmt.Errorf("search %q: %w", name, err)
				}
				if err := checkItem(it); err != nil {
					return nil, fmt.Errorf("search %q: %w", name, err)
				}
				items = append(items, ci)
				inst.items = append(inst.items, ci)
			}
			cs.groups = append(cs.groups, items)
		}
		index[name] = len(cd.searches)
		cd.searches = append(cd.searches, cs)
	}
	for _, c := range d.Conditions {
		if c.Resolved == nil {
			return nil, fmt.Errorf("%w: condition %q is not resolved", ErrUnsupported, c.Text)
		}
		n, err := compileCond(c.Resolved, index, 0)
		if err != nil {
			return nil, fmt.Errorf("condition %q: %w", c.Text, err)
		}
		cd.conds = append(cd.conds, n)
	}
	if len(cd.conds) == 0 {
		return nil, fmt.Errorf("%w: detection has no condition", ErrUnsupported)
	}
	return cd, nil
}

func compileCond(c sigma.Cond, index map[string]int, depth int) (*cnode, error) {
	if depth > 1000 {
		return nil, fmt.Errorf("%w: condition nested too deeply", ErrUnsupported)
	}
	switch n := c.(type) {
	case *sigma.Ref:
		i, ok := index[n.Name]
		if !ok {
			return nil, fmt.Errorf("%w: unknown search %q", ErrUnsupported, n.Name)
		}
		return &cnode{op: nodeRef, search: i}, nil
	case *sigma.Not:
		a, err := compileCond(n.Arg, index, depth+1)
		if err != nil {
			return nil, err
		}
		return &cnode{op: nodeNot, args: []*cnode{a}}, nil
	case *sigma.And, *sigma.Or:
		var args []sigma.Cond
		op := nodeAnd
		if o, ok := n.(*sigma.Or); ok {
			args, op = o.Args, nodeOr
		} else {
			args = n.(*sigma.And).Args
		}
		out := &cnode{op: op}
		for _, a := range args {
			ca, err := compileCond(a, index, depth+1)
			if err != nil {
				return nil, err
			}
			out.args = append(out.args, ca)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: condition node %T", ErrUnsupported, c)
}

func (e *Engine) compileItem(it *sigma.FieldItem, mapName func(string) string) (*citem, error) {
	ci := &citem{
		keyword:  it.Field == "",
		method:   it.Method,
		all:      it.All,
		cased:    it.Cased,
		negate:   it.Negate,
		fieldref: it.FieldRef,
		timePart: it.TimePart,
		atom:     -1,
	}
	if ci.keyword {
		ci.key = keywordKey
	} else {
		ci.key = event.Intern(mapName(it.Field))
	}
	if len(it.Values) == 0 {
		return nil, fmt.Errorf("%w: field %q has no values", ErrUnsupported, it.Field)
	}
	for _, v := range it.Values {
		cv := cvalue{kind: v.Kind, num: v.Number, b: v.Bool, prefix: v.Prefix}
		cv.isInt = v.Kind == sigma.ValueNumber && v.Number == float64(int64(v.Number)) && !strings.ContainsAny(v.Raw, ".eE")
		switch {
		case it.FieldRef:
			if v.Ref == "" {
				return nil, fmt.Errorf("%w: fieldref without a field name", ErrUnsupported)
			}
			cv.ref = event.Intern(mapName(v.Ref))
		case it.TimePart != sigma.TimeNone:
		case it.Method == sigma.MethodRegexp:
			re, err := compileRegexp(v.Regexp)
			if err != nil {
				return nil, fmt.Errorf("%w: regular expression %q: %v", ErrUnsupported, v.Raw, err)
			}
			cv.re = re
			cv.needles = regexNeedles(v.Regexp)
		case it.Method == sigma.MethodCIDR:
			if !v.Prefix.IsValid() {
				return nil, fmt.Errorf("%w: invalid cidr %q", ErrUnsupported, v.Raw)
			}
		case isStringMethod(it.Method):
			for _, p := range v.Patterns {
				cp, err := compilePattern(p, it.Cased, it.Method)
				if err != nil {
					return nil, err
				}
				cv.pats = append(cv.pats, cp)
				if cp.simple && it.Method == sigma.MethodEquals && it.Field != "" {
					cv.exact = append(cv.exact, lowerString(cp.lit))
				} else {
					cv.needles = append(cv.needles, cp.needle)
				}
			}
		}
		ci.values = append(ci.values, cv)
	}
	ci.quality, ci.pf = atomQuality(ci)
	ci.exact = ci.pf && exactItem(ci)
	return ci, nil
}

// matcher is a compiled regular expression.
type matcher interface {
	MatchString(s string) bool
}

// compileRegexp checks expr with Go's regexp and returns a matcher that
// runs it with github.com/wasilibs/go-re2 (RE2 itself, several times
// faster than Go's regexp on the command lines and paths rules look at;
// see BenchmarkRegexp). The go-re2 compilation is deferred to the first
// match, because it costs about as much as compiling every other part of
// the rule set; an expression go-re2 refuses runs on Go's regexp, which has
// the same RE2 semantics.
func compileRegexp(expr string) (matcher, error) {
	std, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	return &lazyRegexp{expr: expr, std: std}, nil
}

type lazyRegexp struct {
	expr string
	std  *regexp.Regexp
	once sync.Once
	fast matcher
}

func (l *lazyRegexp) MatchString(s string) bool {
	l.once.Do(func() {
		if re, err := re2.Compile(l.expr); err == nil {
			l.fast = re
		} else {
			l.fast = l.std
		}
	})
	return l.fast.MatchString(s)
}

// exactItem reports whether a prefilter hit proves the item: the
// needles are exactly the (lowered) patterns, matched anywhere.
func exactItem(ci *citem) bool {
	if ci.method != sigma.MethodContains || ci.cased || ci.all {
		return false
	}
	for _, v := range ci.values {
		if v.kind != sigma.ValueString || len(v.exact) > 0 {
			return false
		}
		for _, p := range v.pats {
			if !p.simple || len(p.lit) > maxNeedle || len(p.lit) == 0 {
				return false
			}
		}
	}
	return true
}

// checkItem rejects items whose combination of settings the engine does
// not define.
func checkItem(it *sigma.FieldItem) error {
	if it.FieldRef && !isStringMethod(it.Method) {
		return fmt.Errorf("%w: fieldref with method %s", ErrUnsupported, it.Method)
	}
	if it.TimePart != sigma.TimeNone {
		switch it.Method {
		case sigma.MethodEquals, sigma.MethodLT, sigma.MethodLTE, sigma.MethodGT, sigma.MethodGTE:
		default:
			return fmt.Errorf("%w: time modifier with method %s", ErrUnsupported, it.Method)
		}
	}
	return nil
}

func isStringMethod(m sigma.Method) bool {
	switch m {
	case sigma.MethodEquals, sigma.MethodContains, sigma.MethodStartsWith, sigma.MethodEndsWith:
		return true
	}
	return false
}

func compilePattern(p sigma.Pattern, cased bool, m sigma.Method) (cpat, error) {
	cp := cpat{simple: true}
	for _, part := range p.Parts {
		switch part.Kind {
		case sigma.PartLiteral:
			t := part.Text
			if !cased {
				t = lowerString(t)
			}
			cp.parts = append(cp.parts, sigma.Part{Kind: sigma.PartLiteral, Text: t})
			cp.lit += t
			nl := t
			if cased {
				nl = lowerString(t)
			}
			if len(nl) > len(cp.needle) {
				cp.needle = nl
			}
		case sigma.PartStar, sigma.PartQuestion:
			cp.simple = false
			cp.parts = append(cp.parts, part)
		default:
			return cpat{}, fmt.Errorf("%w: unresolved placeholder %q", ErrUnsupported, part.Text)
		}
	}
	if !cp.simple {
		cp.lit = ""
		star := sigma.Part{Kind: sigma.PartStar}
		if m == sigma.MethodContains || m == sigma.MethodEndsWith {
			cp.glob = append(cp.glob, star)
		}
		cp.glob = append(cp.glob, cp.parts...)
		if m == sigma.MethodContains || m == sigma.MethodStartsWith {
			cp.glob = append(cp.glob, star)
		}
	}
	return cp, nil
}

// atomQuality reports whether an item can be prefiltered (a positive
// string or regexp comparison whose every value requires some literal) and
// how selective it is.
func atomQuality(ci *citem) (int, bool) {
	if ci.negate || ci.fieldref || ci.timePart != sigma.TimeNone || ci.key == event.OverflowKey {
		return 0, false
	}
	if !isStringMethod(ci.method) && ci.method != sigma.MethodRegexp {
		return 0, false
	}
	q := exactQuality * 2
	for _, v := range ci.values {
		if v.kind == sigma.ValueNull || (v.kind == sigma.ValueNumber && !v.isInt) {
			return 0, false
		}
		if len(v.exact)+len(v.needles) == 0 {
			return 0, false
		}
		if len(v.exact) > 0 {
			q = min(q, exactQuality)
		}
		for _, n := range v.needles {
			if n == "" {
				return 0, false
			}
			q = min(q, len(n))
		}
	}
	return q, true
}

// clause is a set of items at least one of which must match.
type clause struct {
	items   []*citem
	quality int // the worst item's
}

// maxClauses bounds the clauses checked per instance.
const maxClauses = 4

// detClauses returns clauses that must all hold (each: one of its items
// matches) for d to match, best first; ok is false when d can match with
// no prefilterable item matching.
func detClauses(d *cdet) ([]clause, bool) {
	var best []clause
	var one clause
	one.quality = exactQuality * 2
	for _, c := range d.conds {
		cl, ok := nodeClauses(d, c)
		if !ok {
			return nil, false
		}
		if len(d.conds) == 1 {
			best = cl
			break
		}
		one.items = append(one.items, cl[0].items...)
		one.quality = min(one.quality, cl[0].quality)
	}
	if best == nil {
		best = []clause{one}
	}
	slices.SortStableFunc(best, func(a, b clause) int { return b.quality - a.quality })
	if len(best) > maxClauses {
		best = best[:maxClauses]
	}
	return best, true
}

func nodeClauses(d *cdet, n *cnode) ([]clause, bool) {
	switch n.op {
	case nodeRef:
		groups := d.searches[n.search].groups
		if len(groups) == 1 {
			var out []clause
			for _, it := range groups[0] {
				if it.pf {
					out = append(out, clause{items: []*citem{it}, quality: it.quality})
				}
			}
			return out, len(out) > 0
		}
		c := clause{quality: exactQuality * 2}
		for _, g := range groups {
			var best *citem
			for _, it := range g {
				if it.pf && (best == nil || it.quality > best.quality) {
					best = it
				}
			}
			if best == nil {
				return nil, false
			}
			c.items = append(c.items, best)
			c.quality = min(c.quality, best.quality)
		}
		return []clause{c}, len(c.items) > 0
	case nodeAnd:
		var out []clause
		for _, a := range n.args {
			if cl, ok := nodeClauses(d, a); ok {
				out = append(out, cl...)
			}
		}
		return out, len(out) > 0
	case nodeOr:
		c := clause{quality: exactQuality * 2}
		for _, a := range n.args {
			cl, ok := nodeClauses(d, a)
			if !ok {
				return nil, false
			}
			b := cl[0]
			for _, x := range cl[1:] {
				if x.quality > b.quality {
					b = x
				}
			}
			c.items = append(c.items, b.items...)
			c.quality = min(c.quality, b.quality)
		}
		return []clause{c}, len(c.items) > 0
	}
	return nil, false
}

// regexNeedles returns literals (lowered), one of which every match of
// the regular expression expr contains, or nil if it finds none.
func regexNeedles(expr string) []string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	set := reqLiterals(re.Simplify(), 0)
	for i, l := range set {
		set[i] = lowerString(l)
	}
	return set
}

// maxReqSet bounds the alternatives reqLiterals returns.
const maxReqSet = 16

// reqLiterals returns strings one of which occurs in every match of re.
func reqLiterals(re *syntax.Regexp, depth int) []string {
	if depth > 100 {
		return nil
	}
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return []string{strings.ToLower(string(re.Rune))}
		}
		return []string{string(re.Rune)}
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) >= 8 {
					return nil
				}
				out = append(out, string(r))
			}
		}
		return out
	case syntax.OpCapture, syntax.OpPlus:
		return reqLiterals(re.Sub[0], depth+1)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return reqLiterals(re.Sub[0], depth+1)
		}
	case syntax.OpConcat:
		var best []string
		bestScore := 0
		for _, sub := range re.Sub {
			set := reqLiterals(sub, depth+1)
			if len(set) == 0 {
				continue
			}
			score := len(set[0])
			for _, l := range set {
				score = min(score, len(l))
			}
			if score > bestScore || (score == bestScore && len(set) < len(best)) {
				best, bestScore = set, score
			}
		}
		return best
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			set := reqLiterals(sub, depth+1)
			if len(set) == 0 || len(out)+len(set) > maxReqSet {
				return nil
			}
			out = append(out, set...)
		}
		return out
	}
	return nil
}

// lowerString lowers s: ASCII letters directly, other valid runes with
// unicode.ToLower; invalid UTF-8 bytes are kept as they are (patterns may
// hold UTF-16 or other binary text).
func lowerString(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || c >= utf8.RuneSelf {
			return string(appendLower(make([]byte, 0, len(s)), s))
		}
	}
	return s
}

// appendLower appends s lowered (see lowerString) to dst.
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			dst = append(dst, c)
			i++
			continue
		}
		if l := unicode.ToLower(r); l != r && utf8.RuneLen(l) == size {
			dst = utf8.AppendRune(dst, l)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}
