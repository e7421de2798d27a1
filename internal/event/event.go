// Package event defines Vigil's normalized event: a timestamp, a Sigma
// logsource, the original text, and a flat list of typed fields whose names
// are interned once into numeric keys so that the detection engine and the
// store can read them without hashing strings per rule.
//
// Field names are dotted paths. ECS names (host.name, source.ip, ...) sit
// beside the source's own names (Image, CommandLine, EventID, ...), which are
// kept as they came because Sigma rules are written against them. An array of
// scalars is represented as the same key repeated, once per element, in order.
package event

import (
	"strconv"
	"time"
)

// Well-known ECS field names used across packages.
const (
	FieldTimestamp   = "@timestamp"
	FieldMessage     = "message"
	FieldOriginal    = "log.original"
	FieldKind        = "event.kind"
	FieldCategory    = "event.category"
	FieldAction      = "event.action"
	FieldOutcome     = "event.outcome"
	FieldDataset     = "event.dataset"
	FieldHostName    = "host.name"
	FieldSourceIP    = "source.ip"
	FieldSourcePort  = "source.port"
	FieldDestIP      = "destination.ip"
	FieldDestPort    = "destination.port"
	FieldUserName    = "user.name"
	FieldProcessName = "process.name"
	FieldProcessPID  = "process.pid"
	FieldCommandLine = "process.command_line"
	FieldTags        = "tags"
)

// Tags set by the pipeline.
const (
	// TagParseError marks an event whose text could not be parsed by any
	// decoder; it is stored with its raw text so nothing is lost.
	TagParseError = "parse_error"
	// TagTruncated marks an event whose input was cut at the size limit.
	TagTruncated = "truncated"
)

// Logsource is the Sigma logsource of an event. Empty members are unknown.
type Logsource struct {
	Product  string `json:"product,omitempty"`
	Category string `json:"category,omitempty"`
	Service  string `json:"service,omitempty"`
}

// Kind is the type of a Value.
type Kind uint8

// Value kinds.
const (
	KindNull Kind = iota
	KindString
	KindInt
	KindFloat
	KindBool
)

func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindString:
		return "string"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindBool:
		return "bool"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one typed scalar. Str always holds the value's text as it came
// (for numbers their decimal form, for booleans "true"/"false", empty for
// null), so that string matching never formats numbers; Num holds the numeric
// value of KindInt and KindFloat (and of KindBool: 0 or 1).
type Value struct {
	Kind Kind
	Str  string
	Num  float64
}

// String returns a string Value.
func String(s string) Value { return Value{Kind: KindString, Str: s} }

// Int returns an integer Value.
func Int(n int64) Value {
	return Value{Kind: KindInt, Str: strconv.FormatInt(n, 10), Num: float64(n)}
}

// Float returns a floating-point Value.
func Float(f float64) Value {
	return Value{Kind: KindFloat, Str: strconv.FormatFloat(f, 'g', -1, 64), Num: f}
}

// Bool returns a boolean Value.
func Bool(b bool) Value {
	if b {
		return Value{Kind: KindBool, Str: "true", Num: 1}
	}
	return Value{Kind: KindBool, Str: "false"}
}

// Null returns the null Value.
func Null() Value { return Value{} }

// Number returns a numeric Value from its decimal text, keeping the text
// exactly (large integers keep every digit in Str). ok is false when s is not
// a number.
func Number(s string) (v Value, ok bool) {
	// Only a text of digits (with an optional sign) is tried as an
	// integer: a failed ParseInt allocates its error, and most non-integer
	// numbers (12.5, 1e3) would pay that on every event.
	if integerText(s) {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Value{Kind: KindInt, Str: s, Num: float64(n)}, true
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return Value{Kind: KindFloat, Str: s, Num: f}, true
	}
	return Value{}, false
}

// integerText reports whether s is an optional sign and decimal digits.
func integerText(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsNumber reports whether v holds a number.
func (v Value) IsNumber() bool { return v.Kind == KindInt || v.Kind == KindFloat }

// Field is one named value of an event.
type Field struct {
	Key   Key
	Value Value
}

// Event is one normalized log record.
type Event struct {
	// Time is the event's own time (@timestamp); Received when the source
	// carried none.
	Time time.Time
	// Received is when Vigil accepted the event.
	Received time.Time
	// Input names the input that accepted the event (syslog-tcp, http, ...).
	Input string
	// Raw is the original text (log.original). It may be empty for events
	// that arrived structured (JSON) when keeping a copy is disabled.
	Raw string
	// Logsource is the event's Sigma logsource.
	Logsource Logsource
	// Tags are labels such as parse_error or a source tag of an ingest token.
	Tags []string
	// Fields are the event's fields, in insertion order. Keys may repeat
	// (arrays).
	Fields []Field
}

// Set appends a field. It does not remove an earlier field of the same name;
// use Replace for that.
func (e *Event) Set(name string, v Value) {
	e.Fields = append(e.Fields, Field{Key: Intern(name), Value: v})
}

// SetKey appends a field by key.
func (e *Event) SetKey(k Key, v Value) {
	e.Fields = append(e.Fields, Field{Key: k, Value: v})
}

// SetString appends a string field, skipping empty strings.
func (e *Event) SetString(name, s string) {
	if s == "" {
		return
	}
	e.Set(name, String(s))
}

// Replace sets name to the single value v, removing any earlier values.
func (e *Event) Replace(name string, v Value) {
	k := Intern(name)
	e.Delete(k)
	e.Fields = append(e.Fields, Field{Key: k, Value: v})
}

// Delete removes every value of key k.
func (e *Event) Delete(k Key) {
	out := e.Fields[:0]
	for _, f := range e.Fields {
		if f.Key != k {
			out = append(out, f)
		}
	}
	e.Fields = out
}

// Get returns the first value of key k.
func (e *Event) Get(k Key) (Value, bool) {
	for i := range e.Fields {
		if e.Fields[i].Key == k {
			return e.Fields[i].Value, true
		}
	}
	return Value{}, false
}

// GetName returns the first value of the named field. It does not intern
// name; an unknown name is simply absent.
func (e *Event) GetName(name string) (Value, bool) {
	k, ok := Lookup(name)
	if !ok {
		return Value{}, false
	}
	return e.Get(k)
}

// Str returns the text of the first value of the named field, or "".
func (e *Event) Str(name string) string {
	v, _ := e.GetName(name)
	return v.Str
}

// Values appends every value of key k to dst and returns it.
func (e *Event) Values(dst []Value, k Key) []Value {
	for i := range e.Fields {
		if e.Fields[i].Key == k {
			dst = append(dst, e.Fields[i].Value)
		}
	}
	return dst
}

// Has reports whether the event has at least one value for k.
func (e *Event) Has(k Key) bool {
	_, ok := e.Get(k)
	return ok
}

// HasTag reports whether the event carries tag t.
func (e *Event) HasTag(t string) bool {
	for _, x := range e.Tags {
		if x == t {
			return true
		}
	}
	return false
}

// AddTag adds t unless present.
func (e *Event) AddTag(t string) {
	if !e.HasTag(t) {
		e.Tags = append(e.Tags, t)
	}
}

// Timestamp returns Time, or Received when Time is zero.
func (e *Event) Timestamp() time.Time {
	if e.Time.IsZero() {
		return e.Received
	}
	return e.Time
}

// Project returns a copy of e with only the named fields (a search's
// "| fields" columns: field names and the reserved names log.original,
// vigil.input, tags and logsource.*) and its times. Values are shared.
func (e *Event) Project(keep map[string]bool) *Event {
	out := &Event{Time: e.Time, Received: e.Received}
	if keep[FieldOriginal] {
		out.Raw = e.Raw
	}
	if keep["vigil.input"] {
		out.Input = e.Input
	}
	if keep[FieldTags] {
		out.Tags = e.Tags
	}
	if keep["logsource.product"] {
		out.Logsource.Product = e.Logsource.Product
	}
	if keep["logsource.category"] {
		out.Logsource.Category = e.Logsource.Category
	}
	if keep["logsource.service"] {
		out.Logsource.Service = e.Logsource.Service
	}
	for _, f := range e.Fields {
		if keep[f.Key.Name()] {
			out.Fields = append(out.Fields, f)
		}
	}
	return out
}

// Clone returns a deep copy of e (strings are immutable and shared).
func (e *Event) Clone() *Event {
	c := *e
	c.Tags = append([]string(nil), e.Tags...)
	c.Fields = append([]Field(nil), e.Fields...)
	return &c
}
