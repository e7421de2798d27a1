package event

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Names of the event's own members in its flat JSON form.
const (
	jsonReceived = "event.ingested"
	jsonInput    = "vigil.input"
	jsonProduct  = "logsource.product"
	jsonCategory = "logsource.category"
	jsonService  = "logsource.service"
)

// AppendJSON appends the event as one flat JSON object: dotted field names as
// keys, a repeated key as an array, plus @timestamp, event.ingested,
// vigil.input, logsource.*, tags and log.original. Strings that are not valid
// UTF-8 are written with U+FFFD in place of the bad bytes.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendKey(b, FieldTimestamp, true)
	b = appendTime(b, e.Timestamp())
	if !e.Received.IsZero() {
		b = appendKey(b, jsonReceived, false)
		b = appendTime(b, e.Received)
	}
	if e.Input != "" {
		b = appendKey(b, jsonInput, false)
		b = AppendString(b, e.Input)
	}
	for _, m := range [...]struct{ k, v string }{
		{jsonProduct, e.Logsource.Product},
		{jsonCategory, e.Logsource.Category},
		{jsonService, e.Logsource.Service},
	} {
		if m.v != "" {
			b = appendKey(b, m.k, false)
			b = AppendString(b, m.v)
		}
	}
	if len(e.Tags) > 0 {
		b = appendKey(b, FieldTags, false)
		b = append(b, '[')
		for i, t := range e.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, t)
		}
		b = append(b, ']')
	}
	if e.Raw != "" {
		b = appendKey(b, FieldOriginal, false)
		b = AppendString(b, e.Raw)
	}
	// Fields: group repeated keys into arrays, in first-seen order. Events
	// are small, so a quadratic scan beats a map.
	for i, f := range e.Fields {
		if seenBefore(e.Fields[:i], f.Key) {
			continue
		}
		name := f.Key.Name()
		if isReserved(name) {
			continue
		}
		n := 0
		for _, g := range e.Fields[i:] {
			if g.Key == f.Key {
				n++
			}
		}
		b = appendKey(b, name, false)
		if n == 1 {
			b = f.Value.AppendJSON(b)
			continue
		}
		b = append(b, '[')
		first := true
		for _, g := range e.Fields[i:] {
			if g.Key != f.Key {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = g.Value.AppendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func isReserved(name string) bool {
	switch name {
	case FieldTimestamp, jsonReceived, jsonInput, jsonProduct, jsonCategory, jsonService, FieldTags, FieldOriginal:
		return true
	}
	return false
}

func seenBefore(fs []Field, k Key) bool {
	for _, f := range fs {
		if f.Key == k {
			return true
		}
	}
	return false
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (e *Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 256+len(e.Raw)+32*len(e.Fields))), nil
}

func appendKey(b []byte, k string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = AppendString(b, k)
	return append(b, ':')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// AppendJSON appends v as a JSON value.
func (v Value) AppendJSON(b []byte) []byte {
	switch v.Kind {
	case KindNull:
		return append(b, "null"...)
	case KindInt, KindFloat:
		if validJSONNumber(v.Str) {
			return append(b, v.Str...)
		}
		if math.IsInf(v.Num, 0) || math.IsNaN(v.Num) {
			return append(b, "null"...) // JSON has no infinities
		}
		return strconv.AppendFloat(b, v.Num, 'g', -1, 64)
	case KindBool:
		if v.Num != 0 {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	}
	return AppendString(b, v.Str)
}

// validJSONNumber reports whether s is a JSON number (strconv accepts forms
// such as "+1", "0x10", "Inf" and "1_000" that JSON does not).
func validJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i == len(s) {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

const hexDigits = "0123456789abcdef"

// plainByte marks the bytes AppendString copies as they are.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendString appends s as a JSON string, escaping control characters,
// quotes, backslashes and the line separators U+2028/U+2029, and replacing
// invalid UTF-8 with U+FFFD, byte for byte as encoding/json does with HTML
// escaping off: it leaves <, > and & alone (log text reads better that
// way, and HTML output escapes for itself), so that the OTLP decoder's
// events equal those of the collector's own encoding.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip plain bytes (printable ASCII other than '"' and '\\').
		for i < len(s) && plainByte[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
