package sigma

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParsePattern parses a Sigma string value into a Pattern: * and ? are
// wildcards; a backslash escapes *, ? and itself; a backslash before any
// other character (or at the end) is a literal backslash. So `C:\Windows`
// and `C:\\Windows` both mean C:\Windows, `\*` is a literal star, `\\*` a
// backslash followed by a wildcard, and `\\\\` two backslashes.
func ParsePattern(s string) Pattern {
	return parsePattern(s, false)
}

// parsePattern implements ParsePattern; with placeholders, %name% is a
// placeholder part and \% a literal percent sign.
func parsePattern(s string, placeholders bool) Pattern {
	var p patternBuilder
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.literal(lit.String())
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 < len(s) {
				n := s[i+1]
				if n == '*' || n == '?' || n == '\\' || (placeholders && n == '%') {
					lit.WriteByte(n)
					i++
					continue
				}
			}
			lit.WriteByte('\\')
		case c == '*':
			flush()
			p.add(Part{Kind: PartStar})
		case c == '?':
			flush()
			p.add(Part{Kind: PartQuestion})
		case c == '%' && placeholders:
			end := strings.IndexByte(s[i+1:], '%')
			if end <= 0 {
				lit.WriteByte('%')
				continue
			}
			name := s[i+1 : i+1+end]
			if !validPlaceholderName(name) {
				lit.WriteByte('%')
				continue
			}
			flush()
			p.add(Part{Kind: PartPlaceholder, Text: name})
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return p.pattern()
}

func validPlaceholderName(s string) bool {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return s != ""
}

// patternBuilder assembles normalized patterns: adjacent literals merged,
// runs of stars collapsed.
type patternBuilder struct {
	parts []Part
}

func (b *patternBuilder) literal(s string) {
	if s == "" {
		return
	}
	b.add(Part{Kind: PartLiteral, Text: s})
}

func (b *patternBuilder) add(p Part) {
	if n := len(b.parts); n > 0 {
		last := &b.parts[n-1]
		if p.Kind == PartLiteral && last.Kind == PartLiteral {
			last.Text += p.Text
			return
		}
		if p.Kind == PartStar && last.Kind == PartStar {
			return
		}
	}
	if p.Kind == PartLiteral && p.Text == "" {
		return
	}
	b.parts = append(b.parts, p)
}

func (b *patternBuilder) pattern() Pattern {
	return Pattern{Parts: b.parts}
}

// LiteralPattern returns a pattern matching s exactly (no wildcards).
func LiteralPattern(s string) Pattern {
	var b patternBuilder
	b.literal(s)
	return b.pattern()
}

// IsLiteral reports whether p holds no wildcards and no placeholders.
func (p Pattern) IsLiteral() bool {
	for _, part := range p.Parts {
		if part.Kind != PartLiteral {
			return false
		}
	}
	return true
}

// HasWildcards reports whether p holds a * or ? wildcard.
func (p Pattern) HasWildcards() bool {
	for _, part := range p.Parts {
		if part.Kind == PartStar || part.Kind == PartQuestion {
			return true
		}
	}
	return false
}

// HasPlaceholders reports whether p holds an unresolved placeholder.
func (p Pattern) HasPlaceholders() bool {
	for _, part := range p.Parts {
		if part.Kind == PartPlaceholder {
			return true
		}
	}
	return false
}

// Literal returns the concatenation of p's literal parts: the whole value
// when p.IsLiteral().
func (p Pattern) Literal() string {
	if len(p.Parts) == 1 && p.Parts[0].Kind == PartLiteral {
		return p.Parts[0].Text
	}
	var b strings.Builder
	for _, part := range p.Parts {
		if part.Kind == PartLiteral {
			b.WriteString(part.Text)
		}
	}
	return b.String()
}

// String renders p in Sigma syntax: wildcards as * and ?, literal *, ? and
// backslashes escaped where needed, placeholders as %name%. Bytes that are
// not valid UTF-8 (from utf16 encodings) are rendered as \xNN, so String is
// for display and golden files, not for re-parsing such patterns.
func (p Pattern) String() string {
	var b strings.Builder
	for _, part := range p.Parts {
		switch part.Kind {
		case PartStar:
			b.WriteByte('*')
		case PartQuestion:
			b.WriteByte('?')
		case PartPlaceholder:
			b.WriteString("%" + part.Text + "%")
		case PartLiteral:
			s := part.Text
			for len(s) > 0 {
				r, size := utf8.DecodeRuneInString(s)
				switch {
				case r == utf8.RuneError && size <= 1:
					const hex = "0123456789abcdef"
					b.WriteString(`\x`)
					b.WriteByte(hex[s[0]>>4])
					b.WriteByte(hex[s[0]&0xf])
				case r == '*' || r == '?':
					b.WriteByte('\\')
					b.WriteRune(r)
				case r == '\\':
					// Escape a backslash only where it would otherwise
					// escape what follows.
					if size < len(s) && (s[1] == '*' || s[1] == '?' || s[1] == '\\') || size == len(s) {
						b.WriteString(`\\`)
					} else {
						b.WriteByte('\\')
					}
				default:
					b.WriteString(s[:size])
				}
				s = s[size:]
			}
		}
	}
	return b.String()
}
