package parse

import (
	"strings"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// Azure Monitor Log Analytics, the store behind Microsoft Sentinel, exports
// query results as one JSON object per row, named by the table's columns.
// The tables that carry host logs:
//
//   - WindowsEvent: Channel, EventID, Computer, Provider, ... and EventData,
//     a dynamic column exported as one JSON string
//     ("{\"SubjectUserSid\":...,\"Image\":...}").
//   - SecurityEvent: the Security log's data names as flat columns
//     (SubjectUserName, NewProcessName, CommandLine, IpAddress, ...) beside
//     Channel, EventID, Computer, EventSourceName, Account, Activity, and
//     EventData as the event's XML (<EventData><Data Name=...>).
//   - Event (System, Application, ...): EventLog is the channel, Source
//     the provider, EventData the XML wrapped in <DataItem>.
//   - Syslog: Computer, HostName, Facility, SeverityLevel, ProcessName,
//     ProcessID, EventTime and SyslogMessage, the message text (which for
//     Sysmon for Linux is the event's XML).
//
// TimeGenerated is when Log Analytics ingested the row: it is the event
// time only when the row holds no better one.

var (
	kEventData = event.Intern("EventData")

	vSecurity = event.String("Security")
)

// azureSystem maps the WindowsEvent columns that hold System values to the
// names evtx_dump gives them.
var azureSystem = [...]struct {
	col string
	key event.Key
}{
	{"EventLevel", kLevel},
	{"EventRecordId", kRecordID},
	{"SystemProcessId", kProcessID},
	{"SystemThreadId", kThreadID},
	{"SystemUserId", kSecUserID},
}

// azure decodes the Log Analytics rows that are not recognised by their
// Channel: Syslog rows, and Event and SecurityEvent rows without a
// Channel column. It reports whether it decoded v; otherwise it only gives
// the event TimeGenerated as its time when it has none.
func (st *state) azure(v *fastjson.Value) bool {
	if m := v.Get("SyslogMessage"); m != nil && m.Type() == fastjson.TypeString {
		st.azureSyslog(v)
		return true
	}
	if t := v.Get("Type"); t != nil && t.Type() == fastjson.TypeString && v.Get("EventID") != nil {
		switch bytesToString(t.GetStringBytes()) {
		case "Event":
			el := v.Get("EventLog")
			if el == nil || el.Type() != fastjson.TypeString {
				break
			}
			st.winStr(kChannel, el)
			if !st.ev.Has(kMessage) {
				st.winStr(kMessage, v.Get("RenderedDescription"))
			}
			st.flushArena()
			st.windowsFlat(v)
			return true
		case "SecurityEvent":
			st.set(kChannel, vSecurity)
			st.windowsFlat(v)
			return true
		}
	}
	st.rowTime(v, "TimeGenerated")
	return false
}

// azureWindows completes a Windows row that windowsFlat decodes: the
// WindowsEvent System columns get their evtx_dump names, and EventData
// packed as one string (JSON or XML) is unpacked into its names, as the
// EVTX and Winlogbeat paths give them; the packed string is then dropped
// (log.original keeps it). An EventData object (a dynamic column exported
// as JSON rather than as text) gives its members under their own names too.
func (st *state) azureWindows(doc *fastjson.Value) {
	for _, m := range azureSystem {
		if x := doc.Get(m.col); x != nil && !st.ev.Has(m.key) {
			st.winNum(m.key, x)
		}
	}
	if t := doc.Get("Type"); t != nil && bytesToString(t.GetStringBytes()) == "SecurityEvent" {
		st.dropEmptyColumns()
	}
	d := doc.Get("EventData")
	if d == nil {
		return
	}
	switch d.Type() {
	case fastjson.TypeObject:
		st.winData(d)
		return
	case fastjson.TypeString:
	default:
		return
	}
	// The event's own copy of the text outlives the parser's buffers.
	st.flushArena()
	packed, _ := st.ev.Get(kEventData)
	s := trimLeftSpace(packed.Str)
	unpacked := false
	switch {
	case s == "":
		return
	case s[0] == '{':
		jp := st.p.json.Get()
		if ed, err := jp.Parse(s); err == nil && ed.Type() == fastjson.TypeObject {
			st.winData(ed)
			unpacked = true
		}
		st.p.json.Put(jp)
	case s[0] == '<':
		unpacked = st.xmlEventData(s)
	}
	if unpacked {
		st.flushArena()
		st.ev.Delete(kEventData)
	}
}

// dropEmptyColumns removes the empty and null fields of a SecurityEvent
// row. The table has a column for every data name of every Security event
// (some two hundred); an export writes the ones an event lacks as "", where
// the event itself has no such field: a rule that tests whether a field
// exists, or is empty, must see the event as Windows wrote it. The names the
// event does have, empty or not, come back from its EventData XML.
func (st *state) dropEmptyColumns() {
	st.flushArena() // fields move
	out := st.ev.Fields[:0]
	for _, f := range st.ev.Fields {
		if f.Value.Kind == event.KindNull || f.Value.Kind == event.KindString && f.Value.Str == "" {
			continue
		}
		out = append(out, f)
	}
	clear(st.ev.Fields[len(out):])
	st.ev.Fields = out
}

// xmlEventData adds the <Data Name="x">text</Data> elements of s (an
// EventData element, alone or inside a DataItem), skipping the names the
// row already has as columns. Unnamed elements are named Data. A text cut
// short by a size limit is not kept. It reports whether s held any Data
// element.
func (st *state) xmlEventData(s string) bool {
	n0 := len(st.ev.Fields)
	found := false
	for i := 0; i < len(s); {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			break
		}
		tag, next, ok := scanTag(s, i+lt)
		if !ok {
			break
		}
		i = next
		name := tag.name
		if c := strings.IndexByte(name, ':'); c >= 0 {
			name = name[c+1:]
		}
		if tag.end || name != "Data" {
			continue
		}
		found = true
		text := ""
		if !tag.self {
			end := strings.IndexByte(s[i:], '<')
			if end < 0 {
				break
			}
			text = s[i : i+end]
			i += end
		}
		if st.full() {
			break
		}
		dn, _ := xmlAttr(tag.attrs, "Name")
		if dn == "" {
			dn = "Data"
		}
		k := st.intern(dn)
		if hasKey(st.ev.Fields[:n0], k) {
			continue
		}
		if text == "" {
			st.set(k, event.String(""))
			continue
		}
		st.setXMLText(k, text, true)
	}
	return found
}

// azureSyslog decodes a Syslog row: the columns become the names the
// syslog decoder gives (host.name, process.name, log.syslog.appname,
// process.pid, log.syslog.facility.name and .code,
// log.syslog.severity.name and .code, message), and SyslogMessage goes
// through the app parsers as a syslog message of ProcessName would, so
// that Sysmon for Linux XML, auditd and AUOMS records and the auth.log
// programs decode as they do over syslog.
func (st *state) azureSyslog(v *fastjson.Value) {
	st.flushArena() // the columns are read back from the event
	ev := st.ev
	msg := trimRightNewline(ev.Str("SyslogMessage"))
	prog := ev.Str("ProcessName")
	if !ev.Has(kHostName) {
		host := ev.Str("Computer")
		if host == "" {
			host = ev.Str("HostName")
		}
		st.setStr(kHostName, host)
	}
	if prog != "" && !ev.Has(kProcName) {
		st.set(kProcName, event.String(prog))
		st.set(kSyslogAppName, event.String(prog))
	}
	if pid, ok := ev.GetName("ProcessID"); ok && !ev.Has(kProcPID) {
		st.setNum(kProcPID, pid.Str)
	}
	if f := ev.Str("Facility"); f != "" {
		st.set(kSyslogFacilityName, event.String(f))
		for i, n := range facilityNames {
			if n.Str == f {
				st.set(kSyslogFacility, event.Int(int64(i)))
				break
			}
		}
	}
	if sv := ev.Str("SeverityLevel"); sv != "" {
		st.set(kSyslogSeverityName, event.String(sv))
		for i, n := range severityNames {
			if n.Str == sv {
				st.set(kSyslogSeverity, event.Int(int64(i)))
				break
			}
		}
	}
	if !ev.Has(kMessage) {
		st.setStr(kMessage, msg)
	}
	if strings.HasPrefix(msg, "<Event") {
		// The event's System element names its Computer and ProcessID
		// itself: one of each, not the row's beside them (host.name and
		// process.pid keep the row's).
		st.flushArena() // Delete moves fields
		ev.Delete(kComputer)
		ev.Delete(kProcessID)
	}
	a := apps[prog]
	st.setLogsource("linux", "", a.serviceFor(prog))
	st.body(msg, prog, a, "")
	st.rowTime(v, "EventTime", "TimeGenerated")
}

// rowTime sets the event time from the first of the members names that
// holds a time, unless the event already has one.
func (st *state) rowTime(v *fastjson.Value, names ...string) {
	if !st.ev.Time.IsZero() {
		return
	}
	for _, n := range names {
		if tv := v.Get(n); tv != nil {
			if t, ok := st.timeValue(tv); ok {
				st.ev.Time = t
				return
			}
		}
	}
}
