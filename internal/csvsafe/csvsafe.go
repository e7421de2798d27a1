// Package csvsafe writes CSV that a spreadsheet opens as text (OWASP's
// advice against CSV or formula injection): every cell is quoted, with
// quotes doubled, and a cell that a spreadsheet would read as a formula —
// one starting with =, +, -, @, a tab or a carriage return, also after
// leading spaces, or with their full-width forms — gets a leading single
// quote. Header and data cells are treated alike: field names come from
// logs too.
//
// Two kinds of cell are left as they are because no spreadsheet runs them:
// a plain number (-12, +3.5) and an @ followed only by letters, digits,
// '_' and '.' (@timestamp, @version).
package csvsafe

import (
	"bufio"
	"io"
	"strings"
	"unicode/utf8"
)

// Cell returns s as it is written: with a leading ' when a spreadsheet
// would read it as a formula.
func Cell(s string) string {
	if dangerous(s) {
		return "'" + s
	}
	return s
}

func dangerous(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '\t' || s[0] == '\r' || s[0] == '\n' {
		return true
	}
	t := strings.TrimLeft(s, " ")
	if t == "" {
		return false
	}
	r, _ := utf8.DecodeRuneInString(t)
	switch r {
	case '=', '＝', '+', '＋', '-', '－', '@', '＠', '\t', '\r', '\n':
	default:
		return false
	}
	if t == s && (r == '-' || r == '+') && plainNumber(s[1:]) {
		return false
	}
	if t == s && r == '@' && name(s[1:]) {
		return false
	}
	return true
}

// plainNumber reports whether s is digits with at most one decimal point
// between digits.
func plainNumber(s string) bool {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i+1 < len(s):
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// name reports whether s is a field name: ASCII letters, digits, '_' and
// '.', starting with a letter.
func name(s string) bool {
	if s == "" || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Writer writes records of safe cells. Like encoding/csv's Writer it
// buffers: call Flush, then check Error.
type Writer struct {
	w   *bufio.Writer
	buf []byte
	err error
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriter(w)} }

// Write writes one record as Append makes it.
func (w *Writer) Write(record []string) error {
	if w.err != nil {
		return w.err
	}
	w.buf = Append(w.buf[:0], record)
	_, w.err = w.w.Write(w.buf)
	return w.err
}

// Flush writes what is buffered.
func (w *Writer) Flush() {
	if err := w.w.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}

// Error reports the first error of a Write or Flush.
func (w *Writer) Error() error { return w.err }

// Append appends one record to b: each cell through Cell, quoted with its
// quotes doubled, the cells separated by commas, the record ended by "\n".
func Append(b []byte, record []string) []byte {
	for i, c := range record {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		if dangerous(c) {
			b = append(b, '\'')
		}
		for j := 0; j < len(c); j++ {
			if c[j] == '"' {
				b = append(b, '"')
			}
			b = append(b, c[j])
		}
		b = append(b, '"')
	}
	return append(b, '\n')
}
