package postgres

import (
	"strings"
	"unicode/utf8"
)

// PostgreSQL's text holds valid UTF-8 without NUL; SQLite's holds any
// bytes, and Vigil's metadata has values from logs and requests (a user
// name, a host, an entity) that may be neither. So that such a value is
// stored and read back exactly, and an attacker cannot make a write fail
// by sending one, the driver encodes text parameters and decodes text
// results: a NUL, a byte that is not part of valid UTF-8, and the escape
// rune itself become the escape rune U+E000 (from the Private Use Area,
// which no real text of ours holds) followed by a rune that names the
// byte, U+E100 + b, or U+E000 again for the escape rune. Text that needs
// none of this (every value in practice) passes unchanged, so equality
// and ordering in SQL are those of the original text, and a value and a
// LIKE pattern built from it encode alike.
const (
	escRune  = '\uE000'
	escByte0 = 0xE100
	escStr   = "\uE000"
)

// needsEncoding reports whether s cannot be stored in a text column as it
// is, or could be mistaken for an encoded value.
func needsEncoding(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) || strings.Contains(s, escStr)
}

// encodeText returns s as stored: unchanged unless needsEncoding.
func encodeText(s string) string {
	if !needsEncoding(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(escRune)
			b.WriteRune(escByte0 + rune(s[i]))
		case r == 0:
			b.WriteRune(escRune)
			b.WriteRune(escByte0)
		case r == escRune:
			b.WriteRune(escRune)
			b.WriteRune(escRune)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// decodeText reverses encodeText. An escape rune followed by anything but
// an escape (written by another client) stays as it is.
func decodeText(s string) string {
	if !strings.Contains(s, escStr) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == escRune && i+size < len(s) {
			r2, size2 := utf8.DecodeRuneInString(s[i+size:])
			switch {
			case r2 == escRune:
				b = utf8.AppendRune(b, escRune)
				i += size + size2
				continue
			case r2 >= escByte0 && r2 <= escByte0+0xff:
				b = append(b, byte(r2-escByte0))
				i += size + size2
				continue
			}
		}
		b = append(b, s[i:i+size]...)
		i += size
	}
	return string(b)
}
