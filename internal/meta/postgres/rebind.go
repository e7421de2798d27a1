package postgres

import "strconv"

// Rebind returns q with each ? placeholder replaced by PostgreSQL's
// numbered $1, $2, ... in order. A ? inside a string literal ('it”s?',
// E'\'?'), a quoted identifier ("a?b"), a dollar-quoted body ($$?$$,
// $fn$?$fn$) or a comment (-- ?, /* ? */) is text, not a placeholder, and
// stays as it is. The metadata SQL uses no operator spelled with ? (such
// as jsonb's ?|), so every other ? is a placeholder.
func Rebind(q string) string {
	out, _ := rebind(q)
	return out
}

// rebind is Rebind that also returns how many placeholders it numbered.
func rebind(q string) (string, int) {
	var b []byte // nil until the first placeholder: most text is copied once
	n, last := 0, 0
	for i := 0; i < len(q); {
		switch c := q[i]; c {
		case '?':
			if b == nil {
				b = make([]byte, 0, len(q)+16)
			}
			n++
			b = append(b, q[last:i]...)
			b = append(b, '$')
			b = strconv.AppendInt(b, int64(n), 10)
			i++
			last = i
		case '\'':
			// E'...' strings take backslash escapes; others only ''.
			i = skipQuoted(q, i, '\'', i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i == 1 || !identByte(q[i-2])))
		case '"':
			i = skipQuoted(q, i, '"', false)
		case '-':
			if i+1 < len(q) && q[i+1] == '-' {
				i = skipLine(q, i)
			} else {
				i++
			}
		case '/':
			if i+1 < len(q) && q[i+1] == '*' {
				i = skipBlockComment(q, i)
			} else {
				i++
			}
		case '$':
			i = skipDollar(q, i)
		default:
			i++
		}
	}
	if b == nil {
		return q, 0
	}
	return string(append(b, q[last:]...)), n
}

// skipQuoted returns the index after the quoted text that starts at q[i]
// (quote), where a doubled quote stands for one and, with backslash, a
// backslash escapes the next byte. An unterminated quote runs to the end.
func skipQuoted(q string, i int, quote byte, backslash bool) int {
	for i++; i < len(q); i++ {
		switch q[i] {
		case '\\':
			if backslash {
				i++
			}
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(q)
}

func skipLine(q string, i int) int {
	for i < len(q) && q[i] != '\n' {
		i++
	}
	return i
}

// skipBlockComment skips a /* */ comment, which nests in PostgreSQL.
func skipBlockComment(q string, i int) int {
	depth := 0
	for i < len(q) {
		switch {
		case i+1 < len(q) && q[i] == '/' && q[i+1] == '*':
			depth++
			i += 2
		case i+1 < len(q) && q[i] == '*' && q[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(q)
}

// skipDollar skips a dollar-quoted string ($$...$$ or $tag$...$tag$) that
// starts at q[i]; a $ that starts none (a $1 parameter, a $ inside an
// identifier) is one byte.
func skipDollar(q string, i int) int {
	if i > 0 && identByte(q[i-1]) {
		return i + 1 // part of an identifier such as a$b
	}
	j := i + 1
	for j < len(q) && q[j] != '$' {
		c := q[j]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || j > i+1 && c >= '0' && c <= '9') {
			return i + 1
		}
		j++
	}
	if j >= len(q) {
		return i + 1
	}
	tag := q[i : j+1]
	for k := j + 1; k+len(tag) <= len(q); k++ {
		if q[k] == '$' && q[k:k+len(tag)] == tag {
			return k + len(tag)
		}
	}
	return len(q)
}

func identByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
