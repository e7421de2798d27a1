package httpin

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// This file decodes an OTLP ExportLogsServiceRequest straight from the
// protobuf wire format into otlpLogs, in one pass that also enforces the
// nesting bound. Field numbers and wire types are those of
// opentelemetry-proto (collector/logs/v1, logs/v1, resource/v1, common/v1);
// the merge rules are protobuf's: a repeated field appends, a scalar field
// takes its last occurrence, an embedded message that occurs twice is
// merged, and a oneof member replaces the value set before it.

// valueKind is the kind of an OTLP AnyValue.
type valueKind uint8

const (
	kindEmpty valueKind = iota
	kindStr
	kindBool
	kindInt
	kindDouble
	kindBytes
	kindArray
	kindMap
)

// span locates a string or bytes value: src[off:end] in the request body,
// or, with extraBit set in off, in otlpLogs.extra (JSON strings with
// escapes, base64 bytes). Spans keep the arenas free of pointers, so that
// the garbage collector does not scan them and a pooled arena does not
// keep an old body alive.
type span struct{ off, end uint32 }

const extraBit = 1 << 31

// otlpValue is a decoded AnyValue.
type otlpValue struct {
	kind valueKind
	list int32  // kindArray, kindMap: index in otlpLogs.lists
	s    span   // kindStr, kindBytes
	n    uint64 // kindBool (0 or 1), kindInt (int64 bits), kindDouble (float64 bits)
}

// otlpNode is one member of an attribute list, a kvlist or an array
// (whose members have no key).
type otlpNode struct {
	key  span
	next int32 // next member of the same list, or -1
	val  otlpValue
}

// otlpList is a linked list of nodes: members of nested values are
// appended to the arena while their parent is still being decoded, so a
// list's members are not contiguous.
type otlpList struct {
	head, tail int32 // -1 when empty
	n          int32
}

// otlpRecord is a decoded LogRecord.
type otlpRecord struct {
	time, observed uint64
	severity       int32
	severityText   span
	body           otlpValue
	traceID        [16]byte
	spanID         [8]byte
	attrs          int32 // list index
}

// otlpScope is a decoded ScopeLogs; its records are
// otlpLogs.records[first:end].
type otlpScope struct {
	name, version span
	first, end    int32
	deprecated    bool // from ResourceLogs.deprecated_scope_logs
}

// otlpResource is a decoded ResourceLogs; its scopes are
// otlpLogs.scopes[first:end].
type otlpResource struct {
	attrs      int32 // list index
	first, end int32
	// migrate says that, with no scope_logs, the deprecated_scope_logs
	// stand in for them (as pdata's protobuf decoder does, and its JSON
	// decoder does not).
	migrate bool
}

// otlpLogs is a decoded ExportLogsServiceRequest, kept in flat arenas
// that are reused from request to request (see getLogs).
type otlpLogs struct {
	src       []byte // the request body
	extra     []byte
	resources []otlpResource
	scopes    []otlpScope
	records   []otlpRecord
	lists     []otlpList
	nodes     []otlpNode
	w         flatWriter // scratch for messages
	// maxRecords bounds len(records).
	maxRecords int
}

var logsPool = sync.Pool{New: func() any { return new(otlpLogs) }}

// maxPooledNodes bounds the arenas kept for reuse: a rare huge request
// should not hold its memory for good.
const maxPooledNodes = 1 << 16

// getLogs returns empty arenas for decoding body (which must be shorter
// than extraBit) into at most maxRecords records.
func getLogs(body []byte, maxRecords int) (*otlpLogs, error) {
	if err := spannable(len(body)); err != nil {
		return nil, err
	}
	d := logsPool.Get().(*otlpLogs)
	d.src, d.maxRecords = body, maxRecords
	return d, nil
}

// addRecord appends lr, or fails once there are maxRecords.
func (d *otlpLogs) addRecord(lr otlpRecord) error {
	if len(d.records) >= d.maxRecords {
		return fmt.Errorf("%w: more than %d log records; send fewer per request", errTooLarge, d.maxRecords)
	}
	d.records = append(d.records, lr)
	return nil
}

// release empties d and returns it to the pool.
func (d *otlpLogs) release() {
	if cap(d.nodes) > maxPooledNodes || cap(d.records) > maxPooledNodes || cap(d.extra) > 64*maxPooledNodes || cap(d.w.b) > 64*maxPooledNodes {
		return
	}
	d.src = nil
	d.extra = d.extra[:0]
	d.resources = d.resources[:0]
	d.scopes = d.scopes[:0]
	d.records = d.records[:0]
	d.lists = d.lists[:0]
	d.nodes = d.nodes[:0]
	logsPool.Put(d)
}

// spannable checks that a body of n bytes can be located by spans (far
// above any max_body_size in use).
func spannable(n int) error {
	if n >= extraBit {
		return fmt.Errorf("body of %d bytes: the otlp decoder takes less than %d", n, extraBit)
	}
	return nil
}

// text returns the bytes sp locates.
func (d *otlpLogs) text(sp span) []byte {
	if sp.off&extraBit != 0 {
		return d.extra[sp.off&^extraBit : sp.end]
	}
	return d.src[sp.off:sp.end]
}

// newList starts an empty list and returns its index.
func (d *otlpLogs) newList() int32 {
	d.lists = append(d.lists, otlpList{head: -1, tail: -1})
	return int32(len(d.lists) - 1)
}

// push appends a member to list l.
func (d *otlpLogs) push(l int32, key span, v otlpValue) {
	i := int32(len(d.nodes))
	d.nodes = append(d.nodes, otlpNode{key: key, val: v, next: -1})
	ls := &d.lists[l]
	if ls.tail < 0 {
		ls.head = i
	} else {
		d.nodes[ls.tail].next = i
	}
	ls.tail = i
	ls.n++
}

// maxProtoDepth bounds message nesting in an OTLP request: the fixed
// structure takes 5 levels, each nested attribute value 2 or 3.
const maxProtoDepth = 64

var errProtoTooDeep = fmt.Errorf("protobuf nested deeper than %d levels", maxProtoDepth)

// Protobuf wire types.
const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5
)

// pbReader reads the fields of one protobuf message, b[pos:end].
// Offsets in errors are from the start of the body.
type pbReader struct {
	b        []byte
	pos, end int
}

// reader returns a reader of the message at sp.
func (d *otlpLogs) reader(sp span) pbReader {
	return pbReader{b: d.src, pos: int(sp.off), end: int(sp.end)}
}

// next reads the next field's tag.
func (r *pbReader) next() (field int32, wire int, err error) {
	tag, n := binary.Uvarint(r.b[r.pos:r.end])
	if n <= 0 {
		return 0, 0, fmt.Errorf("offset %d: malformed field tag", r.pos)
	}
	num := tag >> 3
	if num == 0 || num > math.MaxInt32 {
		return 0, 0, fmt.Errorf("offset %d: invalid field number %d", r.pos, num)
	}
	r.pos += n
	return int32(num), int(tag & 7), nil
}

func (r *pbReader) varint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.pos:r.end])
	if n <= 0 {
		return 0, fmt.Errorf("offset %d: malformed varint", r.pos)
	}
	r.pos += n
	return v, nil
}

func (r *pbReader) fixed64() (uint64, error) {
	if r.end-r.pos < 8 {
		return 0, fmt.Errorf("offset %d: truncated fixed64", r.pos)
	}
	v := binary.LittleEndian.Uint64(r.b[r.pos:])
	r.pos += 8
	return v, nil
}

func (r *pbReader) bytes() (span, error) {
	l, n := binary.Uvarint(r.b[r.pos:r.end])
	if n <= 0 || l > uint64(r.end-r.pos-n) {
		return span{}, fmt.Errorf("offset %d: malformed length", r.pos)
	}
	start := r.pos + n
	r.pos = start + int(l)
	return span{uint32(start), uint32(r.pos)}, nil
}

// skip passes over a field of a wire type the message does not use.
// Groups (wire types 3 and 4, deprecated since proto2) are refused, as the
// walker that bounded depth before this decoder refused them.
func (r *pbReader) skip(wire int) error {
	switch wire {
	case wireVarint:
		_, err := r.varint()
		return err
	case wireI64:
		_, err := r.fixed64()
		return err
	case wireLen:
		_, err := r.bytes()
		return err
	case wireI32:
		if r.end-r.pos < 4 {
			return fmt.Errorf("offset %d: truncated fixed32", r.pos)
		}
		r.pos += 4
		return nil
	}
	return fmt.Errorf("offset %d: unsupported wire type %d", r.pos, wire)
}

// want checks that field has wire type want, else reports it.
func (r *pbReader) want(field int32, wire, want int) error {
	if wire != want {
		return fmt.Errorf("offset %d: field %d has wire type %d, want %d", r.pos, field, wire, want)
	}
	return nil
}

// field reads a field of a known number: its wire type must be want;
// varint and fixed64 values come back in v, length-delimited ones in b.
func (r *pbReader) field(field int32, wire, want int) (v uint64, b span, err error) {
	if err := r.want(field, wire, want); err != nil {
		return 0, span{}, err
	}
	switch want {
	case wireVarint:
		v, err = r.varint()
	case wireI64:
		v, err = r.fixed64()
	case wireLen:
		b, err = r.bytes()
	case wireI32:
		err = r.skip(wireI32)
	}
	return v, b, err
}

// decodeOTLPProto decodes an ExportLogsServiceRequest.
func decodeOTLPProto(body []byte, maxRecords int) (*otlpLogs, error) {
	d, err := getLogs(body, maxRecords)
	if err != nil {
		return nil, err
	}
	if err := d.request(); err != nil {
		d.release()
		return nil, err
	}
	return d, nil
}

func (d *otlpLogs) request() error {
	r := pbReader{b: d.src, end: len(d.src)}
	for n := 0; r.pos < r.end; {
		f, w, err := r.next()
		if err != nil {
			return err
		}
		if f != 1 {
			if err := r.skip(w); err != nil {
				return err
			}
			continue
		}
		_, b, err := r.field(f, w, wireLen)
		if err != nil {
			return fmt.Errorf("resource_logs: %w", err)
		}
		if err := d.resourceLogs(b, 1); err != nil {
			return fmt.Errorf("resource_logs[%d]: %w", n, err)
		}
		n++
	}
	return nil
}

func (d *otlpLogs) resourceLogs(m span, depth int) error {
	if depth > maxProtoDepth {
		return errProtoTooDeep
	}
	rl := otlpResource{attrs: d.newList(), first: int32(len(d.scopes)), migrate: true}
	r := d.reader(m)
	scopes, deprecated := 0, 0
	for r.pos < r.end {
		f, w, err := r.next()
		if err != nil {
			return err
		}
		switch f {
		case 1: // resource
			_, sub, err := r.field(f, w, wireLen)
			if err == nil {
				err = d.resource(sub, rl.attrs, depth+1)
			}
			if err != nil {
				return fmt.Errorf("resource: %w", err)
			}
		case 2, 1000: // scope_logs, deprecated_scope_logs
			_, sub, err := r.field(f, w, wireLen)
			if err != nil {
				return err
			}
			if f == 2 {
				err = d.scopeLogs(sub, false, depth+1)
				if err != nil {
					return fmt.Errorf("scope_logs[%d]: %w", scopes, err)
				}
				scopes++
			} else {
				err = d.scopeLogs(sub, true, depth+1)
				if err != nil {
					return fmt.Errorf("deprecated_scope_logs[%d]: %w", deprecated, err)
				}
				deprecated++
			}
		case 3: // schema_url
			if _, _, err := r.field(f, w, wireLen); err != nil {
				return err
			}
		default:
			if err := r.skip(w); err != nil {
				return err
			}
		}
	}
	rl.end = int32(len(d.scopes))
	d.resources = append(d.resources, rl)
	return nil
}

func (d *otlpLogs) resource(m span, attrs int32, depth int) error {
	if depth > maxProtoDepth {
		return errProtoTooDeep
	}
	r := d.reader(m)
	for r.pos < r.end {
		f, w, err := r.next()
		if err != nil {
			return err
		}
		switch f {
		case 1: // attributes
			_, sub, err := r.field(f, w, wireLen)
			if err == nil {
				err = d.keyValue(sub, attrs, depth+1)
			}
			if err != nil {
				return fmt.Errorf("attributes[%d]: %w", d.lists[attrs].n, err)
			}
		case 2: // dropped_attributes_count
			if _, _, err := r.field(f, w, wireVarint); err != nil {
				return err
			}
		case 3: // entity_refs
			_, sub, err := r.field(f, w, wireLen)
			if err == nil {
				err = d.entityRef(sub)
			}
			if err != nil {
				return fmt.Errorf("entity_refs: %w", err)
			}
		default:
			if err := r.skip(w); err != nil {
				return err
			}
		}
	}
	return nil
}

// entityRef checks an EntityRef, which events do not use.
func (d *otlpLogs) entityRef(m span) error {
	r := d.reader(m)
	for r.pos < r.end {
		f, w, err := r.next()
		if err != nil {
			return err
		}
		switch f {
		case 1, 2, 3, 4: // schema_url, type, id_keys, description_keys
			_, _, err = r.field(f, w, wireLen)
		default:
			err = r.skip(w)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *otlpLogs) scopeLogs(m span, deprecated bool, depth int) error {
	if depth > maxProtoDepth {
		return errProtoTooDeep
	}
	// Records are appended to d.records as they come, so the scope's own
	// entry is added once they are all in.
	sc := otlpScope{first: int32(len(d.records)), deprecated: deprecated}
	r := d.reader(m)
	for n := 0; r.pos < r.end; {
		f, w, err := r.next()
		if err != nil {
			return err
		}
		switch f {
		case 1: // scope
			_, sub, err := r.field(f, w, wireLen)
			if err == nil {
				err = d.scope(sub, &sc, depth+1)
			}
			if err != nil {
				return fmt.Errorf("scope: %w", err)
			}
		case 2: // log_records
			_, sub, err := r.field(f, w, wireLen)
			if err == nil {
				err = d.logRecord(sub, depth+1)
			}
			if err != nil {
				return fmt.Errorf("log_records[%d]: %w", n, err)
			}
			n++
		case 3: // schema_url
			if _, _, err := r.field(f, w, wireLen); err != nil {
				return err
			}
		default:
			if err := r.skip(w); err != nil {
				return err
			}
		}
	}
	sc.end = int32(len(d.records))
	d.scopes = append(d.scopes, sc)
	return nil
}

func (d *otlpLogs) scope(m span, sc *otlpScope, depth int) error {
	if depth > maxProtoDepth {
		return errProtoTooDeep
	}
	var attrs int32 = -1
	r := d.reader(m)
	for r.pos < r.end {
		f, w, err := r.next()
		if err != nil {
			return err
		}
		switch f {
		case 1, 2: // name, version
			_, s, err := r.field(f, w, wireLen)
			if err != nil {
				return err
			}
			if f == 1 {
				sc.name = s
			} else {
				sc.version = s
			}
		case 3: // attributes: checked, not written to events
			if attrs < 0 {
				attrs = d.newList()
			}
			_, sub, err := r.field(f, w, wireLen)
			if err == nil {
				err = d.keyValue(sub, attrs, depth+1)
			}
			if err != nil {
				return fmt.Errorf("attributes[%d]: %w", d.lists[attrs].n, err)
			}
		case 4: // dropped_attributes_count
			if _, _, err := r.field(f, w, wireVarint); err != nil {
				return err
			}
		default:
			if err := r.skip(w); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *otlpLogs) logRecord(m span, depth int) error {
	if depth > maxProtoDepth {
		return errProtoTooDeep
	}
	lr := otlpRecord{attrs: d.newList()}
	r := d.reader(m)
	for r.pos < r.end {
		f, w, err := r.next()
		if err != nil {
			return err
		}
		switch f {
		case 1, 11: // time_unix_nano, observed_time_unix_nano
			v, _, err := r.field(f, w, wireI64)
			if err != nil {
				return err
			}
			if f == 1 {
				lr.time = v
			} else {
				lr.observed = v
			}
		case 2: // severity_number
			v, _, err := r.field(f, w, wireVarint)
			if err != nil {
				return err
			}
			lr.severity = int32(v)
		case 3: // severity_text
			_, s, err := r.field(f, w, wireLen)
			if err != nil {
				return err
			}
			lr.severityText = s
		case 5: // body
			_, sub, err := r.field(f, w, wireLen)
			if err == nil {
				lr.body, err = d.anyValue(sub, lr.body, depth+1)
			}
			if err != nil {
				return fmt.Errorf("body: %w", err)
			}
		case 6: // attributes
			_, sub, err := r.field(f, w, wireLen)
			if err == nil {
				err = d.keyValue(sub, lr.attrs, depth+1)
			}
			if err != nil {
				return fmt.Errorf("attributes[%d]: %w", d.lists[lr.attrs].n, err)
			}
		case 7: // dropped_attributes_count
			if _, _, err := r.field(f, w, wireVarint); err != nil {
				return err
			}
		case 8: // flags
			if _, _, err := r.field(f, w, wireI32); err != nil {
				return err
			}
		case 9, 10: // trace_id, span_id
			_, id, err := r.field(f, w, wireLen)
			if err != nil {
				return err
			}
			dst := lr.traceID[:]
			if f == 10 {
				dst = lr.spanID[:]
			}
			// An empty id clears the field, as pdata's decoder does.
			switch b := d.text(id); len(b) {
			case 0:
				clear(dst)
			case len(dst):
				copy(dst, b)
			default:
				return fmt.Errorf("field %d: id of %d bytes, want %d", f, len(b), len(dst))
			}
		case 12: // event_name
			if _, _, err := r.field(f, w, wireLen); err != nil {
				return err
			}
		default:
			if err := r.skip(w); err != nil {
				return err
			}
		}
	}
	return d.addRecord(lr)
}

// keyValue decodes a KeyValue and appends it to list l.
func (d *otlpLogs) keyValue(m span, l int32, depth int) error {
	if depth > maxProtoDepth {
		return errProtoTooDeep
	}
	var key span
	var v otlpValue
	r := d.reader(m)
	for r.pos < r.end {
		f, w, err := r.next()
		if err != nil {
			return err
		}
		switch f {
		case 1: // key
			_, s, err := r.field(f, w, wireLen)
			if err != nil {
				return err
			}
			key = s
		case 2: // value
			_, sub, err := r.field(f, w, wireLen)
			if err == nil {
				v, err = d.anyValue(sub, v, depth+1)
			}
			if err != nil {
				return fmt.Errorf("value: %w", err)
			}
		case 3: // key_strindex
			if _, _, err := r.field(f, w, wireVarint); err != nil {
				return err
			}
		default:
			if err := r.skip(w); err != nil {
				return err
			}
		}
	}
	d.push(l, key, v)
	return nil
}

// anyValue decodes an AnyValue into v, which holds the value of earlier
// occurrences of the same field: each oneof member replaces it.
func (d *otlpLogs) anyValue(m span, v otlpValue, depth int) (otlpValue, error) {
	if depth > maxProtoDepth {
		return v, errProtoTooDeep
	}
	r := d.reader(m)
	for r.pos < r.end {
		f, w, err := r.next()
		if err != nil {
			return v, err
		}
		switch f {
		case 1: // string_value
			_, s, err := r.field(f, w, wireLen)
			if err != nil {
				return v, err
			}
			v = otlpValue{kind: kindStr, s: s}
		case 2, 3: // bool_value, int_value
			n, _, err := r.field(f, w, wireVarint)
			if err != nil {
				return v, err
			}
			if f == 2 {
				v = otlpValue{kind: kindBool}
				if n != 0 {
					v.n = 1
				}
			} else {
				v = otlpValue{kind: kindInt, n: n}
			}
		case 4: // double_value
			n, _, err := r.field(f, w, wireI64)
			if err != nil {
				return v, err
			}
			v = otlpValue{kind: kindDouble, n: n}
		case 5, 6: // array_value, kvlist_value
			_, sub, err := r.field(f, w, wireLen)
			if err != nil {
				return v, err
			}
			if f == 5 {
				v, err = d.arrayValue(sub, depth+1)
				if err != nil {
					return v, fmt.Errorf("array_value: %w", err)
				}
			} else {
				v, err = d.kvList(sub, depth+1)
				if err != nil {
					return v, fmt.Errorf("kvlist_value: %w", err)
				}
			}
		case 7: // bytes_value
			_, s, err := r.field(f, w, wireLen)
			if err != nil {
				return v, err
			}
			v = otlpValue{kind: kindBytes, s: s}
		case 8: // string_value_strindex: an index into a profiles
			// dictionary that logs do not have; the value reads as empty.
			if _, _, err := r.field(f, w, wireVarint); err != nil {
				return v, err
			}
			v = otlpValue{}
		default:
			if err := r.skip(w); err != nil {
				return v, err
			}
		}
	}
	return v, nil
}

func (d *otlpLogs) arrayValue(m span, depth int) (otlpValue, error) {
	v := otlpValue{kind: kindArray, list: d.newList()}
	if depth > maxProtoDepth {
		return v, errProtoTooDeep
	}
	r := d.reader(m)
	for r.pos < r.end {
		f, w, err := r.next()
		if err != nil {
			return v, err
		}
		if f != 1 { // values
			if err := r.skip(w); err != nil {
				return v, err
			}
			continue
		}
		_, sub, err := r.field(f, w, wireLen)
		var e otlpValue
		if err == nil {
			e, err = d.anyValue(sub, otlpValue{}, depth+1)
		}
		if err != nil {
			return v, fmt.Errorf("values[%d]: %w", d.lists[v.list].n, err)
		}
		d.push(v.list, span{}, e)
	}
	return v, nil
}

func (d *otlpLogs) kvList(m span, depth int) (otlpValue, error) {
	v := otlpValue{kind: kindMap, list: d.newList()}
	if depth > maxProtoDepth {
		return v, errProtoTooDeep
	}
	r := d.reader(m)
	for r.pos < r.end {
		f, w, err := r.next()
		if err != nil {
			return v, err
		}
		if f != 1 { // values
			if err := r.skip(w); err != nil {
				return v, err
			}
			continue
		}
		_, sub, err := r.field(f, w, wireLen)
		if err == nil {
			err = d.keyValue(sub, v.list, depth+1)
		}
		if err != nil {
			return v, fmt.Errorf("values[%d]: %w", d.lists[v.list].n, err)
		}
	}
	return v, nil
}
