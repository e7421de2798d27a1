package intel

import (
	"errors"
	"fmt"
	"strings"
)

// maxPatternLen and maxPatternDepth bound the STIX patterns parsed.
const (
	maxPatternLen   = 1 << 20
	maxPatternDepth = 64
	maxPatternTerms = 10000
)

// PatternTerm is one indicator value a STIX pattern names.
type PatternTerm struct {
	// Kind is the indicator kind of the object path; KindUnknown for a
	// network-traffic reference, whose kind follows from the value.
	Kind Kind
	// Value is the literal as written in the pattern (unescaped).
	Value string
}

// ParseSTIXPattern reads a STIX 2.1 pattern that names indicator values:
// observation expressions joined by OR, each holding comparisons joined by
// OR of the form `path = 'literal'` for the paths ipv4-addr:value,
// ipv6-addr:value, domain-name:value, url:value, email-addr:value,
// email-message:from_ref.value, network-traffic:dst_ref.value (and
// src_ref), and file:hashes.MD5 / 'SHA-1' / 'SHA-256', and
// `ipv4-addr:value ISSUBSET '10.0.0.0/8'` (and ipv6). Patterns that are
// well formed but need more than a list of values to match (AND,
// FOLLOWEDBY, NOT, qualifiers, other operators or paths) return an error
// wrapping ErrUnsupported; malformed ones return a syntax error.
func ParseSTIXPattern(pattern string) ([]PatternTerm, error) {
	if len(pattern) > maxPatternLen {
		return nil, fmt.Errorf("stix pattern: %w: %d bytes", ErrTooLarge, len(pattern))
	}
	p := &patternParser{lex: patternLexer{src: pattern}}
	p.advance()
	if err := p.observations(0); err != nil {
		return nil, err
	}
	if p.tok.kind != ptEOF {
		return nil, p.unexpected("end of pattern")
	}
	if len(p.terms) == 0 {
		return nil, errors.New("stix pattern: empty")
	}
	return p.terms, nil
}

type ptKind uint8

const (
	ptEOF ptKind = iota
	ptLBrack
	ptRBrack
	ptLParen
	ptRParen
	ptString  // 'text'
	ptTyped   // t'..', b'..', h'..'
	ptOp      // = != < <= > >=
	ptWord    // keyword, number or object path
	ptIllegal // lexical error
)

type ptToken struct {
	kind ptKind
	text string // unescaped for strings
	pos  int
}

type patternLexer struct {
	src string
	pos int
}

func isPathChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '-' || c == ':' || c == '.' || c == '*' || c == '+'
}

func (l *patternLexer) next() ptToken {
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n", l.src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return ptToken{kind: ptEOF, pos: start}
	}
	c := l.src[l.pos]
	switch c {
	case '[':
		l.pos++
		return ptToken{kind: ptLBrack, text: "[", pos: start}
	case ']':
		l.pos++
		return ptToken{kind: ptRBrack, text: "]", pos: start}
	case '(':
		l.pos++
		return ptToken{kind: ptLParen, text: "(", pos: start}
	case ')':
		l.pos++
		return ptToken{kind: ptRParen, text: ")", pos: start}
	case '\'':
		s, ok := l.quoted()
		if !ok {
			return ptToken{kind: ptIllegal, text: "unterminated string", pos: start}
		}
		return ptToken{kind: ptString, text: s, pos: start}
	case '=':
		l.pos++
		return ptToken{kind: ptOp, text: "=", pos: start}
	case '!', '<', '>':
		l.pos++
		if l.pos < len(l.src) && l.src[l.pos] == '=' {
			l.pos++
		} else if c == '!' {
			return ptToken{kind: ptIllegal, text: "stray !", pos: start}
		}
		return ptToken{kind: ptOp, text: l.src[start:l.pos], pos: start}
	}
	if (c == 't' || c == 'b' || c == 'h') && l.pos+1 < len(l.src) && l.src[l.pos+1] == '\'' {
		l.pos++
		s, ok := l.quoted()
		if !ok {
			return ptToken{kind: ptIllegal, text: "unterminated string", pos: start}
		}
		return ptToken{kind: ptTyped, text: s, pos: start}
	}
	if !isPathChar(c) {
		return ptToken{kind: ptIllegal, text: fmt.Sprintf("unexpected %q", c), pos: start}
	}
	// A word: a keyword, a number, or an object path whose steps may be
	// quoted (file:hashes.'SHA-256') or list indexes (sections[*]).
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case isPathChar(c):
			b.WriteByte(c)
			l.pos++
		case c == '\'' && l.pos > start && l.src[l.pos-1] == '.':
			s, ok := l.quoted()
			if !ok {
				return ptToken{kind: ptIllegal, text: "unterminated path step", pos: start}
			}
			b.WriteString("'" + s + "'")
		case c == '[' && strings.IndexByte(b.String(), ':') >= 0:
			end := strings.IndexByte(l.src[l.pos:], ']')
			idx := ""
			if end > 0 {
				idx = l.src[l.pos+1 : l.pos+end]
			}
			if end < 0 || (idx != "*" && strings.Trim(idx, "0123456789") != "") || idx == "" {
				return ptToken{kind: ptWord, text: b.String(), pos: start}
			}
			b.WriteString(l.src[l.pos : l.pos+end+1])
			l.pos += end + 1
		default:
			return ptToken{kind: ptWord, text: b.String(), pos: start}
		}
	}
	return ptToken{kind: ptWord, text: b.String(), pos: start}
}

// quoted reads a '...' literal at l.pos with \\ and \' escapes.
func (l *patternLexer) quoted() (string, bool) {
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '\\':
			if l.pos+1 >= len(l.src) {
				return "", false
			}
			b.WriteByte(l.src[l.pos+1])
			l.pos += 2
		case '\'':
			l.pos++
			return b.String(), true
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return "", false
}

type patternParser struct {
	lex   patternLexer
	tok   ptToken
	terms []PatternTerm
}

func (p *patternParser) advance() { p.tok = p.lex.next() }

func (p *patternParser) isWord(w string) bool {
	return p.tok.kind == ptWord && strings.EqualFold(p.tok.text, w)
}

func (p *patternParser) unexpected(want string) error {
	got := p.tok.text
	switch p.tok.kind {
	case ptEOF:
		got = "end of pattern"
	case ptIllegal:
		return fmt.Errorf("stix pattern: offset %d: %s", p.tok.pos, p.tok.text)
	case ptString:
		got = "'" + clip(got) + "'"
	}
	return fmt.Errorf("stix pattern: offset %d: got %s, want %s", p.tok.pos, got, want)
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("stix pattern: %w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// observations parses obs (OR obs)*.
func (p *patternParser) observations(depth int) error {
	if depth > maxPatternDepth {
		return errors.New("stix pattern: nested too deep")
	}
	for {
		switch p.tok.kind {
		case ptLBrack:
			p.advance()
			if err := p.comparisons(depth + 1); err != nil {
				return err
			}
			if p.tok.kind != ptRBrack {
				return p.unexpected("]")
			}
			p.advance()
		case ptLParen:
			p.advance()
			if err := p.observations(depth + 1); err != nil {
				return err
			}
			if p.tok.kind != ptRParen {
				return p.unexpected(")")
			}
			p.advance()
		default:
			return p.unexpected("[ or (")
		}
		switch {
		case p.isWord("OR"):
			p.advance()
			continue
		case p.isWord("AND"), p.isWord("FOLLOWEDBY"):
			return unsupported("%s between observations", strings.ToUpper(p.tok.text))
		case p.isWord("WITHIN"), p.isWord("REPEATS"), p.isWord("START"):
			return unsupported("qualifier %s", strings.ToUpper(p.tok.text))
		}
		return nil
	}
}

// comparisons parses cmp (OR cmp)* inside an observation.
func (p *patternParser) comparisons(depth int) error {
	if depth > maxPatternDepth {
		return errors.New("stix pattern: nested too deep")
	}
	for {
		if p.tok.kind == ptLParen {
			p.advance()
			if err := p.comparisons(depth + 1); err != nil {
				return err
			}
			if p.tok.kind != ptRParen {
				return p.unexpected(")")
			}
			p.advance()
		} else if err := p.comparison(); err != nil {
			return err
		}
		switch {
		case p.isWord("OR"):
			p.advance()
			continue
		case p.isWord("AND"):
			return unsupported("AND between comparisons")
		}
		return nil
	}
}

func (p *patternParser) comparison() error {
	if p.tok.kind != ptWord || strings.IndexByte(p.tok.text, ':') <= 0 {
		return p.unexpected("an object path")
	}
	path := p.tok.text
	p.advance()
	if p.isWord("NOT") {
		return unsupported("NOT")
	}
	var op string
	switch {
	case p.tok.kind == ptOp:
		op = p.tok.text
	case p.tok.kind == ptWord:
		switch w := strings.ToUpper(p.tok.text); w {
		case "IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET", "EXISTS":
			op = w
		default:
			return p.unexpected("a comparison operator")
		}
	default:
		return p.unexpected("a comparison operator")
	}
	p.advance()
	kind, err := stixPathKind(path)
	if err != nil {
		return err
	}
	switch op {
	case "=":
	case "ISSUBSET":
		if kind != KindIP {
			return unsupported("ISSUBSET on %s", path)
		}
	default:
		return unsupported("operator %s", op)
	}
	if p.tok.kind != ptString {
		if p.tok.kind == ptTyped || p.tok.kind == ptWord || p.tok.kind == ptLParen {
			return unsupported("non-string literal for %s", path)
		}
		return p.unexpected("a string literal")
	}
	value := p.tok.text
	p.advance()
	if op == "ISSUBSET" && strings.IndexByte(value, '/') < 0 {
		return fmt.Errorf("stix pattern: ISSUBSET needs a CIDR range, got %q", clip(value))
	}
	if len(p.terms) >= maxPatternTerms {
		return fmt.Errorf("stix pattern: %w: more than %d comparisons", ErrTooMany, maxPatternTerms)
	}
	p.terms = append(p.terms, PatternTerm{Kind: kind, Value: value})
	return nil
}

// stixPathKind maps an object path to the kind of indicator it names.
func stixPathKind(path string) (Kind, error) {
	typ, prop, _ := strings.Cut(path, ":")
	switch strings.ToLower(typ) {
	case "ipv4-addr", "ipv6-addr":
		if prop == "value" {
			return KindIP, nil
		}
	case "domain-name":
		if prop == "value" {
			return KindDomain, nil
		}
	case "url":
		if prop == "value" {
			return KindURL, nil
		}
	case "email-addr":
		if prop == "value" {
			return KindEmail, nil
		}
	case "email-message":
		if prop == "from_ref.value" || prop == "sender_ref.value" {
			return KindEmail, nil
		}
	case "network-traffic":
		if prop == "dst_ref.value" || prop == "src_ref.value" {
			return KindUnknown, nil
		}
	case "file":
		if alg, ok := strings.CutPrefix(prop, "hashes."); ok {
			alg = strings.Trim(alg, `'"`)
			switch strings.ToUpper(strings.ReplaceAll(alg, "-", "")) {
			case "MD5", "SHA1", "SHA256":
				return KindHash, nil
			}
		}
	}
	return KindUnknown, unsupported("object path %s", clip(path))
}
