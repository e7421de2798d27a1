package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/logsource"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/sigma"
)

// An alert stores one event (the first it matched) and a count. The
// search that lists the rest is written here, from the rule: a Sigma
// detection becomes the query that finds the events it matches (its
// logsource, as the engine routes events to it, and its detection, with
// each mapping source's field names), a correlation the union of its
// rules' queries narrowed to its group-by values, and the alert's first
// and last seen bound the time. What the query language cannot say
// (regular expressions, field references, time parts, case-sensitive
// matching) is left out so that the search finds more rather than fewer
// events, and the page says so.

// alertEvents is the search that lists an alert's events.
type alertEvents struct {
	// Query is the query text.
	Query string
	// From and To bound the events' time, inclusive.
	From, To time.Time
	// Notes say why the search may list events the rule did not count;
	// none means it lists exactly the events that made the alert.
	Notes []string
	// Correlation describes the correlation ("event_count >= 10 of
	// vigil_ssh_auth_failure by source.ip within 5m"); empty for a
	// detection's alert.
	Correlation string
}

// URL returns the console search of e.
func (e alertEvents) URL() string {
	v := url.Values{}
	v.Set("q", e.Query)
	v.Set("range", "custom")
	v.Set("from", e.From.UTC().Format(time.RFC3339Nano))
	v.Set("to", e.To.UTC().Format(time.RFC3339Nano))
	return "/search?" + v.Encode()
}

// maxCorrelationDepth bounds how deep a chain of correlations is followed
// (the rule set refuses cycles; this bounds the work on a long chain).
const maxCorrelationDepth = 8

// eventsOf returns the search that lists the events of a. l may be nil
// (no rules loaded): the search then narrows by the alert's group-by
// values or entities only, and says so.
func eventsOf(a alert.Alert, l *ruleset.Loaded) alertEvents {
	b := &qbuilder{}
	if l != nil {
		b.set = l.Set
		if l.Engine != nil {
			b.table = l.Engine.Logsources()
		}
	}
	out := alertEvents{From: a.FirstSeen, To: a.LastSeen}
	var r *sigma.Rule
	if b.set != nil {
		r, _ = b.set.Lookup(a.RuleID)
	}
	var n qnode
	switch {
	case r != nil && r.Kind == sigma.KindCorrelation && r.Correlation != nil:
		var back time.Duration
		n, back = b.correlation(r, a.Group, 0)
		out.From = out.From.Add(-back)
		out.Correlation = describeCorrelation(r)
	case r != nil && r.Kind == sigma.KindDetection && r.Detection != nil:
		n = qand(b.rule(r, true), b.entities(a))
	default:
		b.note("the rule of this alert is not loaded: the search lists the events of its entities in its time")
		n = qand(b.group(a.Group, func(f string) []string { return []string{f} }), b.entities(a))
	}
	if n.k == qFalse {
		// Only a subset could be written: nothing is better than a
		// search that silently misses events.
		b.note("the rule's detection cannot be written as a query: the search lists every event of its time")
		n = qnode{k: qTrue}
	}
	out.Query = b.text(n)
	out.Notes = b.notes
	return out
}

// describeCorrelation says what a correlation counts, in one line.
func describeCorrelation(r *sigma.Rule) string {
	co := r.Correlation
	var b strings.Builder
	b.WriteString(string(co.Type))
	if c := co.Condition; c != nil {
		if len(c.Field) > 0 {
			fmt.Fprintf(&b, " of %s", strings.Join(c.Field, ", "))
		}
		sym := map[sigma.CompareOp]string{sigma.OpGT: ">", sigma.OpGTE: ">=", sigma.OpLT: "<", sigma.OpLTE: "<=", sigma.OpEQ: "=", sigma.OpNEQ: "!="}
		for _, t := range c.Ops {
			fmt.Fprintf(&b, " %s %s", sym[t.Op], strconv.FormatFloat(t.Value, 'f', -1, 64))
		}
	}
	fmt.Fprintf(&b, " over %s", strings.Join(co.Rules, ", "))
	if len(co.GroupBy) > 0 {
		fmt.Fprintf(&b, " by %s", strings.Join(co.GroupBy, ", "))
	}
	fmt.Fprintf(&b, " within %s", co.TimespanText)
	return b.String()
}

// qkind tells a qnode's constant value, if it has one.
type qkind uint8

const (
	qExpr  qkind = iota // the expression e
	qTrue               // every event
	qFalse              // no event
)

// qnode is a query expression being built, or one of the constants true
// and false, which the query language has no syntax for and which fold
// away.
type qnode struct {
	k qkind
	e query.Expr
}

func qexpr(e query.Expr) qnode { return qnode{e: e} }

func qand(ns ...qnode) qnode {
	// Each term once: a chained correlation narrows to the same group
	// twice.
	return qjoin(ns, qFalse, func(e query.Expr) []query.Expr {
		if a, ok := e.(*query.And); ok {
			return a.Terms
		}
		return nil
	}, func(ts []query.Expr) query.Expr { return &query.And{Terms: ts} })
}

func qor(ns ...qnode) qnode {
	// The same branch twice (two mapping sources with the same predicate
	// and names) is written once.
	return qjoin(ns, qTrue, func(e query.Expr) []query.Expr {
		if o, ok := e.(*query.Or); ok {
			return o.Terms
		}
		return nil
	}, func(ts []query.Expr) query.Expr { return &query.Or{Terms: ts} })
}

// qjoin joins ns into an AND or an OR: absorb is the constant that
// decides the whole (false for AND, true for OR), the other one drops
// out; nested joins of the same kind (what flat unpacks) are flattened,
// and each term is kept once.
func qjoin(ns []qnode, absorb qkind, flat func(query.Expr) []query.Expr, join func([]query.Expr) query.Expr) qnode {
	var terms []query.Expr
	seen := map[string]bool{}
	for _, n := range ns {
		switch n.k {
		case absorb:
			return n
		case qExpr:
			sub := flat(n.e)
			if sub == nil {
				sub = []query.Expr{n.e}
			}
			for _, e := range sub {
				if s := e.String(); !seen[s] {
					seen[s] = true
					terms = append(terms, e)
				}
			}
		}
	}
	switch len(terms) {
	case 0:
		if absorb == qFalse {
			return qnode{k: qTrue}
		}
		return qnode{k: qFalse}
	case 1:
		return qexpr(terms[0])
	}
	return qexpr(join(terms))
}

func qnot(n qnode) qnode {
	switch n.k {
	case qTrue:
		return qnode{k: qFalse}
	case qFalse:
		return qnode{k: qTrue}
	}
	return qexpr(&query.Not{X: n.e})
}

// qbuilder writes queries for rules. Every method takes sup, which says
// what the caller needs where the query language falls short: true, a
// query that finds at least the events the rule matches (a part it cannot
// write becomes "every event"); false, one that finds at most them (such a
// part becomes "no event"). A NOT flips it.
type qbuilder struct {
	set   *sigma.Set
	table *logsource.Table
	notes []string
}

func (b *qbuilder) note(s string) {
	if !slices.Contains(b.notes, s) {
		b.notes = append(b.notes, s)
	}
}

// unsupported is what a part the language cannot say becomes.
func (b *qbuilder) unsupported(sup bool, why string) qnode {
	b.note(why)
	if sup {
		return qnode{k: qTrue}
	}
	return qnode{k: qFalse}
}

// text returns n as query text, parsed back to be sure that it reads as
// it was built (and in canonical form).
func (b *qbuilder) text(n qnode) string {
	if n.k != qExpr {
		return ""
	}
	s := n.e.String()
	q, err := query.Parse(s)
	if err != nil || q.Filter == nil || len(s) > api.MaxQueryLength {
		// Each term was checked when it was made; this is a last guard.
		b.note("the query of the rule could not be written: the search lists every event of its time")
		return ""
	}
	return q.Filter.String()
}

// term returns t if it survives being written and read back unchanged,
// else the unsupported constant.
func (b *qbuilder) term(t *query.Term, sup bool) qnode {
	s := t.String()
	q, err := query.Parse(s)
	if err == nil && q.Filter != nil && len(q.Pipes) == 0 {
		if pt, ok := q.Filter.(*query.Term); ok && pt.Field == t.Field && pt.Op == t.Op && pt.Value == t.Value {
			return qexpr(pt)
		}
	}
	return b.unsupported(sup, fmt.Sprintf("a value of %s cannot be written in the query language", fieldLabel(t.Field)))
}

func fieldLabel(f string) string {
	if f == "" {
		return "the keywords"
	}
	return "field " + strconv.Quote(f)
}

// validField reports whether the query language can name field f.
func validField(f string) bool {
	if f == "" || len(f) > 256 {
		return false
	}
	q, err := query.Parse(f + ":*")
	if err != nil || q.Filter == nil {
		return false
	}
	t, ok := q.Filter.(*query.Term)
	return ok && t.Field == f && t.Op == query.OpExists
}

func eq(field, value string) *query.Term {
	return &query.Term{Field: field, Op: query.OpEq, Value: value}
}

func exists(field string) *query.Term { return &query.Term{Field: field, Op: query.OpExists} }

// rule returns the query of a detection rule's matches: the union, over
// the ways the engine routes events to the rule (the event's own
// logsource, and each mapping source that provides it), of that route's
// predicate and the detection with that route's field names, less the
// rule's filters.
func (b *qbuilder) rule(r *sigma.Rule, sup bool) qnode {
	filters := b.filtersOf(r)
	variant := func(ls qnode, mapName func(string) string) qnode {
		parts := []qnode{ls, b.detection(r.Detection, mapName, sup)}
		for _, f := range filters {
			// A filter is ANDed with the rule (an exclusion is written
			// "not selection" in the filter).
			parts = append(parts, b.detection(f.Filter.Detection, mapName, sup))
		}
		return qand(parts...)
	}
	identity := func(n string) string { return n }
	own := qand(
		b.lsTerm("logsource.product", r.Logsource.Product, sup),
		b.lsTerm("logsource.category", r.Logsource.Category, sup),
		b.lsTerm("logsource.service", r.Logsource.Service, sup),
	)
	vs := []qnode{variant(own, identity)}
	if b.table != nil {
		want := event.Logsource{Product: strings.ToLower(r.Logsource.Product), Category: strings.ToLower(r.Logsource.Category), Service: strings.ToLower(r.Logsource.Service)}
		for _, i := range b.table.Covering(want) {
			src := b.table.Source(i)
			mapName := func(n string) string { return b.table.Field(i, n) }
			vs = append(vs, variant(b.sourceMatch(src.Match, sup), mapName))
		}
	}
	return qor(vs...)
}

func (b *qbuilder) lsTerm(field, v string, sup bool) qnode {
	if v == "" {
		return qnode{k: qTrue}
	}
	return b.term(eq(field, strings.ToLower(v)), sup)
}

// filtersOf returns the filter rules the engine applies to r: those naming
// it (or any rule) whose logsource r's satisfies.
func (b *qbuilder) filtersOf(r *sigma.Rule) []*sigma.Rule {
	if b.set == nil {
		return nil
	}
	var out []*sigma.Rule
	for _, f := range b.set.Rules {
		if f.Kind != sigma.KindFilter || f.Filter == nil || f.Filter.Detection == nil || len(f.Placeholders) > 0 {
			continue
		}
		applies := f.Filter.AnyRule
		for _, ref := range f.Filter.Rules {
			if t, ok := b.set.Lookup(ref); ok && t == r {
				applies = true
			}
		}
		eqf := func(fv, rv string) bool { return fv == "" || strings.EqualFold(fv, rv) }
		if applies && eqf(f.Logsource.Product, r.Logsource.Product) && eqf(f.Logsource.Category, r.Logsource.Category) && eqf(f.Logsource.Service, r.Logsource.Service) {
			out = append(out, f)
		}
	}
	return out
}

// sourceMatch returns the predicate of a mapping source.
func (b *qbuilder) sourceMatch(m logsource.Match, sup bool) qnode {
	list := func(field string, l logsource.StringList) qnode {
		if l == nil {
			return qnode{k: qTrue}
		}
		var alts []qnode
		for _, v := range l {
			if v == "" {
				alts = append(alts, qnot(qexpr(exists(field))))
				continue
			}
			alts = append(alts, b.term(eq(field, v), sup))
		}
		return qor(alts...)
	}
	parts := []qnode{list("logsource.product", m.Product), list("logsource.category", m.Category), list("logsource.service", m.Service)}
	if len(m.EventID) > 0 {
		var alts []qnode
		for _, id := range m.EventID {
			alts = append(alts, b.term(eq("EventID", strconv.FormatInt(id, 10)), sup))
		}
		parts = append(parts, qor(alts...))
	}
	for _, c := range m.Where {
		if !validField(c.Field) {
			parts = append(parts, b.unsupported(sup, fmt.Sprintf("the logsource's %s cannot be named in the query language", fieldLabel(c.Field))))
			continue
		}
		var alts []qnode
		add := func(l logsource.StringList, method sigma.Method) {
			for _, v := range l {
				alts = append(alts, b.pattern(c.Field, method, sigma.Pattern{Parts: []sigma.Part{{Kind: sigma.PartLiteral, Text: v}}}, sup))
			}
		}
		add(c.Equals, sigma.MethodEquals)
		add(c.StartsWith, sigma.MethodStartsWith)
		add(c.EndsWith, sigma.MethodEndsWith)
		add(c.Contains, sigma.MethodContains)
		if c.Exists != nil {
			x := qexpr(exists(c.Field))
			if !*c.Exists {
				x = qnot(x)
			}
			alts = append(alts, x)
		}
		parts = append(parts, qor(alts...))
	}
	return qand(parts...)
}

// detection returns the query of a detection's condition (its conditions
// are alternatives).
func (b *qbuilder) detection(d *sigma.Detection, mapName func(string) string, sup bool) qnode {
	var alts []qnode
	for _, c := range d.Conditions {
		alts = append(alts, b.cond(d, c.Resolved, mapName, sup))
	}
	return qor(alts...)
}

func (b *qbuilder) cond(d *sigma.Detection, c sigma.Cond, mapName func(string) string, sup bool) qnode {
	switch x := c.(type) {
	case *sigma.And:
		var ns []qnode
		for _, a := range x.Args {
			ns = append(ns, b.cond(d, a, mapName, sup))
		}
		return qand(ns...)
	case *sigma.Or:
		var ns []qnode
		for _, a := range x.Args {
			ns = append(ns, b.cond(d, a, mapName, sup))
		}
		return qor(ns...)
	case *sigma.Not:
		return qnot(b.cond(d, x.Arg, mapName, !sup))
	case *sigma.Ref:
		s := d.Searches[x.Name]
		if s == nil {
			return b.unsupported(sup, "the rule's condition names a search it does not have")
		}
		var groups []qnode
		for _, g := range s.Groups {
			var items []qnode
			for _, it := range g.Items {
				items = append(items, b.item(it, mapName, sup))
			}
			groups = append(groups, qand(items...))
		}
		return qor(groups...)
	}
	return b.unsupported(sup, "the rule's condition has a form the query language cannot say")
}

// item returns the query of one "field|modifiers: values" entry.
func (b *qbuilder) item(it *sigma.FieldItem, mapName func(string) string, sup bool) qnode {
	field := ""
	if it.Field != "" {
		field = mapName(it.Field)
	}
	switch {
	case it.FieldRef:
		return b.unsupported(sup, fmt.Sprintf("%s is compared with another field (fieldref), which the query language cannot say", fieldLabel(field)))
	case it.TimePart != sigma.TimeNone:
		return b.unsupported(sup, fmt.Sprintf("%s is compared by a part of its time (%s), which the query language cannot say", fieldLabel(field), it.TimePart))
	case it.Method == sigma.MethodRegexp:
		return b.unsupported(sup, fmt.Sprintf("%s is matched by a regular expression, which the query language cannot say", fieldLabel(field)))
	case field != "" && !validField(field):
		return b.unsupported(sup, fmt.Sprintf("%s cannot be named in the query language", fieldLabel(field)))
	}
	// The values are matched as the item says; neq inverts the result, so
	// what the caller needs of the item is the opposite of the values.
	vsup := sup != it.Negate
	if it.Cased {
		if !vsup {
			return b.unsupported(sup, fmt.Sprintf("%s is matched case-sensitively (cased), and the query language ignores case", fieldLabel(field)))
		}
		b.note(fmt.Sprintf("%s is matched case-sensitively (cased); the search ignores case", fieldLabel(field)))
	}
	var vals []qnode
	for _, v := range it.Values {
		vals = append(vals, b.value(it, field, v, vsup))
	}
	n := qor(vals...)
	if it.All {
		n = qand(vals...)
	}
	if it.Negate {
		n = qnot(n)
	}
	return n
}

func (b *qbuilder) value(it *sigma.FieldItem, field string, v *sigma.Value, sup bool) qnode {
	switch it.Method {
	case sigma.MethodEquals, sigma.MethodContains, sigma.MethodStartsWith, sigma.MethodEndsWith:
		if v.Kind == sigma.ValueNull {
			if field == "" {
				return b.unsupported(sup, "a null keyword cannot be written in the query language")
			}
			// Sigma's null is "absent or null"; the query's NOT f:* is
			// "absent" (f:* holds for a null value too).
			if sup {
				b.note(fmt.Sprintf("%s: null is searched as absent", fieldLabel(field)))
			}
			return qnot(qexpr(exists(field)))
		}
		var alts []qnode
		for _, p := range v.Patterns {
			alts = append(alts, b.pattern(field, it.Method, p, sup))
		}
		return qor(alts...)
	case sigma.MethodCIDR:
		if field == "" || !v.Prefix.IsValid() {
			return b.unsupported(sup, "a cidr keyword cannot be written in the query language")
		}
		return b.term(&query.Term{Field: field, Op: query.OpCIDR, Value: v.Prefix.String(), Prefix: v.Prefix}, sup)
	case sigma.MethodExists:
		if field == "" {
			return b.unsupported(sup, "an exists keyword cannot be written in the query language")
		}
		x := qexpr(exists(field))
		if !v.Bool {
			x = qnot(x)
		}
		return x
	case sigma.MethodLT, sigma.MethodLTE, sigma.MethodGT, sigma.MethodGTE:
		if field == "" {
			return b.unsupported(sup, "a comparison keyword cannot be written in the query language")
		}
		op := map[sigma.Method]query.Op{sigma.MethodLT: query.OpLt, sigma.MethodLTE: query.OpLte, sigma.MethodGT: query.OpGt, sigma.MethodGTE: query.OpGte}[it.Method]
		return b.term(&query.Term{Field: field, Op: op, Value: strconv.FormatFloat(v.Number, 'f', -1, 64), Num: v.Number}, sup)
	}
	return b.unsupported(sup, fmt.Sprintf("%s uses the %s modifier, which the query language cannot say", fieldLabel(field), it.Method))
}

// pattern returns the query of one string pattern matched by method.
func (b *qbuilder) pattern(field string, method sigma.Method, p sigma.Pattern, sup bool) qnode {
	var pat, lit strings.Builder
	hasWild := false
	for _, part := range p.Parts {
		switch part.Kind {
		case sigma.PartLiteral:
			for i := 0; i < len(part.Text); i++ {
				c := part.Text[i]
				if c == '*' || c == '?' || c == '\\' {
					pat.WriteByte('\\')
				}
				pat.WriteByte(c)
			}
			lit.WriteString(part.Text)
		case sigma.PartStar:
			pat.WriteByte('*')
			hasWild = true
		case sigma.PartQuestion:
			pat.WriteByte('?')
			hasWild = true
		default:
			return b.unsupported(sup, fmt.Sprintf("%s holds a placeholder", fieldLabel(field)))
		}
	}
	if !utf8.ValidString(lit.String()) {
		return b.unsupported(sup, fmt.Sprintf("%s is matched as encoded bytes (utf16, base64), which the query language cannot say", fieldLabel(field)))
	}
	if hasNonASCIILetter(lit.String()) {
		b.note(fmt.Sprintf("%s: the search ignores the case of ASCII letters only", fieldLabel(field)))
	}
	if field == "" {
		// A keyword: the engine looks for it in the event's text, as the
		// query's quoted phrase does.
		if method != sigma.MethodContains || hasWild || lit.Len() == 0 {
			return b.unsupported(sup, "a keyword with wildcards or a position cannot be written in the query language")
		}
		return b.term(&query.Term{Op: query.OpPhrase, Value: lit.String()}, sup)
	}
	s := pat.String()
	switch method {
	case sigma.MethodContains:
		s = "*" + s + "*"
	case sigma.MethodStartsWith:
		s += "*"
	case sigma.MethodEndsWith:
		s = "*" + s
	}
	if !hasWild && method == sigma.MethodEquals {
		if lit.Len() == 0 {
			return b.unsupported(sup, fmt.Sprintf("%s is compared with the empty string, which the query language cannot say", fieldLabel(field)))
		}
		return b.term(eq(field, lit.String()), sup)
	}
	return b.term(&query.Term{Field: field, Op: query.OpWildcard, Value: s}, sup)
}

func hasNonASCIILetter(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf && strings.ToLower(string(r)) != strings.ToUpper(string(r)) {
			return true
		}
	}
	return false
}

// group returns the terms of a correlation's group-by values, read from
// the events by field (the engine reads group-by fields by the name
// written, or an alias's name for the rule). An empty value is a group of
// events that lack the field.
//
// fieldsFor lists the event fields that may hold a group-by name, as the
// engine reads them: the name, then what the input rule's logsource
// sources map it to (c-ip is source.ip in nginx's events). The engine
// takes the first one an event has; the search takes any of them that
// holds the value, which can only be wider.
func (b *qbuilder) group(group map[string]string, fieldsFor func(string) []string) qnode {
	names := make([]string, 0, len(group))
	for k := range group {
		names = append(names, k)
	}
	slices.Sort(names)
	var parts []qnode
	for _, g := range names {
		var alts []qnode
		for _, f := range fieldsFor(g) {
			if !validField(f) {
				alts = append(alts, b.unsupported(true, fmt.Sprintf("the group-by %s cannot be named in the query language", fieldLabel(f))))
				continue
			}
			if group[g] == "" {
				alts = append(alts, qnot(qexpr(exists(f))))
			} else {
				alts = append(alts, b.term(eq(f, group[g]), true))
			}
		}
		if group[g] == "" {
			parts = append(parts, qand(alts...)) // no field holds it
		} else {
			parts = append(parts, qor(alts...))
		}
	}
	return qand(parts...)
}

// groupFields returns the fields that may hold group-by name in the
// events of detection rule t (see group).
func (b *qbuilder) groupFields(t *sigma.Rule, name string) []string {
	out := []string{name}
	if b.table == nil || t.Kind != sigma.KindDetection {
		return out
	}
	want := event.Logsource{Product: strings.ToLower(t.Logsource.Product), Category: strings.ToLower(t.Logsource.Category), Service: strings.ToLower(t.Logsource.Service)}
	for _, i := range b.table.Covering(want) {
		if f := b.table.Field(i, name); !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// correlation returns the query of a correlation's contributing events
// for one group, and how far before the alert's first seen they may start
// (a chained correlation's own window).
func (b *qbuilder) correlation(r *sigma.Rule, group map[string]string, depth int) (qnode, time.Duration) {
	if depth >= maxCorrelationDepth {
		return b.unsupported(true, "the correlation chain is too deep to follow"), 0
	}
	co := r.Correlation
	var alts []qnode
	var back time.Duration
	for _, ref := range co.Rules {
		t, ok := b.set.Lookup(ref)
		if !ok {
			alts = append(alts, b.unsupported(true, fmt.Sprintf("the correlation names rule %q, which is not loaded", ref)))
			continue
		}
		fieldFor := func(name string) string {
			if m, ok := co.Aliases[name]; ok {
				for _, k := range []string{t.Name, t.ID, ref} {
					if f, ok := m[k]; ok && k != "" {
						return f
					}
				}
			}
			return name
		}
		// Only the group-by names the correlation has: a stored group
		// may not carry others.
		g := map[string]string{}
		for _, name := range co.GroupBy {
			if v, ok := group[name]; ok {
				g[name] = v
			}
		}
		var base qnode
		switch {
		case t.Kind == sigma.KindDetection && t.Detection != nil:
			base = b.rule(t, true)
		case t.Kind == sigma.KindCorrelation && t.Correlation != nil:
			// A correlation on a correlation: the inner one's events
			// with the outer group's values, from the inner window
			// before.
			var inner time.Duration
			base, inner = b.correlation(t, group, depth+1)
			back = max(back, t.Correlation.Timespan+inner)
			b.note(fmt.Sprintf("%q is itself a correlation: the search also lists its events from up to %s before this alert was first seen, some of which may not have counted", t.Title, t.Correlation.TimespanText))
		default:
			base = b.unsupported(true, fmt.Sprintf("the correlation names %q, which is neither a detection nor a correlation", ref))
		}
		alts = append(alts, qand(base, b.group(g, func(name string) []string { return b.groupFields(t, fieldFor(name)) })))
	}
	return qor(alts...), back
}

// entities narrows a detection's alert to the entities its repeats were
// folded by (alert.DedupKey): the host, and the source address or else
// the user, each in the field of the alert's event that holds it. A
// campaign alert stands for many subjects and is not narrowed.
func (b *qbuilder) entities(a alert.Alert) qnode {
	if a.Campaign {
		b.note("a campaign alert stands for many subjects: the search lists the rule's events for all of them")
		return qnode{k: qTrue}
	}
	var ev map[string]any
	_ = json.Unmarshal(a.Event, &ev)
	first := func(kind string) string {
		if vs := a.Entities[kind]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	term := func(kind string) qnode {
		v := first(kind)
		if v == "" {
			return qnode{k: qTrue}
		}
		for _, f := range alert.KindFields(kind) {
			if holds(ev[f], v) && validField(f) {
				return b.term(eq(f, v), true)
			}
		}
		// Not in the stored event (an older alert): the entity's ECS field.
		return b.term(eq(alert.KindFields(kind)[0], v), true)
	}
	parts := []qnode{term("host")}
	if first("source.ip") != "" {
		parts = append(parts, term("source.ip"))
	} else {
		parts = append(parts, term("user"))
	}
	return qand(parts...)
}

// holds reports whether a JSON value (a string, or an array of them) is or
// holds v, as Entities reads it (trimmed).
func holds(x any, v string) bool {
	switch y := x.(type) {
	case string:
		return strings.TrimSpace(y) == v
	case float64:
		return strconv.FormatFloat(y, 'f', -1, 64) == v
	case []any:
		for _, e := range y {
			if holds(e, v) {
				return true
			}
		}
	}
	return false
}
