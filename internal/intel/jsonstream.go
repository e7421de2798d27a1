package intel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// maxJSONDepth bounds the nesting the feed walkers follow.
const maxJSONDepth = 32

// jsonStream walks a JSON document held in memory token by token, so that
// the entries of big arrays are decoded one at a time and each knows its
// line.
type jsonStream struct {
	data  []byte
	dec   *json.Decoder
	off   int // lines counted up to here
	line  int
	depth int
}

func newJSONStream(data []byte) *jsonStream {
	return &jsonStream{data: data, dec: json.NewDecoder(bytes.NewReader(data)), line: 1}
}

// nextLine returns the line where the next value starts.
func (s *jsonStream) nextLine() int {
	to := int(s.dec.InputOffset())
	for to < len(s.data) {
		c := s.data[to]
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',' && c != ':' {
			break
		}
		to++
	}
	if to > len(s.data) {
		to = len(s.data)
	}
	if to > s.off {
		s.line += bytes.Count(s.data[s.off:to], []byte{'\n'})
		s.off = to
	}
	return s.line
}

func (s *jsonStream) syntaxErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(s.data[:min(int(se.Offset), len(s.data))], []byte{'\n'})
		return &ParseError{Line: line, Err: fmt.Errorf("json: %w", err)}
	}
	return &ParseError{Line: s.nextLine(), Err: fmt.Errorf("json: %w", err)}
}

// peek returns the kind of the next value: '{', '[' or 0 for scalars.
func (s *jsonStream) peek() byte {
	s.nextLine()
	if s.off < len(s.data) {
		switch c := s.data[s.off]; c {
		case '{', '[':
			return c
		}
	}
	return 0
}

// raw decodes the next value whole.
func (s *jsonStream) raw() (json.RawMessage, int, error) {
	line := s.nextLine()
	var m json.RawMessage
	if err := s.dec.Decode(&m); err != nil {
		return nil, line, s.syntaxErr(err)
	}
	return m, line, nil
}

// skip consumes the next value.
func (s *jsonStream) skip() error {
	_, _, err := s.raw()
	return err
}

func (s *jsonStream) delim(want json.Delim) error {
	tok, err := s.dec.Token()
	if err != nil {
		return s.syntaxErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return &ParseError{Line: s.nextLine(), Err: fmt.Errorf("json: got %v, want %q", tok, want)}
	}
	return nil
}

// object walks the object that comes next; fn is called with each key and
// must consume its value.
func (s *jsonStream) object(fn func(key string) error) error {
	if s.depth >= maxJSONDepth {
		return &ParseError{Line: s.nextLine(), Err: errors.New("json: nested too deep")}
	}
	s.depth++
	defer func() { s.depth-- }()
	if err := s.delim('{'); err != nil {
		return err
	}
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return s.syntaxErr(err)
		}
		key, ok := tok.(string)
		if !ok {
			return &ParseError{Line: s.nextLine(), Err: fmt.Errorf("json: got %v, want an object key", tok)}
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return s.delim('}')
}

// array walks the array that comes next; fn is called for each element and
// must consume it.
func (s *jsonStream) array(fn func() error) error {
	if s.depth >= maxJSONDepth {
		return &ParseError{Line: s.nextLine(), Err: errors.New("json: nested too deep")}
	}
	s.depth++
	defer func() { s.depth-- }()
	if err := s.delim('['); err != nil {
		return err
	}
	for s.dec.More() {
		if err := fn(); err != nil {
			return err
		}
	}
	return s.delim(']')
}

// flexString reads a JSON string or number as text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		*f = ""
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return fmt.Errorf("want a string or number, got %s", clip(string(b)))
	}
	*f = flexString(b)
	return nil
}

// flexBool reads true/false, 1/0 or their quoted forms.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", `"true"`, "1", `"1"`, `"True"`:
		*f = true
	case "false", `"false"`, "0", `"0"`, `"False"`, "null", `""`:
		*f = false
	default:
		return fmt.Errorf("want a boolean, got %s", clip(string(b)))
	}
	return nil
}
