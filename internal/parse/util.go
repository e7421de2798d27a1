package parse

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// bytesToString views b as a string without copying. Only for names handed
// to event.Intern, which copies a name before keeping it, and for lookups.
func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// cut returns the text of s before sep and after it; ok is false when sep is
// absent.
func cut(s, sep string) (before, after string, ok bool) {
	return strings.Cut(s, sep)
}

// word returns the first space-separated word of s and the rest after the
// space.
func word(s string) (w, rest string) {
	return nextToken(s)
}

// isIPLike reports whether s looks like an IPv4 or IPv6 address (cheap check
// on the character set; it does not validate).
func isIPLike(s string) bool {
	if len(s) < 2 || len(s) > 45 {
		return false
	}
	dots, colons := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c):
		case c == '.':
			dots++
		case c == ':':
			colons++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '%':
			if dots > 0 && colons == 0 {
				return false
			}
		default:
			return false
		}
	}
	return dots == 3 || colons >= 2
}

// encodeRune writes r as UTF-8 into p (at least 4 bytes) and returns the
// number of bytes written.
func encodeRune(p []byte, r rune) int {
	return utf8.EncodeRune(p, r)
}
