// Package jsonscan finds where a JSON object or array ends without decoding
// it. It is the one splitter of the inputs that take many JSON values at
// once (HTTP ingest bodies, the files vigil hunt reads, the SigmaHQ
// regression data): they cut their data into values with it, and a parser
// checks each value afterwards.
//
// The scan tracks only strings, escapes and brackets, never recurses, and
// can bound the nesting, so that the parsers that run afterwards (which do
// recurse) only ever see bounded input. It does not validate: a value it
// cuts may still be invalid JSON, and mismatched brackets ({"a":[1}]) count
// as closing.
package jsonscan

import (
	"bytes"
	"errors"
)

// ErrTooDeep is returned by Scanner.End for a value nested deeper than
// the scanner's MaxDepth.
var ErrTooDeep = errors.New("json nested too deep")

// Scanner finds the end of one JSON object or array whose bytes may come
// in pieces. The zero value scans without a depth bound.
type Scanner struct {
	// MaxDepth bounds the nesting of objects and arrays (0: no bound).
	MaxDepth int

	// n bytes of the value are scanned; the scan stopped at depth, inside
	// a string or not.
	n, depth int
	inString bool
}

// structural marks the bytes the scan stops at outside strings.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// End scans value, the bytes of an object or array from its opening
// bracket as far as they have come, and returns the length of the value
// (up to its closing bracket), or 0 when value ends first: call End again
// with value extended (the same bytes and more, possibly moved) and the
// scan goes on where it stopped. After a value is found, or an error, the
// scanner is ready for the next value.
func (s *Scanner) End(value []byte) (int, error) {
	i := s.n
	for i < len(value) {
		if s.inString {
			q := bytes.IndexByte(value[i:], '"')
			if q < 0 {
				// The string goes on past the data. (Whether a quote found
				// later is escaped is decided by counting the backslashes
				// before it, so nothing needs carrying.)
				i = len(value)
				break
			}
			q += i
			i = q + 1
			if trailingBackslashes(value[:q])%2 == 0 {
				s.inString = false
			}
			continue
		}
		c := value[i]
		i++
		if !structural[c] {
			continue
		}
		switch c {
		case '"':
			s.inString = true
		case '{', '[':
			s.depth++
			if s.MaxDepth > 0 && s.depth > s.MaxDepth {
				s.reset()
				return 0, ErrTooDeep
			}
		default:
			if s.depth--; s.depth <= 0 {
				s.reset()
				return i, nil
			}
		}
	}
	s.n = i
	return 0, nil
}

// Scanned returns how many bytes of the value End has scanned so far.
func (s *Scanner) Scanned() int { return s.n }

// Reset forgets the value in progress.
func (s *Scanner) Reset() { s.reset() }

func (s *Scanner) reset() { s.n, s.depth, s.inString = 0, 0, false }

// trailingBackslashes counts the backslashes b ends with.
func trailingBackslashes(b []byte) int {
	n := 0
	for n < len(b) && b[len(b)-1-n] == '\\' {
		n++
	}
	return n
}

// StringEnd returns the end (exclusive) of the JSON string whose opening
// quote is data[i], and false when data ends inside the string.
func StringEnd(data []byte, i int) (int, bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			return 0, false
		}
		j += k
		if trailingBackslashes(data[i+1:j])%2 == 0 {
			return j + 1, true
		}
		j++
	}
}
