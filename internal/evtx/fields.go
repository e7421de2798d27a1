package evtx

import (
	"bytes"
	"unicode"
	"unsafe"
)

// Fields calls fn for each field of a Windows event record, flattened to
// the names Sigma rules use for Windows events, without rendering JSON:
//
//   - from System: Provider_Name, Provider_Guid, EventID, Version, Level,
//     Task, Opcode, Keywords, EventRecordID, ActivityID, ProcessID,
//     ThreadID, Channel, Computer, Security_UserID (those present);
//   - from EventData: each <Data Name="X"> as X, each unnamed <Data> as
//     Data (repeated, in order), any other child element under its name;
//   - from UserData: the members of its element under their names;
//     elements nested deeper are named with dots (Parent.Child).
//
// Values are as AppendJSON renders them (string text trimmed of
// surrounding white space, numbers typed, an empty element null), so Fields
// agrees with flattening the record's JSON, except that repeated sibling
// names are reported under the same name (the JSON suffixes them _1, _2).
// The event time is Record.Time or the TimeCreated SystemTime attribute.
// name and v are valid only during the call.
func (r *Record) Fields(fn func(name string, v Value)) {
	ev := r.Event()
	if !ev.Valid() {
		return
	}
	p := r.p
	if sys := ev.Child("System"); sys.Valid() {
		for c := range sys.Children() {
			switch name := c.Name(); name {
			case "Provider":
				for an, av := range c.Attrs() {
					switch an {
					case "Name":
						fn("Provider_Name", av)
					case "Guid":
						fn("Provider_Guid", av)
					}
				}
			case "Correlation":
				if v, ok := c.Attr("ActivityID"); ok {
					fn("ActivityID", v)
				}
			case "Execution":
				for an, av := range c.Attrs() {
					switch an {
					case "ProcessID", "ThreadID":
						fn(an, av)
					}
				}
			case "Security":
				if v, ok := c.Attr("UserID"); ok {
					fn("Security_UserID", v)
				}
			case "EventID", "Version", "Level", "Task", "Opcode", "Keywords", "EventRecordID", "Channel", "Computer":
				if v := p.textValue(c.i); !v.IsNull() {
					fn(name, v)
				}
			}
		}
	}
	if data := ev.Child("EventData"); data.Valid() {
		for c := range data.Children() {
			name := c.Name()
			if name == "Data" {
				if n, ok := c.Attr("Name"); ok {
					p.fieldName = n.AppendText(p.fieldName[:0])
					p.emitElem(c.i, fn)
					continue
				}
			}
			p.fieldName = append(p.fieldName[:0], name...)
			p.emitElem(c.i, fn)
		}
	}
	if ud := ev.Child("UserData"); ud.Valid() {
		for top := range ud.Children() {
			for c := range top.Children() {
				p.fieldName = append(p.fieldName[:0], c.Name()...)
				p.emitElem(c.i, fn)
			}
		}
	}
}

// emitElem reports element i under p.fieldName: its text (null when it
// has none, as JSON's null), or, for an element with child elements and
// no text, each child under a dotted name.
func (p *parser) emitElem(i int32, fn func(string, Value)) {
	n := &p.nodes[i]
	if n.nvals > 0 || n.elems == 0 {
		name := ""
		if len(p.fieldName) > 0 {
			name = unsafe.String(&p.fieldName[0], len(p.fieldName))
		}
		fn(name, p.textValue(i))
		return
	}
	base := len(p.fieldName)
	for c := n.first; c != 0; c = p.nodes[c].next {
		if p.nodes[c].kind != kElem {
			continue
		}
		p.fieldName = append(p.fieldName[:base], '.')
		p.fieldName = append(p.fieldName, p.str(p.nodes[c].name)...)
		p.emitElem(c, fn)
	}
	p.fieldName = p.fieldName[:base]
}

// textValue returns the text of element i as AppendJSON renders it:
// strings trimmed of surrounding white space, several pieces joined.
func (p *parser) textValue(i int32) Value {
	cnt, one := p.pieces(i)
	switch cnt {
	case 0:
		return Value{}
	case 1:
		v := p.val(&p.nodes[one])
		switch v.typ {
		case vString:
			v.data = trimUTF16(v.data)
		case vAnsi:
			d := bytes.TrimRight(v.data, "\x00")
			v.data = bytes.TrimFunc(d, func(r rune) bool { return r < 0x80 && unicode.IsSpace(r) })
		}
		return Value{v: v}
	}
	s := bytes.TrimFunc(p.appendPiecesText(nil, i, false), unicode.IsSpace)
	return Value{v: val{typ: vUTF8, data: s}}
}
