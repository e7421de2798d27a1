package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// The document format stores a whole event in one blob: a version byte,
// then varints and length-prefixed strings in a fixed order. It is faster
// to write and read than JSON and needs no escaping:
//
//	version(1) flags(1: bit 0 time set, bit 1 received set)
//	[time: varint Unix seconds, uvarint nanoseconds] [received: same]
//	input raw product category service (uvarint length + bytes each)
//	ntags(uvarint) tag...
//	nfields(uvarint) { name kind(1 byte) text [num: 8 bytes LE, int/float/bool] }...
const docVersion = 1

// errCorrupt reports a document that does not decode.
var errCorrupt = errors.New("corrupt event document")

// maxDocStrings bounds counts read from a document so that a corrupt blob
// cannot make the decoder allocate without limit.
const maxDocItems = 1 << 20

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// appendDoc appends the encoding of ev to b. When ev has no time at all,
// t (the time it was stored under) is recorded as its time.
func appendDoc(b []byte, ev *event.Event, t time.Time) []byte {
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
		b = appendTime(b, evTime)
	}
	if flags&2 != 0 {
		b = appendTime(b, ev.Received)
	}
	b = appendStr(b, ev.Input)
	b = appendStr(b, ev.Raw)
	b = appendStr(b, ev.Logsource.Product)
	b = appendStr(b, ev.Logsource.Category)
	b = appendStr(b, ev.Logsource.Service)
	b = appendUvarint(b, uint64(len(ev.Tags)))
	for _, t := range ev.Tags {
		b = appendStr(b, t)
	}
	b = appendUvarint(b, uint64(len(ev.Fields)))
	for i := range ev.Fields {
		f := &ev.Fields[i]
		b = appendStr(b, f.Key.Name())
		b = append(b, byte(f.Value.Kind))
		b = appendStr(b, f.Value.Str)
		switch f.Value.Kind {
		case event.KindInt, event.KindFloat, event.KindBool:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f.Value.Num))
		}
	}
	return b
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
		r.err = errCorrupt
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
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *docReader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.err = errCorrupt
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
		r.err = errCorrupt
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
		r.err = errCorrupt
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
		r.err = errCorrupt
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
			r.err = errCorrupt
		}
		return 0
	}
	return int(n)
}

// decodeDoc decodes a document written by appendDoc. It never panics on
// corrupt input.
func decodeDoc(b []byte) (*event.Event, error) {
	r := docReader{b: b}
	if v := r.byte1(); v != docVersion {
		if r.err != nil {
			return nil, r.err
		}
		return nil, fmt.Errorf("event document version %d: %w", v, errCorrupt)
	}
	ev := &event.Event{}
	flags := r.byte1()
	if flags&^3 != 0 {
		return nil, errCorrupt
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
		ev.Fields = make([]event.Field, 0, n)
		for i := 0; i < n && r.err == nil; i++ {
			name := r.str()
			kind := event.Kind(r.byte1())
			v := event.Value{Kind: kind, Str: r.str()}
			switch kind {
			case event.KindNull, event.KindString:
			case event.KindInt, event.KindFloat, event.KindBool:
				v.Num = math.Float64frombits(r.u64())
			default:
				if r.err == nil {
					r.err = errCorrupt
				}
			}
			if r.err == nil {
				ev.Fields = append(ev.Fields, event.Field{Key: event.Intern(name), Value: v})
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes: %w", len(r.b), errCorrupt)
	}
	return ev, nil
}
