package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"
)

// The binary encoding of an event: the store keeps each event in it (the
// SQLite store's "document"), and the alert hand-off journal carries
// detections' events in it. It stores a whole event in one blob: a version byte,
// then varints and length-prefixed strings in a fixed order. It is faster
// to write and read than JSON and needs no escaping. Version 2 (written
// now):
//
//	version(1)=2 flags(1: bit 0 time set, bit 1 received set)
//	[time: varint Unix seconds, uvarint nanoseconds] [received: same]
//	input raw product category service (uvarint length + bytes each)
//	ntags(uvarint) tag...
//	nfields(uvarint) { code(uvarint: docKeys index+1, or 0 then the name)
//	                   tag(1: bits 0-2 kind, bit 3 text is a slice of raw,
//	                       bit 4 number as varint, bit 5 number as 8 bytes LE)
//	                   text(uvarint offset + uvarint length into raw, or a string)
//	                   [number] }...
//
// Most field values are pieces of the raw line, and most names are
// well-known: a version 2 document is about 40% of a version 1 one, which
// is written and copied by SQLite twice (WAL, then the database file).
// Version 1 spelled out every name and text and always wrote numbers as 8
// bytes; it is still read.
const docVersion = 2

const (
	tagKindMask = 0x07
	tagRawRef   = 0x08
	tagVarint   = 0x10
	tagFloat64  = 0x20
)

// ErrCorruptBinary reports a document that does not decode.
var ErrCorruptBinary = errors.New("corrupt event document")

// maxDocStrings bounds counts read from a document so that a corrupt blob
// cannot make the decoder allocate without limit.
const maxDocItems = 1 << 20

func appendBinUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBinStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBinTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// AppendBinary appends the binary encoding of ev to b. When ev has no
// time at all, t (the time it was stored under) is recorded as its time.
// The encoding is a stored format: change it only by a new version that
// DecodeBinary also reads.
func AppendBinary(b []byte, ev *Event, t time.Time) []byte {
	b = append(b, docVersion)
	evTime := ev.Time
	if ev.Time.IsZero() && ev.Received.IsZero() {
		evTime = t
	}
	var flags byte
	if !evTime.IsZero() {
		flags |= 1
	}
	if !ev.Received.IsZero() {
		flags |= 2
	}
	b = append(b, flags)
	if flags&1 != 0 {
		b = appendBinTime(b, evTime)
	}
	if flags&2 != 0 {
		b = appendBinTime(b, ev.Received)
	}
	b = appendBinStr(b, ev.Input)
	b = appendBinStr(b, ev.Raw)
	b = appendBinStr(b, ev.Logsource.Product)
	b = appendBinStr(b, ev.Logsource.Category)
	b = appendBinStr(b, ev.Logsource.Service)
	b = appendBinUvarint(b, uint64(len(ev.Tags)))
	for _, t := range ev.Tags {
		b = appendBinStr(b, t)
	}
	b = appendBinUvarint(b, uint64(len(ev.Fields)))
	for i := range ev.Fields {
		f := &ev.Fields[i]
		code := codeOf(f.Key)
		b = appendBinUvarint(b, code)
		if code == 0 {
			b = appendBinStr(b, f.Key.Name())
		}
		tag := byte(f.Value.Kind) & tagKindMask
		off, ref := rawRef(ev.Raw, f.Value.Str)
		if ref {
			tag |= tagRawRef
		}
		var n int64
		switch f.Value.Kind {
		case KindInt, KindFloat, KindBool:
			num := f.Value.Num
			n = int64(num)
			if num >= -1<<53 && num <= 1<<53 && math.Float64bits(float64(n)) == math.Float64bits(num) {
				tag |= tagVarint
			} else {
				tag |= tagFloat64
			}
		}
		b = append(b, tag)
		if ref {
			b = appendBinUvarint(b, uint64(off))
			b = appendBinUvarint(b, uint64(len(f.Value.Str)))
		} else {
			b = appendBinStr(b, f.Value.Str)
		}
		switch {
		case tag&tagVarint != 0:
			b = binary.AppendVarint(b, n)
		case tag&tagFloat64 != 0:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f.Value.Num))
		}
	}
	return b
}

// rawRef finds v in raw: where it lies in raw's memory (parsers slice the
// raw line), or for longer values where it occurs in raw. Short values are
// as small written out.
func rawRef(raw, v string) (int, bool) {
	if len(v) < 4 || len(v) > len(raw) {
		return 0, false
	}
	rp := uintptr(unsafe.Pointer(unsafe.StringData(raw)))
	vp := uintptr(unsafe.Pointer(unsafe.StringData(v)))
	if vp >= rp && vp-rp <= uintptr(len(raw)-len(v)) {
		return int(vp - rp), true
	}
	if len(v) >= 8 {
		if i := strings.Index(raw, v); i >= 0 {
			return i, true
		}
	}
	return 0, false
}

type docReader struct {
	b   []byte
	err error
}

func (r *docReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrCorruptBinary
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *docReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = ErrCorruptBinary
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *docReader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.err = ErrCorruptBinary
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (r *docReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = ErrCorruptBinary
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *docReader) byte1() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.err = ErrCorruptBinary
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *docReader) u64() uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.err = ErrCorruptBinary
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *docReader) count() int {
	n := r.uvarint()
	if n > maxDocItems || n > uint64(len(r.b)) {
		// Every item takes at least one byte.
		if r.err == nil {
			r.err = ErrCorruptBinary
		}
		return 0
	}
	return int(n)
}

// DecodeBinary decodes an encoding written by AppendBinary (either
// version). It never panics on corrupt input; its errors wrap
// ErrCorruptBinary.
func DecodeBinary(b []byte) (*Event, error) {
	r := docReader{b: b}
	version := r.byte1()
	if version != 1 && version != 2 {
		if r.err != nil {
			return nil, r.err
		}
		return nil, fmt.Errorf("event document version %d: %w", version, ErrCorruptBinary)
	}
	ev := &Event{}
	flags := r.byte1()
	if flags&^3 != 0 {
		return nil, ErrCorruptBinary
	}
	if flags&1 != 0 {
		ev.Time = r.time()
	}
	if flags&2 != 0 {
		ev.Received = r.time()
	}
	ev.Input = r.str()
	ev.Raw = r.str()
	ev.Logsource.Product = r.str()
	ev.Logsource.Category = r.str()
	ev.Logsource.Service = r.str()
	if n := r.count(); n > 0 {
		ev.Tags = make([]string, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			ev.Tags = append(ev.Tags, r.str())
		}
	}
	if n := r.count(); n > 0 {
		ev.Fields = make([]Field, 0, n)
		if version == 2 {
			r.fieldsV2(ev, n)
		}
		for i := 0; i < n && r.err == nil && version == 1; i++ {
			name := r.str()
			kind := Kind(r.byte1())
			v := Value{Kind: kind, Str: r.str()}
			switch kind {
			case KindNull, KindString:
			case KindInt, KindFloat, KindBool:
				v.Num = math.Float64frombits(r.u64())
			default:
				if r.err == nil {
					r.err = ErrCorruptBinary
				}
			}
			if r.err == nil {
				ev.Fields = append(ev.Fields, Field{Key: Intern(name), Value: v})
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes: %w", len(r.b), ErrCorruptBinary)
	}
	return ev, nil
}

// fieldsV2 decodes n version 2 fields into ev.
func (r *docReader) fieldsV2(ev *Event, n int) {
	for i := 0; i < n && r.err == nil; i++ {
		var key Key
		switch code := r.uvarint(); {
		case code == 0:
			key = Intern(r.str())
		case code < uint64(len(docKeyOf)):
			key = docKeyOf[code]
		default:
			r.fail()
		}
		tag := r.byte1()
		v := Value{Kind: Kind(tag & tagKindMask)}
		if tag&tagRawRef != 0 {
			off, n := r.uvarint(), r.uvarint()
			if off > uint64(len(ev.Raw)) || n > uint64(len(ev.Raw))-off {
				r.fail()
			} else {
				v.Str = ev.Raw[off : off+n]
			}
		} else {
			v.Str = r.str()
		}
		numeric := v.Kind == KindInt || v.Kind == KindFloat || v.Kind == KindBool
		switch {
		case tag&^(tagKindMask|tagRawRef|tagVarint|tagFloat64) != 0, tag&tagVarint != 0 && tag&tagFloat64 != 0,
			v.Kind > KindBool, numeric != (tag&(tagVarint|tagFloat64) != 0):
			r.fail()
		case tag&tagVarint != 0:
			v.Num = float64(r.varint())
		case tag&tagFloat64 != 0:
			v.Num = math.Float64frombits(r.u64())
		}
		if r.err == nil {
			ev.Fields = append(ev.Fields, Field{Key: key, Value: v})
		}
	}
}

func (r *docReader) fail() {
	if r.err == nil {
		r.err = ErrCorruptBinary
	}
}
