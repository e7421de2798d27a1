package evtx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// BinXML tokens (MS-EVEN6 2.2.12). The 0x40 bit marks "more data follows"
// (attributes for an element, another attribute, ...).
const (
	tokEOF           = 0x00
	tokOpenStart     = 0x01
	tokCloseStart    = 0x02
	tokCloseEmpty    = 0x03
	tokEnd           = 0x04
	tokValue         = 0x05
	tokAttribute     = 0x06
	tokCDATA         = 0x07
	tokCharRef       = 0x08
	tokEntityRef     = 0x09
	tokPITarget      = 0x0a
	tokPIData        = 0x0b
	tokTemplate      = 0x0c
	tokNormalSubst   = 0x0d
	tokOptionalSubst = 0x0e
	tokFragment      = 0x0f
	tokMoreBit       = 0x40
)

// Limits that keep hostile input bounded.
const (
	maxDepth    = 32      // nested template instances / BinXML values
	maxElemNest = 512     // open elements at once
	maxNodes    = 1 << 16 // tree nodes per record
	maxTokens   = 1 << 17 // tokens read per record, templates expanded
	// maxChunkTokens bounds the work for all records of one chunk: a
	// legitimate chunk reads a few hundred tokens per record.
	maxChunkTokens = 1 << 22
	// maxValueBytes bounds the value bytes a record's tree refers to. A
	// template can refer to one substitution value many times; rendering
	// cost follows the bytes referred to, not the record's size.
	maxValueBytes = 1 << 20
)

type nodeKind uint8

const (
	kDoc nodeKind = iota + 1
	kElem
	kAttr
	kVal
	kPI
)

// node is one element, attribute or value of a record's tree. Nodes live in
// the parser's arena and link by index; index 0 is nil.
//
// A node holds no pointers, so the arena is cheap to fill and invisible to
// the garbage collector.
//
// An element or attribute whose content is one value holds it inline, in
// vtype, doff and dlen with inl set, instead of in a child node: most
// elements and attributes hold exactly one value, and this halves the
// nodes of a record. A second child of any kind moves the inline value
// into a child node first, so inl implies that there are no children.
type node struct {
	kind  nodeKind
	inl   bool  // an element or attribute holds its one value inline
	vtype byte  // value type for kVal and inline values (see value.go)
	name  int32 // element, attribute, entity or PI name (see parser.str)
	doff  int32 // raw value bytes: p.buf[doff : doff+dlen]
	dlen  int32
	first int32 // first child (element content, attribute value pieces)
	last  int32
	attrs int32 // first attribute of an element
	lastA int32
	next  int32
	nvals int32 // number of value children (null values are not kept)
	elems int32 // number of element children
}

// tmplDef is a template definition of the current chunk: where its
// BinXML is, how often it was instantiated, and its compiled form.
type tmplDef struct {
	start, end int
	uses       int
	ops        [2]int // p.ops[ops[0]:ops[1]] when compiled
	ntoks      int    // tokens the compiled form stands for
	compiled   bool
	noCompile  bool
}

type subValue struct {
	typ  byte
	data []byte
}

// parser holds the per-chunk caches and the per-record arena. It is reused
// across records and chunks so that steady-state reading does not allocate.
type parser struct {
	buf       []byte // the current chunk, up to its free space
	own       []byte // the parser's chunk buffer for reading
	gen       uint32 // counts chunks, to invalidate nameCache
	nameCache *[nameCacheSize]nameSlot
	intern    *[internSize]internEnt
	interned  int              // filled slots of intern
	tmpls     map[uint32]int32 // definition offset → index in defs
	defs      []tmplDef
	ops       []op // compiled templates of the current chunk
	nodes     []node
	subs      []subValue
	stack     []int32
	depth     int
	toks      int
	ctoks     int // tokens read in the current chunk
	vbytes    int // value bytes referred to by the current record's tree
	rec       Record
	scr       []byte // scratch for rendering
	keys      []keyEnt
	extra     []string // names not interned, for the current record
	fieldName []byte   // the field name being built by Fields
}

func (p *parser) resetChunk(buf []byte) {
	p.buf = buf
	if p.interned > internSize*3/4 {
		// Full of names (a hostile or very varied input): start afresh
		// rather than give every later name a fresh string.
		clear(p.intern[:])
		p.interned = 0
	}
	p.gen++         // also invalidates nameCache, which refers to intern slots
	if p.gen == 0 { // wrapped: forget everything
		clear(p.nameCache[:])
		p.gen = 1
	}
	if p.tmpls == nil {
		p.nameCache = new([nameCacheSize]nameSlot)
		p.intern = new([internSize]internEnt)
		p.tmpls = make(map[uint32]int32, 32)
	} else if len(p.tmpls) > 0 {
		clear(p.tmpls)
	}
	p.defs = p.defs[:0]
	p.ops = p.ops[:0]
	p.ctoks = 0
}

var (
	errTruncated = errors.New("truncated binxml")
	errBadToken  = errors.New("invalid binxml token")
)

func (p *parser) newNode(kind nodeKind, vtype byte, name int32) (int32, error) {
	if len(p.nodes) >= maxNodes {
		return 0, errRecordTooComplex
	}
	// Append a zero node and fill it in place: building the node on the
	// stack and copying it costs store-forwarding stalls on this hot path.
	p.nodes = append(p.nodes, node{})
	i := len(p.nodes) - 1
	n := &p.nodes[i]
	n.kind, n.vtype, n.name = kind, vtype, name
	return int32(i), nil
}

// appendChild links child at the end of parent's content.
func (p *parser) appendChild(parent, child int32) {
	if p.nodes[parent].inl {
		p.spill(parent)
	}
	pn := &p.nodes[parent]
	switch p.nodes[child].kind {
	case kVal:
		pn.nvals++
	case kElem:
		pn.elems++
	}
	if pn.last == 0 {
		pn.first = child
	} else {
		p.nodes[pn.last].next = child
	}
	pn.last = child
}

// spill moves the inline value of parent into a child node. The node
// budget was checked when the value was added, so this cannot fail; it may
// exceed maxNodes by one per element, which is harmless.
func (p *parser) spill(parent int32) {
	pn := &p.nodes[parent]
	v := node{kind: kVal, vtype: pn.vtype, doff: pn.doff, dlen: pn.dlen}
	pn.inl = false
	p.nodes = append(p.nodes, v)
	c := int32(len(p.nodes) - 1)
	pn = &p.nodes[parent]
	pn.first, pn.last = c, c
}

func (p *parser) appendAttr(elem, attr int32) {
	en := &p.nodes[elem]
	if en.lastA == 0 {
		en.attrs = attr
	} else {
		p.nodes[en.lastA].next = attr
	}
	en.lastA = attr
}

// parseRecord parses the BinXML of a record in buf[start:end] and returns
// the index of the document node.
func (p *parser) parseRecord(start, end int) (int32, error) {
	p.nodes = append(p.nodes[:0], node{}, node{kind: kDoc})
	clear(p.extra)
	p.extra = p.extra[:0]
	p.subs = p.subs[:0]
	p.depth = 0
	p.toks = 0
	p.vbytes = 0
	if p.ctoks > maxChunkTokens {
		return 0, errChunkTooComplex
	}
	_, err := p.tokens(start, end, 1, 0, 0, -1)
	p.ctoks += p.toks
	if err != nil {
		return 0, err
	}
	return 1, nil
}

// internSize is the number of slots of the parser's name table. It is
// fixed: a hostile file with many distinct names gets fresh strings
// instead of growing it.
const internSize = 4096

// internEnt is one interned name: its UTF-16LE bytes, its text, and its
// text escaped for JSON (the same string when nothing needs escaping).
type internEnt struct {
	raw, s, esc string
	tag         uint8  // tagData or tagName for the names JSON rendering tests
	kbit        uint16 // keyBit(s), for JSON rendering's repeated-key filter
}

// Tags of the names that JSON rendering looks for.
const (
	tagData = 1 + iota
	tagName
)

// is reports whether name id is "Data" (tag tagData) or "Name" (tagName).
func (p *parser) is(id int32, tag uint8) bool {
	if id > 0 {
		return p.intern[id-1].tag == tag
	}
	s := p.str(id)
	return (tag == tagData && s == "Data") || (tag == tagName && s == "Name")
}

// name returns the name string stored at chunk offset off. Names are
// interned by their UTF-16 bytes: the same few dozen names recur in every
// chunk of every file.
func (p *parser) name(off uint32) (int32, error) {
	// Records of a chunk share templates, so the same offsets recur: a
	// direct-mapped cache of this chunk's offsets skips the lookup.
	slot := &p.nameCache[(off>>1)&(nameCacheSize-1)]
	if slot.gen == p.gen && slot.off == off {
		return slot.id, nil
	}
	id, err := p.lookupName(off)
	if err == nil && id > 0 {
		*slot = nameSlot{off: off, gen: p.gen, id: id}
	}
	return id, err
}

// nameCacheSize is the number of slots of the per-chunk name cache.
const nameCacheSize = 1024

// nameSlot caches the name id at a chunk offset for chunk generation gen.
type nameSlot struct {
	off uint32
	gen uint32
	id  int32
}

func (p *parser) lookupName(off uint32) (int32, error) {
	o := int(off)
	if o < 0 || o+8 > len(p.buf) {
		return 0, fmt.Errorf("name offset %#x out of chunk", off)
	}
	n := int(binary.LittleEndian.Uint16(p.buf[o+6:]))
	if o+8+2*n > len(p.buf) {
		return 0, fmt.Errorf("name at %#x: length %d out of chunk", off, n)
	}
	if n == 0 {
		return 0, nil
	}
	raw := p.buf[o+8 : o+8+2*n]
	// The name's stored hash spreads the slots; a wrong one only costs a
	// miss, since slots are matched on the bytes.
	h := int(binary.LittleEndian.Uint16(p.buf[o+4:])) ^ n<<7
	for i := range 4 {
		slot := (h + i) & (internSize - 1)
		e := &p.intern[slot]
		if e.raw == string(raw) {
			return int32(slot + 1), nil
		}
		if e.raw == "" {
			p.interned++
			e.raw = string(raw)
			e.s = string(appendUTF16(nil, raw))
			e.esc = e.s
			e.kbit = keyBit(e.s)
			if esc := appendEsc(nil, e.s, true); string(esc) != e.s {
				e.esc = string(esc)
			}
			switch e.s {
			case "Data":
				e.tag = tagData
			case "Name":
				e.tag = tagName
			default:
				e.tag = 0
			}
			return int32(slot + 1), nil
		}
	}
	p.extra = append(p.extra, string(appendUTF16(nil, raw)))
	return -int32(len(p.extra)), nil
}

// nameRef reads a name offset at pos and returns the name and the position
// after the reference, skipping the name's bytes when they are stored
// inline right there.
func (p *parser) nameRef(pos, end int) (int32, int, error) {
	if pos+4 > end {
		return 0, 0, errTruncated
	}
	off := binary.LittleEndian.Uint32(p.buf[pos:])
	pos += 4
	s, err := p.name(off)
	if err != nil {
		return 0, 0, err
	}
	if int(off) == pos {
		n := int(binary.LittleEndian.Uint16(p.buf[pos+6:]))
		pos += 10 + 2*n
		if pos > end {
			return 0, 0, errTruncated
		}
	}
	return s, pos, nil
}

// str returns the text of a name id from name.
func (p *parser) str(id int32) string {
	switch {
	case id > 0:
		return p.intern[id-1].s
	case id < 0:
		return p.extra[-id-1]
	}
	return ""
}

// appendNameJSON appends the name id escaped for a JSON string.
func (p *parser) appendNameJSON(dst []byte, id int32) []byte {
	if id > 0 {
		return append(dst, p.intern[id-1].esc...)
	}
	return appendEsc(dst, p.str(id), true)
}

// val returns the value of a kVal node.
func (p *parser) val(n *node) val {
	v := val{typ: n.vtype, data: p.buf[n.doff : n.doff+n.dlen]}
	if n.vtype == vEntityRef {
		v.name = p.str(n.name)
	}
	return v
}

// tokens parses BinXML tokens from buf[pos:end] until EOF or end,
// attaching content to cur (or, for value pieces, to the attribute attr
// when it is not 0). Inside a template definition, nsubs is the number of
// substitution values, p.subs[sbase:sbase+nsubs]; elsewhere it is -1 and a
// substitution token is an error. It returns the position after the EOF
// token.
func (p *parser) tokens(pos, end int, cur, attr int32, sbase, nsubs int) (int, error) {
	b := p.buf
	le := binary.LittleEndian
	base := len(p.stack)
	defer func() { p.stack = p.stack[:base] }()
	inStart := false // between an open start element and its close
	for pos < end {
		p.toks++
		if p.toks > maxTokens {
			return 0, errRecordTooComplex
		}
		tok := b[pos]
		switch tok &^ tokMoreBit {
		case tokEOF:
			return pos + 1, nil
		case tokOpenStart:
			name, np, err := p.openStart(pos, end, nsubs >= 0)
			if err != nil {
				return 0, fmt.Errorf("element at %#x: %w", pos, err)
			}
			pos = np
			if tok&tokMoreBit != 0 {
				pos += 4 // attribute list size
			}
			if pos > end {
				return 0, errTruncated
			}
			if len(p.stack)-base >= maxElemNest {
				return 0, errRecordTooComplex
			}
			e, err := p.newNode(kElem, 0, name)
			if err != nil {
				return 0, err
			}
			p.appendChild(cur, e)
			p.stack = append(p.stack, cur)
			cur = e
			attr = 0
			inStart = true
		case tokAttribute:
			if !inStart {
				return 0, fmt.Errorf("attribute outside a start element at %#x: %w", pos, errBadToken)
			}
			name, np, err := p.nameRef(pos+1, end)
			if err != nil {
				return 0, fmt.Errorf("attribute at %#x: %w", pos, err)
			}
			pos = np
			a, err := p.newNode(kAttr, 0, name)
			if err != nil {
				return 0, err
			}
			p.appendAttr(cur, a)
			attr = a
		case tokCloseStart:
			if !inStart {
				return 0, fmt.Errorf("close of start element at %#x: %w", pos, errBadToken)
			}
			inStart = false
			attr = 0
			pos++
		case tokCloseEmpty, tokEnd:
			if len(p.stack) <= base {
				return 0, fmt.Errorf("end of element at %#x with no open element: %w", pos, errBadToken)
			}
			cur = p.stack[len(p.stack)-1]
			p.stack = p.stack[:len(p.stack)-1]
			inStart = false
			attr = 0
			pos++
		case tokValue:
			if pos+2 > end {
				return 0, errTruncated
			}
			vt := b[pos+1]
			data, np, err := p.inlineValue(vt, pos+2, end)
			if err != nil {
				return 0, fmt.Errorf("value at %#x: %w", pos, err)
			}
			pos = np
			if err := p.addValue(cur, attr, vt, data); err != nil {
				return 0, err
			}
		case tokCDATA:
			data, np, err := p.inlineValue(vString, pos+1, end)
			if err != nil {
				return 0, fmt.Errorf("cdata at %#x: %w", pos, err)
			}
			pos = np
			if err := p.addValue(cur, attr, vString, data); err != nil {
				return 0, err
			}
		case tokCharRef:
			if pos+3 > end {
				return 0, errTruncated
			}
			if err := p.addValue(cur, attr, vCharRef, b[pos+1:pos+3]); err != nil {
				return 0, err
			}
			pos += 3
		case tokEntityRef:
			name, np, err := p.nameRef(pos+1, end)
			if err != nil {
				return 0, fmt.Errorf("entity reference at %#x: %w", pos, err)
			}
			pos = np
			v, err := p.newNode(kVal, vEntityRef, name)
			if err != nil {
				return 0, err
			}
			if attr != 0 {
				p.appendChild(attr, v)
			} else {
				p.appendChild(cur, v)
			}
		case tokPITarget:
			name, np, err := p.nameRef(pos+1, end)
			if err != nil {
				return 0, fmt.Errorf("processing instruction at %#x: %w", pos, err)
			}
			pos = np
			v, err := p.newNode(kPI, 0, name)
			if err != nil {
				return 0, err
			}
			p.appendChild(cur, v)
		case tokPIData:
			data, np, err := p.inlineValue(vString, pos+1, end)
			if err != nil {
				return 0, fmt.Errorf("processing instruction data at %#x: %w", pos, err)
			}
			pos = np
			if l := p.nodes[cur].last; l != 0 && p.nodes[l].kind == kPI {
				p.nodes[l].doff, p.nodes[l].dlen = int32(subOffset(p.buf, data)), int32(len(data))
			}
		case tokTemplate:
			np, err := p.templateInstance(pos, end, cur, attr)
			if err != nil {
				return 0, err
			}
			pos = np
		case tokNormalSubst, tokOptionalSubst:
			if nsubs < 0 {
				return 0, fmt.Errorf("substitution outside a template at %#x: %w", pos, errBadToken)
			}
			if pos+4 > end {
				return 0, errTruncated
			}
			id := int(le.Uint16(b[pos+1:]))
			pos += 4
			if err := p.substitute(cur, attr, sbase, nsubs, id); err != nil {
				return 0, err
			}
		case tokFragment:
			pos += 4
		default:
			return 0, fmt.Errorf("token %#02x at %#x: %w", tok, pos, errBadToken)
		}
	}
	return pos, nil
}

// openStart reads the header of the open start element token at pos and
// returns the element's name and the position after the name. The header
// is the token, a dependency id (2 bytes) inside a template definition
// only, the data size (4) and the name offset (4): elements of the record
// itself and of BinXML substitution values have no dependency id (as
// libfwevt and the evtx crate read them; Windows writes such records in
// some logs, CAPI2's among them). Outside a template, a header whose name
// does not resolve without the id is read again with it.
func (p *parser) openStart(pos, end int, inTemplate bool) (int32, int, error) {
	if inTemplate {
		if pos+11 > end {
			return 0, 0, errTruncated
		}
		return p.nameRef(pos+7, end)
	}
	if pos+9 > end {
		return 0, 0, errTruncated
	}
	name, np, err := p.nameRef(pos+5, end)
	if err != nil && pos+11 <= end {
		if n2, np2, err2 := p.nameRef(pos+7, end); err2 == nil {
			return n2, np2, nil
		}
	}
	return name, np, err
}

// substitute puts substitution value id (of p.subs[sbase:sbase+nsubs])
// in place: as a value piece of attr or cur, or, for BinXML, as the
// content of cur. Missing and null values render nothing.
func (p *parser) substitute(cur, attr int32, sbase, nsubs, id int) error {
	if id >= nsubs {
		return nil
	}
	sv := &p.subs[sbase+id]
	switch sv.typ {
	case vNull:
		return nil
	case vBinXML:
		if attr != 0 {
			return nil // BinXML cannot be an attribute value
		}
		// The nested fragment addresses names and templates by chunk
		// offset; its bytes are in the chunk, so it is parsed in place.
		off, n := subOffset(p.buf, sv.data), len(sv.data)
		p.depth++
		if p.depth > maxDepth {
			return errRecordTooComplex
		}
		_, err := p.tokens(off, off+n, cur, 0, 0, -1)
		p.depth--
		if err != nil {
			return fmt.Errorf("nested binxml in substitution %d: %w", id, err)
		}
		return nil
	}
	return p.addValue(cur, attr, sv.typ, sv.data)
}

// addValue attaches a value piece to the current attribute, or else to the
// current element's content.
func (p *parser) addValue(cur, attr int32, vt byte, data []byte) error {
	if isNullValue(&val{typ: vt, data: data}) {
		return nil // renders as nothing
	}
	p.vbytes += len(data)
	if p.vbytes > maxValueBytes {
		return errRecordTooComplex
	}
	target := cur
	if attr != 0 {
		target = attr
	}
	if tn := &p.nodes[target]; tn.first == 0 && !tn.inl && tn.kind != kDoc {
		if len(p.nodes) >= maxNodes {
			return errRecordTooComplex
		}
		tn.inl = true
		tn.vtype = vt
		tn.doff, tn.dlen = int32(subOffset(p.buf, data)), int32(len(data))
		tn.nvals = 1
		return nil
	}
	v, err := p.newNode(kVal, vt, 0)
	if err != nil {
		return err
	}
	p.nodes[v].doff, p.nodes[v].dlen = int32(subOffset(p.buf, data)), int32(len(data))
	if attr != 0 {
		p.appendChild(attr, v)
	} else {
		p.appendChild(cur, v)
	}
	return nil
}

// inlineValue reads the data of a Value token of type vt at pos: a
// length-prefixed UTF-16 string or a fixed-size scalar.
func (p *parser) inlineValue(vt byte, pos, end int) ([]byte, int, error) {
	b := p.buf
	if vt == vString {
		if pos+2 > end {
			return nil, 0, errTruncated
		}
		n := int(binary.LittleEndian.Uint16(b[pos:]))
		pos += 2
		if pos+2*n > end {
			return nil, 0, errTruncated
		}
		return b[pos : pos+2*n], pos + 2*n, nil
	}
	sz := fixedSize(vt)
	if sz == 0 {
		return nil, 0, fmt.Errorf("value type %#02x has no inline size: %w", vt, errBadToken)
	}
	if pos+sz > end {
		return nil, 0, errTruncated
	}
	return b[pos : pos+sz], pos + sz, nil
}

// templateInstance parses a template instance token at pos: the
// definition (inline or by reference), the substitution array, and then
// expands the definition into cur.
func (p *parser) templateInstance(pos, end int, cur, attr int32) (int, error) {
	b := p.buf
	le := binary.LittleEndian
	if pos+10 > end {
		return 0, errTruncated
	}
	defOff := le.Uint32(b[pos+6:])
	pos += 10
	di, ok := p.tmpls[defOff]
	if !ok {
		d := int(defOff)
		if d < chunkHdrSize || d+24 > len(b) {
			return 0, fmt.Errorf("template definition offset %#x out of chunk", defOff)
		}
		size := int(le.Uint32(b[d+20:]))
		if size > len(b)-d-24 {
			return 0, fmt.Errorf("template definition at %#x: size %d out of chunk", defOff, size)
		}
		p.defs = append(p.defs, tmplDef{start: d + 24, end: d + 24 + size})
		di = int32(len(p.defs) - 1)
		p.tmpls[defOff] = di
	}
	def := &p.defs[di]
	if int(defOff) == pos {
		pos = def.end
		if pos > end {
			return 0, errTruncated
		}
	}
	// Substitution array: count, descriptors (size u16, type u8, pad u8),
	// then the values back to back.
	if pos+4 > end {
		return 0, errTruncated
	}
	n := int(le.Uint32(b[pos:]))
	pos += 4
	if n > (end-pos)/4 {
		return 0, fmt.Errorf("template instance: %d substitutions do not fit in the record", n)
	}
	// Descriptors count as tokens: a template can instantiate templates
	// with large substitution arrays many times.
	p.toks += n
	if p.toks > maxTokens {
		return 0, errRecordTooComplex
	}
	desc := pos
	pos += 4 * n
	sbase := len(p.subs)
	for i := range n {
		size := int(le.Uint16(b[desc+4*i:]))
		typ := b[desc+4*i+2]
		if size > end-pos {
			return 0, fmt.Errorf("substitution %d: size %d beyond the record: %w", i, size, errTruncated)
		}
		p.subs = append(p.subs, subValue{}) // filled in place: see newNode
		sv := &p.subs[len(p.subs)-1]
		sv.typ, sv.data = typ, b[pos:pos+size]
		pos += size
	}
	p.depth++
	if p.depth > maxDepth {
		return 0, errRecordTooComplex
	}
	def.uses++
	if def.uses >= 2 && !def.compiled && !def.noCompile && compileTemplates {
		def.compiled = p.compile(def)
	}
	if def.compiled {
		if err := p.run(def, cur, attr, sbase, n); err != nil {
			return 0, err
		}
	} else if _, err := p.tokens(def.start, def.end, cur, attr, sbase, n); err != nil {
		return 0, err
	}
	p.depth--
	p.subs = p.subs[:sbase]
	return pos, nil
}

// subOffset returns the offset of sub within buf; sub must alias buf.
func subOffset(buf, sub []byte) int {
	if len(sub) == 0 {
		return 0
	}
	return cap(buf) - cap(sub)
}

// appendUTF16 appends the UTF-16LE bytes b decoded as UTF-8, replacing
// unpaired surrogates with U+FFFD.
func appendUTF16(dst, b []byte) []byte {
	for i := 0; i+1 < len(b); i += 2 {
		c := rune(b[i]) | rune(b[i+1])<<8
		switch {
		case c < utf8.RuneSelf:
			dst = append(dst, byte(c))
		case utf16.IsSurrogate(c):
			if c < 0xdc00 && i+3 < len(b) {
				c2 := rune(b[i+2]) | rune(b[i+3])<<8
				if r := utf16.DecodeRune(c, c2); r != utf8.RuneError {
					dst = utf8.AppendRune(dst, r)
					i += 2
					continue
				}
			}
			dst = utf8.AppendRune(dst, utf8.RuneError)
		default:
			dst = utf8.AppendRune(dst, c)
		}
	}
	return dst
}
