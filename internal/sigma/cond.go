package sigma

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Cond is a node of a condition's syntax tree: *And, *Or, *Not, *Ref or *Of.
type Cond interface {
	// Offset is the byte offset of the node in the condition text.
	Offset() int
	// String renders the node in canonical condition syntax, fully
	// parenthesized for And and Or, so that equal trees print equally.
	String() string
	isCond()
}

// And matches when all of Args match. It has at least two arguments when
// produced by the parser (the resolver may produce any number, including
// one); an And with no arguments is true.
type And struct {
	Args []Cond
	Off  int
}

// Or matches when any of Args matches. An Or with no arguments is false.
type Or struct {
	Args []Cond
	Off  int
}

// Not matches when Arg does not.
type Not struct {
	Arg Cond
	Off int
}

// Ref refers to the search identifier Name.
type Ref struct {
	Name string
	Off  int
}

// Quantifier is the quantifier of an "x of" expression.
type Quantifier uint8

// Quantifiers.
const (
	// QuantOne is "1 of" (also accepted as "any of"): any matching search.
	QuantOne Quantifier = iota
	// QuantAll is "all of": every matching search.
	QuantAll
)

// String returns "1" or "all".
func (q Quantifier) String() string {
	if q == QuantAll {
		return "all"
	}
	return "1"
}

// Of is "1 of P", "all of P", "1 of them" or "all of them". Pattern is the
// search identifier pattern, in which * matches any run of characters (and
// ? any single one). With Them, Pattern is empty and the expression covers
// every search identifier that does not start with an underscore.
type Of struct {
	Quantifier Quantifier
	Pattern    string
	Them       bool
	Off        int
}

func (n *And) isCond() {}
func (n *Or) isCond()  {}
func (n *Not) isCond() {}
func (n *Ref) isCond() {}
func (n *Of) isCond()  {}

// Offset implements Cond.
func (n *And) Offset() int { return n.Off }

// Offset implements Cond.
func (n *Or) Offset() int { return n.Off }

// Offset implements Cond.
func (n *Not) Offset() int { return n.Off }

// Offset implements Cond.
func (n *Ref) Offset() int { return n.Off }

// Offset implements Cond.
func (n *Of) Offset() int { return n.Off }

func joinConds(args []Cond, op string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(op)
		}
		b.WriteString(a.String())
	}
	b.WriteByte(')')
	return b.String()
}

// String implements Cond.
func (n *And) String() string { return joinConds(n.Args, " and ") }

// String implements Cond.
func (n *Or) String() string { return joinConds(n.Args, " or ") }

// String implements Cond.
func (n *Not) String() string { return "not " + n.Arg.String() }

// String implements Cond.
func (n *Ref) String() string { return n.Name }

// String implements Cond.
func (n *Of) String() string {
	if n.Them {
		return n.Quantifier.String() + " of them"
	}
	return n.Quantifier.String() + " of " + n.Pattern
}

// Limits that keep hostile conditions from using unbounded time or stack.
const (
	// MaxConditionLen is the longest condition text accepted, in bytes.
	MaxConditionLen = 64 << 10
	// MaxConditionDepth is the deepest nesting of parentheses and "not"
	// accepted.
	MaxConditionDepth = 64
)

// ErrAggregation is reported for conditions using the aggregation pipe
// ("selection | count() by x > 5"). That syntax was removed from Sigma in
// favour of correlation rules, which Vigil supports; such a rule must be
// rewritten as a detection rule plus an event_count or value_count
// correlation.
var ErrAggregation = errors.New("aggregation pipe in condition is not supported (obsolete Sigma syntax): use a correlation rule")

// ConditionError is a syntax or resolution error in a condition, at a byte
// offset in the condition text.
type ConditionError struct {
	Offset int
	Msg    string
	Err    error // wrapped cause, if any (e.g. ErrAggregation)
}

// Error implements error.
func (e *ConditionError) Error() string {
	return fmt.Sprintf("condition at offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns the cause.
func (e *ConditionError) Unwrap() error { return e.Err }

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokLParen
	tokRParen
	tokPipe
)

type condToken struct {
	kind tokKind
	text string
	off  int
}

type condParser struct {
	src   string
	pos   int
	tok   condToken
	depth int
}

func isCondSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func (p *condParser) next() {
	for p.pos < len(p.src) && isCondSpace(p.src[p.pos]) {
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.tok = condToken{kind: tokEOF, off: p.pos}
		return
	}
	start := p.pos
	switch p.src[p.pos] {
	case '(':
		p.pos++
		p.tok = condToken{kind: tokLParen, text: "(", off: start}
		return
	case ')':
		p.pos++
		p.tok = condToken{kind: tokRParen, text: ")", off: start}
		return
	case '|':
		p.pos++
		p.tok = condToken{kind: tokPipe, text: "|", off: start}
		return
	}
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if isCondSpace(c) || c == '(' || c == ')' || c == '|' {
			break
		}
		p.pos++
	}
	p.tok = condToken{kind: tokIdent, text: p.src[start:p.pos], off: start}
}

func (p *condParser) errorf(off int, format string, args ...any) error {
	return &ConditionError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (p *condParser) isKeyword(word string) bool {
	return p.tok.kind == tokIdent && strings.EqualFold(p.tok.text, word)
}

// ParseCondition parses a Sigma condition expression. Operator precedence,
// from least to most binding: or, and, not, "x of", parentheses. Keywords
// (and, or, not, of, them, all, any) are case-insensitive. Errors are
// *ConditionError values carrying the byte offset of the problem.
func ParseCondition(text string) (Cond, error) {
	if len(text) > MaxConditionLen {
		return nil, &ConditionError{Offset: MaxConditionLen, Msg: fmt.Sprintf("condition longer than %d bytes", MaxConditionLen)}
	}
	p := &condParser{src: text}
	p.next()
	if p.tok.kind == tokEOF {
		return nil, p.errorf(0, "empty condition")
	}
	c, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tokEOF:
		return c, nil
	case tokPipe:
		return nil, &ConditionError{Offset: p.tok.off, Msg: ErrAggregation.Error(), Err: ErrAggregation}
	case tokRParen:
		return nil, p.errorf(p.tok.off, "unbalanced %q", ")")
	}
	return nil, p.errorf(p.tok.off, "unexpected %q, want \"and\", \"or\" or end of condition", p.tok.text)
}

func (p *condParser) parseOr() (Cond, error) {
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	if !p.isKeyword("or") {
		return first, nil
	}
	n := &Or{Args: []Cond{first}, Off: first.Offset()}
	for p.isKeyword("or") {
		p.next()
		c, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		n.Args = append(n.Args, c)
	}
	return n, nil
}

func (p *condParser) parseAnd() (Cond, error) {
	first, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	if !p.isKeyword("and") {
		return first, nil
	}
	n := &And{Args: []Cond{first}, Off: first.Offset()}
	for p.isKeyword("and") {
		p.next()
		c, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		n.Args = append(n.Args, c)
	}
	return n, nil
}

func (p *condParser) enter(off int) error {
	p.depth++
	if p.depth > MaxConditionDepth {
		return p.errorf(off, "condition nested deeper than %d levels", MaxConditionDepth)
	}
	return nil
}

func (p *condParser) parseNot() (Cond, error) {
	if !p.isKeyword("not") {
		return p.parsePrimary()
	}
	off := p.tok.off
	if err := p.enter(off); err != nil {
		return nil, err
	}
	p.next()
	c, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	p.depth--
	return &Not{Arg: c, Off: off}, nil
}

func isReserved(s string) bool {
	switch strings.ToLower(s) {
	case "and", "or", "not", "of", "them":
		return true
	}
	return false
}

func (p *condParser) parsePrimary() (Cond, error) {
	t := p.tok
	switch t.kind {
	case tokEOF:
		return nil, p.errorf(t.off, "unexpected end of condition, want a search identifier, \"(\" or \"not\"")
	case tokRParen:
		return nil, p.errorf(t.off, "unexpected %q, want a search identifier, \"(\" or \"not\"", ")")
	case tokPipe:
		return nil, &ConditionError{Offset: t.off, Msg: ErrAggregation.Error(), Err: ErrAggregation}
	case tokLParen:
		if err := p.enter(t.off); err != nil {
			return nil, err
		}
		p.next()
		c, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			if p.tok.kind == tokEOF {
				return nil, p.errorf(t.off, "unclosed %q", "(")
			}
			if p.tok.kind == tokPipe {
				return nil, &ConditionError{Offset: p.tok.off, Msg: ErrAggregation.Error(), Err: ErrAggregation}
			}
			return nil, p.errorf(p.tok.off, "unexpected %q, want \")\"", p.tok.text)
		}
		p.depth--
		p.next()
		return c, nil
	}
	// Identifier, or a quantifier starting "x of".
	word := t.text
	lw := strings.ToLower(word)
	isQuant := lw == "1" || lw == "all" || lw == "any"
	if isQuant {
		save := *p
		p.next()
		if p.isKeyword("of") {
			p.next()
			if p.tok.kind != tokIdent || (isReserved(p.tok.text) && !p.isKeyword("them")) {
				return nil, p.errorf(p.tok.off, "want a search identifier pattern or \"them\" after %q", word+" of")
			}
			n := &Of{Off: t.off}
			if lw == "all" {
				n.Quantifier = QuantAll
			}
			if p.isKeyword("them") {
				n.Them = true
			} else {
				n.Pattern = p.tok.text
				if err := checkIdent(n.Pattern, true); err != nil {
					return nil, p.errorf(p.tok.off, "%v", err)
				}
			}
			p.next()
			return n, nil
		}
		*p = save
	}
	if isDigits(word) {
		// "2 of x" and the like: Sigma only defines 1 and all.
		save := *p
		p.next()
		if p.isKeyword("of") {
			return nil, p.errorf(t.off, "unsupported quantifier %q: Sigma allows \"1 of\" and \"all of\"", word)
		}
		*p = save
	}
	if isReserved(word) {
		return nil, p.errorf(t.off, "unexpected keyword %q, want a search identifier", word)
	}
	if err := checkIdent(word, false); err != nil {
		return nil, p.errorf(t.off, "%v", err)
	}
	p.next()
	return &Ref{Name: word, Off: t.off}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkIdent rejects characters that cannot be part of a search identifier.
// Wildcards are only allowed in patterns.
func checkIdent(s string, pattern bool) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '*' || c == '?':
			if !pattern {
				return fmt.Errorf("wildcard in search identifier %q: use \"1 of %s\" or \"all of %s\"", s, s, s)
			}
		case c == '"' || c == '\'' || c == ',' || c == ';' || c == '=' || c == '<' || c == '>' || c == '!':
			return fmt.Errorf("invalid character %q in search identifier %q", c, s)
		}
	}
	return nil
}

// MatchSearchPattern reports whether the search identifier name matches the
// "x of" pattern pat, in which * matches any run of characters and ? any
// single character. Matching is case-sensitive, as identifiers are.
func MatchSearchPattern(pat, name string) bool {
	// path.Match treats '/' and '[' specially; search identifiers do not
	// use them, so fall back to a plain glob when they appear.
	if !strings.ContainsAny(pat, "/[\\") && !strings.Contains(name, "/") {
		ok, err := path.Match(pat, name)
		if err == nil {
			return ok
		}
	}
	return globMatch(pat, name)
}

// globMatch matches * and ? wildcards only, iteratively (linear backtracking).
func globMatch(pat, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pat) || sx < len(s) {
		if px < len(pat) {
			switch c := pat[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

// ResolveCondition expands every Of node of c against the search
// identifiers names (in file order) and returns a tree of And, Or, Not and
// Ref nodes only, in which every Ref names one of names. "1 of P" becomes
// an Or and "all of P" an And of the matching identifiers in names order; a
// single match becomes the Ref itself. It is an error for a Ref to name a
// missing search, or for a pattern to match none (the rule would silently
// never, or always, match).
func ResolveCondition(c Cond, names []string) (Cond, error) {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return resolve(c, names, set)
}

func resolve(c Cond, names []string, set map[string]bool) (Cond, error) {
	switch n := c.(type) {
	case *And:
		out := &And{Args: make([]Cond, 0, len(n.Args)), Off: n.Off}
		for _, a := range n.Args {
			r, err := resolve(a, names, set)
			if err != nil {
				return nil, err
			}
			out.Args = append(out.Args, r)
		}
		return out, nil
	case *Or:
		out := &Or{Args: make([]Cond, 0, len(n.Args)), Off: n.Off}
		for _, a := range n.Args {
			r, err := resolve(a, names, set)
			if err != nil {
				return nil, err
			}
			out.Args = append(out.Args, r)
		}
		return out, nil
	case *Not:
		r, err := resolve(n.Arg, names, set)
		if err != nil {
			return nil, err
		}
		return &Not{Arg: r, Off: n.Off}, nil
	case *Ref:
		if !set[n.Name] {
			return nil, &ConditionError{Offset: n.Off, Msg: fmt.Sprintf("unknown search identifier %q", n.Name)}
		}
		return &Ref{Name: n.Name, Off: n.Off}, nil
	case *Of:
		var refs []Cond
		for _, name := range names {
			var ok bool
			if n.Them {
				ok = !strings.HasPrefix(name, "_")
			} else {
				ok = MatchSearchPattern(n.Pattern, name)
			}
			if ok {
				refs = append(refs, &Ref{Name: name, Off: n.Off})
			}
		}
		if len(refs) == 0 {
			what := fmt.Sprintf("pattern %q", n.Pattern)
			if n.Them {
				what = "\"them\""
			}
			return nil, &ConditionError{Offset: n.Off, Msg: fmt.Sprintf("%s matches no search identifier", what)}
		}
		if len(refs) == 1 {
			return refs[0], nil
		}
		if n.Quantifier == QuantAll {
			return &And{Args: refs, Off: n.Off}, nil
		}
		return &Or{Args: refs, Off: n.Off}, nil
	case nil:
		return nil, errors.New("nil condition")
	}
	return nil, fmt.Errorf("unknown condition node %T", c)
}
