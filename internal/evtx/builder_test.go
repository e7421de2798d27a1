package evtx

import (
	"encoding/binary"
	"hash/crc32"
	"unicode/utf16"
)

// bx builds BinXML at a known chunk offset, so that names can be written
// inline the way Windows writes them (the name offset pointing right after
// itself).
type bx struct {
	b    []byte
	base int // chunk offset of b[0]
	// inTmpl counts the template definitions being written: only their
	// elements carry a dependency id.
	inTmpl int
	// depOutside writes a dependency id outside template definitions too
	// (a form the reader accepts when the name does not resolve without).
	depOutside bool
}

func (x *bx) pos() int     { return x.base + len(x.b) }
func (x *bx) u8(v byte)    { x.b = append(x.b, v) }
func (x *bx) u16(v int)    { x.b = binary.LittleEndian.AppendUint16(x.b, uint16(v)) }
func (x *bx) u32(v int)    { x.b = binary.LittleEndian.AppendUint32(x.b, uint32(v)) }
func (x *bx) raw(b []byte) { x.b = append(x.b, b...) }

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// name writes a name reference followed by the name itself.
func (x *bx) name(s string) {
	x.u32(x.pos() + 4)
	x.u32(0) // next string in the hash chain
	x.u16(0) // hash (unused by the reader)
	x.u16(len(utf16.Encode([]rune(s))))
	x.raw(utf16le(s))
	x.u16(0)
}

func (x *bx) fragment() { x.raw([]byte{tokFragment, 1, 1, 0}) }
func (x *bx) eof()      { x.u8(tokEOF) }

func (x *bx) open(name string, attrs bool) {
	tok := byte(tokOpenStart)
	if attrs {
		tok |= tokMoreBit
	}
	x.u8(tok)
	if x.inTmpl > 0 || x.depOutside {
		x.u16(0xffff) // dependency id
	}
	x.u32(0) // data size (unused by the reader)
	x.name(name)
	if attrs {
		x.u32(0) // attribute list size (unused by the reader)
	}
}

func (x *bx) attr(name string) { x.u8(tokAttribute); x.name(name) }
func (x *bx) closeStart()      { x.u8(tokCloseStart) }
func (x *bx) closeEmpty()      { x.u8(tokCloseEmpty) }
func (x *bx) end()             { x.u8(tokEnd) }

func (x *bx) text(s string) {
	x.u8(tokValue)
	x.u8(vString)
	x.u16(len(utf16.Encode([]rune(s))))
	x.raw(utf16le(s))
}

func (x *bx) cdata(s string) {
	x.u8(tokCDATA)
	x.u16(len(utf16.Encode([]rune(s))))
	x.raw(utf16le(s))
}

func (x *bx) charRef(r rune)        { x.u8(tokCharRef); x.u16(int(r)) }
func (x *bx) entityRef(name string) { x.u8(tokEntityRef); x.name(name) }

func (x *bx) subst(id int, typ byte, optional bool) {
	tok := byte(tokNormalSubst)
	if optional {
		tok = tokOptionalSubst
	}
	x.u8(tok)
	x.u16(id)
	x.u8(typ)
}

// sub is one substitution value of a template instance.
type sub struct {
	typ  byte
	data []byte
	// nested, when set, is written as BinXML (type 0x21) at its position.
	nested func(x *bx)
}

// template writes a template instance with an inline definition (body is
// the definition's content, without fragment header or EOF) and values.
func (x *bx) template(body func(x *bx), subs []sub) {
	x.u8(tokTemplate)
	x.u8(1)
	x.u32(0x1234) // template id
	x.u32(x.pos() + 4)
	x.u32(0)                // next template
	x.raw(make([]byte, 16)) // GUID
	sizeAt := len(x.b)
	x.u32(0)
	start := len(x.b)
	x.fragment()
	x.inTmpl++
	body(x)
	x.inTmpl--
	x.eof()
	binary.LittleEndian.PutUint32(x.b[sizeAt:], uint32(len(x.b)-start))
	x.values(subs)
}

// templateRef writes a template instance referring to a definition at
// chunk offset def.
func (x *bx) templateRef(def int, subs []sub) {
	x.u8(tokTemplate)
	x.u8(1)
	x.u32(0x1234)
	x.u32(def)
	x.values(subs)
}

func (x *bx) values(subs []sub) {
	x.u32(len(subs))
	descAt := len(x.b)
	for range subs {
		x.u32(0)
	}
	for i, s := range subs {
		start := len(x.b)
		typ := s.typ
		if s.nested != nil {
			typ = vBinXML
			s.nested(x)
		} else {
			x.raw(s.data)
		}
		binary.LittleEndian.PutUint16(x.b[descAt+4*i:], uint16(len(x.b)-start))
		x.b[descAt+4*i+2] = typ
	}
}

// buildFile makes an EVTX file of one chunk holding one record per
// element of bodies; each body writes the record's BinXML.
func buildFile(bodies ...func(x *bx)) []byte {
	le := binary.LittleEndian
	chunk := make([]byte, chunkSize)
	copy(chunk, chunkMagic)
	pos := chunkHdrSize
	for i, body := range bodies {
		x := &bx{base: pos + recordHdrSize}
		body(x)
		size := recordHdrSize + len(x.b) + 4
		size = (size + 7) &^ 7
		rec := chunk[pos : pos+size]
		copy(rec, recordMagic)
		le.PutUint32(rec[4:], uint32(size))
		le.PutUint64(rec[8:], uint64(i+1))
		le.PutUint64(rec[16:], 133000000000000000+uint64(i))
		copy(rec[recordHdrSize:], x.b)
		le.PutUint32(rec[size-4:], uint32(size))
		pos += size
	}
	n := uint64(len(bodies))
	le.PutUint64(chunk[8:], 1)
	le.PutUint64(chunk[16:], n)
	le.PutUint64(chunk[24:], 1)
	le.PutUint64(chunk[32:], n)
	le.PutUint32(chunk[40:], 128)
	le.PutUint32(chunk[48:], uint32(pos))
	le.PutUint32(chunk[52:], crc32.ChecksumIEEE(chunk[chunkHdrSize:pos]))
	crc := crc32.Update(crc32.ChecksumIEEE(chunk[:120]), crc32.IEEETable, chunk[128:chunkHdrSize])
	le.PutUint32(chunk[124:], crc)

	hdr := make([]byte, fileHeaderSize)
	copy(hdr, fileMagic)
	le.PutUint64(hdr[24:], n+1)
	le.PutUint32(hdr[32:], 128)
	le.PutUint16(hdr[36:], 2)
	le.PutUint16(hdr[38:], 3)
	le.PutUint16(hdr[40:], fileHeaderSize)
	le.PutUint16(hdr[42:], 1)
	le.PutUint32(hdr[124:], crc32.ChecksumIEEE(hdr[:120]))
	return append(hdr, chunk...)
}
