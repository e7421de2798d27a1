package query

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// Default bounds of the parser.
const (
	// DefaultMaxLength is the longest query text accepted, in bytes.
	DefaultMaxLength = 64 << 10
	// DefaultMaxDepth bounds nesting: parentheses, NOT and field groups.
	DefaultMaxDepth = 64
	// DefaultMaxLimit is the largest N accepted by the limit pipe.
	DefaultMaxLimit = 10000
	// MaxTermLength is the longest value of one term, in bytes. It bounds
	// the work of matching a wildcard or phrase against long field values.
	MaxTermLength = 4096
	// MaxSpan is the widest timechart span.
	MaxSpan = 366 * 24 * time.Hour
)

// Options bound what the parser accepts. Zero members take the defaults.
type Options struct {
	// MaxLength is the longest query text accepted, in bytes.
	MaxLength int
	// MaxDepth bounds nesting of parentheses, NOT and field groups.
	MaxDepth int
	// MaxLimit is the largest N of a limit pipe.
	MaxLimit int
}

func (o Options) withDefaults() Options {
	if o.MaxLength <= 0 {
		o.MaxLength = DefaultMaxLength
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxLimit <= 0 {
		o.MaxLimit = DefaultMaxLimit
	}
	return o
}

// Error is a syntax or validation error in a query, with its position.
type Error struct {
	// Offset is the byte offset of the error in the query text.
	Offset int
	// Line and Col are 1-based; Col counts characters (runes).
	Line, Col int
	// Msg says what is wrong.
	Msg string
}

// Error formats the error as query:LINE:COL: message.
func (e *Error) Error() string {
	return fmt.Sprintf("query:%d:%d: %s", e.Line, e.Col, e.Msg)
}

// Parse parses a query with the default Options.
func Parse(s string) (*Query, error) {
	return ParseWith(s, Options{})
}

// ParseWith parses a query with the given bounds. Errors are *Error.
func ParseWith(s string, o Options) (*Query, error) {
	q, _, err := ParseWarn(s, o)
	return q, err
}

// ParseWarn parses a query like ParseWith and also returns warnings about
// text that parses but likely does not say what was meant, such as a
// lowercase "and" between two terms (searched as a word, not the
// operator). At most MaxWarnings are returned, then one that counts the
// rest.
func ParseWarn(s string, o Options) (*Query, []Warning, error) {
	p := &parser{src: s, opts: o.withDefaults()}
	if len(s) > p.opts.MaxLength {
		return nil, nil, p.errAt(p.opts.MaxLength, "query is longer than %d bytes", p.opts.MaxLength)
	}
	q, err := p.parseQuery()
	if err != nil {
		return nil, nil, err
	}
	return q, capWarnings(p.warnings, p.dropped), nil
}

type parser struct {
	src   string
	pos   int
	depth int
	opts  Options
	// pipePos holds the offset of each pipe's command, for messages.
	pipePos []int
	// warnings are notes about text that parses but likely does not say
	// what was meant (see ParseWarn); dropped counts those past
	// MaxWarnings.
	warnings []Warning
	dropped  int
}

// errAt returns an *Error at byte offset off.
func (p *parser) errAt(off int, format string, args ...any) *Error {
	off, line, col := p.position(off)
	return &Error{Offset: off, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// position returns off clamped to the text, and its 1-based line and
// column (in characters).
func (p *parser) position(off int) (offset, line, col int) {
	off = min(max(off, 0), len(p.src))
	line, col = 1, 1
	for _, r := range p.src[:off] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return off, line, col
}

// warnAt records a warning at byte offset off.
func (p *parser) warnAt(off int, format string, args ...any) {
	if len(p.warnings) >= MaxWarnings {
		p.dropped++
		return
	}
	off, line, col := p.position(off)
	p.warnings = append(p.warnings, Warning{Offset: off, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

// describe names the text at off for an error message.
func (p *parser) describe(off int) string {
	if off >= len(p.src) {
		return "end of query"
	}
	end := off + 1
	for end < len(p.src) && end-off < 20 && !isSpace(p.src[end]) && !isDelim(p.src[end]) && !isDelim(p.src[off]) {
		end++
	}
	return strconv.Quote(p.src[off:end])
}

func (p *parser) enter(off int) error {
	p.depth++
	if p.depth > p.opts.MaxDepth {
		return p.errAt(off, "query nests deeper than %d levels", p.opts.MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) parseQuery() (*Query, error) {
	q := &Query{}
	p.skipSpace()
	if p.matchAllStar() {
		p.pos++
		p.skipSpace()
	} else if !p.eof() && p.peek() != '|' {
		f, err := p.parseOr(false, "")
		if err != nil {
			return nil, err
		}
		q.Filter = f
		p.skipSpace()
		if !p.eof() && p.peek() != '|' {
			if p.peek() == ')' {
				return nil, p.errAt(p.pos, `unexpected ")" without a matching "("`)
			}
			return nil, p.errAt(p.pos, "unexpected %s", p.describe(p.pos))
		}
	}
	for !p.eof() {
		// At "|".
		p.pos++
		p.skipSpace()
		p.pipePos = append(p.pipePos, p.pos)
		pipe, err := p.parsePipe()
		if err != nil {
			return nil, err
		}
		q.Pipes = append(q.Pipes, pipe)
		p.skipSpace()
	}
	if err := p.validatePipes(q); err != nil {
		return nil, err
	}
	return q, nil
}

// matchAllStar reports whether the filter is a lone "*" (all events).
func (p *parser) matchAllStar() bool {
	if p.peek() != '*' {
		return false
	}
	i := p.pos + 1
	for i < len(p.src) && isSpace(p.src[i]) {
		i++
	}
	return i == len(p.src) || p.src[i] == '|'
}

// keyword returns the operator keyword (AND, OR, NOT) at the current
// position, or "".
func (p *parser) keyword() string {
	for _, kw := range [...]string{"AND", "OR", "NOT"} {
		if !strings.HasPrefix(p.src[p.pos:], kw) {
			continue
		}
		end := p.pos + len(kw)
		if end == len(p.src) {
			return kw
		}
		switch c := p.src[end]; {
		case isSpace(c), c == '(', c == ')', c == '"', c == '|':
			return kw
		}
	}
	return ""
}

// atExprEnd reports whether the current position ends an expression list.
func (p *parser) atExprEnd() bool {
	return p.eof() || p.peek() == ')' || p.peek() == '|'
}

// parseOr parses a disjunction. In a field group (group true), bare values
// are terms on field.
func (p *parser) parseOr(group bool, field string) (Expr, error) {
	x, err := p.parseAnd(group, field)
	if err != nil {
		return nil, err
	}
	var terms []Expr
	for {
		p.skipSpace()
		if p.keyword() != "OR" {
			break
		}
		p.pos += len("OR")
		p.skipSpace()
		y, err := p.parseAnd(group, field)
		if err != nil {
			return nil, err
		}
		if terms == nil {
			terms = appendFlat(nil, x, false)
		}
		terms = appendFlat(terms, y, false)
	}
	if terms == nil {
		return x, nil
	}
	return &Or{Terms: terms}, nil
}

// appendFlat appends x to terms, splicing in x's own terms when x is an
// And inside an And (and is true) or an Or inside an Or, so that grouping
// parentheses leave no trace in the AST.
func appendFlat(terms []Expr, x Expr, and bool) []Expr {
	switch x := x.(type) {
	case *And:
		if and {
			return append(terms, x.Terms...)
		}
	case *Or:
		if !and {
			return append(terms, x.Terms...)
		}
	}
	return append(terms, x)
}

func (p *parser) parseAnd(group bool, field string) (Expr, error) {
	p.noteLowerOperator(false)
	x, err := p.parseUnary(group, field)
	if err != nil {
		return nil, err
	}
	var terms []Expr
	for {
		p.skipSpace()
		if p.atExprEnd() {
			break
		}
		kw := p.keyword()
		if kw == "OR" {
			break
		}
		if kw == "AND" {
			p.pos += len("AND")
			p.skipSpace()
		}
		p.noteLowerOperator(true)
		y, err := p.parseUnary(group, field)
		if err != nil {
			return nil, err
		}
		if terms == nil {
			terms = appendFlat(nil, x, true)
		}
		terms = appendFlat(terms, y, true)
	}
	if terms == nil {
		return x, nil
	}
	return &And{Terms: terms}, nil
}

// noteLowerOperator records a warning when the text at the current
// position is "and", "or" or "not" in other than upper case where the
// operator would stand: "and" and "or" between two terms (between is true
// when a term comes before), "not" before a term. The word is searched as
// a word, which someone used to KQL or SQL rarely means: such a query
// quietly finds less (or nothing).
func (p *parser) noteLowerOperator(between bool) {
	end := p.pos
	for end < len(p.src) && end-p.pos < 4 && isTokenByte(p.src[end]) {
		end++
	}
	w := p.src[p.pos:end]
	var op string
	for _, kw := range [...]string{"AND", "OR", "NOT"} {
		if len(w) == len(kw) && strings.EqualFold(w, kw) {
			op = kw
		}
	}
	if op == "" || w == op || (op != "NOT" && !between) {
		return
	}
	// The word must stand alone ("and-x", "or:1" are other things) and a
	// term must follow it.
	if end == len(p.src) || !(isSpace(p.src[end]) || p.src[end] == '(' || p.src[end] == '"') {
		return
	}
	next := end
	for next < len(p.src) && isSpace(p.src[next]) {
		next++
	}
	if next == len(p.src) || p.src[next] == ')' || p.src[next] == '|' {
		return
	}
	what := "lowercase"
	if w != strings.ToLower(w) {
		what = "mixed-case"
	}
	p.warnAt(p.pos, "%s %q is searched as a word; write %s for the operator", what, w, op)
}

func (p *parser) parseUnary(group bool, field string) (Expr, error) {
	start := p.pos
	neg := false
	switch {
	case p.keyword() == "NOT":
		p.pos += len("NOT")
		neg = true
	case p.peek() == '-' && p.pos+1 < len(p.src) && !isSpace(p.src[p.pos+1]):
		p.pos++
		neg = true
	}
	if !neg {
		return p.parsePrimary(group, field)
	}
	if err := p.enter(start); err != nil {
		return nil, err
	}
	defer p.leave()
	p.skipSpace()
	if p.atExprEnd() {
		op := "-"
		if p.src[start] == 'N' {
			op = "NOT"
		}
		return nil, p.errAt(p.pos, "expected a term after %s, found %s", op, p.describe(p.pos))
	}
	x, err := p.parseUnary(group, field)
	if err != nil {
		return nil, err
	}
	return &Not{X: x}, nil
}

// parsePrimary parses a parenthesized expression or a term, and bounds the
// length of a term's value.
func (p *parser) parsePrimary(group bool, field string) (Expr, error) {
	start := p.pos
	x, err := p.parseOperand(group, field)
	if t, ok := x.(*Term); ok && len(t.Value) > MaxTermLength {
		return nil, p.errAt(start, "value is longer than %d bytes", MaxTermLength)
	}
	return x, err
}

// parseOperand parses a parenthesized expression, a phrase, a word, or a
// field term. In a field group, unquoted text is a value of field.
func (p *parser) parseOperand(group bool, field string) (Expr, error) {
	start := p.pos
	if p.atExprEnd() {
		return nil, p.errAt(p.pos, "expected a term, found %s", p.describe(p.pos))
	}
	if kw := p.keyword(); kw != "" {
		return nil, p.errAt(p.pos, "expected a term before %s", kw)
	}
	switch p.peek() {
	case '(':
		if err := p.enter(start); err != nil {
			return nil, err
		}
		defer p.leave()
		p.pos++
		p.skipSpace()
		x, err := p.parseOr(group, field)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ')' {
			return nil, p.errAt(p.pos, `expected ")" to close "(" at column %d, found %s`, p.errAt(start, "").Col, p.describe(p.pos))
		}
		p.pos++
		return x, nil
	case '"':
		s, err := p.readQuoted()
		if err != nil {
			return nil, err
		}
		if group {
			return &Term{Field: field, Op: OpEq, Value: s}, nil
		}
		if s == "" {
			return nil, p.errAt(start, "empty phrase")
		}
		if p.peek() == '~' {
			return nil, p.errAt(p.pos, `proximity search ("..."~N) is not supported: search the words without quotes, or the exact phrase without ~`)
		}
		return &Term{Op: OpPhrase, Value: s}, nil
	}
	if group {
		if c := p.peek(); c == '[' || c == '{' {
			return p.parseRange(field)
		}
		return p.parseValue(field)
	}
	w := p.readUnquoted(true)
	switch w.raw {
	case "&&":
		return nil, p.errAt(start, `"&&" is not an operator: write AND`)
	case "=", "==":
		return nil, p.errAt(start, `%q is not an operator: write field:value`, w.raw)
	case "!=":
		return nil, p.errAt(start, `"!=" is not an operator: write NOT field:value`)
	}
	switch p.peek() {
	case ':', '<', '>':
		if w.raw == "" {
			if start > 0 && isSpace(p.src[start-1]) {
				return nil, p.errAt(start, "expected a field name before %q (write field%cvalue, without spaces)", p.peek(), p.peek())
			}
			return nil, p.errAt(start, "expected a field name before %q", p.peek())
		}
		if w.escaped || !validField(w.lit) {
			if !w.escaped && len(w.lit) > 1 && validField(w.lit[1:]) {
				switch w.lit[0] {
				case '!':
					return nil, p.errAt(start, `"!" is not an operator: write NOT %s%c...`, w.lit[1:], p.peek())
				case '+':
					return nil, p.errAt(start, `"+" is not needed: terms are required (joined by AND) unless OR joins them; write %s%c...`, w.lit[1:], p.peek())
				}
			}
			return nil, p.errAt(start, "invalid field name %q (quote text that contains %q)", w.lit, p.peek())
		}
		if p.peek() == ':' {
			p.pos++
			if w.lit == "_exists_" {
				return p.parseExists()
			}
			return p.parseFieldValue(w.lit)
		}
		return p.parseComparison(w.lit)
	case '"':
		// field="x" is SPL or SQL: here it would be the word "field="
		// and, separately, the phrase "x".
		if !w.escaped {
			name, neg := strings.TrimSuffix(w.lit, "="), ""
			name = strings.TrimSuffix(name, "=")
			if n, ok := strings.CutSuffix(name, "!"); ok {
				name, neg = n, "NOT "
			}
			if name != w.lit && validField(name) {
				return nil, p.errAt(start, `%q before a quoted value is not a comparison: write %s%s:"..." to match the field, or quote the whole text to search for it`, w.lit, neg, name)
			}
		}
	}
	if !w.escaped && len(w.lit) > 1 && w.lit[0] == '!' && isTokenByte(w.lit[1]) {
		return nil, p.errAt(start, `"!" is not an operator: write NOT %s, or quote "%s" to search for the text`, w.lit[1:], w.lit)
	}
	if w.wild {
		if !validTokenPattern(w.pattern) {
			if allStars(w.pattern) {
				return nil, p.errAt(start, "a bare * is not a term: use an empty query (or *) for all events, or field:* for events that have a field")
			}
			return nil, p.errAt(start, "full-text wildcard %q may hold only letters, digits, * and ?: quote it as a phrase or name a field", w.lit)
		}
		return &Term{Op: OpWildcard, Value: w.pattern}, nil
	}
	if !hasToken(w.lit) {
		return &Term{Op: OpPhrase, Value: w.lit}, nil
	}
	return &Term{Op: OpWord, Value: w.lit}, nil
}

// parseExists parses what follows "_exists_:" (Lucene's form of
// field:*).
func (p *parser) parseExists() (Expr, error) {
	start := p.pos
	name := p.readName()
	if name == "" || !(p.eof() || isSpace(p.peek()) || isDelim(p.peek())) {
		return nil, p.errAt(start, `expected a field name after "_exists_:" (or write field:* for events that have the field)`)
	}
	return &Term{Field: name, Op: OpExists}, nil
}

// parseFieldValue parses what follows "field:".
func (p *parser) parseFieldValue(field string) (Expr, error) {
	if p.atExprEnd() || isSpace(p.peek()) {
		if isSpace(p.peek()) {
			return nil, p.errAt(p.pos, "expected value after %q (no space after the colon)", field+":")
		}
		return nil, p.errAt(p.pos, "expected value after %q", field+":")
	}
	switch p.peek() {
	case '[', '{':
		return p.parseRange(field)
	case '(':
		open := p.pos
		if err := p.enter(open); err != nil {
			return nil, err
		}
		defer p.leave()
		p.pos++
		p.skipSpace()
		if p.peek() == ')' {
			return nil, p.errAt(p.pos, "expected a value in %q", field+":(...)")
		}
		x, err := p.parseOr(true, field)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ')' {
			return nil, p.errAt(p.pos, `expected ")" to close %q, found %s`, field+":(", p.describe(p.pos))
		}
		p.pos++
		return x, nil
	case '"':
		s, err := p.readQuoted()
		if err != nil {
			return nil, err
		}
		return &Term{Field: field, Op: OpEq, Value: s}, nil
	case '<', '>':
		// field:>10 is accepted as field>10.
		return p.parseComparison(field)
	}
	return p.parseValue(field)
}

// parseValue parses an unquoted value of field.
func (p *parser) parseValue(field string) (Expr, error) {
	w := p.readUnquoted(false)
	switch {
	case w.raw == "*":
		return &Term{Field: field, Op: OpExists}, nil
	case w.wild:
		return &Term{Field: field, Op: OpWildcard, Value: w.pattern}, nil
	case !w.escaped && strings.IndexByte(w.lit, '/') >= 0:
		if pfx, err := netip.ParsePrefix(w.lit); err == nil {
			return &Term{Field: field, Op: OpCIDR, Value: w.lit, Prefix: pfx.Masked()}, nil
		}
	}
	return &Term{Field: field, Op: OpEq, Value: w.lit}, nil
}

// parseComparison parses "field>v", "field>=v", "field<v", "field<=v".
func (p *parser) parseComparison(field string) (Expr, error) {
	op := OpGt
	if p.peek() == '<' {
		op = OpLt
	}
	p.pos++
	if p.peek() == '=' {
		op++ // OpGte, OpLte
		p.pos++
	}
	vstart := p.pos
	if p.atExprEnd() || isSpace(p.peek()) {
		return nil, p.errAt(p.pos, "expected a number or time after %q", field+op.String())
	}
	var v string
	if p.peek() == '"' {
		s, err := p.readQuoted()
		if err != nil {
			return nil, err
		}
		v = s
	} else {
		v = p.readUnquoted(false).lit
	}
	t, ok := comparison(field, op, v)
	if ok {
		return t, nil
	}
	if isTimeField(field) {
		return nil, p.errAt(vstart, "expected an RFC 3339 time such as 2026-11-22T10:00:00Z after %q, found %q", field+op.String(), v)
	}
	return nil, p.errAt(vstart, "expected a number or an RFC 3339 time after %q, found %q", field+op.String(), v)
}

// isTimeField reports whether field compares only as a time.
func isTimeField(field string) bool {
	return field == event.FieldTimestamp || field == fieldIngested
}

// comparison returns the comparison term field op v, with v parsed as a
// number or a time (see OpLte); ok is false when v is neither (or, for
// @timestamp and event.ingested, not a time).
func comparison(field string, op Op, v string) (t *Term, ok bool) {
	t = &Term{Field: field, Op: op, Value: v}
	if !isTimeField(field) {
		if n, ok := parseNumber(v); ok {
			t.Num = n
			return t, true
		}
	}
	if tm, ok := parseTime(v); ok {
		t.Time = tm
		return t, true
	}
	return nil, false
}

// parseRange parses a range at '[' or '{': field:[a TO b] is exactly
// field>=a AND field<=b, and a brace makes its side exclusive ({a TO b}:
// field>a AND field<b; the two kinds may be mixed). A bound * leaves that
// side open, and [* TO *] is field:*. Bounds are numbers or RFC 3339 times
// (both of one kind), quoted or not.
func (p *parser) parseRange(field string) (Expr, error) {
	start := p.pos
	inclusiveLo := p.src[p.pos] == '['
	p.pos++
	p.skipSpace()
	lo, loStart, err := p.rangeBound(field)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.word("TO") {
		found := p.describe(p.pos)
		if end := strings.IndexAny(p.src[p.pos:], " \t\n\r\v\f]}()\"|"); end > 0 {
			found = strconv.Quote(p.src[p.pos : p.pos+end])
		}
		if p.peek() == ']' || p.peek() == '}' || p.eof() {
			return nil, p.errAt(p.pos, `expected "TO" in range %q, found %s (to match a value that starts with %q, quote it: %s:"%s...")`, field+":[a TO b]", found, string(p.src[start]), field, string(p.src[start]))
		}
		return nil, p.errAt(p.pos, `expected "TO" in range %q, found %s`, field+":[a TO b]", found)
	}
	p.pos += len("TO")
	p.skipSpace()
	hi, hiStart, err := p.rangeBound(field)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if c := p.peek(); c != ']' && c != '}' {
		return nil, p.errAt(p.pos, `expected "]" or "}" to close the range at column %d, found %s`, p.errAt(start, "").Col, p.describe(p.pos))
	}
	inclusiveHi := p.peek() == ']'
	p.pos++
	if !p.eof() && !isSpace(p.peek()) && !isDelim(p.peek()) {
		return nil, p.errAt(p.pos, "unexpected %s after the range", p.describe(p.pos))
	}
	opLo, opHi := OpGt, OpLt
	if inclusiveLo {
		opLo = OpGte
	}
	if inclusiveHi {
		opHi = OpLte
	}
	var terms []Expr
	var tlo, thi *Term
	for _, b := range [...]struct {
		v   string
		off int
		op  Op
		t   **Term
	}{{lo, loStart, opLo, &tlo}, {hi, hiStart, opHi, &thi}} {
		if b.v == "*" {
			continue
		}
		t, ok := comparison(field, b.op, b.v)
		if !ok {
			if isTimeField(field) {
				return nil, p.errAt(b.off, "expected an RFC 3339 time such as 2026-11-22T10:00:00Z or * as a bound of %q, found %q", field+":[a TO b]", b.v)
			}
			return nil, p.errAt(b.off, "expected a number, an RFC 3339 time or * as a bound of %q, found %q (ranges compare numbers and times; for text, use wildcards such as %s:web*)", field+":[a TO b]", b.v, field)
		}
		*b.t = t
		terms = append(terms, t)
	}
	switch {
	case len(terms) == 0:
		return &Term{Field: field, Op: OpExists}, nil
	case len(terms) == 1:
		return terms[0], nil
	}
	if tlo.Time.IsZero() != thi.Time.IsZero() {
		return nil, p.errAt(start, "range bounds of %q must both be numbers or both times, found %q and %q", field, lo, hi)
	}
	c := cmp.Compare(tlo.Num, thi.Num)
	if !tlo.Time.IsZero() {
		c = tlo.Time.Compare(thi.Time)
	}
	if c > 0 || c == 0 && !(inclusiveLo && inclusiveHi) {
		return nil, p.errAt(start, "range %s matches no value: its lower bound %q is not below its upper bound %q", p.src[start:p.pos], lo, hi)
	}
	return &And{Terms: terms}, nil
}

// rangeBound reads one bound of a range: a quoted string or text up to a
// space or the closing bracket.
func (p *parser) rangeBound(field string) (v string, off int, err error) {
	off = p.pos
	if p.peek() == '"' {
		v, err = p.readQuoted()
	} else {
		for p.pos < len(p.src) {
			c := p.src[p.pos]
			if isSpace(c) || isDelim(c) || c == ']' || c == '}' {
				break
			}
			p.pos++
		}
		v = p.src[off:p.pos]
	}
	switch {
	case err != nil:
		return "", off, err
	case v == "":
		return "", off, p.errAt(off, "expected a bound in range %q, found %s", field+":[a TO b]", p.describe(off))
	case len(v) > MaxTermLength:
		return "", off, p.errAt(off, "value is longer than %d bytes", MaxTermLength)
	}
	return v, off, nil
}

// parseNumber parses a finite number.
func parseNumber(s string) (float64, bool) {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, false
	}
	return n, true
}

// parseTime parses an RFC 3339 time or a date (midnight UTC). The zero time
// is rejected: it marks a numeric comparison in Term.
func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse(time.DateOnly, s)
	}
	if err != nil || t.IsZero() {
		return time.Time{}, false
	}
	return t, true
}

// readQuoted reads a quoted string at the current position ('"'). Inside,
// \" is a quote and \\ a backslash; any other backslash is literal.
func (p *parser) readQuoted() (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for i := p.pos; i < len(p.src); i++ {
		switch c := p.src[i]; c {
		case '"':
			b.WriteString(p.src[p.pos:i])
			p.pos = i + 1
			return b.String(), nil
		case '\\':
			if i+1 < len(p.src) && (p.src[i+1] == '"' || p.src[i+1] == '\\') {
				b.WriteString(p.src[p.pos:i])
				i++
				p.pos = i // the escaped byte starts the next run
			}
		}
	}
	return "", p.errAt(start, "unterminated quoted string")
}

// isDelim reports whether c ends an unquoted word in every context.
func isDelim(c byte) bool {
	switch c {
	case '(', ')', '"', '|':
		return true
	}
	return false
}

// unquoted is an unquoted word or value as read.
type unquoted struct {
	raw     string // the source text
	lit     string // escapes removed, wildcards literal
	pattern string // normalized wildcard pattern (see OpWildcard)
	wild    bool   // has an unescaped * or ?
	escaped bool   // had at least one escape
}

// readUnquoted reads an unquoted word (word true: also stops at ':', '<',
// '>') or value. A backslash before an escapable byte makes it literal;
// before anything else it is itself literal.
func (p *parser) readUnquoted(word bool) unquoted {
	start := p.pos
	var u unquoted
	// Fast path: without a backslash, the literal and the pattern are the
	// source text itself.
	end := p.pos
	for end < len(p.src) {
		c := p.src[end]
		if isSpace(c) || isDelim(c) || (word && (c == ':' || c == '<' || c == '>')) {
			break
		}
		if c == '\\' {
			end = -1
			break
		}
		if c == '*' || c == '?' {
			u.wild = true
		}
		end++
	}
	if end >= 0 {
		p.pos = end
		u.raw = p.src[start:end]
		u.lit, u.pattern = u.raw, u.raw
		return u
	}
	u.wild = false
	var lit, pat strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if isSpace(c) || isDelim(c) || (word && (c == ':' || c == '<' || c == '>')) {
			break
		}
		switch {
		case c == '\\' && p.pos+1 < len(p.src) && escapable(p.src[p.pos+1]):
			e := p.src[p.pos+1]
			u.escaped = true
			lit.WriteByte(e)
			if e == '*' || e == '?' || e == '\\' {
				pat.WriteByte('\\')
			}
			pat.WriteByte(e)
			p.pos += 2
			continue
		case c == '\\':
			lit.WriteByte(c)
			pat.WriteString(`\\`)
		case c == '*' || c == '?':
			u.wild = true
			lit.WriteByte(c)
			pat.WriteByte(c)
		default:
			lit.WriteByte(c)
			pat.WriteByte(c)
		}
		p.pos++
	}
	u.raw = p.src[start:p.pos]
	u.lit = lit.String()
	u.pattern = pat.String()
	return u
}

// validField reports whether s is a field name: letters, digits, _ . @ -
// and non-ASCII characters, not starting with '-'.
func validField(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !fieldByte(s[i]) {
			return false
		}
	}
	return true
}

func fieldByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	return c == '_' || c == '.' || c == '@' || c == '-'
}

// validTokenPattern reports whether a full-text wildcard pattern holds only
// token bytes and wildcards, and at least one token byte.
func validTokenPattern(p string) bool {
	tok := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '*' || c == '?':
		case isTokenByte(c):
			tok = true
		default:
			return false
		}
	}
	return tok
}

func allStars(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '*' {
			return false
		}
	}
	return p != ""
}

func hasToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if isTokenByte(s[i]) {
			return true
		}
	}
	return false
}

// readName reads a field or column name (field bytes, not starting with
// '-').
func (p *parser) readName() string {
	start := p.pos
	for p.pos < len(p.src) && fieldByte(p.src[p.pos]) && !(p.pos == start && p.src[p.pos] == '-') {
		p.pos++
	}
	return p.src[start:p.pos]
}

// expectColumn reads a column reference: a name, or an aggregate's default
// name such as dc(user.name) or count().
func (p *parser) expectColumn(cmd string) (string, error) {
	start := p.pos
	name := p.readName()
	if name == "" {
		return "", p.errAt(p.pos, "expected a column name after %q, found %s", cmd, p.describe(p.pos))
	}
	if p.peek() != '(' {
		return name, nil
	}
	p.pos++
	inner := p.readName()
	if p.peek() != ')' {
		return "", p.errAt(p.pos, "expected \")\" in column %q, found %s", p.src[start:p.pos], p.describe(p.pos))
	}
	p.pos++
	if inner == "" {
		return name, nil // count() is named "count"
	}
	return name + "(" + inner + ")", nil
}

// parseList parses item ("," item)* up to the end of the pipe.
func (p *parser) parseList(cmd string, item func() error) error {
	for {
		p.skipSpace()
		if err := item(); err != nil {
			return err
		}
		p.skipSpace()
		if p.peek() != ',' {
			return p.expectPipeEnd(cmd)
		}
		p.pos++
	}
}

func (p *parser) expectPipeEnd(cmd string) error {
	p.skipSpace()
	if !p.eof() && p.peek() != '|' {
		return p.errAt(p.pos, "unexpected %s in %q", p.describe(p.pos), cmd)
	}
	return nil
}

// word reports whether the next name is w (case-insensitive), without
// consuming it.
func (p *parser) word(w string) bool {
	end := p.pos + len(w)
	if end > len(p.src) || !strings.EqualFold(p.src[p.pos:end], w) {
		return false
	}
	return end == len(p.src) || !fieldByte(p.src[end]) && p.src[end] != '('
}
