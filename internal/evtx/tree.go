package evtx

import (
	"encoding/binary"
	"iter"
	"math"
)

// Element is an element of a record's event tree, with templates expanded
// and substitutions in place. Like the Record it comes from, it is valid
// only until the reader moves on. The zero Element is absent: its methods
// return nothing.
type Element struct {
	p *parser
	i int32
}

// Event returns the record's root element (normally <Event>).
func (r *Record) Event() Element {
	for c := r.p.nodes[r.root].first; c != 0; c = r.p.nodes[c].next {
		if r.p.nodes[c].kind == kElem {
			return Element{r.p, c}
		}
	}
	return Element{}
}

// Valid reports whether e is present.
func (e Element) Valid() bool { return e.p != nil }

// Name returns the element's name.
func (e Element) Name() string {
	if e.p == nil {
		return ""
	}
	return e.p.str(e.p.nodes[e.i].name)
}

// Children iterates over the element's child elements in document order.
func (e Element) Children() iter.Seq[Element] {
	return func(yield func(Element) bool) {
		if e.p == nil {
			return
		}
		for c := e.p.nodes[e.i].first; c != 0; c = e.p.nodes[c].next {
			if e.p.nodes[c].kind == kElem && !yield(Element{e.p, c}) {
				return
			}
		}
	}
}

// Child returns the first child element called name, or the zero Element.
func (e Element) Child(name string) Element {
	for c := range e.Children() {
		if c.Name() == name {
			return c
		}
	}
	return Element{}
}

// Attrs iterates over the element's attributes that have a value, in
// document order. An attribute whose value has several pieces yields
// them concatenated as a string.
func (e Element) Attrs() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if e.p == nil {
			return
		}
		for a := e.p.nodes[e.i].attrs; a != 0; a = e.p.nodes[a].next {
			an := &e.p.nodes[a]
			if an.nvals == 0 {
				continue
			}
			if !yield(e.p.str(an.name), e.p.value(a)) {
				return
			}
		}
	}
}

// Attr returns the value of the attribute called name.
func (e Element) Attr(name string) (Value, bool) {
	for n, v := range e.Attrs() {
		if n == name {
			return v, true
		}
	}
	return Value{}, false
}

// Text returns the element's own text: its one value piece with its type,
// or several pieces concatenated as a string; a null Value when it has
// none. Unlike AppendJSON, it does not trim white space.
func (e Element) Text() Value {
	if e.p == nil {
		return Value{}
	}
	return e.p.value(e.i)
}

// value returns the value pieces of an element or attribute node.
func (p *parser) value(i int32) Value {
	n := &p.nodes[i]
	switch cnt, one := p.pieces(i); cnt {
	case 0:
		return Value{}
	case 1:
		return Value{v: p.val(&p.nodes[one])}
	}
	var s []byte
	for c := n.first; c != 0; c = p.nodes[c].next {
		if cn := &p.nodes[c]; cn.kind == kVal {
			v := p.val(cn)
			s = appendValueText(s, &v, false)
		}
	}
	return Value{v: val{typ: vUTF8, data: s}}
}

// vUTF8 is an internal type: text already decoded to UTF-8.
const vUTF8 = 0x72

// Type is the BinXML type of a Value (MS-EVEN6 2.2.18).
type Type uint8

// Value types. TypeArray is combined with a scalar type for arrays.
const (
	TypeNull      Type = vNull
	TypeString    Type = vString
	TypeAnsi      Type = vAnsi
	TypeInt8      Type = vInt8
	TypeUint8     Type = vUint8
	TypeInt16     Type = vInt16
	TypeUint16    Type = vUint16
	TypeInt32     Type = vInt32
	TypeUint32    Type = vUint32
	TypeInt64     Type = vInt64
	TypeUint64    Type = vUint64
	TypeReal32    Type = vReal32
	TypeReal64    Type = vReal64
	TypeBool      Type = vBool
	TypeBinary    Type = vBinary
	TypeGUID      Type = vGUID
	TypeSizeT     Type = vSizeT
	TypeFileTime  Type = vFileTime
	TypeSysTime   Type = vSysTime
	TypeSID       Type = vSID
	TypeHex32     Type = vHex32
	TypeHex64     Type = vHex64
	TypeEvtHandle Type = vEvtHandle
	TypeBinXML    Type = vBinXML
	TypeEvtXML    Type = vEvtXML
	TypeArray     Type = vArray
)

// Value is one typed value of a record. It refers to the record's bytes
// and is valid only as long as the record.
type Value struct{ v val }

// Type returns the value's type. Text built from several pieces, and
// character and entity references, are TypeString.
func (v Value) Type() Type {
	switch v.v.typ {
	case vUTF8, vCharRef, vEntityRef:
		return TypeString
	}
	return Type(v.v.typ)
}

// IsNull reports whether the value is null (absent, or a type with no
// rendering such as an EvtHandle).
func (v Value) IsNull() bool { return isNullValue(&v.v) }

// IsNumber reports whether the value is an integer or real number.
func (v Value) IsNumber() bool { return !v.IsNull() && isNumberType(v.v.typ) }

// AppendText appends the value's text, as AppendJSON renders it inside a
// string (numbers in decimal, GUIDs in upper case, times in RFC 3339),
// without escaping or trimming.
func (v Value) AppendText(dst []byte) []byte {
	if v.v.typ == vUTF8 {
		return append(dst, v.v.data...)
	}
	return appendValueText(dst, &v.v, false)
}

// String returns the value's text (see AppendText).
func (v Value) String() string { return string(v.AppendText(nil)) }

// AppendJSON appends the value as JSON, as Record.AppendJSON renders it.
func (v Value) AppendJSON(dst []byte) []byte {
	if v.v.typ == vUTF8 {
		dst = append(dst, '"')
		dst = appendEsc(dst, v.v.data, true)
		return append(dst, '"')
	}
	return appendValueJSON(dst, &v.v)
}

// Int returns the value of a signed or unsigned integer (and of Hex32,
// Hex64 and SizeT) as an int64; ok is false for other types and for
// unsigned values above math.MaxInt64.
func (v Value) Int() (n int64, ok bool) {
	if v.IsNull() {
		return 0, false
	}
	d := v.v.data
	le := binary.LittleEndian
	switch v.v.typ {
	case vInt8:
		return int64(int8(d[0])), true
	case vUint8:
		return int64(d[0]), true
	case vInt16:
		return int64(int16(le.Uint16(d))), true
	case vUint16:
		return int64(le.Uint16(d)), true
	case vInt32:
		return int64(int32(le.Uint32(d))), true
	case vUint32, vHex32:
		return int64(le.Uint32(d)), true
	case vInt64:
		return int64(le.Uint64(d)), true
	case vSizeT:
		if len(d) == 4 {
			return int64(le.Uint32(d)), true
		}
		fallthrough
	case vUint64, vHex64:
		u := le.Uint64(d)
		return int64(u), u <= math.MaxInt64
	}
	return 0, false
}

// Float returns the value of a number as a float64.
func (v Value) Float() (f float64, ok bool) {
	if v.IsNull() {
		return 0, false
	}
	switch v.v.typ {
	case vReal32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(v.v.data))), true
	case vReal64:
		return math.Float64frombits(binary.LittleEndian.Uint64(v.v.data)), true
	case vUint64:
		return float64(binary.LittleEndian.Uint64(v.v.data)), true
	}
	if !isNumberType(v.v.typ) {
		return 0, false
	}
	n, ok := v.Int()
	return float64(n), ok
}
