package query

import (
	"strconv"
	"strings"
	"time"
)

// String returns the expression in canonical syntax.
func (e *And) String() string {
	var b strings.Builder
	for i, t := range e.Terms {
		if i > 0 {
			b.WriteString(" AND ")
		}
		writeOperand(&b, t, true)
	}
	return b.String()
}

// String returns the expression in canonical syntax.
func (e *Or) String() string {
	var b strings.Builder
	for i, t := range e.Terms {
		if i > 0 {
			b.WriteString(" OR ")
		}
		_, nested := t.(*Or)
		if nested {
			b.WriteByte('(')
		}
		b.WriteString(t.String())
		if nested {
			b.WriteByte(')')
		}
	}
	return b.String()
}

// String returns the expression in canonical syntax.
func (e *Not) String() string {
	var b strings.Builder
	b.WriteString("NOT ")
	writeOperand(&b, e.X, true)
	return b.String()
}

// writeOperand writes x, in parentheses when it is a binary expression.
func writeOperand(b *strings.Builder, x Expr, parenAnd bool) {
	paren := false
	switch x.(type) {
	case *Or:
		paren = true
	case *And:
		paren = parenAnd
	}
	if paren {
		b.WriteByte('(')
	}
	b.WriteString(x.String())
	if paren {
		b.WriteByte(')')
	}
}

// String returns the term in canonical syntax.
func (t *Term) String() string {
	var b strings.Builder
	switch t.Op {
	case OpPhrase:
		writeQuoted(&b, t.Value)
		return b.String()
	case OpWord:
		writeEscaped(&b, t.Value)
		return b.String()
	}
	if t.Field == "" {
		// Full-text wildcard: token characters and wildcards only.
		b.WriteString(t.Value)
		return b.String()
	}
	b.WriteString(t.Field)
	switch t.Op {
	case OpEq:
		b.WriteByte(':')
		writeValue(&b, t.Value)
	case OpWildcard:
		b.WriteByte(':')
		writePattern(&b, t.Value)
	case OpCIDR:
		b.WriteByte(':')
		b.WriteString(t.Value)
	case OpExists:
		b.WriteString(":*")
	case OpGt, OpGte, OpLt, OpLte:
		b.WriteString(t.Op.String())
		writeValue(&b, t.Value)
	default:
		b.WriteString(":?")
		b.WriteString(t.Op.String())
	}
	return b.String()
}

// plainValueByte reports whether c can stand in an unquoted value without
// changing how it parses.
func plainValueByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	switch c {
	case '.', '_', '@', '-', '+', ':':
		return true
	}
	return false
}

// writeValue writes a literal value, quoted unless every byte is plain.
func writeValue(b *strings.Builder, v string) {
	plain := v != ""
	for i := 0; i < len(v) && plain; i++ {
		plain = plainValueByte(v[i])
	}
	if plain {
		b.WriteString(v)
		return
	}
	writeQuoted(b, v)
}

// writeQuoted writes s as a quoted string: \ and " are escaped.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// escapable reports whether a backslash before c in unquoted text makes c
// literal. A backslash before any other byte is itself literal, so Windows
// paths can be written as they are.
func escapable(c byte) bool {
	switch c {
	case '*', '?', '\\', '"', '(', ')', '|', ':', '<', '>', ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

// writeEscaped writes literal text unquoted, escaping every special byte.
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if escapable(s[i]) {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
}

// writePattern writes a normalized wildcard pattern unquoted: its escapes
// stay, and bytes that would end an unquoted value get one.
func writePattern(b *strings.Builder, p string) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '\\' && i+1 < len(p) {
			b.WriteByte(c)
			b.WriteByte(p[i+1])
			i++
			continue
		}
		if c != '*' && c != '?' && escapable(c) {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
}

// FormatSpan formats a timechart span in the largest unit (d, h, m, s) that
// divides it exactly, e.g. 90*time.Second as "90s" and time.Hour as "1h".
func FormatSpan(d time.Duration) string {
	for _, u := range [...]struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d >= u.d && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}
