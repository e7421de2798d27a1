package parse

import (
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// Names under which JSON documents carry their event time, in order of
// preference.
var jsonTimeNames = [...]string{"@timestamp", "timestamp", "time", "ts", "date"}

// decodeJSONDoc decodes s as one JSON object: a Windows event (evtx_dump or
// Winlogbeat) or any other document, flattened.
func (st *state) decodeJSONDoc(s string) {
	jp := st.p.json.Get()
	defer st.p.json.Put(jp)
	v, err := jp.Parse(s)
	if err != nil {
		st.failed = true
		st.set(kErrMessage, event.String("json: "+truncErr(err.Error())))
		// Keep the members that were complete before the damage (a
		// document cut at a size limit, say).
		fixed, ok := salvageJSON(s)
		if !ok {
			return
		}
		if v, err = jp.Parse(fixed); err != nil || v.Type() != fastjson.TypeObject {
			return
		}
	}
	obj, err := v.Object()
	if err != nil {
		st.failed = true
		st.set(kErrMessage, event.String("json: document is not an object"))
		return
	}
	if e := obj.Get("Event"); e != nil && e.Type() == fastjson.TypeObject && e.Get("System") != nil {
		st.evtxJSON(e)
		return
	}
	if w := obj.Get("winlog"); w != nil && w.Type() == fastjson.TypeObject && w.Get("event_id") != nil {
		st.winlogbeat(v, w)
		return
	}
	st.flattenObject(obj, 0)
	st.jsonTime(v)
	if st.sensorJSON(v) { // Zeek and Suricata records (zeek.go, suricata.go)
		return
	}
	st.kindSet = st.ev.Has(kKind)
	st.kind()
	if ch := obj.Get("Channel"); ch != nil && ch.Type() == fastjson.TypeString && obj.Get("EventID") != nil {
		st.windowsFlat(v)
		return
	}
	if st.azure(v) { // Log Analytics rows (azure.go)
		return
	}
	st.jsonMessage(v)
}

// embeddedJSON decodes a JSON object found as the message of a syslog line
// or a text line, keeping the message when it is not valid JSON.
func (st *state) embeddedJSON(msg string) {
	jp := st.p.json.Get()
	defer st.p.json.Put(jp)
	v, err := jp.Parse(msg)
	if err != nil || v.Type() != fastjson.TypeObject {
		st.kv(msg)
		return
	}
	obj, _ := v.Object()
	if m := obj.Get("message"); m != nil && m.Type() == fastjson.TypeString {
		// The document's own message replaces its JSON text as message.
		st.flushArena()
		st.ev.Delete(kMessage)
	}
	st.flattenObject(obj, 0)
	if st.ev.Time.IsZero() {
		st.jsonTime(v)
	}
	st.sensorJSON(v) // Zeek and Suricata records as a message (zeek.go, suricata.go)
}

// jsonMessage runs the app parsers on the message of a JSON record that a
// shipper forwarded without parsing it: "message" (Filebeat, Vector, the
// OpenTelemetry Collector's body), "msg", "log" (Fluent Bit, Docker) or
// "MESSAGE" (journald). The program comes from the record
// (process.name, program, ident, appname, syslog.appname, service,
// SYSLOG_IDENTIFIER) or, when the message is itself a syslog line (a line
// of /var/log/auth.log that a file-tailing shipper read), from the line's
// header, as if it had come over syslog; the record keeps its own fields.
func (st *state) jsonMessage(v *fastjson.Value) {
	m := v.Get("message")
	if m == nil {
		// Other names for the message: keep it as message too, so that
		// full-text search and Sigma keywords see it.
		for _, name := range [...]string{"msg", "log", "MESSAGE"} {
			if m = v.Get(name); m != nil && m.Type() == fastjson.TypeString {
				st.setArena(kMessage, event.KindString, 0, m.GetStringBytes())
				break
			}
		}
	}
	if m == nil || m.Type() != fastjson.TypeString || v.Get("event", "dataset") != nil {
		return
	}
	st.flushArena()
	msg, ok := st.ev.GetName(event.FieldMessage)
	if !ok || msg.Str == "" {
		return
	}
	prog := ""
	for _, path := range [...][]string{{"process", "name"}, {"program"}, {"ident"}, {"appname"}, {"syslog", "appname"}, {"service"}, {"SYSLOG_IDENTIFIER"}} {
		if p := v.Get(path...); p != nil && p.Type() == fastjson.TypeString {
			prog = st.ev.Str(joinPath(path))
			break
		}
	}
	line := trimRightNewline(msg.Str)
	if prog == "" && (looksLikeSyslogTimestamp(line) || len(line) > 2 && line[0] == '<' && isDigit(line[1])) {
		st.nested = true
		ok := st.decodeSyslog(line)
		st.nested = false
		if ok {
			return
		}
	}
	hint := st.ev.Str("log.file.path")
	n := len(st.ev.Fields)
	a := apps[prog]
	st.body(line, prog, a, hint)
	if len(st.ev.Fields) > n && prog != "" {
		st.setLogsource("linux", "", a.serviceFor(prog))
	}
}

func joinPath(p []string) string {
	switch len(p) {
	case 1:
		return p[0]
	case 2:
		return p[0] + "." + p[1]
	}
	return ""
}

func truncErr(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// flattenObject adds the members of o under the dotted prefix in st.name.
func (st *state) flattenObject(o *fastjson.Object, depth int) {
	base := len(st.name)
	o.Visit(func(key []byte, v *fastjson.Value) {
		if st.truncated {
			return
		}
		st.name = st.name[:base]
		if base > 0 {
			st.name = append(st.name, '.')
		}
		st.name = append(st.name, key...)
		st.jsonValue(v, depth)
	})
	st.name = st.name[:base]
}

// jsonValue adds v under the name in st.name, flattening objects and arrays.
func (st *state) jsonValue(v *fastjson.Value, depth int) {
	if len(st.ev.Fields) >= st.p.maxFields {
		st.truncated = true
		return
	}
	switch v.Type() {
	case fastjson.TypeObject:
		if depth+1 >= st.p.maxDepth {
			st.jsonText(v)
			return
		}
		o, _ := v.Object()
		st.flattenObject(o, depth+1)
	case fastjson.TypeArray:
		if depth+1 >= st.p.maxDepth {
			st.jsonText(v)
			return
		}
		a, _ := v.Array()
		for _, e := range a {
			st.jsonValue(e, depth+1)
		}
	case fastjson.TypeString:
		k := st.nameKey()
		st.setArena(k, event.KindString, 0, v.GetStringBytes())
	case fastjson.TypeNumber:
		k := st.nameKey()
		start := len(st.arena)
		st.arena = v.MarshalTo(st.arena)
		nv, ok := event.Number(bytesToString(st.arena[start:]))
		if !ok {
			nv.Kind = event.KindString
		}
		st.pendField(k, nv.Kind, nv.Num, start)
	case fastjson.TypeTrue:
		st.set(st.nameKey(), event.Bool(true))
	case fastjson.TypeFalse:
		st.set(st.nameKey(), event.Bool(false))
	case fastjson.TypeNull:
		st.set(st.nameKey(), event.Null())
	}
}

// jsonText adds v as its JSON text under the name in st.name.
func (st *state) jsonText(v *fastjson.Value) {
	k := st.nameKey()
	start := len(st.arena)
	st.arena = v.MarshalTo(st.arena)
	st.pendField(k, event.KindString, 0, start)
}

// pendField appends a field whose text is arena[start:]; the field's Str is
// filled in by flushArena.
func (st *state) pendField(k event.Key, kind event.Kind, num float64, start int) {
	if len(st.ev.Fields) >= st.p.maxFields {
		st.truncated = true
		st.arena = st.arena[:start]
		return
	}
	st.pending = append(st.pending, pendingStr{idx: len(st.ev.Fields), start: start, end: len(st.arena)})
	st.ev.Fields = append(st.ev.Fields, event.Field{Key: k, Value: event.Value{Kind: kind, Num: num}})
}

// jsonTime sets the event time from the first time member of v.
func (st *state) jsonTime(v *fastjson.Value) {
	for _, n := range jsonTimeNames {
		tv := v.Get(n)
		if tv == nil {
			continue
		}
		if t, ok := st.timeValue(tv); ok {
			st.ev.Time = t
			return
		}
	}
}

// timeValue converts an RFC 3339 string or epoch number (seconds,
// milliseconds, microseconds or nanoseconds, told apart by magnitude).
func (st *state) timeValue(v *fastjson.Value) (time.Time, bool) {
	switch v.Type() {
	case fastjson.TypeString:
		b := v.GetStringBytes()
		s := bytesToString(b)
		if t, ok := parseTimestamp(s, st.p.loc); ok {
			return t, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && plainNumber(s) {
			return epoch(f)
		}
	case fastjson.TypeNumber:
		f, err := v.Float64()
		if err == nil {
			return epoch(f)
		}
	}
	return time.Time{}, false
}

// epoch converts a Unix time in seconds, milliseconds, microseconds or
// nanoseconds.
func epoch(f float64) (time.Time, bool) {
	switch {
	case f <= 0 || f != f:
		return time.Time{}, false
	case f < 1e11:
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
	case f < 1e14:
		return time.UnixMilli(int64(f)).UTC(), true
	case f < 1e17:
		return time.UnixMicro(int64(f)).UTC(), true
	case f < 9e18:
		return time.Unix(0, int64(f)).UTC(), true
	}
	return time.Time{}, false
}

// kEmptyName stands for a JSON member whose dotted name is empty ({"": 1}).
var kEmptyName = event.Intern("_")

// nameKey interns the dotted name in st.name.
func (st *state) nameKey() event.Key {
	if len(st.name) == 0 {
		return kEmptyName
	}
	return st.intern(bytesToString(st.name))
}

// salvageJSON cuts a damaged JSON object after its last complete top-level
// member and closes it. ok is false when there is no such member.
func salvageJSON(s string) (string, bool) {
	if s == "" || s[0] != '{' {
		return "", false
	}
	depth, cut := 0, -1
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				// The object closed: the damage is after it.
				return "", false
			}
		case ',':
			if depth == 1 {
				cut = i
			}
		}
	}
	if cut < 0 {
		return "", false
	}
	return s[:cut] + "}", true
}
