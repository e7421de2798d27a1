package parse

import (
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

var (
	vWeb        = event.String("web")
	vWebAccess  = map[string]event.Value{"nginx": event.String("nginx.access"), "apache": event.String("apache.access"), "": event.String("web.access")}
	vWebError   = map[string]event.Value{"nginx": event.String("nginx.error"), "apache": event.String("apache.error"), "": event.String("web.error")}
	kHTTPDomain = event.Intern("url.domain")
	kXFF        = event.Intern("http.request.x_forwarded_for")
)

// nginx and Apache logged over syslog: the program names the server (a
// line without one is told by its file path or its shape, see content).
func init() {
	registerApp(app{programs: []string{"nginx"}, decode: func(st *state, _, msg string) bool { return st.web(msg, "nginx") }})
	registerApp(app{programs: []string{"apache", "apache2", "httpd"}, decode: func(st *state, _, msg string) bool { return st.web(msg, "apache") }})
}

// web decodes an access log line (combined or common format) or an nginx or
// Apache error log line. product is "nginx", "apache" or "" when unknown;
// an error line's shape names its server.
func (st *state) web(msg, product string) bool {
	if len(msg) < 20 {
		return false
	}
	if msg[0] == '[' {
		return st.apacheError(msg)
	}
	if isDigit(msg[0]) && msg[4] == '/' && msg[7] == '/' && msg[10] == ' ' {
		return st.nginxError(msg)
	}
	if st.access(msg, product) {
		return true
	}
	// Apache's vhost_combined: "host:port " before the client address.
	if h, rest := word(msg); strings.IndexByte(h, ':') > 0 && rest != "" && st.access(rest, product) {
		host, _, _ := cut(h, ":")
		st.setStr(kHTTPDomain, host)
		return true
	}
	return false
}

// access parses `client ident user [time] "request" status bytes
// ["referrer" "user agent" ...]`. It checks the shape before adding
// anything.
func (st *state) access(msg, product string) bool {
	client, rest := word(msg)
	_, rest = word(rest) // ident
	user, rest := word(rest)
	if client == "" || len(rest) < 30 || rest[0] != '[' {
		return false
	}
	tend := strings.IndexByte(rest, ']')
	if tend < 0 || tend+3 > len(rest) || rest[tend+1] != ' ' || rest[tend+2] != '"' {
		return false
	}
	t, ok := parseCLFTime(rest[1:tend], st.p.loc)
	if !ok {
		return false
	}
	rest = rest[tend+3:]
	req, rest, ok := quotedField(rest)
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " ")
	status, rest := word(rest)
	code, ok := atoi(status)
	if !ok || code < 100 || code > 999 {
		return false
	}
	size, rest := word(rest)
	st.ev.Time = t
	st.kind()
	st.set(kCategory, vWeb)
	if isIPLike(client) {
		st.set(kSourceIP, event.String(client))
	} else {
		st.set(kSourceAddress, event.String(client))
	}
	if user != "-" {
		st.setStr(kUserName, user)
	}
	st.request(req)
	st.set(kHTTPStatus, event.Int(int64(code)))
	if size != "-" {
		st.setNum(kHTTPBytes, size)
	}
	if code < 400 {
		st.set(kOutcome, vSuccess)
	} else {
		st.set(kOutcome, vFailure)
	}
	rest = strings.TrimLeft(rest, " ")
	if ref, r2, ok := quotedField(strings.TrimPrefix(rest, `"`)); ok && strings.HasPrefix(rest, `"`) {
		if ref != "-" {
			st.setStr(kHTTPReferrer, ref)
		}
		r2 = strings.TrimLeft(r2, " ")
		if ua, r3, ok := quotedField(strings.TrimPrefix(r2, `"`)); ok && strings.HasPrefix(r2, `"`) {
			if ua != "-" {
				st.setStr(kUserAgent, ua)
			}
			// nginx's default main format often adds "$http_x_forwarded_for".
			r3 = strings.TrimLeft(r3, " ")
			if xff, _, ok := quotedField(strings.TrimPrefix(r3, `"`)); ok && strings.HasPrefix(r3, `"`) && xff != "-" {
				st.setStr(kXFF, xff)
			}
		}
	}
	st.set(kDataset, vWebAccess[product])
	st.setLogsource(product, "webserver", product)
	return true
}

// quotedField returns the text up to the closing quote of a field whose
// opening quote was already consumed (backslash escapes as nginx writes
// them are skipped over, not decoded), and the rest after the quote.
func quotedField(s string) (field, rest string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// request parses "METHOD URI PROTO".
func (st *state) request(req string) {
	if req == "-" || req == "" {
		return
	}
	method, rest := word(req)
	uri, proto := rest, ""
	if i := strings.LastIndexByte(rest, ' '); i >= 0 && strings.HasPrefix(rest[i+1:], "HTTP/") {
		uri, proto = rest[:i], rest[i+1:]
	}
	if uri == "" || !isMethod(method) {
		st.setStr(kURLOriginal, req)
		return
	}
	st.set(kHTTPMethod, event.String(method))
	st.set(kURLOriginal, event.String(uri))
	path, query, _ := cut(uri, "?")
	st.setStr(kURLPath, path)
	st.setStr(kURLQuery, query)
	st.setStr(kHTTPVersion, strings.TrimPrefix(proto, "HTTP/"))
}

func isMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// parseCLFTime parses "10/Oct/2000:13:55:36 -0700".
func parseCLFTime(s string, loc *time.Location) (time.Time, bool) {
	if len(s) < 20 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' {
		return time.Time{}, false
	}
	d, ok1 := atoi(s[0:2])
	mon := monthIndex(s[3:6])
	y, ok2 := atoi(s[7:11])
	h, ok3 := atoi(s[12:14])
	mi, ok4 := atoi(s[15:17])
	sec, ok5 := atoi(s[18:20])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || mon < 0 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 {
		return time.Time{}, false
	}
	i := 20
	ns := 0
	if i < len(s) && s[i] == '.' {
		ns, i = parseFraction(s, i+1)
	}
	if i == len(s) {
		return time.Date(y, time.Month(mon+1), d, h, mi, sec, ns, loc), true
	}
	z := s[i:]
	if len(z) != 6 || z[0] != ' ' || (z[1] != '+' && z[1] != '-') {
		return time.Time{}, false
	}
	zh, ok1 := atoi(z[2:4])
	zm, ok2 := atoi(z[4:6])
	if !ok1 || !ok2 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mon+1), d, h, mi, sec, ns, time.UTC)
	off := time.Duration(zh)*time.Hour + time.Duration(zm)*time.Minute
	if z[1] == '+' {
		return t.Add(-off), true
	}
	return t.Add(off), true
}

// nginxError parses "2024/01/02 03:04:05 [error] 1234#0: *5 text, client:
// 1.2.3.4, server: x, request: "GET / HTTP/1.1", host: "x"".
func (st *state) nginxError(msg string) bool {
	if len(msg) < 22 || msg[13] != ':' || msg[16] != ':' || msg[19] != ' ' || msg[20] != '[' {
		return false
	}
	y, ok1 := atoi(msg[0:4])
	mo, ok2 := atoi(msg[5:7])
	d, ok3 := atoi(msg[8:10])
	h, ok4 := atoi(msg[11:13])
	mi, ok5 := atoi(msg[14:16])
	sec, ok6 := atoi(msg[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 {
		return false
	}
	level, rest, ok := cut(msg[21:], "] ")
	if !ok || len(level) > 10 {
		return false
	}
	st.ev.Time = time.Date(y, time.Month(mo), d, h, mi, sec, 0, st.p.loc)
	pidTid, text, ok := cut(rest, ": ")
	if ok {
		pid, _, _ := cut(pidTid, "#")
		st.setNum(kProcPID, pid)
	} else {
		text = rest
	}
	st.kind()
	st.set(kCategory, vWeb)
	st.setStr(kLogLevel, level)
	st.setStr(kErrMessage, text)
	if _, c, ok := cut(text, ", client: "); ok {
		ip, _, _ := cut(c, ",")
		st.setStr(kSourceIP, ip)
	}
	if _, r, ok := cut(text, `, request: "`); ok {
		if req, _, ok := quotedField(r); ok {
			st.request(req)
		}
	}
	st.set(kDataset, vWebError["nginx"])
	st.setLogsource("nginx", "webserver", "nginx")
	return true
}

// apacheError parses "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid
// 1234:tid 5678] [client 1.2.3.4:5678] AH00037: text" (2.4) and
// "[Wed Oct 11 14:32:52 2000] [error] [client 1.2.3.4] text" (2.2).
func (st *state) apacheError(msg string) bool {
	end := strings.IndexByte(msg, ']')
	if end < 24 || end > 40 {
		return false
	}
	stamp := msg[1:end] // "Wed Oct 11 14:32:52.123456 2000"
	if len(stamp) < 24 || stamp[3] != ' ' {
		return false
	}
	t, _, ok := st.parse3164Time(stamp[4:])
	if !ok {
		return false
	}
	rest := strings.TrimLeft(msg[end+1:], " ")
	if !strings.HasPrefix(rest, "[") {
		return false
	}
	st.ev.Time = t
	st.kind()
	st.set(kCategory, vWeb)
	for strings.HasPrefix(rest, "[") {
		e := strings.IndexByte(rest, ']')
		if e < 0 {
			break
		}
		part := rest[1:e]
		rest = strings.TrimLeft(rest[e+1:], " ")
		switch {
		case strings.HasPrefix(part, "pid "):
			pid, _, _ := cut(part[4:], ":")
			st.setNum(kProcPID, pid)
		case strings.HasPrefix(part, "client "):
			addr := part[7:]
			if i := strings.LastIndexByte(addr, ':'); i > 0 && strings.Count(addr, ":") == 1 {
				st.setNum(kSourcePort, addr[i+1:])
				addr = addr[:i]
			}
			st.setStr(kSourceIP, addr)
		case strings.HasPrefix(part, "remote "):
		default:
			if _, lvl, ok := cut(part, ":"); ok {
				st.setStr(kLogLevel, lvl)
			} else {
				st.setStr(kLogLevel, part)
			}
		}
	}
	st.setStr(kErrMessage, rest)
	st.set(kDataset, vWebError["apache"])
	st.setLogsource("apache", "webserver", "apache")
	return true
}
