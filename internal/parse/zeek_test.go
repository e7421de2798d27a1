package parse

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// sensorCase is one sample of the network-sensor conformance suite: a file
// under testdata, the logsource and time its event must have, and fields
// whose every value is listed (a field listed with no values must be
// absent).
type sensorCase struct {
	file      string
	logsource event.Logsource
	time      string
	fields    map[string][]string
}

// checkSensorCase parses the sample and compares what the case asserts.
func checkSensorCase(t *testing.T, p *Parser, tc sensorCase, fields map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", tc.file))
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	p.Parse(&ingest.Raw{Data: data, Input: "test", Received: testReceived, Fields: fields}, &ev)
	if got := ev.Logsource; got != tc.logsource {
		t.Errorf("logsource: got %+v, want %+v", got, tc.logsource)
	}
	if got := ev.Time.UTC().Format(time.RFC3339Nano); got != tc.time {
		t.Errorf("time: got %s, want %s", got, tc.time)
	}
	if len(ev.Tags) > 0 {
		t.Errorf("tags: got %v, want none", ev.Tags)
	}
	for name, want := range tc.fields {
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

// TestZeekConformance parses one sample of each Zeek log (written after
// Zeek's log documentation) and checks its logsource, time, Zeek's own
// names and the ECS names added beside them. Samples without _path are
// recognised by their fields.
func TestZeekConformance(t *testing.T) {
	zeek := func(service string) event.Logsource { return event.Logsource{Product: "zeek", Service: service} }
	tests := []sensorCase{
		{
			file: "zeek/conn.json", logsource: zeek("conn"), time: "2026-11-21T10:00:01.482913Z",
			fields: map[string][]string{
				"id.orig_h": {"10.20.30.41"}, "id.resp_p": {"443"}, "uid": {"CpX9fr2qG0yWm8tLb4"},
				"source.ip": {"10.20.30.41"}, "source.port": {"51734"},
				"destination.ip": {"198.51.100.14"}, "destination.port": {"443"},
				"network.transport": {"tcp"}, "network.protocol": {"ssl"},
				"network.community_id": {"1:Hk3PzYw2bC7aVd9rTqE0mXuLs5o="},
				"source.bytes":         {"1517"}, "destination.bytes": {"48211"},
				"source.packets": {"22"}, "destination.packets": {"41"},
				"event.duration": {"3250148000"},
				"event.kind":     {"event"}, "event.category": {"network"},
				"event.module": {"zeek"}, "event.dataset": {"zeek.conn"},
			},
		},
		{
			file: "zeek/dns.json", logsource: event.Logsource{Product: "zeek", Category: "dns", Service: "dns"},
			time: "2026-11-21T10:00:02.118402Z",
			fields: map[string][]string{
				"query": {"eu1.pool.supportxmr.com"}, "qtype_name": {"A"}, "Z": {"0"}, "rejected": {"false"},
				"answers":           {"edge-7.pool.supportxmr.com", "203.0.113.118"},
				"dns.question.name": {"eu1.pool.supportxmr.com"}, "dns.question.type": {"A"},
				"dns.question.class": {"C_INTERNET"}, "dns.response_code": {"NOERROR"}, "dns.id": {"28417"},
				"dns.answers.data": {"edge-7.pool.supportxmr.com", "203.0.113.118"},
				"dns.resolved_ip":  {"203.0.113.118"}, "dns.header_flags": {"RD", "RA"},
				"network.transport": {"udp"}, "network.protocol": {"dns"},
				"observer.hostname": {"sensor-east"}, "event.dataset": {"zeek.dns"},
			},
		},
		{
			file: "zeek/http.json", logsource: zeek("http"), time: "2026-11-21T10:01:00.031877Z",
			fields: map[string][]string{
				"method": {"GET"}, "host": {"cdn-update.example.top"}, "uri": {"/files/patch/KB5031356.exe"},
				"user_agent": {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"}, "status_code": {"200"},
				"resp_mime_types":     {"application/x-dosexec"},
				"http.request.method": {"GET"}, "url.domain": {"cdn-update.example.top"},
				"url.original": {"/files/patch/KB5031356.exe"}, "url.path": {"/files/patch/KB5031356.exe"}, "url.query": nil,
				"user_agent.original":       {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"},
				"http.response.status_code": {"200"}, "http.version": {"1.1"},
				"http.request.referrer":    {"http://portal.example.com/start?ref=mail"},
				"http.response.body.bytes": {"281600"}, "http.response.mime_type": {"application/x-dosexec"},
				"event.category": {"network", "web"}, "event.dataset": {"zeek.http"},
			},
		},
		{
			file: "zeek/ssl.json", logsource: zeek("ssl"), time: "2026-11-21T10:00:01.520004Z",
			fields: map[string][]string{
				"server_name": {"files.example.net"}, "version": {"TLSv12"},
				"tls.version": {"1.2"}, "tls.version_protocol": {"tls"},
				"tls.cipher": {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}, "tls.curve": {"x25519"},
				"tls.client.server_name": {"files.example.net"}, "destination.domain": {"files.example.net"},
				"tls.established": {"true"}, "tls.resumed": {"false"}, "tls.next_protocol": {"h2"},
				"tls.client.ja3": {"4a8f3c2e1d0b9a87f6e5d4c3b2a19080"}, "tls.server.ja3s": {"0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"},
				"event.dataset": {"zeek.ssl"},
			},
		},
		{
			file: "zeek/x509.json", logsource: zeek("x509"), time: "2026-11-21T10:00:01.519871Z",
			fields: map[string][]string{
				"certificate.serial": {"8BB00EE"}, "san.dns": {"intranet-gw.example.test", "gw.example.test"},
				"x509.serial_number":              {"8BB00EE"},
				"x509.subject.distinguished_name": {"CN=intranet-gw,OU=Ops,O=Example Test,L=Springfield,C=ZZ"},
				"x509.not_before":                 {"2024-01-01T00:00:00Z"}, "x509.not_after": {"2028-01-01T00:00:00Z"},
				"x509.public_key_algorithm": {"rsaEncryption"}, "x509.public_key_size": {"2048"},
				"x509.signature_algorithm": {"sha256WithRSAEncryption"}, "x509.version_number": {"3"},
				"x509.alternative_names": {"intranet-gw.example.test", "gw.example.test"},
				"source.ip":              nil, "event.dataset": {"zeek.x509"},
			},
		},
		{
			file: "zeek/files.json", logsource: zeek("files"), time: "2026-11-21T10:01:00.198344Z",
			fields: map[string][]string{
				"fuid": {"Fq7YwB3kq1Rz0mN2d8"}, "file.name": {"KB5031356.exe"}, "file.mime_type": {"application/x-dosexec"},
				"file.size": {"281600"}, "file.hash.md5": {"0f343b0931126a20f133d67c2b018a3b"},
				"file.hash.sha1":   {"e2f5c3a1d47b6098c1a2e3f405968778a9b0c1d2"},
				"file.hash.sha256": {"5d41c9e2b7a8f6031e4d5c6b7a8990a1b2c3d4e5f60718293a4b5c6d7e8f9012"},
				"source.ip":        {"10.20.30.41"}, "event.category": {"file"}, "event.dataset": {"zeek.files"},
			},
		},
		{
			file: "zeek/files_legacy.json", logsource: zeek("files"), time: "2026-11-21T10:01:00.198344Z",
			fields: map[string][]string{
				"tx_hosts": {"203.0.113.80"}, "source.ip": {"203.0.113.80"}, "destination.ip": {"10.20.30.41"},
				"file.size": {"51200"}, "file.hash.sha1": {"9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d"}, "file.name": nil,
			},
		},
		{
			file: "zeek/notice.json", logsource: zeek("notice"), time: "2026-11-21T10:05:00.004112Z",
			fields: map[string][]string{
				"note": {"SSH::Password_Guessing"}, "rule.name": {"SSH::Password_Guessing"},
				"message":   {"10.20.9.77 appears to be guessing SSH passwords (seen in 30 connections)."},
				"source.ip": {"10.20.9.77"}, "event.kind": {"alert"}, "event.category": {"intrusion_detection"},
				"event.dataset": {"zeek.notice"},
			},
		},
		{
			file: "zeek/weird.json", logsource: zeek("weird"), time: "2026-11-21T10:02:00.770215Z",
			fields: map[string][]string{
				"name": {"dns_unmatched_reply"}, "event.action": {"dns_unmatched_reply"}, "peer": {"worker-1"},
				"destination.port": {"53"}, "event.dataset": {"zeek.weird"},
			},
		},
		{
			file: "zeek/ssh.json", logsource: zeek("ssh"), time: "2026-11-21T10:03:20.9153Z",
			fields: map[string][]string{
				"auth_success": {"false"}, "auth_attempts": {"6"}, "client": {"SSH-2.0-libssh2_1.10.0"},
				"event.outcome": {"failure"}, "event.category": {"network", "authentication"},
				"network.direction": {"inbound"}, "network.protocol": {"ssh"}, "event.dataset": {"zeek.ssh"},
			},
		},
		{
			file: "zeek/dce_rpc.json", logsource: zeek("dce_rpc"), time: "2026-11-21T10:06:50.402001Z",
			fields: map[string][]string{
				"endpoint": {"svcctl"}, "operation": {"CreateServiceW"}, "named_pipe": {`\pipe\ntsvcs`},
				"destination.port": {"445"}, "event.dataset": {"zeek.dce_rpc"},
			},
		},
		{
			file: "zeek/smb_files.json", logsource: zeek("smb_files"), time: "2026-11-21T10:07:20.11881Z",
			fields: map[string][]string{
				"path": {`\\DC01\ADMIN$`}, "name": {`SYSTEM32\QxLmTpRa.tmp`}, "action": {"SMB::FILE_OPEN"},
				"event.action": nil, "event.dataset": {"zeek.smb_files"},
			},
		},
		{
			file: "zeek/kerberos.json", logsource: zeek("kerberos"), time: "2026-11-21T10:08:20.230117Z",
			fields: map[string][]string{
				"request_type": {"TGS"}, "cipher": {"rc4-hmac"}, "service": {"MSSQLSvc/sql02.corp.example.test:1433"},
				"network.protocol": nil, "event.dataset": {"zeek.kerberos"},
			},
		},
		{
			file: "zeek/rdp.json", logsource: zeek("rdp"), time: "2026-11-21T10:10:00.660402Z",
			fields: map[string][]string{
				"cookie": {"administr"}, "security_protocol": {"HYBRID"}, "source.ip": {"203.0.113.45"},
				"event.dataset": {"zeek.rdp"},
			},
		},
	}
	p := New(Options{})
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.file, ".json"), func(t *testing.T) { checkSensorCase(t, p, tc, nil) })
	}
}

// TestZeekRecognition covers how a record is told to be Zeek's (and which
// log): _path, the fields only one log has, the file input's file name,
// and what is not believed.
func TestZeekRecognition(t *testing.T) {
	long := strings.Repeat("a", maxSensorName)
	tests := []struct {
		name, line, path string
		want             event.Logsource
		dataset          string
	}{
		{"path names the log", `{"_path":"smtp","ts":1795255201.5,"uid":"C1","mailfrom":"a@example.test"}`, "", event.Logsource{Product: "zeek", Service: "smtp"}, "zeek.smtp"},
		{"path at the length bound", `{"_path":"` + long + `","ts":1}`, "", event.Logsource{Product: "zeek", Service: long}, "zeek." + long},
		{"path past the length bound", `{"_path":"` + long + `b","ts":1}`, "", event.Logsource{}, ""},
		{"path with other characters", `{"_path":"Conn Log","ts":1}`, "", event.Logsource{}, ""},
		{"path without ts", `{"_path":"conn","uid":"C1"}`, "", event.Logsource{}, ""},
		{"path not a string: the fields tell", `{"_path":7,"ts":1,"conn_state":"SF","uid":"C1"}`, "", event.Logsource{Product: "zeek", Service: "conn"}, "zeek.conn"},
		{"file name for a log without telling fields", `{"ts":1795255201.5,"uid":"C1","helo":"mx.example.test"}`, "/var/log/zeek/current/smtp.log", event.Logsource{Product: "zeek", Service: "smtp"}, "zeek.smtp"},
		{"rotated file name", `{"ts":1795255201.5,"uid":"C1","mac":"00:11:22:33:44:55"}`, `D:\zeek\logs\dhcp.2026-11-21-10-00-00.log`, event.Logsource{Product: "zeek", Service: "dhcp"}, "zeek.dhcp"},
		{"file name that is not a Zeek log", `{"ts":1795255201.5,"level":"info"}`, "/var/log/app.log", event.Logsource{}, ""},
		{"fields win over the file name", `{"ts":1,"uid":"C1","conn_state":"S0"}`, "/logs/dns.log", event.Logsource{Product: "zeek", Service: "conn"}, "zeek.conn"},
		{"plain JSON with ts", `{"ts":1795255201.5,"msg":"hello","uid":"u1"}`, "", event.Logsource{}, ""},
	}
	p := New(Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fields map[string]string
			if tc.path != "" {
				fields = map[string]string{"log.file.path": tc.path}
			}
			var ev event.Event
			p.Parse(&ingest.Raw{Data: []byte(tc.line), Received: testReceived, Fields: fields}, &ev)
			if ev.Logsource != tc.want {
				t.Errorf("logsource: got %+v, want %+v", ev.Logsource, tc.want)
			}
			if got := ev.Str("event.dataset"); got != tc.dataset {
				t.Errorf("event.dataset: got %q, want %q", got, tc.dataset)
			}
		})
	}
}

// TestSensorRecordInMessage checks records that arrive as the message of
// another: Suricata's EVE output to syslog, and a shipper that forwards
// each line of a log file as its message without decoding it. The sensor's
// own time wins over the envelope's, and alerts stay alerts.
func TestSensorRecordInMessage(t *testing.T) {
	eve, err := os.ReadFile(filepath.Join("testdata", "suricata", "alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	dns, err := os.ReadFile(filepath.Join("testdata", "zeek", "dns.json"))
	if err != nil {
		t.Fatal(err)
	}
	quoted := func(b []byte) string { s, _ := json.Marshal(strings.TrimSpace(string(b))); return string(s) }
	tests := []struct {
		name, line string
		format     ingest.Format
		want       event.Logsource
		time       string
		kind       []string
	}{
		{"EVE over syslog", "<14>Nov 21 10:05:01 sensor1 suricata[1234]: " + strings.TrimSpace(string(eve)), ingest.FormatAuto,
			event.Logsource{Product: "suricata", Service: "alert"}, "2026-11-21T10:05:01.734521Z", []string{"alert"}},
		{"Zeek line as a shipper's message", `{"@timestamp":"2026-11-21T10:00:00Z","message":` + quoted(dns) + `}`, ingest.FormatJSON,
			event.Logsource{Product: "zeek", Category: "dns", Service: "dns"}, "2026-11-21T10:00:02.118402Z", []string{"event"}},
		{"EVE line as text", strings.TrimSpace(string(eve)), ingest.FormatText,
			event.Logsource{Product: "suricata", Service: "alert"}, "2026-11-21T10:05:01.734521Z", []string{"alert"}},
	}
	p := New(Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev event.Event
			p.Parse(&ingest.Raw{Data: []byte(tc.line), Format: tc.format, Received: testReceived}, &ev)
			if ev.Logsource != tc.want {
				t.Errorf("logsource: got %+v, want %+v", ev.Logsource, tc.want)
			}
			if got := ev.Time.UTC().Format(time.RFC3339Nano); got != tc.time {
				t.Errorf("time: got %s, want %s", got, tc.time)
			}
			var kinds []string
			for _, v := range ev.Values(nil, kKind) {
				kinds = append(kinds, v.Str)
			}
			if diff := cmp.Diff(tc.kind, kinds); diff != "" {
				t.Errorf("event.kind (-want +got):\n%s", diff)
			}
		})
	}
}

// TestZeekHostileValues checks that values that are not what Zeek writes
// stay under Zeek's names but do not become ECS addresses, ports, times or
// durations.
func TestZeekHostileValues(t *testing.T) {
	line := `{"_path":"conn","ts":"soon","id.orig_h":"not-an-ip","id.orig_p":"x","id.resp_h":["10.0.0.1","bogus"],"id.resp_p":-1,"proto":7,"duration":-3,"uid":"C1"}`
	p := New(Options{})
	ev := parseLine(t, p, line)
	for name, want := range map[string][]string{
		"id.orig_h":         {"not-an-ip"},
		"source.ip":         nil,
		"source.port":       nil,
		"destination.ip":    {"10.0.0.1"},
		"destination.port":  nil,
		"network.transport": nil,
		"event.duration":    nil,
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
	if !ev.Time.Equal(testReceived) {
		t.Errorf("time: got %v, want the received time %v (ts is not a time)", ev.Time, testReceived)
	}
}

func TestEpochText(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for not a time
	}{
		{"1795255201.482913", "2026-11-21T10:00:01.482913Z"},
		{"1795255201", "2026-11-21T10:00:01Z"},
		{"99999999999", "5138-11-16T09:46:39Z"}, // eleven digits: the bound
		{"100000000000", ""},
		{"1795255201." + strings.Repeat("9", maxEpochFraction), "2026-11-21T10:00:01.999999999Z"},
		{"1795255201." + strings.Repeat("9", maxEpochFraction+1), ""},
		{"1795255201.12x", ""},
		{"-1.5", ""},
		{"0.0", ""},
		{"", ""},
		{".5", ""},
	}
	for _, tc := range tests {
		got := ""
		if tm, ok := epochText(tc.in); ok {
			got = tm.Format(time.RFC3339Nano)
		}
		if got != tc.want {
			t.Errorf("epochText(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSensorPortBounds(t *testing.T) {
	p := New(Options{})
	ev := parseLine(t, p, `{"_path":"conn","ts":1,"id.orig_p":65535,"id.resp_p":65536}`)
	if got := ev.Str("source.port"); got != "65535" {
		t.Errorf("source.port: got %q, want 65535", got)
	}
	if ev.Has(kDestPort) {
		t.Errorf("destination.port: got %q, want none past 65535", ev.Str("destination.port"))
	}
	ev = parseLine(t, p, `{"_path":"conn","ts":1,"id.orig_p":0,"id.resp_p":2.5}`)
	if got := ev.Str("source.port"); got != "0" {
		t.Errorf("source.port: got %q, want 0", got)
	}
	if ev.Has(kDestPort) {
		t.Errorf("destination.port: got %q, want none for a fraction", ev.Str("destination.port"))
	}
}

func TestZeekTime(t *testing.T) {
	tests := []struct {
		ts   string
		want string
	}{
		{`1795255201.482913`, "2026-11-21T10:00:01.482913Z"},
		{`1795255201`, "2026-11-21T10:00:01Z"},
		{`"1795255201.000001"`, "2026-11-21T10:00:01.000001Z"},
		{`"2026-11-21T10:00:01.5Z"`, "2026-11-21T10:00:01.5Z"},
		{`1795255201.1234567891`, "2026-11-21T10:00:01.123456789Z"}, // ten digits: float path
		{`0`, testReceived.Format(time.RFC3339Nano)},
	}
	p := New(Options{})
	for _, tc := range tests {
		t.Run(tc.ts, func(t *testing.T) {
			ev := parseLine(t, p, `{"_path":"conn","ts":`+tc.ts+`}`)
			if got := ev.Time.UTC().Format(time.RFC3339Nano); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// seedDir adds every sample under testdata/dir to f.
func seedDir(f *testing.F, dir string) {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no samples in testdata/%s: %v", dir, err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkSensorEvent asserts what a recognised sensor record always keeps:
// a bounded service name and the dataset that goes with the product.
func checkSensorEvent(t *testing.T, data []byte) {
	t.Helper()
	checkParse(t, data, ingest.FormatJSON)
	var ev event.Event
	fuzzParser.Parse(&ingest.Raw{Data: data, Format: ingest.FormatJSON, Received: testReceived}, &ev)
	switch ev.Logsource.Product {
	case "zeek", "suricata":
		if s := ev.Logsource.Service; s == "" || len(s) > maxSensorName || !sensorName([]byte(s)) {
			t.Fatalf("service %q: want a name of at most %d bytes", s, maxSensorName)
		}
		if ev.Logsource.Product == "zeek" && !strings.HasPrefix(ev.Str("event.dataset"), "zeek.") && !ev.HasTag(event.TagTruncated) {
			t.Fatalf("zeek record with event.dataset %q", ev.Str("event.dataset"))
		}
		for _, name := range []string{"source.ip", "destination.ip"} {
			k, _ := event.Lookup(name)
			for _, v := range ev.Values(nil, k) {
				if !isIPText(v.Str) {
					t.Fatalf("%s = %q, want an IP address", name, v.Str)
				}
			}
		}
	}
}

func FuzzZeek(f *testing.F) {
	seedDir(f, "zeek")
	f.Add([]byte(`{"_path":"dns","ts":"1.5","answers":[["a"]],"AA":true,"id.resp_p":"53"}`))
	f.Add([]byte(`{"ts":1e300,"uid":"C","conn_state":"SF","duration":1e300,"id.orig_h":["::1","x"]}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkSensorEvent(t, data) })
}

// benchSample parses a testdata sample in a loop (benchParse's loop).
func benchSample(b *testing.B, name string) {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		b.Fatal(err)
	}
	benchParse(b, strings.TrimSpace(string(data)), ingest.FormatJSON)
}

func BenchmarkParseZeekConn(b *testing.B)      { benchSample(b, "zeek/conn.json") }
func BenchmarkParseZeekDNS(b *testing.B)       { benchSample(b, "zeek/dns.json") }
func BenchmarkParseSuricataAlert(b *testing.B) { benchSample(b, "suricata/alert.json") }
