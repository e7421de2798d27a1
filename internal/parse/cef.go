package parse

import (
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

var (
	kCEFVersion  = event.Intern("cef.version")
	kCEFVendor   = event.Intern("cef.device_vendor")
	kCEFProduct  = event.Intern("cef.device_product")
	kCEFDevVer   = event.Intern("cef.device_version")
	kCEFClassID  = event.Intern("cef.device_event_class_id")
	kCEFName     = event.Intern("cef.name")
	kCEFSeverity = event.Intern("cef.severity")
	kObsVendor   = event.Intern("observer.vendor")
	kObsProduct  = event.Intern("observer.product")
	kObsVersion  = event.Intern("observer.version")
	kRuleName    = event.Intern("rule.name")

	kLEEFVersion = event.Intern("leef.version")
	kLEEFVendor  = event.Intern("leef.vendor")
	kLEEFProduct = event.Intern("leef.product")
	kLEEFProdVer = event.Intern("leef.product_version")
	kLEEFEventID = event.Intern("leef.event_id")
)

// cefECS maps CEF extension keys (and the LEEF keys that mean the same) to
// ECS names.
var cefECS = map[string][]event.Key{
	"src":                      {kSourceIP},
	"spt":                      {kSourcePort},
	"dst":                      {kDestIP},
	"dpt":                      {kDestPort},
	"suser":                    {event.Intern("source.user.name"), kUserName},
	"duser":                    {event.Intern("destination.user.name")},
	"act":                      {kAction},
	"outcome":                  {kOutcome},
	"msg":                      {kMessage},
	"request":                  {kURLOriginal},
	"requestMethod":            {kHTTPMethod},
	"requestClientApplication": {kUserAgent},
	"fname":                    {kFileName},
	"filePath":                 {kFilePath},
	"fileHash":                 {event.Intern("file.hash")},
	"shost":                    {event.Intern("source.domain")},
	"dhost":                    {event.Intern("destination.domain")},
	"smac":                     {event.Intern("source.mac")},
	"dmac":                     {event.Intern("destination.mac")},
	"proto":                    {event.Intern("network.transport")},
	"app":                      {event.Intern("network.protocol")},
	"in":                       {event.Intern("source.bytes")},
	"out":                      {event.Intern("destination.bytes")},
	"dproc":                    {kProcName},
	"sproc":                    {kProcName},
	"dpid":                     {kProcPID},
	"spid":                     {kProcPID},
	"cs1":                      nil,
	"deviceProcessName":        {kProcName},
	"dvchost":                  {event.Intern("observer.hostname")},
	"dvc":                      {event.Intern("observer.ip")},
	"cat":                      {event.Intern("event.category_name")},
	"reason":                   {event.Intern("event.reason")},
	"sntdom":                   {event.Intern("source.user.domain")},
	"dntdom":                   {event.Intern("destination.user.domain")},
	"cn1":                      nil,
	// LEEF names.
	"srcPort":       {kSourcePort},
	"dstPort":       {kDestPort},
	"usrName":       {kUserName},
	"srcMAC":        {event.Intern("source.mac")},
	"dstMAC":        {event.Intern("destination.mac")},
	"srcPreNAT":     {event.Intern("source.nat.ip")},
	"dstPreNAT":     {event.Intern("destination.nat.ip")},
	"identSrc":      {kSourceIP},
	"identHostName": {kHostName},
	"accountName":   {kUserName},
	"sev":           {kSeverity},
	"url":           {kURLOriginal},
	"action":        {kAction},
}

// extField adds one extension pair under prefix.<key>, under its own name and
// under its ECS names.
func (st *state) extField(prefix, key, val string, esc bool, unesc func([]byte, string) []byte) {
	if st.full() {
		return
	}
	st.name = append(st.name[:0], prefix...)
	st.name = append(st.name, key...)
	kPref := st.intern(bytesToString(st.name))
	kOwn := st.intern(key)
	keys := cefECS[key]
	if esc {
		// Escapes are rare: one string for the unescaped value.
		val = string(unesc(nil, val))
	}
	v := event.String(val)
	if n, ok := number(val); ok && keys != nil && isNumericECS(keys[0]) {
		v = n
	}
	st.set(kPref, event.String(val))
	st.set(kOwn, event.String(val))
	for _, k := range keys {
		if k == kMessage {
			// msg is the message: it replaces the whole line.
			st.replace(k, v)
			continue
		}
		st.set(k, v)
	}
}

func isNumericECS(k event.Key) bool {
	return k == kSourcePort || k == kDestPort || k == kProcPID || k == kSeverity
}

// splitHeader splits n '|'-separated header fields off s, honouring \| and
// \\ escapes. It returns the fields, whether any had escapes, and the rest.
func splitHeader(s string, fields []string, escaped []bool) (rest string, ok bool) {
	for n := range fields {
		i := 0
		esc := false
		for i < len(s) && s[i] != '|' {
			if s[i] == '\\' && i+1 < len(s) {
				esc = true
				i++
			}
			i++
		}
		if i >= len(s) {
			fields[n] = s
			escaped[n] = esc
			return "", false
		}
		fields[n] = s[:i]
		escaped[n] = esc
		s = s[i+1:]
	}
	return s, true
}

// unescapeCEFHeader resolves \| and \\.
func unescapeCEFHeader(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		dst = append(dst, v[i])
	}
	return dst
}

// unescapeCEFExt resolves \= \\ \n \r in an extension value.
func unescapeCEFExt(dst []byte, v string) []byte {
	return unescapeBackslash(dst, v)
}

// headerField adds a header field, unescaping it when needed.
func (st *state) headerField(k event.Key, v string, esc bool) {
	if esc {
		start := len(st.arena)
		st.arena = unescapeCEFHeader(st.arena, v)
		st.pendField(k, event.KindString, 0, start)
		return
	}
	st.setStr(k, v)
}

// cef decodes "CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension".
func (st *state) cef(msg string) bool {
	var h [7]string
	var esc [7]bool
	ext, ok := splitHeader(msg[len("CEF:"):], h[:], esc[:])
	st.kind()
	st.notLinux()
	keys := [...]event.Key{kCEFVersion, kCEFVendor, kCEFProduct, kCEFDevVer, kCEFClassID, kCEFName, kCEFSeverity}
	for i, k := range keys {
		st.headerField(k, h[i], esc[i])
	}
	st.headerField(kObsVendor, h[1], esc[1])
	st.headerField(kObsProduct, h[2], esc[2])
	st.headerField(kObsVersion, h[3], esc[3])
	st.headerField(kEventCode, h[4], esc[4])
	st.headerField(kRuleName, h[5], esc[5])
	st.setNum(kSeverity, h[6])
	if !ok {
		st.failed = true
		return false
	}
	st.cefExtension(strings.TrimRight(ext, " "))
	st.setDataset("cef")
	return true
}

// cefExtension parses "k=v k2=value with spaces k3=v": a value runs to the
// next " key=" whose '=' is not escaped.
func (st *state) cefExtension(s string) {
	i := 0
	for i < len(s) {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		j := i
		for j < len(s) && isKeyChar(s[j]) {
			j++
		}
		if j == i || j >= len(s) || s[j] != '=' {
			// Malformed: keep what we have.
			st.failed = true
			return
		}
		key := s[i:j]
		vs := j + 1
		ve, next, esc := cefValueEnd(s, vs)
		st.cefPair(key, s[vs:ve], esc)
		i = next
	}
}

// cefValueEnd finds the end of a value starting at s[i]: the space before
// the next unescaped "key=". It returns the end, where the next key starts,
// and whether the value has escapes.
func cefValueEnd(s string, i int) (end, next int, esc bool) {
	for k := i; k < len(s); k++ {
		switch s[k] {
		case '\\':
			esc = true
			k++
		case ' ':
			j := k + 1
			for j < len(s) && isKeyChar(s[j]) {
				j++
			}
			if j > k+1 && j < len(s) && s[j] == '=' {
				return k, k + 1, esc
			}
		}
	}
	return len(s), len(s), esc
}

func (st *state) cefPair(key, val string, esc bool) {
	switch key {
	case "rt", "end", "start":
		if key == "rt" || st.ev.Time.IsZero() {
			if t, ok := parseCEFTime(val, st.p.loc); ok && (key == "rt" || st.ev.Time.IsZero()) {
				st.ev.Time = t
			}
		}
	}
	st.extField("cef.extensions.", key, val, esc, unescapeCEFExt)
}

// parseCEFTime parses epoch milliseconds, "MMM dd yyyy HH:mm:ss[.SSS]
// [zone]" or RFC 3339.
func parseCEFTime(s string, loc *time.Location) (time.Time, bool) {
	if plainNumber(s) {
		var n int64
		for i := 0; i < len(s) && isDigit(s[i]); i++ {
			n = n*10 + int64(s[i]-'0')
		}
		return epoch(float64(n))
	}
	if t, ok := parseTimestamp(s, loc); ok {
		return t, true
	}
	for _, layout := range [...]string{"Jan 02 2006 15:04:05.000", "Jan 02 2006 15:04:05", "Jan 2 2006 15:04:05", "Jan 02 2006 15:04:05 MST", "Jan 02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// leef decodes LEEF 1.0 ("LEEF:1.0|Vendor|Product|Version|EventID|k=v<TAB>k=v")
// and 2.0 ("LEEF:2.0|Vendor|Product|Version|EventID|Delim|k=v<Delim>k=v"),
// the delimiter given as a character or in hex ("x09", "0x5E").
func (st *state) leef(msg string) bool {
	var h [5]string
	var esc [5]bool
	rest, ok := splitHeader(msg[len("LEEF:"):], h[:], esc[:])
	st.kind()
	st.notLinux()
	keys := [...]event.Key{kLEEFVersion, kLEEFVendor, kLEEFProduct, kLEEFProdVer, kLEEFEventID}
	for i, k := range keys {
		st.headerField(k, h[i], esc[i])
	}
	st.headerField(kObsVendor, h[1], esc[1])
	st.headerField(kObsProduct, h[2], esc[2])
	st.headerField(kObsVersion, h[3], esc[3])
	st.headerField(kEventCode, h[4], esc[4])
	if !ok {
		st.failed = true
		return false
	}
	delim := byte('\t')
	if strings.HasPrefix(h[0], "2") {
		d, r, found := cut(rest, "|")
		if !found {
			// Some senders omit the delimiter field: tab then.
			d, r = "", rest
		}
		rest = r
		switch {
		case len(d) == 1:
			delim = d[0]
		case len(d) == 3 && (d[0] == 'x' || d[0] == 'X') && isHexString(d[1:]):
			delim = unhex(d[1])<<4 | unhex(d[2])
		case len(d) == 4 && d[0] == '0' && (d[1] == 'x' || d[1] == 'X') && isHexString(d[2:]):
			delim = unhex(d[2])<<4 | unhex(d[3])
		case d == "":
		default:
			st.failed = true
		}
	}
	for rest != "" {
		var part string
		if i := strings.IndexByte(rest, delim); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			part, rest = rest, ""
		}
		if part == "" {
			continue
		}
		k, v, found := cut(part, "=")
		if !found || k == "" {
			st.failed = true
			continue
		}
		// devTime in epoch milliseconds, the LEEF default "MMM dd yyyy
		// HH:mm:ss" or RFC 3339; Java-style devTimeFormat patterns are not
		// interpreted.
		if k == "devTime" {
			if t, ok := parseCEFTime(v, st.p.loc); ok {
				st.ev.Time = t
			}
		}
		st.extField("leef.", k, v, false, nil)
	}
	st.setDataset("leef")
	return true
}

// notLinux clears the linux product that a syslog header implied: CEF and
// LEEF come from appliances, not from the host's own programs.
func (st *state) notLinux() {
	if st.ev.Logsource.Product == "linux" {
		st.ev.Logsource.Product = ""
		st.ev.Logsource.Service = ""
	}
}
