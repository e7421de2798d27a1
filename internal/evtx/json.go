package evtx

import (
	"bytes"
	"strings"
	"unicode"
	"unsafe"
)

// keyEnt is one member of an object being rendered: its key (escaped,
// in parser.scr[start:end]) and the node it renders.
type keyEnt struct {
	start, end int32
	name       int32
	node       int32
	kind       uint8 // entElem, entNamedData, entData, entText
	check      bool  // the key may repeat an earlier one
}

const (
	entElem = iota
	entNamedData
	entData
	entText
)

// AppendJSON appends the record rendered as evtx_dump renders it: one JSON
// object whose members follow the document order of the event, with
// attributes under "#attributes", element text under "#text" when the
// element also has attributes or children, EventData's <Data Name="X">
// elements as "X" members, and typed values (numbers stay numbers). The
// output is compact (no indentation).
//
// Where evtx_dump's own behaviour is undefined or an error (an element
// with several text pieces, repeated sibling names), AppendJSON
// concatenates the text pieces and suffixes repeated names with _1, _2,
// and so on; several unnamed Data elements render as "Data": {"#text":
// [...]}.
func (r *Record) AppendJSON(dst []byte) []byte {
	p := r.p
	p.scr = p.scr[:0]
	p.keys = p.keys[:0]
	return p.appendChildrenObject(dst, r.root, false)
}

// JSON returns the record's JSON rendering (see AppendJSON) in a new slice.
func (r *Record) JSON() []byte { return r.AppendJSON(nil) }

// pieces returns the number of value children of n and, when there is
// exactly one, that child.
func (p *parser) pieces(i int32) (int, int32) {
	n := &p.nodes[i]
	if n.nvals != 1 {
		return int(n.nvals), 0
	}
	if n.inl {
		return 1, i
	}
	for c := n.first; c != 0; c = p.nodes[c].next {
		if p.nodes[c].kind == kVal {
			return 1, c
		}
	}
	return 0, 0
}

// appendPiecesText appends the text of the value pieces of node i
// (inline or in child nodes), escaped for JSON when esc is set.
func (p *parser) appendPiecesText(dst []byte, i int32, esc bool) []byte {
	n := &p.nodes[i]
	if n.inl {
		if n.vtype == vString {
			return appendUTF16Str(dst, p.buf[n.doff:n.doff+n.dlen], esc)
		}
		v := p.val(n)
		return appendValueText(dst, &v, esc)
	}
	for c := n.first; c != 0; c = p.nodes[c].next {
		if cn := &p.nodes[c]; cn.kind == kVal {
			v := p.val(cn)
			dst = appendValueText(dst, &v, esc)
		}
	}
	return dst
}

// appendPiecesJSON renders value pieces: one as its typed JSON value,
// several concatenated as a string.
func (p *parser) appendPiecesJSON(dst []byte, first int32, n int, last int32) []byte {
	if n == 1 {
		v := p.val(&p.nodes[last])
		return appendValueJSON(dst, &v)
	}
	dst = append(dst, '"')
	for c := first; c != 0; c = p.nodes[c].next {
		if cn := &p.nodes[c]; cn.kind == kVal {
			if v := p.val(cn); !isNullValue(&v) {
				dst = appendValueText(dst, &v, true)
			}
		}
	}
	return append(dst, '"')
}

// appendElemJSON renders element e: null when empty, its value when it has
// only text, else an object.
func (p *parser) appendElemJSON(dst []byte, e int32, skipAttrs bool) []byte {
	en := &p.nodes[e]
	hasAttrs := false
	if !skipAttrs {
		for a := en.attrs; a != 0; a = p.nodes[a].next {
			if p.nodes[a].nvals > 0 {
				hasAttrs = true
				break
			}
		}
	}
	if !hasAttrs && en.elems == 0 {
		n, last := p.pieces(e)
		if n == 0 {
			return append(dst, "null"...)
		}
		if vn := &p.nodes[last]; n == 1 && vn.vtype == vString {
			// The common case, without going through val.
			dst = append(dst, '"')
			dst = appendUTF16Str(dst, trimUTF16(p.buf[vn.doff:vn.doff+vn.dlen]), true)
			return append(dst, '"')
		}
		return p.appendTextJSON(dst, en.first, n, last)
	}
	return p.appendChildrenObject(dst, e, !skipAttrs)
}

// appendChildrenObject renders e as an object: its attributes (when
// withAttrs), then its children and text in document order.
func (p *parser) appendChildrenObject(dst []byte, e int32, withAttrs bool) []byte {
	dst = append(dst, '{')
	first := true
	if withAttrs {
		for a := p.nodes[e].attrs; a != 0; a = p.nodes[a].next {
			an := &p.nodes[a]
			n, last := p.pieces(a)
			if n == 0 {
				continue
			}
			if first {
				dst = append(dst, `"#attributes":{`...)
				first = false
			} else {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = p.appendNameJSON(dst, an.name)
			dst = append(dst, '"', ':')
			dst = p.appendPiecesJSON(dst, an.first, n, last)
		}
		if !first {
			dst = append(dst, '}')
		}
	}

	// Collect the members and their keys first: repeated keys need to be
	// known before anything is written. A 1024-bit filter of the keys marks
	// those that may repeat an earlier one; only these are compared.
	kbase := len(p.keys)
	sbase := len(p.scr)
	nData, nText := 0, 0
	var bloom [16]uint64
	mayRepeat := false
	if p.nodes[e].inl {
		p.keys = append(p.keys, keyEnt{node: e, kind: entText})
		nText = 1
	}
	for c := p.nodes[e].first; c != 0; c = p.nodes[c].next {
		cn := &p.nodes[c]
		switch cn.kind {
		case kVal:
			if nText == 0 {
				p.keys = append(p.keys, keyEnt{node: c, kind: entText})
			}
			nText++
		case kElem:
			// Filled in place: see newNode.
			p.keys = append(p.keys, keyEnt{})
			k := &p.keys[len(p.keys)-1]
			k.node, k.kind, k.name = c, entElem, cn.name
			if p.is(cn.name, tagData) {
				k.kind = entData
				for a := cn.attrs; a != 0; a = p.nodes[a].next {
					an := &p.nodes[a]
					if p.is(an.name, tagName) {
						k.kind = entNamedData
						k.start = int32(len(p.scr))
						p.scr = p.appendPiecesText(p.scr, a, true)
						k.end = int32(len(p.scr))
						break
					}
				}
				if k.kind == entData {
					nData++
				}
			}
			var h uint
			if k.kind != entNamedData && k.name > 0 {
				h = uint(p.intern[k.name-1].kbit)
			} else {
				h = uint(keyBit(p.key(k)))
			}
			if bloom[h>>6]&(1<<(h&63)) != 0 {
				k.check = true
				mayRepeat = true
			}
			bloom[h>>6] |= 1 << (h & 63)
		}
	}

	dataDone := false
	var counts map[string]int
	for i := kbase; i < len(p.keys); i++ {
		// k is not used after the recursion below, which may move p.keys.
		k := &p.keys[i]
		if k.kind == entData && nData > 1 {
			if dataDone {
				continue
			}
			dataDone = true
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		switch k.kind {
		case entText:
			dst = append(dst, `"#text":`...)
			if nText == 1 {
				v := p.val(&p.nodes[k.node])
				dst = appendTextValueJSON(dst, &v)
			} else {
				dst = append(dst, '[')
				firstV := true
				for c := p.nodes[e].first; c != 0; c = p.nodes[c].next {
					if cn := &p.nodes[c]; cn.kind == kVal {
						v := p.val(cn)
						if !firstV {
							dst = append(dst, ',')
						}
						firstV = false
						dst = appendTextValueJSON(dst, &v)
					}
				}
				dst = append(dst, ']')
			}
			continue
		case entData:
			if nData > 1 {
				dst = append(dst, `"Data":{"#text":[`...)
				firstV := true
				for j := i; j < len(p.keys); j++ {
					if p.keys[j].kind != entData {
						continue
					}
					if !firstV {
						dst = append(dst, ',')
					}
					firstV = false
					dst = p.appendElemJSON(dst, p.keys[j].node, false)
				}
				dst = append(dst, "]}"...)
				continue
			}
		}
		key := p.key(k)
		dst = append(dst, '"')
		if k.kind == entNamedData {
			dst = append(dst, key...) // already escaped
		} else {
			dst = p.appendNameJSON(dst, k.name)
		}
		// A key repeated among earlier siblings gets a numeric suffix.
		// Many siblings are counted with a map, so that a hostile record
		// of thousands of same-named elements stays linear.
		dup := 0
		if mayRepeat && len(p.keys)-kbase > 32 {
			if counts == nil {
				counts = make(map[string]int)
			}
			dup = counts[key]
			counts[strings.Clone(key)] = dup + 1
		} else {
			for j := kbase; k.check && j < i; j++ {
				pk := &p.keys[j]
				if pk.kind == entText || (pk.kind == entData && nData > 1) {
					continue
				}
				if p.key(pk) == key {
					dup++
				}
			}
		}
		if dup > 0 {
			dst = append(dst, '_')
			dst = appendInt(dst, dup)
		}
		dst = append(dst, '"', ':')
		node, named := k.node, k.kind == entNamedData
		dst = p.appendElemJSON(dst, node, named)
	}
	p.keys = p.keys[:kbase]
	p.scr = p.scr[:sbase]
	return append(dst, '}')
}

// key returns the key of a member: the element's name, or for a named
// Data element the (escaped) text of its Name attribute. The string
// aliases p.scr for named Data; it is only compared and copied, never
// kept.
// keyBit is the bit of a key in appendChildrenObject's 1024-bit filter of
// the keys of one object.
func keyBit(key string) uint16 {
	h := uint(len(key)) * 0x9e3779b1
	if len(key) > 0 {
		h ^= uint(key[0])*0x85ebca6b ^ uint(key[len(key)-1])*0xc2b2ae35 ^ uint(key[len(key)/2])*0x27d4eb2f
	}
	return uint16((h >> 7) & 1023)
}

func (p *parser) key(k *keyEnt) string {
	if k.kind == entNamedData {
		b := p.scr[k.start:k.end]
		if len(b) == 0 {
			return ""
		}
		return unsafe.String(&b[0], len(b))
	}
	return p.str(k.name)
}

func appendInt(dst []byte, v int) []byte {
	if v >= 10 {
		dst = appendInt(dst, v/10)
	}
	return append(dst, byte('0'+v%10))
}

// appendTextJSON renders the text of an element that has nothing else:
// one piece as its typed value, several concatenated into a string; string
// text is trimmed of surrounding white space.
func (p *parser) appendTextJSON(dst []byte, first int32, n int, last int32) []byte {
	if n == 1 {
		v := p.val(&p.nodes[last])
		return appendTextValueJSON(dst, &v)
	}
	start := len(p.scr)
	for c := first; c != 0; c = p.nodes[c].next {
		if cn := &p.nodes[c]; cn.kind == kVal {
			if v := p.val(cn); !isNullValue(&v) {
				p.scr = appendValueText(p.scr, &v, false)
			}
		}
	}
	text := bytes.TrimFunc(p.scr[start:], unicode.IsSpace)
	dst = append(dst, '"')
	dst = appendEsc(dst, text, true)
	p.scr = p.scr[:start]
	return append(dst, '"')
}
