package httpin

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// otlpMaxEvents bounds the bytes of events one OTLP request may expand
// to. Every record repeats its resource's attributes, so without a bound
// a body of one large resource and many empty records would expand
// quadratically (a 16 MiB body to terabytes). The bound leaves room for
// real batches (thousands of records under a resource of a few KiB).
func otlpMaxEvents(maxBody int64) int {
	return int(max(4*maxBody, 64<<20))
}

// otlpEventOverhead is what each event counts toward the bound beside its
// bytes: its message header, so that many tiny events are bounded too.
const otlpEventOverhead = 128

// messages turns every log record into a FormatJSON message (see
// appendRecord), failing with errTooLarge once they pass limit bytes
// (counting otlpEventOverhead per event).
func (d *otlpLogs) messages(base ingest.Raw, limit int) ([]ingest.Raw, error) {
	msgs := make([]ingest.Raw, 0, len(d.records))
	// A local writer (its buffers kept in d between requests): writes to
	// its fields then need no write barriers.
	w := &flatWriter{b: d.w.b, seen: d.w.seen, name: d.w.name, tmp: d.w.tmp, limit: limit}
	defer func() { d.w = *w }()
	for _, rl := range d.resources {
		scopes := d.scopes[rl.first:rl.end]
		// With no scope_logs, a protobuf request's deprecated_scope_logs
		// stand in for them.
		deprecated := rl.migrate && !slices.ContainsFunc(scopes, func(s otlpScope) bool { return !s.deprecated })
		for i := range scopes {
			sc := &scopes[i]
			if sc.deprecated != deprecated {
				continue
			}
			for j := sc.first; j < sc.end; j++ {
				w.reset()
				d.appendRecord(w, rl.attrs, sc, &d.records[j])
				w.total += len(w.b) + otlpEventOverhead
				if w.over || w.total > limit {
					return nil, fmt.Errorf("%w: the log records make more than %d bytes of events; send fewer per request", errTooLarge, limit)
				}
				m := base
				m.Data = append([]byte(nil), w.b...)
				msgs = append(msgs, m)
			}
		}
	}
	return msgs, nil
}

// appendRecord writes a log record as one flat JSON object with ECS
// names:
//
//	@timestamp          time_unix_nano, else observed_time_unix_nano
//	message             the body, when it is not a map
//	otel.body.<k>       the body's entries, when it is a map (nested maps flattened with dots)
//	log.level           severity_text, else derived from severity_number
//	event.severity      severity_number
//	trace.id, span.id   hex ids
//	otel.scope.name, otel.scope.version
//	<attribute name>    each record attribute, then each resource attribute
//	                    (service.name, host.name, ... keep their names), nested
//	                    maps flattened with dots, arrays as JSON arrays
//
// The first writer of a name wins, in the order above, so the object never
// holds a key twice.
func (d *otlpLogs) appendRecord(w *flatWriter, res int32, sc *otlpScope, lr *otlpRecord) {
	w.b = append(w.b, '{')
	ts := lr.time
	if ts == 0 {
		ts = lr.observed
	}
	if ts != 0 && w.key([]byte(fieldTimestamp)) {
		w.b = append(w.b, '"')
		w.b = time.Unix(0, int64(ts)).UTC().AppendFormat(w.b, time.RFC3339Nano)
		w.b = append(w.b, '"')
	}
	switch lr.body.kind {
	case kindEmpty:
	case kindMap:
		w.name = append(w.name[:0], "otel.body."...)
		d.flatMap(w, lr.body.list, 0)
	case kindStr:
		w.str("message", d.text(lr.body.s))
	default:
		w.tmp = d.appendAsString(w.tmp[:0], lr.body)
		w.str("message", w.tmp)
	}
	lvl := d.text(lr.severityText)
	if len(lvl) == 0 {
		lvl = []byte(severityName(lr.severity))
	}
	w.str("log.level", lvl)
	if n := lr.severity; n != 0 && w.key([]byte("event.severity")) {
		w.b = strconv.AppendInt(w.b, int64(n), 10)
	}
	if lr.traceID != [16]byte{} && w.key([]byte("trace.id")) {
		w.b = appendHex(w.b, lr.traceID[:])
	}
	if lr.spanID != [8]byte{} && w.key([]byte("span.id")) {
		w.b = appendHex(w.b, lr.spanID[:])
	}
	w.str("otel.scope.name", d.text(sc.name))
	w.str("otel.scope.version", d.text(sc.version))
	w.name = w.name[:0]
	d.flatMap(w, lr.attrs, 0)
	w.name = w.name[:0]
	d.flatMap(w, res, 0)
	w.b = append(w.b, '}')
}

func appendHex(b, id []byte) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, id)
	return append(b, '"')
}

// maxFlatDepth bounds the flattening of nested attribute maps; deeper
// values are written as JSON text.
const maxFlatDepth = 16

// flatMap writes the members of list l, each named w.name + its key.
func (d *otlpLogs) flatMap(w *flatWriter, l int32, depth int) {
	prefix := len(w.name)
	for i := d.lists[l].head; i >= 0 && !w.over; i = d.nodes[i].next {
		n := &d.nodes[i]
		w.name = append(w.name[:prefix], d.text(n.key)...)
		switch {
		case n.val.kind == kindEmpty:
		case n.val.kind == kindMap && depth < maxFlatDepth:
			w.name = append(w.name, '.')
			d.flatMap(w, n.val.list, depth+1)
		default:
			if w.key(w.name) {
				w.b = d.appendScalar(w.b, &w.tmp, n.val)
			}
		}
	}
	w.name = w.name[:prefix]
}

// flatWriter writes the members of one flat JSON object, each name once.
type flatWriter struct {
	b     []byte
	seen  keySet
	n     int
	name  []byte // the name being built by flatMap
	tmp   []byte // scratch for values written as text
	total int    // bytes of the records written before this one
	limit int
	over  bool // total + len(b) passed limit: stop writing
}

func (w *flatWriter) reset() {
	w.b = w.b[:0]
	w.seen.reset()
	w.n = 0
}

// key writes the member name k and reports true, or reports false if k
// was already written (or the writer is over its limit).
func (w *flatWriter) key(k []byte) bool {
	if w.total+len(w.b)+otlpEventOverhead > w.limit {
		w.over = true
	}
	if w.over || !w.seen.add(k) {
		return false
	}
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = event.AppendString(w.b, unsafeString(k))
	w.b = append(w.b, ':')
	return true
}

func (w *flatWriter) str(k string, v []byte) {
	if len(v) > 0 && w.key([]byte(k)) {
		w.b = event.AppendString(w.b, unsafeString(v))
	}
}

// unsafeString returns b as a string without copying, for a call that
// only reads it while b is not written.
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// severityName maps an OTLP severity number to a level name.
func severityName(n int32) string {
	switch {
	case n <= 0:
		return ""
	case n <= 4:
		return "trace"
	case n <= 8:
		return "debug"
	case n <= 12:
		return "info"
	case n <= 16:
		return "warn"
	case n <= 20:
		return "error"
	}
	return "fatal"
}

// appendScalar writes an attribute value as JSON; maps, and arrays and
// maps inside arrays, are written as JSON text in a string. tmp is
// scratch space.
func (d *otlpLogs) appendScalar(b []byte, tmp *[]byte, v otlpValue) []byte {
	switch v.kind {
	case kindStr:
		return event.AppendString(b, unsafeString(d.text(v.s)))
	case kindInt:
		return strconv.AppendInt(b, int64(v.n), 10)
	case kindDouble:
		f := math.Float64frombits(v.n)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return event.AppendString(b, float64AsString(f))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case kindBool:
		return strconv.AppendBool(b, v.n != 0)
	case kindBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, d.text(v.s))
		return append(b, '"')
	case kindArray:
		b = append(b, '[')
		for i, first := d.lists[v.list].head, true; i >= 0; i = d.nodes[i].next {
			if !first {
				b = append(b, ',')
			}
			first = false
			e := d.nodes[i].val
			if e.kind == kindMap || e.kind == kindArray {
				*tmp = d.appendAsString((*tmp)[:0], e)
				b = event.AppendString(b, unsafeString(*tmp))
				continue
			}
			b = d.appendScalar(b, tmp, e)
		}
		return append(b, ']')
	case kindMap:
		*tmp = d.appendAsString((*tmp)[:0], v)
		return event.AppendString(b, unsafeString(*tmp))
	}
	return append(b, "null"...)
}

// appendAsString appends v as text, the way the OpenTelemetry collector
// renders a value as a string (pcommon.Value.AsString): maps and arrays
// as JSON, which is empty if they hold a NaN or infinite double.
func (d *otlpLogs) appendAsString(b []byte, v otlpValue) []byte {
	switch v.kind {
	case kindStr:
		return append(b, d.text(v.s)...)
	case kindBool:
		return strconv.AppendBool(b, v.n != 0)
	case kindDouble:
		return append(b, float64AsString(math.Float64frombits(v.n))...)
	case kindInt:
		return strconv.AppendInt(b, int64(v.n), 10)
	case kindBytes:
		return base64.StdEncoding.AppendEncode(b, d.text(v.s))
	case kindMap, kindArray:
		start := len(b)
		b, ok := d.appendJSON(b, v)
		if !ok {
			return b[:start]
		}
		return b
	}
	return b
}

// appendJSON appends v as encoding/json writes the Go value the collector
// converts it to (pcommon.Value.AsRaw): map keys sorted, a key given twice
// taking its last value, bytes in base64, empty bytes as null, HTML
// characters unescaped. It reports false for a NaN or infinite double,
// which encoding/json refuses.
func (d *otlpLogs) appendJSON(b []byte, v otlpValue) ([]byte, bool) {
	switch v.kind {
	case kindEmpty:
		return append(b, "null"...), true
	case kindStr:
		return event.AppendString(b, unsafeString(d.text(v.s))), true
	case kindBool:
		return strconv.AppendBool(b, v.n != 0), true
	case kindInt:
		return strconv.AppendInt(b, int64(v.n), 10), true
	case kindDouble:
		f := math.Float64frombits(v.n)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, false
		}
		return append(b, float64AsString(f)...), true
	case kindBytes:
		raw := d.text(v.s)
		if len(raw) == 0 {
			return append(b, "null"...), true
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, raw)
		return append(b, '"'), true
	case kindArray:
		b = append(b, '[')
		for i, first := d.lists[v.list].head, true; i >= 0; i = d.nodes[i].next {
			if !first {
				b = append(b, ',')
			}
			first = false
			var ok bool
			if b, ok = d.appendJSON(b, d.nodes[i].val); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	// A map: its members sorted by key, the last of equal keys kept.
	var members []*otlpNode
	for i := d.lists[v.list].head; i >= 0; i = d.nodes[i].next {
		members = append(members, &d.nodes[i])
	}
	slices.SortStableFunc(members, func(x, y *otlpNode) int { return bytes.Compare(d.text(x.key), d.text(y.key)) })
	b = append(b, '{')
	first := true
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(d.text(m.key), d.text(members[i+1].key)) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = event.AppendString(b, unsafeString(d.text(m.key)))
		b = append(b, ':')
		var ok bool
		if b, ok = d.appendJSON(b, m.val); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// float64AsString formats f as ECMAScript does (encoding/json's float
// format), with NaN and the infinities spelled out.
func float64AsString(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	var scratch [32]byte
	b := scratch[:0]
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

// keySet is a set of names that is emptied in constant time: an open
// addressing table whose slots are valid only for the current generation.
// A map[string]struct{} would allocate a string per name.
type keySet struct {
	names []byte
	spans []keySpan
	slots []keySlot
	gen   uint32 // 0 before first use
}

var keySeed = maphash.MakeSeed()

type keySpan struct{ off, end uint32 }

type keySlot struct {
	gen uint32
	idx uint32 // index in spans
}

func (s *keySet) reset() {
	s.names = s.names[:0]
	s.spans = s.spans[:0]
	s.gen++
	if s.gen == 0 { // wrapped: old slots could pass for current ones
		clear(s.slots)
		s.gen = 1
	}
}

// add adds k and reports whether it was not in the set.
func (s *keySet) add(k []byte) bool {
	if s.gen == 0 {
		s.gen = 1
	}
	if 2*(len(s.spans)+1) > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := maphash.Bytes(keySeed, k) & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.gen != s.gen {
			sl.gen, sl.idx = s.gen, uint32(len(s.spans))
			off := uint32(len(s.names))
			s.names = append(s.names, k...)
			s.spans = append(s.spans, keySpan{off, uint32(len(s.names))})
			return true
		}
		sp := s.spans[sl.idx]
		if bytes.Equal(s.names[sp.off:sp.end], k) {
			return false
		}
	}
}

// grow doubles the table and puts the current names back in.
func (s *keySet) grow() {
	n := max(2*len(s.slots), 64)
	s.slots = make([]keySlot, n)
	mask := uint64(n - 1)
	for idx, sp := range s.spans {
		for i := maphash.Bytes(keySeed, s.names[sp.off:sp.end]) & mask; ; i = (i + 1) & mask {
			if s.slots[i].gen != s.gen {
				s.slots[i] = keySlot{s.gen, uint32(idx)}
				break
			}
		}
	}
}
