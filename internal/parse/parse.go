package parse

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// Default limits of Options.
const (
	// DefaultMaxFields bounds the number of fields of one event.
	DefaultMaxFields = 1024
	// DefaultMaxDepth bounds the nesting of JSON objects that are flattened;
	// deeper values are kept as JSON text.
	DefaultMaxDepth = 32
)

// initialFields is the capacity given to a fresh event's Fields: enough for
// a syslog message with an app parser's fields.
const initialFields = 32

// Options configure a Parser. The zero value is usable.
type Options struct {
	// Location is the time zone of timestamps that carry none (RFC 3164
	// syslog, zone-less JSON times). Nil means UTC.
	Location *time.Location
	// MaxFields bounds the fields of one event (default DefaultMaxFields).
	// Fields beyond it are dropped and the event is tagged truncated.
	MaxFields int
	// MaxDepth bounds how deep JSON objects are flattened (default
	// DefaultMaxDepth). A deeper value is kept as JSON text under the name
	// reached so far.
	MaxDepth int
	// ShareData lets an event's text refer to the message's Data instead
	// of copying it: for callers that never modify or reuse Data once it
	// is parsed (the pipeline, which owns it per the ingest.Raw contract;
	// hunt's read buffers).
	ShareData bool
}

// Parser decodes raw messages into events. It is safe for concurrent use:
// per-call scratch space comes from pools.
type Parser struct {
	loc       *time.Location
	maxFields int
	maxDepth  int
	share     bool
	json      fastjson.ParserPool
	states    sync.Pool
}

// New returns a Parser with opts, filling in defaults.
func New(opts Options) *Parser {
	p := &Parser{loc: opts.Location, maxFields: opts.MaxFields, maxDepth: opts.MaxDepth, share: opts.ShareData}
	if p.loc == nil {
		p.loc = time.UTC
	}
	if p.maxFields <= 0 {
		p.maxFields = DefaultMaxFields
	}
	if p.maxDepth <= 0 {
		p.maxDepth = DefaultMaxDepth
	}
	p.states.New = func() any { return &state{p: p} }
	return p
}

// state is the scratch space of one Parse call.
type state struct {
	p   *Parser
	ev  *event.Event
	raw string
	// received is the time used to complete partial timestamps (RFC 3164
	// has no year).
	received time.Time
	// truncated is set when a limit dropped part of the event.
	truncated bool
	// failed is set when a decoder met malformed input.
	failed bool
	// kindSet is set once event.kind was added.
	kindSet bool
	// nested is set while a syslog line found inside a JSON record's
	// message is decoded: the record keeps its own message, host and
	// time, and the line adds what the record lacks.
	nested bool
	// arena collects decoded text (unescaped JSON strings, names) so that
	// one string conversion at the end serves every field; pending records
	// which fields take which slice of it.
	arena   []byte
	pending []pendingStr
	// name is the scratch buffer for dotted JSON names.
	name []byte
}

// pendingStr says that field idx of the event takes arena[start:end] as its
// text once the arena is turned into a string.
type pendingStr struct {
	idx, start, end int
}

// Parse fills ev from r. ev is reset first, keeping the capacity of its
// Fields and Tags. Parse never fails: undecodable input is kept as message
// and log.original with the tag event.TagParseError.
func (p *Parser) Parse(r *ingest.Raw, ev *event.Event) {
	ev.Time = time.Time{}
	ev.Received = r.Received
	if ev.Received.IsZero() {
		ev.Received = time.Now()
	}
	ev.Input = r.Input
	if p.share && len(r.Data) > 0 {
		ev.Raw = unsafe.String(&r.Data[0], len(r.Data))
	} else {
		ev.Raw = string(r.Data)
	}
	ev.Logsource = event.Logsource{}
	ev.Tags = append(ev.Tags[:0], r.Tags...)
	ev.Fields = ev.Fields[:0]
	if cap(ev.Fields) < initialFields {
		// A fresh event: one allocation instead of growing by doubling.
		ev.Fields = make([]event.Field, 0, initialFields)
	}
	if r.Truncated {
		ev.AddTag(event.TagTruncated)
	}
	addTransportFields(ev, r.Fields)

	st := p.states.Get().(*state)
	st.ev = ev
	st.raw = ev.Raw
	st.received = ev.Received
	st.truncated = false
	st.failed = false
	st.kindSet = false
	st.nested = false
	st.name = st.name[:0]

	nTransport := len(ev.Fields)
	st.decode(r)
	st.flushArena()
	if nTransport > 0 {
		dropOverridden(ev, nTransport)
	}

	if st.failed {
		ev.AddTag(event.TagParseError)
		if !ev.Has(kMessage) {
			ev.SetKey(kMessage, event.String(ev.Raw))
		}
	}
	if st.truncated {
		ev.AddTag(event.TagTruncated)
	}
	if ts, ok := r.Fields[ingest.FieldTime]; ok {
		// The transport's own time (HEC's envelope "time") is the event's
		// time, as Splunk takes it, whatever the message says.
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			ev.Time = t
		}
	}
	if ev.Time.IsZero() {
		ev.Time = ev.Received
	}
	st.ev = nil
	st.raw = ""
	if cap(st.arena) > 1<<16 {
		st.arena = nil
	}
	if cap(st.pending) > 4096 {
		st.pending = nil
	}
	if cap(st.name) > 4096 {
		st.name = nil
	}
	p.states.Put(st)
}

// addTransportFields sets the transport's fields in a stable (sorted) order.
func addTransportFields(ev *event.Event, fs map[string]string) {
	switch len(fs) {
	case 0:
		return
	case 1:
		for k, v := range fs {
			ev.SetString(k, v)
		}
		return
	}
	for _, k := range slices.Sorted(maps.Keys(fs)) {
		ev.SetString(k, fs[k])
	}
}

// dropOverridden removes the first n fields (the transport's) whose names
// the message itself set: the message's own fields win.
func dropOverridden(ev *event.Event, n int) {
	out := ev.Fields[:0]
	for i, f := range ev.Fields {
		if i < n && hasKey(ev.Fields[n:], f.Key) {
			continue
		}
		out = append(out, f)
	}
	ev.Fields = out
}

func hasKey(fs []event.Field, k event.Key) bool {
	for i := range fs {
		if fs[i].Key == k {
			return true
		}
	}
	return false
}

// decode dispatches on the format of r.
func (st *state) decode(r *ingest.Raw) {
	s := st.raw
	switch r.Format {
	case ingest.FormatJSON:
		st.decodeJSONDoc(s)
	case ingest.FormatSyslog:
		if !st.decodeSyslog(s) {
			st.failed = true
		}
	case ingest.FormatText:
		st.decodeText(s, r.Fields)
	default:
		st.decodeAuto(s, r.Fields)
	}
}

// decodeAuto detects the format of s by its first bytes.
func (st *state) decodeAuto(s string, fs map[string]string) {
	t := trimLeftSpace(s)
	switch {
	case t == "":
		st.failed = true
	case t[0] == '{':
		st.decodeJSONDoc(t)
	case t[0] == '<' && len(t) > 1 && isDigit(t[1]):
		if !st.decodeSyslog(t) {
			st.decodeText(s, fs)
		}
	default:
		st.decodeText(s, fs)
	}
}

// decodeText handles a line without a syslog header: a structured body
// (CEF, LEEF, JSON, auditd, web logs, key=value) or plain text.
func (st *state) decodeText(s string, fs map[string]string) {
	s = trimRightNewline(s)
	// Files such as /var/log/auth.log hold syslog lines without PRI.
	if looksLikeSyslogTimestamp(s) && st.decodeSyslog(s) {
		return
	}
	st.kind()
	st.ev.SetKey(kMessage, event.String(s))
	hint := ""
	if fs != nil {
		hint = fs["log.file.path"]
	}
	st.body(s, "", nil, hint)
}

// set appends a field unless the field limit is reached.
func (st *state) set(k event.Key, v event.Value) {
	if len(st.ev.Fields) >= st.p.maxFields {
		st.truncated = true
		return
	}
	st.ev.Fields = append(st.ev.Fields, event.Field{Key: k, Value: v})
}

// full reports whether the event has reached the field limit, marking it
// truncated. Loops over untrusted names check it before interning a name,
// so that a hostile message cannot fill the process-wide key table.
func (st *state) full() bool {
	if len(st.ev.Fields) >= st.p.maxFields {
		st.truncated = true
		return true
	}
	return false
}

// kind sets event.kind=event once.
func (st *state) kind() {
	if !st.kindSet {
		st.kindSet = true
		st.set(kKind, vEvent)
	}
}

// setStr appends a string field, skipping empty strings.
func (st *state) setStr(k event.Key, s string) {
	if s == "" {
		return
	}
	st.set(k, event.String(s))
}

// MaxNameLen bounds the length of a field name taken from a message. Names
// are interned for the life of the process, so a longer name is cut (and
// the event tagged truncated) rather than kept whole.
const MaxNameLen = 128

// intern returns the key of a field name that came from the message.
func (st *state) intern(name string) event.Key {
	if len(name) > MaxNameLen {
		st.truncated = true
		name = name[:MaxNameLen]
	}
	return event.Intern(name)
}

// setNum appends s as a number when it is one, else as a string.
func (st *state) setNum(k event.Key, s string) {
	if s == "" {
		return
	}
	if v, ok := number(s); ok {
		st.set(k, v)
		return
	}
	st.set(k, event.String(s))
}

// replace sets k to the single value v.
func (st *state) replace(k event.Key, v event.Value) {
	st.flushArena() // Delete moves fields: settle pending texts first.
	st.ev.Delete(k)
	st.set(k, v)
}

// setArena appends a field whose text is b, copied into the arena; the
// field's Str is filled in by flushArena.
func (st *state) setArena(k event.Key, kind event.Kind, num float64, b []byte) {
	if len(st.ev.Fields) >= st.p.maxFields {
		st.truncated = true
		return
	}
	start := len(st.arena)
	st.arena = append(st.arena, b...)
	st.pendField(k, kind, num, start)
}

// flushArena converts the arena to one string and hands each pending field
// its slice of it. It must run before any field is removed.
func (st *state) flushArena() {
	if len(st.pending) == 0 {
		st.arena = st.arena[:0]
		return
	}
	s := string(st.arena)
	for _, p := range st.pending {
		if p.idx < len(st.ev.Fields) {
			st.ev.Fields[p.idx].Value.Str = s[p.start:p.end]
		}
	}
	st.arena = st.arena[:0]
	st.pending = st.pending[:0]
}

// setLogsource sets the product and service unless already set.
func (st *state) setLogsource(product, category, service string) {
	ls := &st.ev.Logsource
	if product != "" {
		ls.Product = product
	}
	if category != "" {
		ls.Category = category
	}
	if service != "" {
		ls.Service = service
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func trimLeftSpace(s string) string {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	// A UTF-8 byte order mark before JSON or syslog text.
	return strings.TrimPrefix(s[i:], "\ufeff")
}

func trimRightNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r' || s[len(s)-1] == 0) {
		s = s[:len(s)-1]
	}
	return s
}

// number returns s as a numeric Value when it is a plain decimal number.
// Unlike event.Number it rejects forms that strconv accepts but logs do not
// mean as numbers (hex, "Inf", "1_000", leading '+').
func number(s string) (event.Value, bool) {
	if !plainNumber(s) {
		return event.Value{}, false
	}
	return event.Number(s)
}

// plainNumber reports whether s is an optionally negative decimal integer
// or fraction.
func plainNumber(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	i := 0
	if s[0] == '-' {
		i++
	}
	digits, dot := 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c):
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0 && s[len(s)-1] != '.'
}

// atoi parses a small non-negative decimal integer; ok is false otherwise.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
