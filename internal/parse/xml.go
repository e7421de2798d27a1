package parse

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// Windows event XML (<Event><System>...</System><EventData>...</EventData>
// </Event>) as forwarded by Sysmon for Linux over syslog, or by Windows
// forwarders that send rendered XML. A small scanner, not a general XML
// parser: it reads elements, attributes, text and the five predefined
// entities plus character references, which is all the event schema uses.

const maxXMLDepth = 32

// xmlTag is one tag found by the scanner.
type xmlTag struct {
	name  string
	attrs string
	end   bool // </name>
	self  bool // <name/>
}

// scanTag reads the tag that starts at s[i] ('<') and returns it and the
// index after it; ok is false for malformed markup. Comments, processing
// instructions and declarations are skipped (returned with an empty name).
func scanTag(s string, i int) (t xmlTag, next int, ok bool) {
	if i+1 >= len(s) {
		return t, len(s), false
	}
	switch s[i+1] {
	case '?', '!':
		end := strings.Index(s[i:], ">")
		if strings.HasPrefix(s[i:], "<!--") {
			end = strings.Index(s[i:], "-->")
			if end >= 0 {
				end += 2
			}
		}
		if end < 0 {
			return t, len(s), false
		}
		return t, i + end + 1, true
	case '/':
		t.end = true
		i++
	}
	j := i + 1
	for j < len(s) && s[j] != '>' && s[j] != '/' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
		j++
	}
	t.name = s[i+1 : j]
	// Attributes run to the closing '>' outside quotes.
	k := j
	var q byte
	for k < len(s) {
		c := s[k]
		if q != 0 {
			if c == q {
				q = 0
			}
		} else if c == '"' || c == '\'' {
			q = c
		} else if c == '>' {
			break
		}
		k++
	}
	if k >= len(s) || t.name == "" {
		return t, len(s), false
	}
	t.attrs = s[j:k]
	if strings.HasSuffix(t.attrs, "/") {
		t.self = true
		t.attrs = t.attrs[:len(t.attrs)-1]
	}
	return t, k + 1, true
}

// xmlAttr returns the value of attribute name in attrs (still escaped).
func xmlAttr(attrs, name string) (string, bool) {
	for i := 0; i < len(attrs); {
		for i < len(attrs) && (attrs[i] == ' ' || attrs[i] == '\t' || attrs[i] == '\n' || attrs[i] == '\r') {
			i++
		}
		j := i
		for j < len(attrs) && attrs[j] != '=' && attrs[j] != ' ' {
			j++
		}
		key := attrs[i:j]
		for j < len(attrs) && attrs[j] == ' ' {
			j++
		}
		if j >= len(attrs) || attrs[j] != '=' {
			return "", false
		}
		j++
		for j < len(attrs) && attrs[j] == ' ' {
			j++
		}
		if j >= len(attrs) || (attrs[j] != '"' && attrs[j] != '\'') {
			return "", false
		}
		q := attrs[j]
		e := strings.IndexByte(attrs[j+1:], q)
		if e < 0 {
			return "", false
		}
		val := attrs[j+1 : j+1+e]
		if key == name {
			return val, true
		}
		i = j + 2 + e
	}
	return "", false
}

// setXMLText adds an XML text or attribute value under k, decoding
// entities into the arena when there are any.
func (st *state) setXMLText(k event.Key, v string, typed bool) {
	if strings.IndexByte(v, '&') >= 0 {
		start := len(st.arena)
		st.arena = unescapeXML(st.arena, v)
		st.pendField(k, event.KindString, 0, start)
		return
	}
	if typed {
		st.setNum(k, v)
		return
	}
	st.set(k, event.String(v))
}

// unescapeXML decodes &amp; &lt; &gt; &quot; &apos; &#N; &#xN;, keeping
// anything else as it is.
func unescapeXML(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			dst = append(dst, s[i])
			continue
		}
		end := strings.IndexByte(s[i:], ';')
		if end < 0 || end > 10 {
			dst = append(dst, '&')
			continue
		}
		ent := s[i+1 : i+end]
		switch ent {
		case "amp":
			dst = append(dst, '&')
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "quot":
			dst = append(dst, '"')
		case "apos":
			dst = append(dst, '\'')
		default:
			r, ok := charRef(ent)
			if !ok {
				dst = append(dst, '&')
				continue
			}
			dst = appendRune(dst, r)
		}
		i += end
	}
	return dst
}

func charRef(ent string) (rune, bool) {
	if len(ent) < 2 || ent[0] != '#' {
		return 0, false
	}
	var r rune
	if ent[1] == 'x' || ent[1] == 'X' {
		if len(ent) < 3 {
			return 0, false
		}
		for i := 2; i < len(ent); i++ {
			c := ent[i]
			if !isDigit(c) && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return 0, false
			}
			r = r<<4 | rune(unhex(c))
		}
	} else {
		for i := 1; i < len(ent); i++ {
			if !isDigit(ent[i]) {
				return 0, false
			}
			r = r*10 + rune(ent[i]-'0')
		}
	}
	if r > 0x10FFFF {
		return 0, false
	}
	return r, true
}

func appendRune(dst []byte, r rune) []byte {
	var buf [4]byte
	n := encodeRune(buf[:], r)
	return append(dst, buf[:n]...)
}

// eventXML decodes a Windows event in XML form. It reports false (adding
// nothing) when msg is not an <Event> document.
func (st *state) eventXML(msg string) bool {
	if !strings.HasPrefix(msg, "<Event") || !strings.Contains(msg, "<System>") {
		return false
	}
	var stack [maxXMLDepth]string
	depth := 0
	section := "" // System, EventData, UserData
	dataName := ""
	dataHasText := false
	i := 0
	for i < len(msg) {
		lt := strings.IndexByte(msg[i:], '<')
		if lt < 0 {
			break
		}
		if lt > 0 && depth > 0 {
			st.xmlText(section, stack[:depth], msg[i:i+lt], dataName, &dataHasText)
		}
		i += lt
		tag, next, ok := scanTag(msg, i)
		if !ok {
			st.failed = true
			break
		}
		i = next
		if tag.name == "" || st.full() {
			continue
		}
		name := tag.name
		if c := strings.IndexByte(name, ':'); c >= 0 {
			name = name[c+1:]
		}
		if tag.end {
			if depth > 0 {
				depth--
				if stack[depth] == "Data" && section == "EventData" && dataName != "" && !dataHasText {
					st.set(st.intern(dataName), event.String(""))
				}
				if stack[depth] == "Data" {
					dataName = ""
				}
				if depth == 1 {
					section = ""
				}
			}
			continue
		}
		if depth == 1 {
			section = name
		}
		switch {
		case section == "System" && depth == 2:
			st.xmlSystemAttrs(name, tag.attrs)
		case section == "EventData" && name == "Data":
			dataName, _ = xmlAttr(tag.attrs, "Name")
			if dataName == "" {
				dataName = "Data"
			}
			dataHasText = false
			if tag.self {
				st.set(st.intern(dataName), event.String(""))
				dataName = ""
			}
		}
		if tag.self {
			continue
		}
		if depth >= maxXMLDepth {
			st.failed = true
			break
		}
		stack[depth] = name
		depth++
	}
	st.flushArena()
	st.kind()
	st.winECS(st.ev.Str("Channel"))
	return true
}

// xmlSystemAttrs adds the attributes of a System child element.
func (st *state) xmlSystemAttrs(name, attrs string) {
	get := func(a string, k event.Key) {
		if v, ok := xmlAttr(attrs, a); ok && v != "" {
			st.setXMLText(k, v, k == kProcessID || k == kThreadID)
		}
	}
	switch name {
	case "Provider":
		get("Name", kProviderName)
		get("Guid", kProviderGUID)
	case "TimeCreated":
		if v, ok := xmlAttr(attrs, "SystemTime"); ok {
			if t, ok := parseTimestamp(v, st.p.loc); ok {
				st.ev.Time = t
			}
		}
	case "Execution":
		get("ProcessID", kProcessID)
		get("ThreadID", kThreadID)
	case "Security":
		get("UserID", kSecUserID)
		get("UserId", kSecUserID)
	case "Correlation":
		get("ActivityID", kActivityID)
	}
}

// xmlText adds the text of the innermost element on the stack.
func (st *state) xmlText(section string, stack []string, text, dataName string, dataHasText *bool) {
	if strings.TrimSpace(text) == "" {
		return
	}
	el := stack[len(stack)-1]
	switch {
	case section == "System" && len(stack) == 3:
		switch el {
		case "EventID", "Version", "Level", "Task", "Opcode", "EventRecordID":
			st.setXMLText(st.intern(el), text, true)
		case "Keywords", "Channel", "Computer":
			st.setXMLText(st.intern(el), text, false)
		}
	case section == "EventData" && el == "Data" && dataName != "":
		*dataHasText = true
		st.setXMLText(st.intern(dataName), text, true)
	case section == "UserData" && len(stack) >= 4:
		st.setXMLText(st.intern(el), text, true)
	}
}
