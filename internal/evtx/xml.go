package evtx

// AppendXML appends the record as XML text without indentation, the way
// the Windows Event Viewer's XML view shows it: templates expanded, values
// in their text form (numbers in decimal, GUIDs in upper case, times in
// RFC 3339), white space preserved, and attributes without a value left
// out.
func (r *Record) AppendXML(dst []byte) []byte {
	return r.p.appendContentXML(dst, r.root)
}

// appendContentXML appends the content of element (or document) i.
func (p *parser) appendContentXML(dst []byte, i int32) []byte {
	if p.nodes[i].inl {
		start := len(p.scr)
		p.scr = p.appendPiecesText(p.scr, i, false)
		dst = appendXMLEsc(dst, p.scr[start:], false)
		p.scr = p.scr[:start]
		return dst
	}
	for c := p.nodes[i].first; c != 0; c = p.nodes[c].next {
		dst = p.appendNodeXML(dst, c)
	}
	return dst
}

func (p *parser) appendNodeXML(dst []byte, i int32) []byte {
	n := &p.nodes[i]
	switch n.kind {
	case kVal:
		if n.vtype == vEntityRef {
			dst = append(dst, '&')
			dst = append(dst, p.str(n.name)...)
			return append(dst, ';')
		}
		start := len(p.scr)
		v := p.val(n)
		p.scr = appendValueText(p.scr, &v, false)
		dst = appendXMLEsc(dst, p.scr[start:], false)
		p.scr = p.scr[:start]
		return dst
	case kPI:
		dst = append(dst, "<?"...)
		dst = append(dst, p.str(n.name)...)
		if n.dlen > 0 {
			dst = append(dst, ' ')
			dst = appendUTF16Str(dst, p.buf[n.doff:n.doff+n.dlen], false)
		}
		return append(dst, "?>"...)
	case kElem:
	default:
		return dst
	}
	name := p.str(n.name)
	dst = append(dst, '<')
	dst = append(dst, name...)
	for a := n.attrs; a != 0; a = p.nodes[a].next {
		an := &p.nodes[a]
		if an.nvals == 0 {
			continue
		}
		dst = append(dst, ' ')
		dst = append(dst, p.str(an.name)...)
		dst = append(dst, '=', '"')
		start := len(p.scr)
		p.scr = p.appendPiecesText(p.scr, a, false)
		dst = appendXMLEsc(dst, p.scr[start:], true)
		p.scr = p.scr[:start]
		dst = append(dst, '"')
	}
	if n.first == 0 && !n.inl {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = p.appendContentXML(dst, i)
	dst = append(dst, '<', '/')
	dst = append(dst, name...)
	return append(dst, '>')
}

// appendXMLEsc appends text escaped for XML content (or, with attr set, a
// double-quoted attribute value).
func appendXMLEsc(dst, s []byte, attr bool) []byte {
	for _, c := range s {
		switch {
		case c == '&':
			dst = append(dst, "&amp;"...)
		case c == '<':
			dst = append(dst, "&lt;"...)
		case c == '>':
			dst = append(dst, "&gt;"...)
		case c == '"' && attr:
			dst = append(dst, "&quot;"...)
		case attr && (c == '\n' || c == '\r' || c == '\t'):
			dst = append(dst, "&#"...)
			dst = appendInt(dst, int(c))
			dst = append(dst, ';')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
