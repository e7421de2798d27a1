package httpin

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file decodes the OTLP/JSON encoding of an ExportLogsServiceRequest
// (the protobuf JSON mapping with OTLP's exceptions: trace and span ids
// in hex) into otlpLogs, in one pass that validates the JSON and bounds
// its nesting by MaxDepth. Field names are accepted in lowerCamelCase and
// in the proto's snake_case; 64-bit integers as numbers or decimal
// strings; enums as numbers or names; bytes as base64 (standard or URL
// alphabet, with or without padding); unknown fields are skipped; null
// stands for an absent value.

// jsonReader reads one JSON document.
type jsonReader struct {
	b     []byte
	pos   int
	depth int
}

var errJSONEnd = errors.New("unexpected end of json input")

func (r *jsonReader) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{r.pos}, args...)...)
}

// peek skips spaces and returns the next byte, or 0 at the end (a NUL
// byte, never valid there, reads the same).
func (r *jsonReader) peek() byte {
	for r.pos < len(r.b) && isSpace(r.b[r.pos]) {
		r.pos++
	}
	if r.pos == len(r.b) {
		return 0
	}
	return r.b[r.pos]
}

// unexpected reports the byte at r.pos where a want was expected.
func (r *jsonReader) unexpected(want string) error {
	if r.pos >= len(r.b) {
		return fmt.Errorf("offset %d: %w, want %s", r.pos, errJSONEnd, want)
	}
	return r.errorf("found %q, want %s", r.b[r.pos], want)
}

// literal consumes the literal word (true, false, null) at r.pos.
func (r *jsonReader) literal(word string) error {
	if !bytes.HasPrefix(r.b[r.pos:], []byte(word)) {
		return r.unexpected(word)
	}
	r.pos += len(word)
	return nil
}

// open starts an object or an array (c is '{' or '['), reporting null
// (consumed) as absent.
func (r *jsonReader) open(c byte) (null bool, err error) {
	switch r.peek() {
	case c:
		r.depth++
		if r.depth > MaxDepth {
			return false, errTooDeep
		}
		r.pos++
		return false, nil
	case 'n':
		return true, r.literal("null")
	}
	if c == '{' {
		return false, r.unexpected("an object")
	}
	return false, r.unexpected("an array")
}

// next moves to the next member of an object (end '}') or element of an
// array (end ']') and reports whether there is one; first is true before
// the first.
func (r *jsonReader) next(end byte, first *bool) (bool, error) {
	c := r.peek()
	if c == end {
		r.pos++
		r.depth--
		return false, nil
	}
	if !*first {
		if c != ',' {
			return false, r.unexpected(fmt.Sprintf("',' or '%c'", end))
		}
		r.pos++
	}
	*first = false
	return true, nil
}

// member moves to the next member of an object and returns its name, or
// reports the end of the object.
func (r *jsonReader) member(first *bool) (key []byte, more bool, err error) {
	if more, err = r.next('}', first); !more || err != nil {
		return nil, more, err
	}
	if r.peek() != '"' {
		return nil, false, r.unexpected("a member name")
	}
	if key, err = r.str(); err != nil {
		return nil, false, err
	}
	if r.peek() != ':' {
		return nil, false, r.unexpected("':'")
	}
	r.pos++
	return key, true, nil
}

// rawStr reads the string at r.pos (which is '"') and returns its bytes
// between the quotes as written, and whether it holds escapes.
func (r *jsonReader) rawStr() (raw []byte, escaped bool, err error) {
	start := r.pos + 1
	for i := start; i < len(r.b); i++ {
		switch c := r.b[i]; {
		case c == '"':
			r.pos = i + 1
			return r.b[start:i:i], escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i == len(r.b) {
				r.pos = i
				return nil, false, r.unexpected("an escaped character")
			}
			switch r.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(r.b) {
					r.pos = len(r.b)
					return nil, false, r.unexpected("4 hex digits")
				}
				for _, h := range r.b[i+1 : i+5] {
					if unhex(h) < 0 {
						r.pos = i
						return nil, false, r.errorf("invalid \\u escape")
					}
				}
				i += 4
			default:
				r.pos = i
				return nil, false, r.errorf("invalid escape \\%c", r.b[i])
			}
		case c < 0x20:
			r.pos = i
			return nil, false, r.errorf("control character %#02x in a string", c)
		}
	}
	r.pos = len(r.b)
	return nil, false, r.unexpected(`'"'`)
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// str reads the string at r.pos (which is '"'), unescaped. Without
// escapes it is a sub-slice of the input; invalid UTF-8 is kept as is.
func (r *jsonReader) str() ([]byte, error) {
	raw, escaped, err := r.rawStr()
	if err != nil || !escaped {
		return raw, err
	}
	return appendUnescaped(make([]byte, 0, len(raw)), raw), nil
}

// textSpan reads a string field (null reads as empty) into d: a span of
// the body, or of d.extra if it has escapes.
func (r *jsonReader) textSpan(d *otlpLogs) (span, error) {
	switch r.peek() {
	case '"':
		start := r.pos + 1
		raw, escaped, err := r.rawStr()
		if err != nil || !escaped {
			return span{uint32(start), uint32(start + len(raw))}, err
		}
		off := len(d.extra)
		d.extra = appendUnescaped(d.extra, raw)
		return span{uint32(off) | extraBit, uint32(len(d.extra))}, nil
	case 'n':
		return span{}, r.literal("null")
	}
	return span{}, r.unexpected("a string")
}

// appendUnescaped appends the decoded escapes of a string rawStr has
// checked. UTF-16 surrogates that do not pair become U+FFFD, the way the
// OTLP collector's JSON decoder (json-iterator) does it, so that
// attribute names compare the same.
func appendUnescaped(out, raw []byte) []byte {
	u4 := func(i int) rune {
		return unhex(raw[i])<<12 | unhex(raw[i+1])<<8 | unhex(raw[i+2])<<4 | unhex(raw[i+3])
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		c = raw[i+1]
		i += 2
		switch c {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r1 := u4(i)
			i += 4
			if !utf16.IsSurrogate(r1) {
				out = utf8.AppendRune(out, r1)
				continue
			}
			if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
				// Not followed by a \u escape: the surrogate stands
				// alone (and a following escape is read on its own).
				out = utf8.AppendRune(out, utf8.RuneError)
				continue
			}
			r2 := u4(i + 2)
			i += 6
			if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
				out = utf8.AppendRune(out, r)
			} else {
				// Both become U+FFFD unless r2 is a plain character.
				out = utf8.AppendRune(out, utf8.RuneError)
				out = utf8.AppendRune(out, r2)
			}
		default: // '"', '\\', '/'
			out = append(out, c)
		}
	}
	return out
}

// number reads a JSON number at r.pos and returns its text.
func (r *jsonReader) number() ([]byte, error) {
	start, i := r.pos, r.pos
	digits := func() int {
		j := i
		for i < len(r.b) && '0' <= r.b[i] && r.b[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(r.b) && r.b[i] == '-' {
		i++
	}
	if i < len(r.b) && r.b[i] == '0' {
		i++
	} else if digits() == 0 {
		r.pos = i
		return nil, r.unexpected("a digit")
	}
	if i < len(r.b) && r.b[i] == '.' {
		i++
		if digits() == 0 {
			r.pos = i
			return nil, r.unexpected("a digit")
		}
	}
	if i < len(r.b) && (r.b[i] == 'e' || r.b[i] == 'E') {
		i++
		if i < len(r.b) && (r.b[i] == '+' || r.b[i] == '-') {
			i++
		}
		if digits() == 0 {
			r.pos = i
			return nil, r.unexpected("a digit")
		}
	}
	r.pos = i
	return r.b[start:i], nil
}

// skip passes over one value of any type, checking it.
func (r *jsonReader) skip() error {
	switch c := r.peek(); c {
	case '{', '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if _, err := r.open(c); err != nil {
			return err
		}
		first := true
		for {
			var more bool
			var err error
			if c == '{' {
				_, more, err = r.member(&first)
			} else {
				more, err = r.next(end, &first)
			}
			if err != nil || !more {
				return err
			}
			if err := r.skip(); err != nil {
				return err
			}
		}
	case '"':
		_, _, err := r.rawStr()
		return err
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	case 0:
		return r.unexpected("a value")
	}
	_, err := r.number()
	return err
}

// text reads a string field (null reads as empty).
func (r *jsonReader) text() ([]byte, error) {
	switch r.peek() {
	case '"':
		return r.str()
	case 'n':
		return nil, r.literal("null")
	}
	return nil, r.unexpected("a string")
}

// integer reads an integer field of the given size, written as a number
// or as a decimal string, with strconv's rules for the string form.
func (r *jsonReader) integer(signed bool, bits int) (uint64, error) {
	var s []byte
	var err error
	switch c := r.peek(); {
	case c == '"':
		s, err = r.str()
	case c == '-' || '0' <= c && c <= '9':
		s, err = r.number()
		if err == nil && bytes.ContainsAny(s, ".eE") {
			return 0, r.errorf("number %s is not an integer", s)
		}
	default:
		return 0, r.unexpected("an integer")
	}
	if err != nil {
		return 0, err
	}
	if signed {
		v, err := strconv.ParseInt(string(s), 10, bits)
		if err != nil {
			return 0, r.errorf("%w", err)
		}
		return uint64(v), nil
	}
	v, err := strconv.ParseUint(string(s), 10, bits)
	if err != nil {
		return 0, r.errorf("%w", err)
	}
	return v, nil
}

// float reads a double field, written as a number or as a string
// (strconv.ParseFloat's syntax, which takes "NaN" and "Infinity").
func (r *jsonReader) float() (float64, error) {
	var s []byte
	var err error
	switch c := r.peek(); {
	case c == '"':
		s, err = r.str()
	case c == '-' || '0' <= c && c <= '9':
		s, err = r.number()
	default:
		return 0, r.unexpected("a number")
	}
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return 0, r.errorf("%w", err)
	}
	return f, nil
}

func (r *jsonReader) boolean() (bool, error) {
	switch r.peek() {
	case 't':
		return true, r.literal("true")
	case 'f':
		return false, r.literal("false")
	}
	return false, r.unexpected("true or false")
}

// severityNames maps SeverityNumber names to numbers.
var severityNames = func() map[string]int32 {
	m := map[string]int32{"SEVERITY_NUMBER_UNSPECIFIED": 0}
	for i, name := range []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"} {
		for j, suffix := range []string{"", "2", "3", "4"} {
			m["SEVERITY_NUMBER_"+name+suffix] = int32(4*i + j + 1)
		}
	}
	// pdata's table spells TRACE with a trailing space; accept what
	// senders built on it send.
	m["SEVERITY_NUMBER_TRACE "] = 1
	return m
}()

// severity reads a SeverityNumber: a number or an enum name.
func (r *jsonReader) severity() (int32, error) {
	if r.peek() != '"' {
		v, err := r.integer(true, 32)
		return int32(v), err
	}
	s, err := r.str()
	if err != nil {
		return 0, err
	}
	n, ok := severityNames[string(s)]
	if !ok {
		return 0, r.errorf("unknown severity number %q", s)
	}
	return n, nil
}

// id reads a trace or span id: a hex string of 2×len(dst) digits, or ""
// for none.
func (r *jsonReader) id(dst []byte) error {
	clear(dst)
	if r.peek() != '"' {
		return r.unexpected("a hex string")
	}
	raw, escaped, err := r.rawStr()
	if err != nil || len(raw) == 0 {
		return err
	}
	if escaped || len(raw) != 2*len(dst) {
		return r.errorf("id %q: want %d hex digits", raw, 2*len(dst))
	}
	if _, err := hex.Decode(dst, raw); err != nil {
		return r.errorf("id %q: %w", raw, err)
	}
	return nil
}

// base64Bytes reads a bytes field into d.extra.
func (r *jsonReader) base64Bytes(d *otlpLogs) (span, error) {
	if r.peek() != '"' {
		return span{}, r.unexpected("a base64 string")
	}
	raw, escaped, err := r.rawStr()
	if err != nil || len(raw) == 0 {
		return span{}, err
	}
	if !escaped {
		enc := base64.StdEncoding
		if bytes.ContainsAny(raw, "-_") {
			enc = base64.URLEncoding
		}
		if len(raw)%4 != 0 {
			enc = enc.WithPadding(base64.NoPadding)
		}
		off := len(d.extra)
		if d.extra, err = enc.AppendDecode(d.extra, raw); err == nil {
			return span{uint32(off) | extraBit, uint32(len(d.extra))}, nil
		}
		d.extra = d.extra[:off]
	}
	return span{}, r.errorf("bytes value: invalid base64")
}

// decodeOTLPJSON decodes an ExportLogsServiceRequest in OTLP/JSON.
func decodeOTLPJSON(body []byte, maxRecords int) (*otlpLogs, error) {
	d, err := getLogs(body, maxRecords)
	if err != nil {
		return nil, err
	}
	if err := d.jsonRequest(&jsonReader{b: body}); err != nil {
		d.release()
		return nil, err
	}
	return d, nil
}

func (d *otlpLogs) jsonRequest(r *jsonReader) error {
	if r.peek(); r.pos == len(r.b) {
		return errNoData
	}
	null, err := r.open('{')
	if err != nil {
		return err
	}
	for first, n := true, 0; !null; {
		key, more, err := r.member(&first)
		if err != nil || !more {
			if err != nil {
				return err
			}
			break
		}
		switch string(key) {
		case "resourceLogs", "resource_logs":
			err = r.array(func(i int) error {
				if err := d.jsonResourceLogs(r); err != nil {
					return fmt.Errorf("resourceLogs[%d]: %w", n, err)
				}
				n++
				return nil
			})
		default:
			err = r.skip()
		}
		if err != nil {
			return err
		}
	}
	if r.peek(); r.pos != len(r.b) {
		return r.errorf("data after the json value")
	}
	return nil
}

// array calls fn for each element of an array field (null is empty); fn
// reads the element.
func (r *jsonReader) array(fn func(i int) error) error {
	null, err := r.open('[')
	if err != nil || null {
		return err
	}
	for first, i := true, 0; ; i++ {
		more, err := r.next(']', &first)
		if err != nil || !more {
			return err
		}
		if err := fn(i); err != nil {
			return err
		}
	}
}

// object calls fn with the name of each member of an object field (null
// is empty); fn reads the member's value.
func (r *jsonReader) object(fn func(key []byte) error) error {
	null, err := r.open('{')
	if err != nil || null {
		return err
	}
	for first := true; ; {
		key, more, err := r.member(&first)
		if err != nil || !more {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
	}
}

// keyValues reads an array of KeyValue into list l.
func (d *otlpLogs) jsonKeyValues(r *jsonReader, l int32) error {
	return r.array(func(i int) error {
		if err := d.jsonKeyValue(r, l); err != nil {
			return fmt.Errorf("[%d]: %w", d.lists[l].n, err)
		}
		return nil
	})
}

func (d *otlpLogs) jsonResourceLogs(r *jsonReader) error {
	// JSON requests are not migrated (pdata migrates only protobuf ones):
	// deprecatedScopeLogs are checked and dropped.
	rl := otlpResource{attrs: d.newList(), first: int32(len(d.scopes))}
	scopes, deprecated := 0, 0
	err := r.object(func(key []byte) error {
		switch string(key) {
		case "resource":
			return r.object(func(key []byte) error {
				switch string(key) {
				case "attributes":
					if err := d.jsonKeyValues(r, rl.attrs); err != nil {
						return fmt.Errorf("resource.attributes%w", err)
					}
					return nil
				case "droppedAttributesCount", "dropped_attributes_count":
					_, err := r.integer(false, 32)
					return err
				case "entityRefs", "entity_refs":
					return r.array(func(int) error { return jsonEntityRef(r) })
				}
				return r.skip()
			})
		case "scopeLogs", "scope_logs":
			return r.array(func(int) error {
				if err := d.jsonScopeLogs(r, false); err != nil {
					return fmt.Errorf("scopeLogs[%d]: %w", scopes, err)
				}
				scopes++
				return nil
			})
		case "deprecatedScopeLogs", "deprecated_scope_logs":
			return r.array(func(int) error {
				if err := d.jsonScopeLogs(r, true); err != nil {
					return fmt.Errorf("deprecatedScopeLogs[%d]: %w", deprecated, err)
				}
				deprecated++
				return nil
			})
		case "schemaUrl", "schema_url":
			_, err := r.text()
			return err
		}
		return r.skip()
	})
	rl.end = int32(len(d.scopes))
	d.resources = append(d.resources, rl)
	return err
}

// jsonEntityRef checks an EntityRef, which events do not use.
func jsonEntityRef(r *jsonReader) error {
	return r.object(func(key []byte) error {
		switch string(key) {
		case "schemaUrl", "schema_url", "type":
			_, err := r.text()
			return err
		case "idKeys", "id_keys", "descriptionKeys", "description_keys":
			return r.array(func(int) error { _, err := r.text(); return err })
		}
		return r.skip()
	})
}

func (d *otlpLogs) jsonScopeLogs(r *jsonReader, deprecated bool) error {
	sc := otlpScope{first: int32(len(d.records)), deprecated: deprecated}
	n := 0
	err := r.object(func(key []byte) error {
		switch string(key) {
		case "scope":
			return r.object(func(key []byte) error {
				var err error
				switch string(key) {
				case "name":
					sc.name, err = r.textSpan(d)
				case "version":
					sc.version, err = r.textSpan(d)
				case "attributes":
					// Checked, not written to events.
					if err = d.jsonKeyValues(r, d.newList()); err != nil {
						err = fmt.Errorf("scope.attributes%w", err)
					}
				case "droppedAttributesCount", "dropped_attributes_count":
					_, err = r.integer(false, 32)
				default:
					err = r.skip()
				}
				return err
			})
		case "logRecords", "log_records":
			return r.array(func(int) error {
				if err := d.jsonLogRecord(r); err != nil {
					return fmt.Errorf("logRecords[%d]: %w", n, err)
				}
				n++
				return nil
			})
		case "schemaUrl", "schema_url":
			_, err := r.text()
			return err
		}
		return r.skip()
	})
	sc.end = int32(len(d.records))
	d.scopes = append(d.scopes, sc)
	return err
}

func (d *otlpLogs) jsonLogRecord(r *jsonReader) error {
	lr := otlpRecord{attrs: d.newList()}
	err := r.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "timeUnixNano", "time_unix_nano":
			lr.time, err = r.integer(false, 64)
		case "observedTimeUnixNano", "observed_time_unix_nano":
			lr.observed, err = r.integer(false, 64)
		case "severityNumber", "severity_number":
			lr.severity, err = r.severity()
		case "severityText", "severity_text":
			lr.severityText, err = r.textSpan(d)
		case "body":
			if lr.body, err = d.jsonAnyValue(r, lr.body); err != nil {
				err = fmt.Errorf("body: %w", err)
			}
		case "attributes":
			if err = d.jsonKeyValues(r, lr.attrs); err != nil {
				err = fmt.Errorf("attributes%w", err)
			}
		case "droppedAttributesCount", "dropped_attributes_count", "flags":
			_, err = r.integer(false, 32)
		case "traceId", "trace_id":
			err = r.id(lr.traceID[:])
		case "spanId", "span_id":
			err = r.id(lr.spanID[:])
		case "eventName", "event_name":
			_, err = r.text()
		default:
			err = r.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	return d.addRecord(lr)
}

// jsonKeyValue reads a KeyValue and appends it to list l.
func (d *otlpLogs) jsonKeyValue(r *jsonReader, l int32) error {
	var key span
	var v otlpValue
	err := r.object(func(k []byte) error {
		var err error
		switch string(k) {
		case "key":
			key, err = r.textSpan(d)
		case "value":
			if v, err = d.jsonAnyValue(r, v); err != nil {
				err = fmt.Errorf("value: %w", err)
			}
		case "keyStrindex", "key_strindex":
			_, err = r.integer(true, 32)
		default:
			err = r.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	d.push(l, key, v)
	return nil
}

// jsonAnyValue reads an AnyValue into v, which holds the value of earlier
// occurrences of the same field: each member replaces it.
func (d *otlpLogs) jsonAnyValue(r *jsonReader, v otlpValue) (otlpValue, error) {
	err := r.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "stringValue", "string_value":
			var s span
			s, err = r.textSpan(d)
			v = otlpValue{kind: kindStr, s: s}
		case "boolValue", "bool_value":
			var b bool
			b, err = r.boolean()
			v = otlpValue{kind: kindBool}
			if b {
				v.n = 1
			}
		case "intValue", "int_value":
			var n uint64
			n, err = r.integer(true, 64)
			v = otlpValue{kind: kindInt, n: n}
		case "doubleValue", "double_value":
			var f float64
			f, err = r.float()
			v = otlpValue{kind: kindDouble, n: math.Float64bits(f)}
		case "arrayValue", "array_value":
			v = otlpValue{kind: kindArray, list: d.newList()}
			err = r.object(func(key []byte) error {
				if string(key) != "values" {
					return r.skip()
				}
				return r.array(func(int) error {
					e, err := d.jsonAnyValue(r, otlpValue{})
					if err != nil {
						return fmt.Errorf("arrayValue.values[%d]: %w", d.lists[v.list].n, err)
					}
					d.push(v.list, span{}, e)
					return nil
				})
			})
		case "kvlistValue", "kvlist_value":
			v = otlpValue{kind: kindMap, list: d.newList()}
			err = r.object(func(key []byte) error {
				if string(key) != "values" {
					return r.skip()
				}
				if err := d.jsonKeyValues(r, v.list); err != nil {
					return fmt.Errorf("kvlistValue.values%w", err)
				}
				return nil
			})
		case "bytesValue", "bytes_value":
			var b span
			b, err = r.base64Bytes(d)
			v = otlpValue{kind: kindBytes, s: b}
		case "stringValueStrindex", "string_value_strindex":
			// An index into a profiles dictionary that logs do not
			// have: the value reads as empty.
			_, err = r.integer(true, 32)
			v = otlpValue{}
		default:
			err = r.skip()
		}
		return err
	})
	return v, err
}
