package query

import (
	"cmp"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/ascii"
	"github.com/vigilsec/vigil/internal/event"
)

// Reserved field names served from the event's own members rather than from
// Event.Fields, as in the event's flat JSON form (event.AppendJSON): a
// Fields entry with one of these names is ignored, exactly as AppendJSON
// ignores it.
const (
	fieldIngested = "event.ingested"
	fieldInput    = "vigil.input"
	fieldProduct  = "logsource.product"
	fieldCategory = "logsource.category"
	fieldService  = "logsource.service"
)

// virtual identifies a reserved field.
type virtual uint8

const (
	notVirtual virtual = iota
	vTimestamp
	vIngested
	vInput
	vProduct
	vCategory
	vService
	vTags
	vOriginal
)

func virtualOf(name string) virtual {
	switch name {
	case event.FieldTimestamp:
		return vTimestamp
	case fieldIngested:
		return vIngested
	case fieldInput:
		return vInput
	case fieldProduct:
		return vProduct
	case fieldCategory:
		return vCategory
	case fieldService:
		return vService
	case event.FieldTags:
		return vTags
	case event.FieldOriginal:
		return vOriginal
	}
	return notVirtual
}

// FieldValues calls fn with each value of the named field of ev, in order,
// until fn returns false. Besides Event.Fields it serves the event's own
// members under their names in the flat JSON form: @timestamp (always
// present: Timestamp() as RFC 3339 with nanoseconds, UTC), event.ingested
// (Received, when set), vigil.input, logsource.product, logsource.category,
// logsource.service (when not empty), tags (one value per tag) and
// log.original (Raw, when not empty). Those names never come from
// Event.Fields.
func FieldValues(ev *event.Event, name string, fn func(v event.Value) bool) {
	if vf := virtualOf(name); vf != notVirtual {
		virtualValues(ev, vf, fn)
		return
	}
	k, ok := event.Lookup(name)
	if !ok {
		return
	}
	for i := range ev.Fields {
		if ev.Fields[i].Key == k && !fn(ev.Fields[i].Value) {
			return
		}
	}
}

func virtualValues(ev *event.Event, vf virtual, fn func(v event.Value) bool) {
	str := func(s string) {
		if s != "" {
			fn(event.String(s))
		}
	}
	switch vf {
	case vTimestamp:
		fn(event.String(ev.Timestamp().UTC().Format(time.RFC3339Nano)))
	case vIngested:
		if !ev.Received.IsZero() {
			fn(event.String(ev.Received.UTC().Format(time.RFC3339Nano)))
		}
	case vInput:
		str(ev.Input)
	case vProduct:
		str(ev.Logsource.Product)
	case vCategory:
		str(ev.Logsource.Category)
	case vService:
		str(ev.Logsource.Service)
	case vOriginal:
		str(ev.Raw)
	case vTags:
		for _, t := range ev.Tags {
			if !fn(event.String(t)) {
				return
			}
		}
	}
}

var messageKey = event.Intern(event.FieldMessage)

// FullText calls fn with each full text of ev until fn returns false: the
// text of every non-null value of the message field or, when there is
// none, log.original (Raw) if it is not empty. Phrases, words and
// full-text wildcards search these texts.
func FullText(ev *event.Event, fn func(text string) bool) {
	found := false
	for i := range ev.Fields {
		f := &ev.Fields[i]
		if f.Key != messageKey || f.Value.Kind == event.KindNull {
			continue
		}
		found = true
		if !fn(f.Value.Str) {
			return
		}
	}
	if !found && ev.Raw != "" {
		fn(ev.Raw)
	}
}

// NumericValue returns the number a value compares as: Num for KindInt and
// KindFloat, the parsed text for a string that is a finite number
// (strconv.ParseFloat), and ok false otherwise (null, booleans, other
// strings).
func NumericValue(v event.Value) (n float64, ok bool) {
	switch v.Kind {
	case event.KindInt, event.KindFloat:
		return v.Num, true
	case event.KindString:
		return parseNumber(v.Str)
	}
	return 0, false
}

// Matcher evaluates a query's filter against events in memory. It is safe
// for concurrent use.
type Matcher struct {
	root node // nil: match all
}

// Compile prepares q's filter for matching. A nil filter matches every
// event; a term with an invalid Op (only possible in a hand-built AST)
// matches none.
func Compile(q *Query) *Matcher {
	if q == nil || q.Filter == nil {
		return &Matcher{}
	}
	return &Matcher{root: compileExpr(q.Filter)}
}

// CompileExpr prepares a filter expression for matching; nil matches every
// event.
func CompileExpr(e Expr) *Matcher {
	if e == nil {
		return &Matcher{}
	}
	return &Matcher{root: compileExpr(e)}
}

// Match reports whether ev passes the filter.
func (m *Matcher) Match(ev *event.Event) bool {
	return m.root == nil || m.root.match(ev)
}

// Matches reports whether ev passes q's filter. It compiles q on every
// call; use Compile to match many events.
func Matches(q *Query, ev *event.Event) bool {
	return Compile(q).Match(ev)
}

type node interface {
	match(ev *event.Event) bool
}

type andNode []node

func (n andNode) match(ev *event.Event) bool {
	for _, x := range n {
		if !x.match(ev) {
			return false
		}
	}
	return true
}

type orNode []node

func (n orNode) match(ev *event.Event) bool {
	for _, x := range n {
		if x.match(ev) {
			return true
		}
	}
	return false
}

type notNode struct{ x node }

func (n notNode) match(ev *event.Event) bool { return !n.x.match(ev) }

// sortByCost orders the operands of an And or Or cheapest first, so that
// the evaluation stops early at low cost. Matching has no side effects, so
// the order does not change the result.
func sortByCost(ns []node) {
	slices.SortStableFunc(ns, func(a, b node) int { return cmp.Compare(cost(a), cost(b)) })
}

// cost estimates the relative cost of evaluating n.
func cost(n node) int {
	switch n := n.(type) {
	case fieldNode:
		switch n.m.op {
		case OpEq, OpExists:
			return 1
		}
		return 2
	case virtualNode, cidrSetNode:
		return 2
	case textNode:
		return 4
	case notNode:
		return cost(n.x)
	case andNode:
		return costSum(n)
	case orNode:
		return costSum(n)
	}
	return 0
}

func costSum(ns []node) int {
	c := 0
	for _, x := range ns {
		c += cost(x)
	}
	return c
}

type never struct{}

func (never) match(*event.Event) bool { return false }

func compileExpr(e Expr) node {
	switch e := e.(type) {
	case *And:
		n := make(andNode, len(e.Terms))
		for i, t := range e.Terms {
			n[i] = compileExpr(t)
		}
		sortByCost(n)
		return n
	case *Or:
		// CIDR terms on one field become one set: a parse and a binary
		// search per value instead of one parse per term.
		groups, rest := GroupCIDR(e.Terms)
		n := make(orNode, 0, len(groups)+len(rest))
		for _, g := range groups {
			n = append(n, cidrSetNode{NewCIDRSet(g)})
		}
		for _, t := range rest {
			n = append(n, compileExpr(t))
		}
		if len(n) == 1 {
			return n[0]
		}
		sortByCost(n)
		return n
	case *Not:
		return notNode{compileExpr(e.X)}
	case *Term:
		tm := CompileTerm(e)
		if tm.text {
			return textNode{tm}
		}
		if tm.vf != notVirtual {
			return virtualNode{tm}
		}
		return fieldNode{tm}
	}
	return never{}
}

// TermMatcher tests one Term against single values or texts, for engines
// that evaluate terms themselves (for example in a SQL function). It is
// safe for concurrent use.
type TermMatcher struct {
	op     Op
	text   bool // a full-text term
	bad    bool // invalid term: matches nothing
	field  string
	key    atomic.Uint32 // event.Key of field once interned; 0 until then
	vf     virtual
	lower  string   // OpEq, OpPhrase: value in lower case
	words  []string // OpWord: tokens
	pat    []patItem
	prefix netip.Prefix
	num    float64
	tm     time.Time
	isTime bool
}

// CompileTerm prepares t for matching.
func CompileTerm(t *Term) *TermMatcher {
	m := &TermMatcher{op: t.Op, field: t.Field, vf: virtualOf(t.Field)}
	if t.Field == "" {
		m.text = true
		switch t.Op {
		case OpPhrase:
			m.lower = ascii.Lower(t.Value)
			m.bad = m.lower == ""
		case OpWord:
			Tokens(t.Value, func(tok string) { m.words = append(m.words, tok) })
			m.bad = len(m.words) == 0
		case OpWildcard:
			m.pat = compilePattern(t.Value)
		default:
			m.bad = true
		}
		return m
	}
	if m.vf == notVirtual {
		// Look the name up rather than intern it: names in queries must not
		// fill the process-wide key table. A field first seen after
		// compiling is resolved when it appears (see resolveKey).
		m.resolveKey()
	}
	switch t.Op {
	case OpEq:
		m.lower = ascii.Lower(t.Value)
	case OpWildcard:
		m.pat = compilePattern(t.Value)
	case OpCIDR:
		m.prefix = t.Prefix.Masked()
		m.bad = !m.prefix.IsValid()
	case OpGt, OpGte, OpLt, OpLte:
		m.num = t.Num
		m.tm = t.Time
		m.isTime = !t.Time.IsZero()
	case OpExists:
	default:
		m.bad = true
	}
	return m
}

// IsText reports whether the term searches the full text (Field "").
func (m *TermMatcher) IsText() bool { return m.text }

// MatchText reports whether one full text (see FullText) satisfies a
// full-text term. It is false for field terms.
func (m *TermMatcher) MatchText(s string) bool {
	if !m.text || m.bad {
		return false
	}
	switch m.op {
	case OpPhrase:
		return containsFoldLower(s, m.lower)
	case OpWord:
		return matchWords(s, m.words)
	case OpWildcard:
		for i := 0; ; {
			start, end := NextToken(s, i)
			if start == end {
				return false
			}
			if matchPattern(m.pat, s[start:end]) {
				return true
			}
			i = end
		}
	}
	return false
}

// MatchValue reports whether one value of the term's field satisfies a
// field term. For a temporal comparison on @timestamp or event.ingested,
// the value is their RFC 3339 text (see FieldValues). It is false for
// full-text terms.
func (m *TermMatcher) MatchValue(v event.Value) bool {
	if m.text || m.bad {
		return false
	}
	if m.op == OpExists {
		return true
	}
	if v.Kind == event.KindNull {
		return false
	}
	switch m.op {
	case OpEq:
		return equalFoldLower(v.Str, m.lower)
	case OpWildcard:
		return matchPattern(m.pat, v.Str)
	case OpCIDR:
		return matchCIDR(m.prefix, v.Str)
	}
	if m.isTime {
		if v.Kind != event.KindString {
			return false
		}
		t, err := time.Parse(time.RFC3339Nano, v.Str)
		if err != nil {
			return false
		}
		return compare(m.op, t.Compare(m.tm))
	}
	n, ok := NumericValue(v)
	if !ok {
		return false
	}
	switch {
	case n < m.num:
		return compare(m.op, -1)
	case n > m.num:
		return compare(m.op, 1)
	}
	return compare(m.op, 0)
}

// compare applies a comparison op to the sign c of value-minus-operand.
func compare(op Op, c int) bool {
	switch op {
	case OpGt:
		return c > 0
	case OpGte:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLte:
		return c <= 0
	}
	return false
}

// matchCIDR reports whether s is an IP address inside p.
func matchCIDR(p netip.Prefix, s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = a.WithZone("")
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return p.Contains(a)
}

// resolveKey returns the key of the term's field, or 0 while no event has
// had that field.
func (m *TermMatcher) resolveKey() event.Key {
	if k := m.key.Load(); k != 0 {
		return event.Key(k)
	}
	k, ok := event.Lookup(m.field)
	if !ok {
		return 0
	}
	m.key.Store(uint32(k))
	return k
}

type fieldNode struct{ m *TermMatcher }

func (n fieldNode) match(ev *event.Event) bool {
	m := n.m
	k := m.resolveKey()
	if k == 0 {
		return false
	}
	for i := range ev.Fields {
		if ev.Fields[i].Key == k && m.MatchValue(ev.Fields[i].Value) {
			return true
		}
	}
	return false
}

type virtualNode struct{ m *TermMatcher }

func (n virtualNode) match(ev *event.Event) bool {
	m := n.m
	if m.bad {
		return false
	}
	if m.isTime && (m.vf == vTimestamp || m.vf == vIngested) {
		t := ev.Timestamp()
		if m.vf == vIngested {
			if ev.Received.IsZero() {
				return false
			}
			t = ev.Received
		}
		return compare(m.op, t.Compare(m.tm))
	}
	found := false
	virtualValues(ev, m.vf, func(v event.Value) bool {
		found = m.MatchValue(v)
		return !found
	})
	return found
}

type textNode struct{ m *TermMatcher }

func (n textNode) match(ev *event.Event) bool {
	found := false
	FullText(ev, func(s string) bool {
		found = n.m.MatchText(s)
		return !found
	})
	return found
}

// matchWords reports whether the tokens want (lower case, at least one)
// occur consecutively among the tokens of s.
func matchWords(s string, want []string) bool {
	for i := 0; ; {
		start, end := NextToken(s, i)
		if start == end {
			return false
		}
		if equalFoldLower(s[start:end], want[0]) && followedBy(s, end, want[1:]) {
			return true
		}
		i = end
	}
}

// followedBy reports whether the tokens of s from offset i begin with want.
func followedBy(s string, i int, want []string) bool {
	for _, w := range want {
		start, end := NextToken(s, i)
		if start == end || !equalFoldLower(s[start:end], w) {
			return false
		}
		i = end
	}
	return true
}

// Wildcard patterns.

type patKind uint8

const (
	patLit  patKind = iota // one literal byte (lower case)
	patStar                // any run of characters
	patOne                 // exactly one UTF-8 character
)

type patItem struct {
	kind patKind
	b    byte
}

// compilePattern compiles a normalized wildcard pattern (see OpWildcard).
// Consecutive stars collapse into one.
func compilePattern(p string) []patItem {
	items := make([]patItem, 0, len(p))
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if n := len(items); n > 0 && items[n-1].kind == patStar {
				continue
			}
			items = append(items, patItem{kind: patStar})
		case '?':
			items = append(items, patItem{kind: patOne})
		case '\\':
			if i+1 < len(p) {
				i++
				c = p[i]
			}
			items = append(items, patItem{b: lower(c)})
		default:
			items = append(items, patItem{b: lower(c)})
		}
	}
	return items
}

// MatchWildcard reports whether s matches a normalized wildcard pattern
// (see OpWildcard), folding ASCII case. It compiles pattern on every call.
func MatchWildcard(pattern, s string) bool {
	return matchPattern(compilePattern(pattern), s)
}

// matchPattern matches s against p with the classic single-backtrack-point
// algorithm: O(len(p)*len(s)) at worst, no recursion. A star absorbs whole
// UTF-8 characters.
func matchPattern(p []patItem, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch it := p[pi]; it.kind {
			case patStar:
				starP, starS = pi, si
				pi++
				continue
			case patOne:
				_, n := utf8.DecodeRuneInString(s[si:])
				si += n
				pi++
				continue
			default:
				if lower(s[si]) == it.b {
					si++
					pi++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi].kind == patStar {
		pi++
	}
	return pi == len(p)
}
