package httpin

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/jsonscan"
)

// MaxDepth bounds the nesting of JSON accepted by every endpoint. The
// splitter checks it without recursion, so that the validators and parsers
// that run afterwards (which do recurse) only ever see bounded input.
const MaxDepth = 128

// Errors of the JSON splitter.
var (
	errTooDeep      = fmt.Errorf("json nested deeper than %d levels", MaxDepth)
	errUnterminated = errors.New("unterminated json value")
	errNotObject    = errors.New("not a json object")
)

// syntaxError is a problem at a line of a request body.
type syntaxError struct {
	Line int
	Err  error
}

func (e *syntaxError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *syntaxError) Unwrap() error { return e.Err }

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// scanValue returns the end (exclusive) of the JSON value starting at
// data[i], which must not be a space. It matches brackets and skips strings
// (jsonscan) but does not validate: callers validate the value once it is
// known to be bounded in depth. It never recurses.
func scanValue(data []byte, i int) (int, error) {
	switch data[i] {
	case '{', '[':
		sc := jsonscan.Scanner{MaxDepth: MaxDepth}
		n, err := sc.End(data[i:])
		if err != nil {
			return 0, errTooDeep
		}
		if n == 0 {
			return 0, errUnterminated
		}
		return i + n, nil
	case '"':
		end, ok := jsonscan.StringEnd(data, i)
		if !ok {
			return 0, errUnterminated
		}
		return end, nil
	default:
		j := i
		for j < len(data) && !isSpace(data[j]) && data[j] != ',' && data[j] != ']' && data[j] != '}' && data[j] != '{' && data[j] != '[' && data[j] != '"' {
			j++
		}
		if j == i {
			return i + 1, nil
		}
		return j, nil
	}
}

// splitObjects calls fn with each JSON object in data, which holds one
// object, a JSON array of objects, or objects one after another (NDJSON, or
// concatenated). Blank lines are ignored. Each object is validated; the
// first problem is returned as a *syntaxError naming its line. fn receives
// a sub-slice of data.
func splitObjects(data []byte, fn func(obj []byte) error) error {
	line := 1
	pos := 0
	i := skipSpace(data, 0)
	if i < len(data) && data[i] == '[' {
		return splitArray(data, i, fn)
	}
	for i < len(data) {
		line += bytes.Count(data[pos:i], nl)
		pos = i
		if data[i] != '{' {
			return &syntaxError{line, errNotObject}
		}
		end, err := scanValue(data, i)
		if err != nil {
			return &syntaxError{line, err}
		}
		obj := data[i:end:end]
		if err := fastjson.ValidateBytes(obj); err != nil {
			return &syntaxError{line, fmt.Errorf("invalid json: %w", err)}
		}
		if err := fn(obj); err != nil {
			return err
		}
		i = skipSpace(data, end)
	}
	return nil
}

var nl = []byte{'\n'}

func splitArray(data []byte, i int, fn func(obj []byte) error) error {
	line := 1 + bytes.Count(data[:i], nl)
	pos := i
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		i = skipSpace(data, i+1)
		if i != len(data) {
			return &syntaxError{line + bytes.Count(data[pos:i], nl), errors.New("data after the array")}
		}
		return nil
	}
	for {
		if i >= len(data) {
			return &syntaxError{line + bytes.Count(data[pos:], nl), errUnterminated}
		}
		line += bytes.Count(data[pos:i], nl)
		pos = i
		if data[i] != '{' {
			return &syntaxError{line, fmt.Errorf("array element: %w", errNotObject)}
		}
		end, err := scanValue(data, i)
		if err != nil {
			return &syntaxError{line, err}
		}
		obj := data[i:end:end]
		if err := fastjson.ValidateBytes(obj); err != nil {
			return &syntaxError{line, fmt.Errorf("invalid json: %w", err)}
		}
		if err := fn(obj); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return &syntaxError{line + bytes.Count(data[pos:], nl), errUnterminated}
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			i = skipSpace(data, i+1)
			if i != len(data) {
				return &syntaxError{line + bytes.Count(data[pos:i], nl), errors.New("data after the array")}
			}
			return nil
		default:
			return &syntaxError{line + bytes.Count(data[pos:i], nl), fmt.Errorf("expected , or ] after an array element, found %q", data[i])}
		}
	}
}

// splitLines calls fn with each non-blank line of data, without its line
// ending, and its 1-based line number.
func splitLines(data []byte, fn func(line []byte, n int) error) error {
	n := 0
	for len(data) > 0 {
		n++
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i:i], data[i+1:]
		} else {
			l, data = data[:len(data):len(data)], nil
		}
		if k := len(l); k > 0 && l[k-1] == '\r' {
			l = l[: k-1 : k-1]
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		if err := fn(l, n); err != nil {
			return err
		}
	}
	return nil
}
