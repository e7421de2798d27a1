package evtx

import (
	"bytes"
	"unicode"
)

// keyEnt is one member of an object being rendered: its key (escaped,
// in parser.scr[start:end]) and the node it renders.
type keyEnt struct {
	start, end int32
	node       int32
	kind       uint8 // entElem, entNamedData, entData, entText
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

// attrValue classifies an attribute's value pieces: the number of
// non-null pieces and the last of them.
func (p *parser) nonNullPieces(first int32) (n int, last int32) {
	for c := first; c != 0; c = p.nodes[c].next {
		cn := &p.nodes[c]
		if cn.kind == kVal && !isNullValue(cn) {
			n++
			last = c
		}
	}
	return n, last
}

// appendPiecesJSON renders value pieces: one as its typed JSON value,
// several concatenated as a string.
func (p *parser) appendPiecesJSON(dst []byte, first int32, n int, last int32) []byte {
	if n == 1 {
		return appendValueJSON(dst, &p.nodes[last])
	}
	dst = append(dst, '"')
	for c := first; c != 0; c = p.nodes[c].next {
		cn := &p.nodes[c]
		if cn.kind == kVal && !isNullValue(cn) {
			dst = appendValueText(dst, cn, true)
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
			if n, _ := p.nonNullPieces(p.nodes[a].first); n > 0 {
				hasAttrs = true
				break
			}
		}
	}
	hasElem := false
	for c := en.first; c != 0; c = p.nodes[c].next {
		if p.nodes[c].kind == kElem {
			hasElem = true
			break
		}
	}
	if !hasAttrs && !hasElem {
		n, last := p.nonNullPieces(en.first)
		if n == 0 {
			return append(dst, "null"...)
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
			n, last := p.nonNullPieces(an.first)
			if n == 0 {
				continue
			}
			if first {
				dst = append(dst, `"#attributes":{`...)
				first = false
			} else {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, an.name)
			dst = p.appendPiecesJSON(dst, an.first, n, last)
		}
		if !first {
			dst = append(dst, '}')
		}
	}

	// Collect the members and their keys first: repeated keys need to be
	// known before anything is written.
	kbase := len(p.keys)
	sbase := len(p.scr)
	nData, nText := 0, 0
	for c := p.nodes[e].first; c != 0; c = p.nodes[c].next {
		cn := &p.nodes[c]
		switch cn.kind {
		case kVal:
			if !isNullValue(cn) {
				if nText == 0 {
					p.keys = append(p.keys, keyEnt{node: c, kind: entText})
				}
				nText++
			}
		case kElem:
			kind := uint8(entElem)
			start := len(p.scr)
			if cn.name == "Data" {
				kind = entData
				for a := cn.attrs; a != 0; a = p.nodes[a].next {
					an := &p.nodes[a]
					if an.name == "Name" {
						kind = entNamedData
						for v := an.first; v != 0; v = p.nodes[v].next {
							if vn := &p.nodes[v]; vn.kind == kVal {
								p.scr = appendValueText(p.scr, vn, true)
							}
						}
						break
					}
				}
				if kind == entData {
					nData++
				}
			}
			if kind != entNamedData {
				p.scr = appendEsc(p.scr, []byte(cn.name), true)
			}
			p.keys = append(p.keys, keyEnt{start: int32(start), end: int32(len(p.scr)), node: c, kind: kind})
		}
	}

	dataDone := false
	var bloom uint64
	for i := kbase; i < len(p.keys); i++ {
		k := p.keys[i]
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
				dst = appendTextValueJSON(dst, &p.nodes[k.node])
			} else {
				dst = append(dst, '[')
				firstV := true
				for c := p.nodes[e].first; c != 0; c = p.nodes[c].next {
					if cn := &p.nodes[c]; cn.kind == kVal && !isNullValue(cn) {
						if !firstV {
							dst = append(dst, ',')
						}
						firstV = false
						dst = appendTextValueJSON(dst, cn)
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
		key := p.scr[k.start:k.end]
		dst = append(dst, '"')
		dst = append(dst, key...)
		// A key repeated among earlier siblings gets a numeric suffix. A
		// 64-bit filter of the keys seen avoids comparing in the usual case
		// of distinct keys.
		dup := 0
		kh := uint64(1)
		if len(key) > 0 {
			kh <<= (uint(len(key)) + uint(key[0])*7 + uint(key[len(key)-1])*13) & 63
		}
		seen := bloom&kh != 0
		bloom |= kh
		for j := kbase; seen && j < i; j++ {
			pk := p.keys[j]
			if pk.kind != entText && pk.end-pk.start == k.end-k.start && bytes.Equal(p.scr[pk.start:pk.end], key) {
				if pk.kind == entData && nData > 1 {
					continue
				}
				dup++
			}
		}
		if dup > 0 {
			dst = append(dst, '_')
			dst = appendInt(dst, dup)
		}
		dst = append(dst, '"', ':')
		dst = p.appendElemJSON(dst, k.node, k.kind == entNamedData)
	}
	p.keys = p.keys[:kbase]
	p.scr = p.scr[:sbase]
	return append(dst, '}')
}

func appendKey(dst []byte, name string) []byte {
	dst = append(dst, '"')
	dst = appendEsc(dst, []byte(name), true)
	return append(dst, '"', ':')
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
		return appendTextValueJSON(dst, &p.nodes[last])
	}
	start := len(p.scr)
	for c := first; c != 0; c = p.nodes[c].next {
		cn := &p.nodes[c]
		if cn.kind == kVal && !isNullValue(cn) {
			p.scr = appendValueText(p.scr, cn, false)
		}
	}
	text := bytes.TrimFunc(p.scr[start:], unicode.IsSpace)
	dst = append(dst, '"')
	dst = appendEsc(dst, text, true)
	p.scr = p.scr[:start]
	return append(dst, '"')
}
