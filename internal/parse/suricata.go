package parse

import (
	"net/netip"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// Suricata's EVE JSON names that the decoder reads, as the flattened
// record has them.
var (
	kSTimestamp  = event.Intern("timestamp")
	kSSrcIP      = event.Intern("src_ip")
	kSSrcPort    = event.Intern("src_port")
	kSDestIP     = event.Intern("dest_ip")
	kSDestPort   = event.Intern("dest_port")
	kSAppProto   = event.Intern("app_proto")
	kSInIface    = event.Intern("in_iface")
	kSSigID      = event.Intern("alert.signature_id")
	kSSignature  = event.Intern("alert.signature")
	kSSigCat     = event.Intern("alert.category")
	kSSigSev     = event.Intern("alert.severity")
	kSSigAction  = event.Intern("alert.action")
	kSRRName     = event.Intern("dns.rrname")
	kSRRType     = event.Intern("dns.rrtype")
	kSRcode      = event.Intern("dns.rcode")
	kSRData      = event.Intern("dns.rdata")
	kSAnsRData   = event.Intern("dns.answers.rdata")
	kSQueryName  = event.Intern("dns.queries.rrname")
	kSQueryType  = event.Intern("dns.queries.rrtype")
	kSGroupedA   = event.Intern("dns.grouped.A")
	kSGroupedAAA = event.Intern("dns.grouped.AAAA")
	kSHTTPHost   = event.Intern("http.hostname")
	kSHTTPURL    = event.Intern("http.url")
	kSHTTPMethod = event.Intern("http.http_method")
	kSHTTPUA     = event.Intern("http.http_user_agent")
	kSHTTPStatus = event.Intern("http.status")
	kSHTTPProto  = event.Intern("http.protocol")
	kSHTTPRefer  = event.Intern("http.http_refer")
	kSHTTPLength = event.Intern("http.length")
	kSHTTPCType  = event.Intern("http.http_content_type")
	kSTLSSNI     = event.Intern("tls.sni")
	kSTLSSubject = event.Intern("tls.subject")
	kSTLSIssuer  = event.Intern("tls.issuerdn")
	kSTLSFP      = event.Intern("tls.fingerprint")
	kSTLSBefore  = event.Intern("tls.notbefore")
	kSTLSAfter   = event.Intern("tls.notafter")
	kSTLSJA3     = event.Intern("tls.ja3.hash")
	kSTLSJA3S    = event.Intern("tls.ja3s.hash")
	kSFileName   = event.Intern("fileinfo.filename")
	kSFileSize   = event.Intern("fileinfo.size")
	kSFileMD5    = event.Intern("fileinfo.md5")
	kSFileSHA1   = event.Intern("fileinfo.sha1")
	kSFileSHA256 = event.Intern("fileinfo.sha256")
	kSPktsToSrv  = event.Intern("flow.pkts_toserver")
	kSPktsToCli  = event.Intern("flow.pkts_toclient")
	kSBytesToSrv = event.Intern("flow.bytes_toserver")
	kSBytesToCli = event.Intern("flow.bytes_toclient")
	kSFlowStart  = event.Intern("flow.start")
	kSFlowEnd    = event.Intern("flow.end")
	kSAnomEvent  = event.Intern("anomaly.event")

	kRuleID       = event.Intern("rule.id")
	kRuleCategory = event.Intern("rule.category")
	kIngressIface = event.Intern("observer.ingress.interface.name")

	vSuricata    = event.String("suricata")
	vSuricataEVE = event.String("suricata.eve")
)

// suricataType returns the event_type of v when v is a Suricata EVE
// record, else "". EVE records carry event_type and timestamp, and either
// a flow_id or the addresses and protocol of the packet.
func suricataType(v *fastjson.Value) string {
	et := v.Get("event_type")
	if et == nil || et.Type() != fastjson.TypeString || v.Get("timestamp") == nil {
		return ""
	}
	if !has(v, "flow_id") && !(has(v, "src_ip") && has(v, "dest_ip") && has(v, "proto")) {
		return ""
	}
	b := et.GetStringBytes()
	if !sensorName(b) {
		return ""
	}
	return string(b)
}

// suricata completes a Suricata EVE record of event type et: ECS names
// beside Suricata's, event.module suricata, event.dataset suricata.eve,
// and the logsource (product suricata, service the event type; dns
// records also category dns).
func (st *state) suricata(et string) {
	st.flushArena()
	ev := st.ev
	ev.Logsource.Product = "suricata"
	ev.Logsource.Service = et
	if et == "dns" {
		ev.Logsource.Category = "dns"
	}
	if et == "alert" {
		st.alertKind()
	}
	st.kindSet = ev.Has(kKind)
	st.kind()
	if ts, ok := ev.Get(kSTimestamp); ok && ts.Kind == event.KindString {
		// The time Suricata saw the packet, to the microsecond, over a
		// syslog header's or a shipper's.
		if t, ok := parseTimestamp(ts.Str, time.UTC); ok {
			ev.Time = t
		}
	}
	st.setOnce(kModule, vSuricata)
	st.setOnce(kDataset, vSuricataEVE)
	st.aliasIP(kSSrcIP, kSourceIP)
	st.aliasPort(kSSrcPort, kSourcePort)
	st.aliasIP(kSDestIP, kDestIP)
	st.aliasPort(kSDestPort, kDestPort)
	st.lower(kZProto, kTransport)
	st.lower(kSAppProto, kNetProtocol)
	switch et {
	case "dns", "http", "tls", "ssh", "smb", "ftp", "smtp", "dhcp", "krb5", "rdp", "snmp", "sip", "tftp":
		// Protocol records name their protocol only by event_type.
		st.setOnce(kNetProtocol, event.String(et))
	}
	st.alias(kZCommunity, kCommunityID)
	st.alias(kSInIface, kIngressIface)
	if h, ok := ev.Get(kZHost); ok && h.Kind == event.KindString {
		// Suricata's "host" is the sensor's name (sensor-name in
		// suricata.yaml).
		st.setOnce(kObsHostname, h)
	}
	switch et {
	case "alert":
		st.set(kCategory, vIDS)
		st.set(kCategory, vNetwork)
		st.alias(kSSigID, kRuleID)
		st.alias(kSSignature, kRuleName)
		st.alias(kSSigCat, kRuleCategory)
		st.aliasNum(kSSigSev, kSeverity)
		st.alias(kSSigAction, kAction)
		st.alias(kSSignature, kMessage)
	case "dns":
		st.set(kCategory, vNetwork)
		// Version 1 and 2 records name the query in rrname; version 3
		// (Suricata 8) lists queries.
		st.alias(kSRRName, kDNSQName)
		st.alias(kSQueryName, kDNSQName)
		st.alias(kSRRType, kDNSQType)
		st.alias(kSQueryType, kDNSQType)
		st.alias(kSRcode, kDNSRcode)
		st.alias(kSAnsRData, kDNSAnswerData)
		st.alias(kSRData, kDNSAnswerData)
		st.resolvedIPs(kDNSAnswerData)
		if !ev.Has(kDNSResolvedIP) {
			st.resolvedIPs(kSGroupedA)
			st.resolvedIPs(kSGroupedAAA)
		}
	case "http":
		st.set(kCategory, vNetwork)
		st.set(kCategory, vWebCategory)
		st.alias(kSHTTPHost, kHTTPDomain)
		st.url(kSHTTPURL)
		st.alias(kSHTTPMethod, kHTTPMethod)
		st.alias(kSHTTPUA, kUserAgent)
		st.aliasNum(kSHTTPStatus, kHTTPStatus)
		if v, ok := ev.Get(kSHTTPProto); ok && strings.HasPrefix(v.Str, "HTTP/") && len(v.Str) > 5 {
			st.setOnce(kHTTPVersion, event.String(v.Str[5:]))
		}
		st.alias(kSHTTPRefer, kHTTPReferrer)
		st.aliasNum(kSHTTPLength, kHTTPBytes)
		st.alias(kSHTTPCType, kHTTPRespMime)
	case "tls":
		// Suricata's tls.version ("TLS 1.2") already holds the name ECS
		// gives the bare number; it is kept as Suricata wrote it.
		st.set(kCategory, vNetwork)
		st.alias(kSTLSSNI, kTLSSNI)
		st.alias(kSTLSSNI, kDestDomain)
		st.alias(kSTLSSubject, kTLSSubject)
		st.alias(kSTLSIssuer, kTLSIssuer)
		st.alias(kSTLSJA3, kTLSJA3)
		st.alias(kSTLSJA3S, kTLSJA3S)
		st.suricataTime(kSTLSBefore, kTLSNotBefore)
		st.suricataTime(kSTLSAfter, kTLSNotAfter)
		if v, ok := ev.Get(kSTLSFP); ok && v.Kind == event.KindString {
			// aa:bb:... as ECS writes hashes: upper-case hex digits.
			if h := fingerprintHex(v.Str); h != "" {
				st.setOnce(kTLSServerSHA1, event.String(h))
			}
		}
	case "fileinfo":
		st.set(kCategory, vFile)
		if v, ok := ev.Get(kSFileName); ok && v.Kind == event.KindString && v.Str != "" {
			// The name Suricata saw (for HTTP the URL path): the base
			// name is file.name.
			name := v.Str
			if i := strings.LastIndexAny(name, "/\\"); i >= 0 {
				name = name[i+1:]
			}
			if name != "" {
				st.setOnce(kFileName, event.String(name))
			}
		}
		st.aliasNum(kSFileSize, kFileSize)
		st.alias(kSFileMD5, kFileMD5)
		st.alias(kSFileSHA1, kFileSHA1)
		st.alias(kSFileSHA256, kFileSHA256)
	case "flow", "netflow":
		st.set(kCategory, vNetwork)
		st.aliasNum(kSPktsToSrv, kSourcePackets)
		st.aliasNum(kSPktsToCli, kDestPackets)
		st.aliasNum(kSBytesToSrv, kSourceBytes)
		st.aliasNum(kSBytesToCli, kDestBytes)
		st.suricataTime(kSFlowStart, kEventStart)
		st.suricataTime(kSFlowEnd, kEventEnd)
	case "anomaly":
		st.set(kCategory, vNetwork)
		st.alias(kSAnomEvent, kAction)
	default:
		st.set(kCategory, vNetwork)
	}
}

// suricataTime adds Suricata's time text in from (2024-01-02T03:04:05.123456+0000)
// as RFC 3339 under to.
func (st *state) suricataTime(from, to event.Key) {
	v, ok := st.ev.Get(from)
	if !ok || v.Kind != event.KindString || st.ev.Has(to) {
		return
	}
	if t, ok := parseTimestamp(v.Str, time.UTC); ok {
		st.set(to, event.String(t.UTC().Format(time.RFC3339Nano)))
	}
}

// fingerprintHex turns a colon-separated hex fingerprint into upper-case
// hex digits, or "" when s is not one.
func fingerprintHex(s string) string {
	if len(s) > 3*64 {
		return ""
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
		case isDigit(c) || c >= 'A' && c <= 'F':
			b = append(b, c)
		case c >= 'a' && c <= 'f':
			b = append(b, c-'a'+'A')
		default:
			return ""
		}
	}
	if len(b) == 0 || len(b)%2 != 0 {
		return ""
	}
	return string(b)
}

// isIPText reports whether s is an IP address.
func isIPText(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
