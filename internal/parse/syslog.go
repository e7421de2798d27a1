package parse

import (
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// decodeSyslog parses s as one syslog message, RFC 5424 or (best effort)
// RFC 3164, and runs the body decoders on its message. It returns false when
// s has no syslog header at all (no PRI and no timestamp), leaving ev as it
// was.
//
// The parser is hand-written rather than github.com/leodido/go-syslog: the
// latter allocates a message struct with a pointer per header field and a map
// per structured-data element, several times the budget of the hot path, and
// it rejects the RFC 3164 variants that real senders emit (no PRI, ISO
// timestamps, no hostname).
func (st *state) decodeSyslog(s string) bool {
	s = trimRightNewline(s)
	pri := -1
	rest := s
	if len(rest) > 2 && rest[0] == '<' {
		end := min(len(rest), 5)
		if j := strings.IndexByte(rest[:end], '>'); j > 1 {
			if n, ok := atoi(rest[1:j]); ok && n <= 191 {
				pri = n
				rest = rest[j+1:]
			}
		}
	}
	if pri >= 0 && len(rest) > 2 && rest[0] >= '1' && rest[0] <= '9' && rest[1] == ' ' {
		st.syslogPri(pri)
		st.rfc5424(rest[2:])
		return true
	}
	return st.rfc3164(pri, rest)
}

func (st *state) syslogPri(pri int) {
	if pri < 0 {
		return
	}
	st.set(kSyslogPri, event.Int(int64(pri)))
	st.set(kSyslogFacility, event.Int(int64(pri>>3)))
	st.set(kSyslogSeverity, event.Int(int64(pri&7)))
	st.set(kSyslogFacilityName, facilityNames[pri>>3])
	st.set(kSyslogSeverityName, severityNames[pri&7])
}

// Syslog facility and severity names (RFC 5424 section 6.2.1, as rsyslog
// names them).
var (
	facilityNames = func() (v [24]event.Value) {
		for i, n := range [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"} {
			v[i] = event.String(n)
		}
		return v
	}()
	severityNames = func() (v [8]event.Value) {
		for i, n := range [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"} {
			v[i] = event.String(n)
		}
		return v
	}()
	kSyslogFacilityName = event.Intern("log.syslog.facility.name")
	kSyslogSeverityName = event.Intern("log.syslog.severity.name")
)

// nextToken returns the text of s up to the first space and the rest after
// that space.
func nextToken(s string) (tok, rest string) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// nilDash maps the RFC 5424 NILVALUE to "".
func nilDash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// rfc5424 parses "TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]" (the
// part after "<PRI>1 ").
func (st *state) rfc5424(s string) {
	ev := st.ev
	ts, s := nextToken(s)
	host, s := nextToken(s)
	app, s := nextToken(s)
	procid, s := nextToken(s)
	msgid, s := nextToken(s)
	if ts != "-" {
		if t, ok := parseTimestamp(ts, st.p.loc); ok {
			if !st.nested || ev.Time.IsZero() {
				ev.Time = t
			}
		} else if !st.nested {
			st.failed = true
		}
	}
	host, app, procid, msgid = nilDash(host), nilDash(app), nilDash(procid), nilDash(msgid)
	st.kind()
	st.setHost(host)
	st.setStr(kProcName, app)
	st.setStr(kSyslogAppName, app)
	st.setNum(kProcPID, procid)
	st.setStr(kSyslogMsgID, msgid)
	// Structured data.
	switch {
	case strings.HasPrefix(s, "-"):
		s = s[1:]
	case strings.HasPrefix(s, "["):
		n, ok := st.structuredData(s)
		if !ok {
			st.failed = true
		}
		s = s[n:]
	}
	s = strings.TrimPrefix(s, " ")
	s = strings.TrimPrefix(s, "\ufeff")
	// Relays such as rsyslog keep the space that followed "tag:" in the
	// BSD message they forward as RFC 5424 (RSYSLOG_SyslogProtocol23Format),
	// so MSG starts with blanks that are no part of the text.
	s = strings.TrimLeft(s, " \t")
	st.setMessage(s)
	a := apps[app]
	st.setLogsource("linux", "", a.serviceFor(app))
	st.body(s, app, a, "")
}

// structuredData parses SD-ELEMENTs ("[id k="v" ...]...") at the start of s
// into log.syslog.structured_data.<id>.<param> fields. It returns how many
// bytes it consumed and whether they were well formed.
func (st *state) structuredData(s string) (int, bool) {
	i := 0
	for i < len(s) && s[i] == '[' {
		i++
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != ']' && s[j] != '=' && s[j] != '"' {
			j++
		}
		id := s[i:j]
		if id == "" || j == len(s) {
			return len(s), false
		}
		i = j
		for {
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i >= len(s) {
				return len(s), false
			}
			if s[i] == ']' {
				i++
				break
			}
			j = i
			for j < len(s) && s[j] != '=' && s[j] != ' ' && s[j] != ']' {
				j++
			}
			if j+1 >= len(s) || s[j] != '=' || s[j+1] != '"' {
				return len(s), false
			}
			name := s[i:j]
			i = j + 2
			if st.full() {
				return len(s), true
			}
			// Value up to the closing unescaped quote; \" \\ \] are escapes.
			j = i
			esc := false
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' && j+1 < len(s) {
					esc = true
					j++
				}
				j++
			}
			if j >= len(s) {
				return len(s), false
			}
			val := s[i:j]
			i = j + 1
			st.name = append(st.name[:0], "log.syslog.structured_data."...)
			st.name = append(st.name, id...)
			st.name = append(st.name, '.')
			st.name = append(st.name, name...)
			k := st.intern(bytesToString(st.name))
			if esc {
				start := len(st.arena)
				st.arena = unescapeSD(st.arena, val)
				st.pendField(k, event.KindString, 0, start)
			} else {
				st.set(k, event.String(val))
			}
		}
	}
	return i, true
}

// unescapeSD removes the backslashes of \" \\ and \] from v, appending to dst.
func unescapeSD(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\' || v[i+1] == ']') {
			i++
		}
		dst = append(dst, v[i])
	}
	return dst
}

// rfc3164 parses a BSD syslog message after its PRI (pri is -1 when there
// was none): "[TIMESTAMP ][HOSTNAME ]TAG[PID]: MSG", every part optional.
// It returns false when there is neither a PRI nor a timestamp.
func (st *state) rfc3164(pri int, s string) bool {
	ev := st.ev
	t, n, ok := st.parse3164Time(s)
	if !ok && pri < 0 {
		return false
	}
	if ok {
		if !st.nested || ev.Time.IsZero() {
			ev.Time = t
		}
		s = s[n:]
		// Cisco devices end the timestamp with a colon.
		s = strings.TrimPrefix(s, ":")
		for len(s) > 0 && s[0] == ' ' {
			s = s[1:]
		}
	}
	st.syslogPri(pri)
	st.kind()

	host := ""
	tok, after := nextToken(s)
	if ok && after != "" && !isTagToken(tok) && !isBodyStart(tok) && validHostname(tok) {
		host = tok
		s = after
	}
	prog, pid, msg, hasTag := splitTag(s)
	if !hasTag {
		msg = s
	}
	st.setHost(nilDash(host))
	st.setStr(kProcName, prog)
	st.setStr(kSyslogAppName, prog)
	st.setNum(kProcPID, pid)
	st.setMessage(msg)
	a := apps[prog]
	if isCiscoMessage(msg) {
		st.setLogsource("cisco", "", "syslog")
	} else {
		st.setLogsource("linux", "", a.serviceFor(prog))
	}
	st.body(msg, prog, a, "")
	return true
}

// setHost sets host.name from a syslog header, unless the JSON record
// around a nested line already named its host.
func (st *state) setHost(host string) {
	if st.nested && st.ev.Has(kHostName) {
		return
	}
	st.setStr(kHostName, host)
}

// setMessage sets message from a syslog header's MSG, unless the line is
// nested in a JSON record, which keeps its own message (the whole line).
func (st *state) setMessage(msg string) {
	if !st.nested {
		st.setStr(kMessage, msg)
	}
}

// isBodyStart reports whether tok starts a structured message rather than
// being a hostname or a tag.
func isBodyStart(tok string) bool {
	return strings.HasPrefix(tok, "CEF:") || strings.HasPrefix(tok, "LEEF:") || strings.HasPrefix(tok, "{")
}

// isTagToken reports whether tok looks like "prog:" or "prog[pid]:".
func isTagToken(tok string) bool {
	_, _, _, ok := splitTag(tok)
	return ok && !isBodyStart(tok)
}

func validHostname(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '[' || c == ']' || c == '"' || c == '=' || c >= 0x7f {
			return false
		}
	}
	// A trailing colon marks a tag (or a Cisco-style "host:"), not a host.
	return s[len(s)-1] != ':'
}

func isTagChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) ||
		c == '-' || c == '_' || c == '.' || c == '/' || c == '@' || c == '(' || c == ')'
}

// splitTag splits "prog[pid]: msg" or "prog: msg". ok is false when s does
// not start with a tag.
func splitTag(s string) (prog, pid, msg string, ok bool) {
	i := 0
	for i < len(s) && i < 64 && isTagChar(s[i]) {
		i++
	}
	if i == 0 || i >= len(s) {
		return "", "", "", false
	}
	prog = s[:i]
	if s[i] == '[' {
		j := strings.IndexByte(s[i:], ']')
		if j < 0 || j > 24 {
			return "", "", "", false
		}
		pid = s[i+1 : i+j]
		i += j + 1
	}
	if i >= len(s) || s[i] != ':' {
		// "prog[pid] msg" without a colon is common enough to accept.
		if pid != "" && i < len(s) && s[i] == ' ' {
			return prog, pid, s[i+1:], true
		}
		return "", "", "", false
	}
	if prog == "CEF" || prog == "LEEF" {
		return "", "", "", false
	}
	i++
	if i < len(s) && s[i] == ' ' {
		i++
	}
	return prog, pid, s[i:], true
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func monthIndex(s string) int {
	if len(s) < 3 {
		return -1
	}
	for i, m := range months {
		if s[0] == m[0] && s[1] == m[1] && s[2] == m[2] {
			return i
		}
	}
	return -1
}

// looksLikeSyslogTimestamp reports whether s starts with a BSD ("Oct 11 ")
// or ISO ("2024-01-02T") syslog timestamp.
func looksLikeSyslogTimestamp(s string) bool {
	if len(s) >= 7 && monthIndex(s) >= 0 && s[3] == ' ' {
		return true
	}
	return len(s) >= 20 && isDigit(s[0]) && isDigit(s[3]) && s[4] == '-' && s[7] == '-' && s[10] == 'T'
}

// parse3164Time parses a timestamp at the start of s: "Mmm dd hh:mm:ss"
// (day space-padded or not, optional fraction, optional year after the day
// or the time) or an ISO 8601 / RFC 3339 time as rsyslog sends. It returns
// the time and the number of bytes used.
func (st *state) parse3164Time(s string) (time.Time, int, bool) {
	if len(s) >= 19 && isDigit(s[0]) && s[4] == '-' {
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		if t, ok := parseTimestamp(s[:end], st.p.loc); ok {
			return t, end, true
		}
		return time.Time{}, 0, false
	}
	mon := monthIndex(s)
	if mon < 0 || len(s) < 15 || s[3] != ' ' {
		return time.Time{}, 0, false
	}
	i := 4
	if s[i] == ' ' {
		i++
	}
	day := 0
	for i < len(s) && isDigit(s[i]) && day < 100 {
		day = day*10 + int(s[i]-'0')
		i++
	}
	if i >= len(s) || s[i] != ' ' || day < 1 || day > 31 {
		return time.Time{}, 0, false
	}
	i++
	year := 0
	// "Mmm dd yyyy hh:mm:ss"
	if i+5 <= len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) && s[i+4] == ' ' {
		year, _ = atoi(s[i : i+4])
		i += 5
	}
	if i+8 > len(s) || s[i+2] != ':' || s[i+5] != ':' {
		return time.Time{}, 0, false
	}
	h, ok1 := atoi(s[i : i+2])
	m, ok2 := atoi(s[i+3 : i+5])
	sec, ok3 := atoi(s[i+6 : i+8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 {
		return time.Time{}, 0, false
	}
	i += 8
	nsec := 0
	if i < len(s) && s[i] == '.' {
		j := i + 1
		nsec, j = parseFraction(s, j)
		i = j
	}
	// "Mmm dd hh:mm:ss yyyy"
	if year == 0 && i+5 <= len(s) && s[i] == ' ' && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) && isDigit(s[i+4]) && (i+5 == len(s) || s[i+5] == ' ') {
		year, _ = atoi(s[i+1 : i+5])
		i += 5
	}
	loc := st.p.loc
	if year == 0 {
		recv := st.received.In(loc)
		year = recv.Year()
		t := time.Date(year, time.Month(mon+1), day, h, m, sec, nsec, loc)
		if t.After(st.received.Add(24 * time.Hour)) {
			t = time.Date(year-1, time.Month(mon+1), day, h, m, sec, nsec, loc)
		}
		return t, i, true
	}
	return time.Date(year, time.Month(mon+1), day, h, m, sec, nsec, loc), i, true
}

// parseFraction parses the digits of a decimal fraction starting at s[i]
// into nanoseconds; it returns them and the index after the digits.
func parseFraction(s string, i int) (int, int) {
	ns, scale := 0, 100000000
	for i < len(s) && isDigit(s[i]) {
		ns += int(s[i]-'0') * scale
		scale /= 10
		i++
	}
	return ns, i
}

// parseTimestamp parses an RFC 3339 / ISO 8601 time: "YYYY-MM-DD",
// then 'T' or ' ', "hh:mm:ss", an optional fraction and an optional zone
// ("Z", "+hh:mm", "+hhmm"); a zone-less time is in loc. It does not
// allocate: times with an offset are returned in UTC.
func parseTimestamp(s string, loc *time.Location) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	y, ok1 := atoi(s[0:4])
	mo, ok2 := atoi(s[5:7])
	d, ok3 := atoi(s[8:10])
	h, ok4 := atoi(s[11:13])
	mi, ok5 := atoi(s[14:16])
	sec, ok6 := atoi(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 {
		return time.Time{}, false
	}
	i := 19
	ns := 0
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		ns, i = parseFraction(s, i+1)
	}
	if i == len(s) {
		return time.Date(y, time.Month(mo), d, h, mi, sec, ns, loc), true
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	switch s[i] {
	case 'Z', 'z':
		if i+1 != len(s) {
			return time.Time{}, false
		}
		return t, true
	case '+', '-':
		z := s[i+1:]
		var zh, zm int
		var ok bool
		switch len(z) {
		case 5:
			if z[2] != ':' {
				return time.Time{}, false
			}
			zh, ok = atoi(z[:2])
			if ok {
				zm, ok = atoi(z[3:])
			}
		case 4:
			zh, ok = atoi(z[:2])
			if ok {
				zm, ok = atoi(z[2:])
			}
		case 2:
			zh, ok = atoi(z)
		}
		if !ok || zh > 23 || zm > 59 {
			return time.Time{}, false
		}
		off := time.Duration(zh)*time.Hour + time.Duration(zm)*time.Minute
		if s[i] == '+' {
			return t.Add(-off), true
		}
		return t.Add(off), true
	}
	return time.Time{}, false
}

// isCiscoMessage reports whether msg starts with a Cisco message code,
// "%FACILITY-SEVERITY-MNEMONIC:" (IOS, ASA, NX-OS).
func isCiscoMessage(msg string) bool {
	if len(msg) < 8 || msg[0] != '%' {
		return false
	}
	i := 1
	for i < len(msg) && (msg[i] >= 'A' && msg[i] <= 'Z' || isDigit(msg[i]) || msg[i] == '_') {
		i++
	}
	if i == 1 || i+2 >= len(msg) || msg[i] != '-' || !isDigit(msg[i+1]) || msg[i+2] != '-' {
		return false
	}
	c := strings.IndexByte(msg[i:], ':')
	return c > 3 && c < 64
}
