package parse

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/event"
)

// TestSuricataConformance parses one sample of each EVE event type
// (written after Suricata's EVE documentation) and checks its logsource,
// time, Suricata's own names and the ECS names added beside them.
func TestSuricataConformance(t *testing.T) {
	suricata := func(service string) event.Logsource { return event.Logsource{Product: "suricata", Service: service} }
	common := func(extra map[string][]string) map[string][]string {
		m := map[string][]string{"event.module": {"suricata"}, "event.dataset": {"suricata.eve"}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []sensorCase{
		{
			file: "suricata/alert.json", logsource: suricata("alert"), time: "2026-11-21T10:05:01.734521Z",
			fields: common(map[string][]string{
				"alert.signature_id": {"9100001"}, "alert.severity": {"1"},
				"alert.signature": {"LOCAL Windows executable served from a .top domain"},
				"rule.id":         {"9100001"}, "rule.name": {"LOCAL Windows executable served from a .top domain"},
				"rule.category": {"Potentially Bad Traffic"}, "event.severity": {"1"}, "event.action": {"allowed"},
				"message":    {"LOCAL Windows executable served from a .top domain"},
				"event.kind": {"alert"}, "event.category": {"intrusion_detection", "network"},
				"src_ip": {"203.0.113.80"}, "source.ip": {"203.0.113.80"}, "source.port": {"80"},
				"destination.ip": {"10.20.30.41"}, "destination.port": {"51802"},
				"network.transport": {"tcp"}, "network.protocol": {"http"},
				"network.community_id":            {"1:Qm2rV8nX0bL4kT6yZ1wS3dF5gH7="},
				"observer.ingress.interface.name": {"eth1"},
			}),
		},
		{
			file: "suricata/flow.json", logsource: suricata("flow"), time: "2026-11-21T10:06:12.004411Z",
			fields: common(map[string][]string{
				"flow.state": {"closed"}, "source.packets": {"22"}, "destination.packets": {"41"},
				"source.bytes": {"2669"}, "destination.bytes": {"49855"},
				"event.start": {"2026-11-21T10:06:08.75301Z"}, "event.end": {"2026-11-21T10:06:12.003102Z"},
				"network.protocol": {"tls"}, "event.kind": {"event"}, "event.category": {"network"},
			}),
		},
		{
			file: "suricata/dns.json", logsource: event.Logsource{Product: "suricata", Category: "dns", Service: "dns"},
			time: "2026-11-21T10:00:02.136611Z",
			fields: common(map[string][]string{
				"dns.rrname": {"api.telegram.org"}, "dns.type": {"answer"},
				"dns.question.name": {"api.telegram.org"}, "dns.question.type": {"A"},
				"dns.response_code": {"NOERROR"}, "dns.answers.data": {"192.0.2.180"},
				"dns.resolved_ip": {"192.0.2.180"}, "network.protocol": {"dns"}, "network.transport": {"udp"},
			}),
		},
		{
			file: "suricata/dns_query.json", logsource: event.Logsource{Product: "suricata", Category: "dns", Service: "dns"},
			time: "2026-11-21T10:00:02.11803Z",
			fields: common(map[string][]string{
				"dns.type": {"query"}, "dns.question.name": {"api.telegram.org"}, "dns.question.type": {"A"},
				"dns.answers.data": nil, "dns.resolved_ip": nil,
			}),
		},
		{
			file: "suricata/http.json", logsource: suricata("http"), time: "2026-11-21T10:05:01.901233Z",
			fields: common(map[string][]string{
				"http.url": {"/files/patch/KB5031356.exe?src=mail"}, "http.hostname": {"cdn-update.example.top"},
				"url.original": {"/files/patch/KB5031356.exe?src=mail"}, "url.path": {"/files/patch/KB5031356.exe"},
				"url.query": {"src=mail"}, "url.domain": {"cdn-update.example.top"},
				"http.request.method": {"GET"}, "user_agent.original": {"Mozilla/5.0 (Windows NT 10.0; Win64; x64)"},
				"http.response.status_code": {"200"}, "http.version": {"1.1"},
				"http.request.referrer": {"http://portal.example.com/start"}, "http.response.body.bytes": {"281600"},
				"http.response.mime_type": {"application/x-msdownload"},
				"event.category":          {"network", "web"}, "network.protocol": {"http"},
			}),
		},
		{
			file: "suricata/tls.json", logsource: suricata("tls"), time: "2026-11-21T10:06:08.901227Z",
			fields: common(map[string][]string{
				"tls.sni": {"files.example.net"}, "tls.version": {"TLS 1.2"},
				"tls.client.server_name": {"files.example.net"}, "destination.domain": {"files.example.net"},
				"tls.server.subject": {"CN=files.example.net"},
				"tls.server.issuer":  {"C=ZZ, O=Example Test CA, CN=Example Test Issuing CA 2"},
				"tls.client.ja3":     {"4a8f3c2e1d0b9a87f6e5d4c3b2a19080"}, "tls.server.ja3s": {"0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"},
				"tls.server.not_before": {"2026-01-01T00:00:00Z"}, "tls.server.not_after": {"2027-01-31T23:59:59Z"},
				"tls.server.hash.sha1": {"9E410C7A55B2E8136FD0249AC13B7708EE524DA6"},
			}),
		},
		{
			file: "suricata/fileinfo.json", logsource: suricata("fileinfo"), time: "2026-11-21T10:05:02.208871Z",
			fields: common(map[string][]string{
				"fileinfo.filename": {"/files/patch/KB5031356.exe"}, "file.name": {"KB5031356.exe"},
				"file.size": {"281600"}, "file.hash.md5": {"0f343b0931126a20f133d67c2b018a3b"},
				"file.hash.sha1":   {"e2f5c3a1d47b6098c1a2e3f405968778a9b0c1d2"},
				"file.hash.sha256": {"5d41c9e2b7a8f6031e4d5c6b7a8990a1b2c3d4e5f60718293a4b5c6d7e8f9012"},
				"event.category":   {"file"}, "network.protocol": {"http"},
			}),
		},
		{
			file: "suricata/anomaly.json", logsource: suricata("anomaly"), time: "2026-11-21T10:07:45.550019Z",
			fields: common(map[string][]string{
				"anomaly.type": {"decode"}, "event.action": {"decoder.udp.pkt_too_small"},
				"source.ip": {"198.51.100.201"}, "source.port": {"0"}, "network.transport": {"udp"},
				"event.category": {"network"},
			}),
		},
	}
	p := New(Options{})
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.file, ".json"), func(t *testing.T) { checkSensorCase(t, p, tc, nil) })
	}
}

// TestSuricataRecognition covers which records are taken for EVE.
func TestSuricataRecognition(t *testing.T) {
	long := strings.Repeat("x", maxSensorName)
	tests := []struct {
		name, line string
		want       event.Logsource
	}{
		{"flow_id", `{"timestamp":"2026-11-21T10:00:00.000000+0000","flow_id":1,"event_type":"smb"}`, event.Logsource{Product: "suricata", Service: "smb"}},
		{"addresses without flow_id", `{"timestamp":"2026-11-21T10:00:00.000000+0000","event_type":"drop","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","proto":"TCP"}`, event.Logsource{Product: "suricata", Service: "drop"}},
		{"event type at the length bound", `{"timestamp":"t","flow_id":1,"event_type":"` + long + `"}`, event.Logsource{Product: "suricata", Service: long}},
		{"event type past the length bound", `{"timestamp":"t","flow_id":1,"event_type":"` + long + `x"}`, event.Logsource{}},
		{"event type with other characters", `{"timestamp":"t","flow_id":1,"event_type":"Alert!"}`, event.Logsource{}},
		{"no timestamp", `{"flow_id":1,"event_type":"alert"}`, event.Logsource{}},
		{"neither flow_id nor addresses", `{"timestamp":"2026-11-21T10:00:00Z","event_type":"stats","stats":{"uptime":5}}`, event.Logsource{}},
		{"event_type not a string", `{"timestamp":"t","flow_id":1,"event_type":["alert"]}`, event.Logsource{}},
	}
	p := New(Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := parseLine(t, p, tc.line)
			if ev.Logsource != tc.want {
				t.Errorf("logsource: got %+v, want %+v", ev.Logsource, tc.want)
			}
		})
	}
}

// TestSuricataHostileValues checks that values that are not what Suricata
// writes do not become ECS addresses, ports, hashes or times.
func TestSuricataHostileValues(t *testing.T) {
	line := `{"timestamp":"2026-11-21T10:00:00.000000+0000","flow_id":1,"event_type":"tls","src_ip":"::ffff:zz","src_port":70000,"dest_ip":"2001:db8::1","dest_port":"443","proto":"TCP","tls":{"fingerprint":"zz:11","notbefore":"yesterday","sni":""}}`
	p := New(Options{})
	ev := parseLine(t, p, line)
	for name, want := range map[string][]string{
		"source.ip":              nil,
		"source.port":            nil,
		"destination.ip":         {"2001:db8::1"},
		"destination.port":       {"443"},
		"tls.server.hash.sha1":   nil,
		"tls.server.not_before":  nil,
		"tls.client.server_name": nil,
	} {
		var got []string
		if k, ok := event.Lookup(name); ok {
			for _, v := range ev.Values(nil, k) {
				got = append(got, v.Str)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("field %s (-want +got):\n%s", name, diff)
		}
	}
}

func TestFingerprintHex(t *testing.T) {
	tests := []struct{ in, want string }{
		{"9e:41:0c", "9E410C"},
		{"ABCDEF", "ABCDEF"},
		{"", ""},
		{"a", ""},
		{"zz:11", ""},
		{strings.Repeat("ab:", 64), strings.Repeat("AB", 64)},
		{strings.Repeat("ab:", 64) + "a", ""},
	}
	for _, tc := range tests {
		if got := fingerprintHex(tc.in); got != tc.want {
			t.Errorf("fingerprintHex(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSuricata(f *testing.F) {
	seedDir(f, "suricata")
	f.Add([]byte(`{"timestamp":"2026-11-21T10:00:00+0000","flow_id":1,"event_type":"tls","tls":{"fingerprint":":::","notbefore":1}}`))
	f.Add([]byte(`{"timestamp":1,"flow_id":"x","event_type":"fileinfo","fileinfo":{"filename":"/"}}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkSensorEvent(t, data) })
}
