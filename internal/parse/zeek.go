package parse

import (
	"path"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/ascii"
	"github.com/vigilsec/vigil/internal/event"
)

// Network sensors: Zeek's JSON logs (this file) and Suricata's EVE JSON
// (suricata.go). Both arrive as JSON objects, one per line; the generic
// JSON decoder flattens them first, so the sensor's own names (id.orig_h,
// query, uri, alert.signature, ...) are kept as they came, which is what
// Sigma rules for product zeek are written against. The decoders here
// recognise the record, then add the ECS names, event.module,
// event.dataset and the Sigma logsource beside them.

var (
	kModule        = event.Intern("event.module")
	kEventDuration = event.Intern("event.duration")
	kEventStart    = event.Intern("event.start")
	kEventEnd      = event.Intern("event.end")
	kNetProtocol   = event.Intern("network.protocol")
	kCommunityID   = event.Intern("network.community_id")
	kNetDirection  = event.Intern("network.direction")
	kSourceBytes   = event.Intern("source.bytes")
	kSourcePackets = event.Intern("source.packets")
	kDestBytes     = event.Intern("destination.bytes")
	kDestPackets   = event.Intern("destination.packets")
	kDestDomain    = event.Intern("destination.domain")
	kObsHostname   = event.Intern("observer.hostname")

	kDNSQName       = event.Intern("dns.question.name")
	kDNSQType       = event.Intern("dns.question.type")
	kDNSQClass      = event.Intern("dns.question.class")
	kDNSRcode       = event.Intern("dns.response_code")
	kDNSID          = event.Intern("dns.id")
	kDNSAnswerData  = event.Intern("dns.answers.data")
	kDNSResolvedIP  = event.Intern("dns.resolved_ip")
	kDNSHeaderFlags = event.Intern("dns.header_flags")

	kHTTPReqBytes = event.Intern("http.request.body.bytes")
	kHTTPRespMime = event.Intern("http.response.mime_type")

	kTLSVersion      = event.Intern("tls.version")
	kTLSVersionProto = event.Intern("tls.version_protocol")
	kTLSCipher       = event.Intern("tls.cipher")
	kTLSCurve        = event.Intern("tls.curve")
	kTLSSNI          = event.Intern("tls.client.server_name")
	kTLSEstablished  = event.Intern("tls.established")
	kTLSResumed      = event.Intern("tls.resumed")
	kTLSNextProto    = event.Intern("tls.next_protocol")
	kTLSJA3          = event.Intern("tls.client.ja3")
	kTLSJA3S         = event.Intern("tls.server.ja3s")
	kTLSSubject      = event.Intern("tls.server.subject")
	kTLSIssuer       = event.Intern("tls.server.issuer")
	kTLSNotBefore    = event.Intern("tls.server.not_before")
	kTLSNotAfter     = event.Intern("tls.server.not_after")
	kTLSServerSHA1   = event.Intern("tls.server.hash.sha1")

	kX509Serial    = event.Intern("x509.serial_number")
	kX509Subject   = event.Intern("x509.subject.distinguished_name")
	kX509Issuer    = event.Intern("x509.issuer.distinguished_name")
	kX509NotBefore = event.Intern("x509.not_before")
	kX509NotAfter  = event.Intern("x509.not_after")
	kX509KeyAlg    = event.Intern("x509.public_key_algorithm")
	kX509KeySize   = event.Intern("x509.public_key_size")
	kX509SigAlg    = event.Intern("x509.signature_algorithm")
	kX509Version   = event.Intern("x509.version_number")
	kX509AltNames  = event.Intern("x509.alternative_names")

	kFileMime   = event.Intern("file.mime_type")
	kFileSize   = event.Intern("file.size")
	kFileMD5    = event.Intern("file.hash.md5")
	kFileSHA1   = event.Intern("file.hash.sha1")
	kFileSHA256 = event.Intern("file.hash.sha256")

	vAlert       = event.String("alert")
	vFile        = event.String("file")
	vWebCategory = event.String("web")
	vAuthCat     = event.String("authentication")
	vIDS         = event.String("intrusion_detection")
)

// Zeek's own field names that the decoder reads (they are the names in
// Zeek's log documentation; its JSON writer writes record fields such as
// id.orig_h with the dot in the name).
var (
	kZTs         = event.Intern("ts")
	kZSystemName = event.Intern("_system_name")
	kZOrigH      = event.Intern("id.orig_h")
	kZOrigP      = event.Intern("id.orig_p")
	kZRespH      = event.Intern("id.resp_h")
	kZRespP      = event.Intern("id.resp_p")
	kZProto      = event.Intern("proto")
	kZService    = event.Intern("service")
	kZCommunity  = event.Intern("community_id")
	kZDuration   = event.Intern("duration")
	kZOrigBytes  = event.Intern("orig_bytes")
	kZRespBytes  = event.Intern("resp_bytes")
	kZOrigPkts   = event.Intern("orig_pkts")
	kZRespPkts   = event.Intern("resp_pkts")
	kZQuery      = event.Intern("query")
	kZQTypeName  = event.Intern("qtype_name")
	kZQClassName = event.Intern("qclass_name")
	kZRcodeName  = event.Intern("rcode_name")
	kZTransID    = event.Intern("trans_id")
	kZAnswers    = event.Intern("answers")
	kZMethod     = event.Intern("method")
	kZHost       = event.Intern("host")
	kZURI        = event.Intern("uri")
	kZUserAgent  = event.Intern("user_agent")
	kZStatusCode = event.Intern("status_code")
	kZVersion    = event.Intern("version")
	kZReferrer   = event.Intern("referrer")
	kZReqLen     = event.Intern("request_body_len")
	kZRespLen    = event.Intern("response_body_len")
	kZRespMimes  = event.Intern("resp_mime_types")
	kZCipher     = event.Intern("cipher")
	kZCurve      = event.Intern("curve")
	kZServerName = event.Intern("server_name")
	kZEstablish  = event.Intern("established")
	kZResumed    = event.Intern("resumed")
	kZNextProto  = event.Intern("next_protocol")
	kZJA3        = event.Intern("ja3")
	kZJA3S       = event.Intern("ja3s")
	kZSubject    = event.Intern("subject")
	kZIssuer     = event.Intern("issuer")
	kZCertSerial = event.Intern("certificate.serial")
	kZCertSubj   = event.Intern("certificate.subject")
	kZCertIssuer = event.Intern("certificate.issuer")
	kZCertBefore = event.Intern("certificate.not_valid_before")
	kZCertAfter  = event.Intern("certificate.not_valid_after")
	kZCertKeyAlg = event.Intern("certificate.key_alg")
	kZCertKeyLen = event.Intern("certificate.key_length")
	kZCertSigAlg = event.Intern("certificate.sig_alg")
	kZCertVer    = event.Intern("certificate.version")
	kZSANDNS     = event.Intern("san.dns")
	kZFilename   = event.Intern("filename")
	kZMimeType   = event.Intern("mime_type")
	kZTotalBytes = event.Intern("total_bytes")
	kZSeenBytes  = event.Intern("seen_bytes")
	kZMD5        = event.Intern("md5")
	kZSHA1       = event.Intern("sha1")
	kZSHA256     = event.Intern("sha256")
	kZTxHosts    = event.Intern("tx_hosts")
	kZRxHosts    = event.Intern("rx_hosts")
	kZNote       = event.Intern("note")
	kZMsg        = event.Intern("msg")
	kZSrc        = event.Intern("src")
	kZDst        = event.Intern("dst")
	kZP          = event.Intern("p")
	kZName       = event.Intern("name")
	kZAuthOK     = event.Intern("auth_success")
	kZDirection  = event.Intern("direction")
)

// zeekLogNames are the logs of a standard Zeek installation (and common
// packages). A file name hint is only believed for these: "app.log" must
// not make any JSON with a ts a Zeek record.
var zeekLogNames = map[string]bool{
	"conn": true, "dns": true, "http": true, "ssl": true, "x509": true, "files": true,
	"notice": true, "weird": true, "ssh": true, "smtp": true, "ftp": true, "dhcp": true,
	"dce_rpc": true, "kerberos": true, "ntlm": true, "rdp": true, "smb_files": true,
	"smb_mapping": true, "sip": true, "snmp": true, "socks": true, "software": true,
	"tunnel": true, "dpd": true, "analyzer": true, "known_hosts": true, "known_services": true,
	"known_certs": true, "pe": true, "ocsp": true, "radius": true, "rfb": true,
	"mysql": true, "irc": true, "intel": true, "syslog": true, "modbus": true, "dnp3": true,
	"signatures": true, "traceroute": true, "quic": true, "conn_long": true, "ldap": true,
	"ldap_search": true, "websocket": true, "notice_alarm": true, "capture_loss": true,
	"stats": true, "reporter": true, "packet_filter": true, "loaded_scripts": true,
}

// maxSensorName bounds a log or event type name taken from a record (it
// becomes a logsource service and part of event.dataset).
const maxSensorName = 32

// sensorName reports whether b is a plausible log or event type name: a
// short lower-case identifier.
func sensorName(b []byte) bool {
	if len(b) == 0 || len(b) > maxSensorName {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || isDigit(c) || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// sensorJSON recognises a Zeek or Suricata record among JSON documents,
// already flattened into the event, and completes it. It reports whether
// it did; the caller then adds nothing else.
func (st *state) sensorJSON(v *fastjson.Value) bool {
	if log := st.zeekLog(v); log != "" {
		st.zeek(v, log)
		return true
	}
	if et := suricataType(v); et != "" {
		st.suricata(et)
		return true
	}
	return false
}

// has reports whether the top-level object v has member name.
func has(v *fastjson.Value, name string) bool { return v.Get(name) != nil }

// zeekLog returns the name of the Zeek log v is a record of, or "". The
// _path member (written by Zeek when logs are streamed, and by most
// shippers) names it; without _path the log is told by the fields that
// only it has, then by the file name of the file input (conn.log,
// dns.2024-01-02-03-00-00.log, ...). Every Zeek record has ts.
func (st *state) zeekLog(v *fastjson.Value) string {
	ts := v.Get("ts")
	if ts == nil {
		return ""
	}
	if p := v.Get("_path"); p != nil && p.Type() == fastjson.TypeString {
		if b := p.GetStringBytes(); sensorName(b) {
			return string(b)
		}
		return ""
	}
	switch {
	case has(v, "conn_state") && has(v, "uid"):
		return "conn"
	case has(v, "trans_id") || has(v, "query") && (has(v, "qtype_name") || has(v, "rcode_name")):
		return "dns"
	case has(v, "trans_depth") && (has(v, "method") || has(v, "uri") || has(v, "status_code")):
		return "http"
	case has(v, "established") && (has(v, "server_name") || has(v, "cipher") || has(v, "ssl_history")):
		return "ssl"
	case has(v, "certificate.serial") || has(v, "certificate.subject"):
		return "x509"
	case has(v, "note") && has(v, "msg"):
		return "notice"
	case has(v, "fuid") && (has(v, "analyzers") || has(v, "depth") || has(v, "seen_bytes")):
		return "files"
	case has(v, "auth_attempts") || has(v, "kex_alg") || has(v, "host_key_alg"):
		return "ssh"
	case has(v, "name") && has(v, "notice") && (has(v, "peer") || has(v, "addl") || has(v, "uid")):
		return "weird"
	case has(v, "endpoint") && has(v, "operation") && has(v, "uid"):
		return "dce_rpc"
	case has(v, "request_type") && (has(v, "cipher") || has(v, "client")):
		return "kerberos"
	case has(v, "security_protocol") || has(v, "cookie") && has(v, "result") && has(v, "uid"):
		return "rdp"
	case has(v, "fuid") && has(v, "action") && has(v, "path"):
		return "smb_files"
	case has(v, "share_type") && has(v, "path"):
		return "smb_mapping"
	}
	if p := st.ev.Str("log.file.path"); p != "" {
		base := path.Base(strings.ReplaceAll(p, "\\", "/"))
		if name, _, ok := strings.Cut(base, "."); ok && zeekLogNames[name] {
			return name
		}
	}
	return ""
}

// zeekDatasets caches the event.dataset values of the known logs.
var zeekDatasets = func() map[string]event.Value {
	m := make(map[string]event.Value, len(zeekLogNames))
	for n := range zeekLogNames {
		m[n] = event.String("zeek." + n)
	}
	return m
}()

var vZeek = event.String("zeek")

// zeek completes a Zeek record of log: ECS names beside Zeek's, the
// module, dataset and logsource (product zeek, service the log; dns.log
// also category dns).
func (st *state) zeek(v *fastjson.Value, log string) {
	st.flushArena()
	ev := st.ev
	ev.Logsource.Product = "zeek"
	ev.Logsource.Service = log
	if log == "dns" {
		ev.Logsource.Category = "dns"
	}
	if log == "notice" {
		st.alertKind()
	}
	st.kindSet = ev.Has(kKind)
	st.kind()
	if t, ok := st.zeekTime(); ok {
		// ts is the time Zeek saw the traffic, whatever time a shipper
		// added beside it.
		ev.Time = t
	}
	st.setOnce(kModule, vZeek)
	if ds, ok := zeekDatasets[log]; ok {
		st.setOnce(kDataset, ds)
	} else {
		st.setOnce(kDataset, event.String("zeek."+log))
	}
	st.aliasIP(kZOrigH, kSourceIP)
	st.aliasPort(kZOrigP, kSourcePort)
	st.aliasIP(kZRespH, kDestIP)
	st.aliasPort(kZRespP, kDestPort)
	st.lower(kZProto, kTransport)
	st.alias(kZCommunity, kCommunityID)
	st.alias(kZSystemName, kObsHostname)
	switch log {
	case "conn":
		st.set(kCategory, vNetwork)
		st.lower(kZService, kNetProtocol)
		st.alias(kZOrigBytes, kSourceBytes)
		st.alias(kZRespBytes, kDestBytes)
		st.alias(kZOrigPkts, kSourcePackets)
		st.alias(kZRespPkts, kDestPackets)
		if d, ok := ev.Get(kZDuration); ok && d.IsNumber() && d.Num >= 0 && d.Num < 1e9 {
			st.set(kEventDuration, event.Int(int64(d.Num*1e9)))
		}
	case "dns":
		st.set(kCategory, vNetwork)
		st.setOnce(kNetProtocol, event.String("dns"))
		st.alias(kZQuery, kDNSQName)
		st.alias(kZQTypeName, kDNSQType)
		st.alias(kZQClassName, kDNSQClass)
		st.alias(kZRcodeName, kDNSRcode)
		st.alias(kZTransID, kDNSID)
		st.alias(kZAnswers, kDNSAnswerData)
		st.resolvedIPs(kZAnswers)
		for _, fl := range [...]string{"AA", "TC", "RD", "RA"} {
			if b := v.Get(fl); b != nil && b.Type() == fastjson.TypeTrue {
				st.set(kDNSHeaderFlags, event.String(fl))
			}
		}
	case "http":
		st.set(kCategory, vNetwork)
		st.set(kCategory, vWebCategory)
		st.setOnce(kNetProtocol, event.String("http"))
		st.alias(kZMethod, kHTTPMethod)
		st.alias(kZHost, kHTTPDomain)
		st.url(kZURI)
		st.alias(kZUserAgent, kUserAgent)
		st.alias(kZStatusCode, kHTTPStatus)
		st.alias(kZVersion, kHTTPVersion)
		st.alias(kZReferrer, kHTTPReferrer)
		st.alias(kZReqLen, kHTTPReqBytes)
		st.alias(kZRespLen, kHTTPBytes)
		st.alias(kZRespMimes, kHTTPRespMime)
	case "ssl":
		st.set(kCategory, vNetwork)
		st.zeekTLSVersion()
		st.alias(kZCipher, kTLSCipher)
		st.alias(kZCurve, kTLSCurve)
		st.alias(kZServerName, kTLSSNI)
		st.alias(kZServerName, kDestDomain)
		st.alias(kZEstablish, kTLSEstablished)
		st.alias(kZResumed, kTLSResumed)
		st.alias(kZNextProto, kTLSNextProto)
		st.alias(kZJA3, kTLSJA3)
		st.alias(kZJA3S, kTLSJA3S)
		st.alias(kZSubject, kTLSSubject)
		st.alias(kZIssuer, kTLSIssuer)
	case "x509":
		st.set(kCategory, vNetwork)
		st.alias(kZCertSerial, kX509Serial)
		st.alias(kZCertSubj, kX509Subject)
		st.alias(kZCertIssuer, kX509Issuer)
		st.aliasTime(kZCertBefore, kX509NotBefore)
		st.aliasTime(kZCertAfter, kX509NotAfter)
		st.alias(kZCertKeyAlg, kX509KeyAlg)
		st.alias(kZCertKeyLen, kX509KeySize)
		st.alias(kZCertSigAlg, kX509SigAlg)
		st.alias(kZCertVer, kX509Version)
		st.alias(kZSANDNS, kX509AltNames)
	case "files":
		st.set(kCategory, vFile)
		st.alias(kZFilename, kFileName)
		st.alias(kZMimeType, kFileMime)
		st.alias(kZTotalBytes, kFileSize)
		st.alias(kZSeenBytes, kFileSize)
		st.alias(kZMD5, kFileMD5)
		st.alias(kZSHA1, kFileSHA1)
		st.alias(kZSHA256, kFileSHA256)
		// Before Zeek 5 files.log named the hosts, not the connection:
		// the sender is the source.
		st.aliasIP(kZTxHosts, kSourceIP)
		st.aliasIP(kZRxHosts, kDestIP)
	case "notice":
		st.set(kCategory, vIDS)
		st.alias(kZNote, kRuleName)
		st.alias(kZMsg, kMessage)
		st.aliasIP(kZSrc, kSourceIP)
		st.aliasIP(kZDst, kDestIP)
		st.aliasPort(kZP, kDestPort)
	case "weird":
		st.set(kCategory, vNetwork)
		st.alias(kZName, kAction)
	case "ssh":
		st.set(kCategory, vNetwork)
		st.setOnce(kNetProtocol, event.String("ssh"))
		if ok, found := ev.Get(kZAuthOK); found && ok.Kind == event.KindBool {
			st.set(kCategory, vAuthCat)
			if ok.Num != 0 {
				st.setOnce(kOutcome, vSuccess)
			} else {
				st.setOnce(kOutcome, vFailure)
			}
		}
		if d, ok := ev.Get(kZDirection); ok {
			switch d.Str {
			case "INBOUND":
				st.setOnce(kNetDirection, event.String("inbound"))
			case "OUTBOUND":
				st.setOnce(kNetDirection, event.String("outbound"))
			}
		}
	default:
		st.set(kCategory, vNetwork)
	}
}

// zeekTime returns the time in ts. Epoch seconds are read from their
// decimal text: a float64 holds today's epoch seconds only to a few hundred
// nanoseconds, which would blur Zeek's microseconds.
func (st *state) zeekTime() (time.Time, bool) {
	v, ok := st.ev.Get(kZTs)
	if !ok {
		return time.Time{}, false
	}
	if v.Kind == event.KindString {
		if t, ok := parseTimestamp(v.Str, st.p.loc); ok {
			return t, true
		}
	}
	return epochText(v.Str)
}

// maxEpochFraction bounds the fraction digits of an epoch time's text
// (digits past nanoseconds are checked, then cut).
const maxEpochFraction = 40

// epochText reads epoch seconds from their decimal text, exactly to the
// nanosecond.
func epochText(s string) (time.Time, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	if sec == "" || len(sec) > 11 || len(frac) > maxEpochFraction {
		return time.Time{}, false
	}
	var n int64
	for i := 0; i < len(sec); i++ {
		if !isDigit(sec[i]) {
			return time.Time{}, false
		}
		n = n*10 + int64(sec[i]-'0')
	}
	var ns int64
	for i := 0; i < 9 || i < len(frac); i++ {
		if i < len(frac) && !isDigit(frac[i]) {
			return time.Time{}, false
		}
		if i >= 9 {
			continue // beyond nanoseconds: cut
		}
		ns *= 10
		if i < len(frac) {
			ns += int64(frac[i] - '0')
		}
	}
	if n == 0 && ns == 0 {
		return time.Time{}, false
	}
	return time.Unix(n, ns).UTC(), true
}

// alertKind sets event.kind alert, replacing the default event.kind event
// (set before a record that came as a message was decoded) but not a kind
// the record set itself.
func (st *state) alertKind() {
	v, ok := st.ev.Get(kKind)
	switch {
	case !ok:
		st.set(kKind, vAlert)
	case v.Str == "event":
		st.replace(kKind, vAlert)
	}
	st.kindSet = true
}

// setOnce adds k=v unless the event already has k.
func (st *state) setOnce(k event.Key, v event.Value) {
	if !st.ev.Has(k) {
		st.set(k, v)
	}
}

// alias adds every non-null value of from under to as well, unless the
// event already has to. The arena must be flushed.
func (st *state) alias(from, to event.Key) {
	if st.ev.Has(to) {
		return
	}
	n := len(st.ev.Fields)
	for i := 0; i < n; i++ {
		if f := st.ev.Fields[i]; f.Key == from && f.Value.Kind != event.KindNull && f.Value.Str != "" {
			st.set(to, f.Value)
		}
	}
}

// aliasIP is alias for address fields: values that are not an IP address
// are left out, so that source.ip and destination.ip always hold one.
func (st *state) aliasIP(from, to event.Key) {
	if st.ev.Has(to) {
		return
	}
	n := len(st.ev.Fields)
	for i := 0; i < n; i++ {
		f := st.ev.Fields[i]
		if f.Key != from || f.Value.Kind != event.KindString {
			continue
		}
		if isIPText(f.Value.Str) {
			st.set(to, f.Value)
		}
	}
}

// aliasNum is alias for ports and counts: only numbers are copied.
func (st *state) aliasNum(from, to event.Key) {
	if st.ev.Has(to) {
		return
	}
	if v, ok := st.ev.Get(from); ok {
		if v.IsNumber() {
			st.set(to, v)
		} else if nv, ok := number(v.Str); ok {
			st.set(to, nv)
		}
	}
}

// aliasPort is alias for ports: only whole numbers from 0 to 65535 are
// copied.
func (st *state) aliasPort(from, to event.Key) {
	if st.ev.Has(to) {
		return
	}
	v, ok := st.ev.Get(from)
	if !ok {
		return
	}
	if !v.IsNumber() {
		if v, ok = number(v.Str); !ok {
			return
		}
	}
	if v.Kind == event.KindInt && v.Num >= 0 && v.Num <= 65535 {
		st.set(to, v)
	}
}

// lower adds the lower-cased text of from under to (protocol names:
// Suricata writes TCP, ECS wants tcp).
func (st *state) lower(from, to event.Key) {
	if st.ev.Has(to) {
		return
	}
	if v, ok := st.ev.Get(from); ok && v.Kind == event.KindString && v.Str != "" {
		st.set(to, event.String(ascii.Lower(v.Str)))
	}
}

// aliasTime adds the time in from (epoch seconds or an ISO 8601 text, as
// Zeek writes it depending on its JSON time format) as RFC 3339 under to.
func (st *state) aliasTime(from, to event.Key) {
	if st.ev.Has(to) {
		return
	}
	v, ok := st.ev.Get(from)
	if !ok {
		return
	}
	var t time.Time
	switch {
	case v.IsNumber():
		t, ok = epoch(v.Num)
	case v.Kind == event.KindString:
		t, ok = parseTimestamp(v.Str, st.p.loc)
	default:
		ok = false
	}
	if ok {
		st.set(to, event.String(t.UTC().Format(time.RFC3339Nano)))
	}
}

// url adds url.original, url.path and url.query from the request target
// in from.
func (st *state) url(from event.Key) {
	v, ok := st.ev.Get(from)
	if !ok || v.Kind != event.KindString || v.Str == "" || st.ev.Has(kURLOriginal) {
		return
	}
	st.set(kURLOriginal, v)
	p, q, hasQ := strings.Cut(v.Str, "?")
	if i := strings.Index(p, "://"); i >= 0 {
		// An absolute target (a proxy request): the path starts after
		// the authority.
		rest := p[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			p = rest[j:]
		} else {
			p = ""
		}
	}
	st.setStr(kURLPath, p)
	if hasQ {
		st.setStr(kURLQuery, q)
	}
}

// resolvedIPs adds each value of from that is an IP address as
// dns.resolved_ip.
func (st *state) resolvedIPs(from event.Key) {
	n := len(st.ev.Fields)
	for i := 0; i < n; i++ {
		f := st.ev.Fields[i]
		if f.Key != from || f.Value.Kind != event.KindString {
			continue
		}
		if isIPText(f.Value.Str) {
			st.set(kDNSResolvedIP, f.Value)
		}
	}
}

// zeekTLSVersion maps ssl.log's version (TLSv12, TLSv13, SSLv3, DTLSv12)
// to ECS tls.version (1.2) and tls.version_protocol (tls).
func (st *state) zeekTLSVersion() {
	v, ok := st.ev.Get(kZVersion)
	if !ok || v.Kind != event.KindString {
		return
	}
	s := v.Str
	var proto string
	switch {
	case strings.HasPrefix(s, "TLSv"):
		proto, s = "tls", s[4:]
	case strings.HasPrefix(s, "DTLSv"):
		proto, s = "dtls", s[5:]
	case strings.HasPrefix(s, "SSLv"):
		proto, s = "ssl", s[4:]
	default:
		return
	}
	switch {
	case len(s) == 2 && isDigit(s[0]) && isDigit(s[1]):
		s = s[:1] + "." + s[1:]
	case len(s) == 1 && isDigit(s[0]):
		s += ".0"
	default:
		return
	}
	st.setOnce(kTLSVersion, event.String(s))
	st.setOnce(kTLSVersionProto, event.String(proto))
}
