// Package termsafe makes text from logs, requests and servers safe to
// print on a terminal: control characters (C0, DEL and C1, such as ESC
// and CSI, which start escape sequences that move the cursor, clear the
// screen or retitle the window) become '?', and bytes that are not UTF-8
// become U+FFFD, so that no value can drive the terminal that shows it.
package termsafe

import (
	"strings"
	"unicode/utf8"
)

// control reports whether r starts or is part of a terminal control
// sequence: C0, DEL or C1.
func control(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

// String returns s with every control character (newlines and tabs too)
// replaced by '?' and every byte that is not UTF-8 by U+FFFD: for
// messages, such as a warning that quotes a name from the logs.
func String(s string) string {
	return strings.Map(func(r rune) rune {
		if control(r) {
			return '?'
		}
		return r
	}, s)
}

// Line returns s as one cell of a table line: newlines, carriage returns
// and tabs become spaces (a tab would also shift the columns of a
// tabwriter), other control characters '?', bytes that are not UTF-8
// U+FFFD, and when the result is longer than max bytes it is cut at the
// last whole character within max and "…" is added. A max of 0 or less
// does not cut.
func Line(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case control(r):
			return '?'
		}
		return r
	}, s)
	if max <= 0 || len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
