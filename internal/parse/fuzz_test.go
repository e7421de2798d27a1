package parse

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// fuzzMaxFields is small so that fuzzing reaches the field limit.
const fuzzMaxFields = 64

var fuzzParser = New(Options{MaxFields: fuzzMaxFields, MaxDepth: 8})

// checkParse parses data and asserts the invariants every event keeps.
func checkParse(t *testing.T, data []byte, format ingest.Format) {
	t.Helper()
	var ev event.Event
	r := &ingest.Raw{Data: data, Format: format, Input: "fuzz", Received: testReceived}
	fuzzParser.Parse(r, &ev)
	if ev.Raw != string(data) {
		t.Fatalf("raw text not kept: got %q, want %q", ev.Raw, data)
	}
	if ev.Time.IsZero() {
		t.Fatal("event time is zero")
	}
	// The limit applies to decoded fields; message and event.kind may be
	// added beside it.
	if n := len(ev.Fields); n > fuzzMaxFields+2 {
		t.Fatalf("got %d fields, want at most %d", n, fuzzMaxFields+2)
	}
	seen := map[string]int{}
	for _, tag := range ev.Tags {
		seen[tag]++
		if seen[tag] > 1 {
			t.Fatalf("tag %q repeated: %v", tag, ev.Tags)
		}
	}
	for _, f := range ev.Fields {
		if f.Key.Name() == "" {
			t.Fatalf("field with unnamed key %d", f.Key)
		}
	}
	b := ev.AppendJSON(nil)
	if !json.Valid(b) {
		t.Fatalf("event JSON is invalid: %s", b)
	}
}

// seedLines adds the lines of testdata/lines.txt and extra seeds.
func seedLines(f *testing.F, extra ...string) {
	data, err := os.ReadFile(filepath.Join("testdata", "lines.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			f.Add([]byte(line))
		}
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

func FuzzParse(f *testing.F) {
	seedLines(f, "", "\x00", "<", "<999>", "{", "\xff\xfe", benchJSON)
	for _, name := range []string{"evtx_sysmon_1.json", "winlogbeat_4625.json"} {
		if data, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []ingest.Format{ingest.FormatAuto, ingest.FormatSyslog, ingest.FormatText, ingest.FormatJSON} {
			checkParse(t, data, format)
		}
	})
}

func FuzzSyslog(f *testing.F) {
	seedLines(f, benchSSHD, bench5424, `<13>1 2026-11-21T10:18:00Z h a p m [x@1 a="\"\\\]"] msg`, "<13>Nov  1 00:00:00 ", "<13>Nov 31 2026 25:00:00 h p: x")
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data, ingest.FormatSyslog) })
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(benchJSON))
	f.Add([]byte(`{"a":[[[{"b":[1,{"c":null}]}]]],"@timestamp":1795255200123}`))
	f.Add([]byte(`{"time":"2026-11-21 10:00:00,123","ts":"1795255200"}`))
	f.Add([]byte(`{"message":"Accepted password for root from 1.2.3.4 port 22 ssh2","process":{"name":"sshd"}}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data, ingest.FormatJSON) })
}

func FuzzWindowsJSON(f *testing.F) {
	for _, name := range []string{"evtx_security_4688.json", "evtx_sysmon_1.json", "evtx_userdata.json", "winlogbeat_4625.json", "nxlog_4625.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"Event":{"System":{"EventID":{"#text":"x"},"Channel":1},"EventData":{"Data":{"#text":["a","b"]}},"UserData":{"X":{"#attributes":{},"Y":[1,2]}}}}`))
	f.Add([]byte(`{"winlog":{"event_id":[1],"keywords":"k","event_data":{"A":{"B":"c"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data, ingest.FormatJSON) })
}

func FuzzCEF(f *testing.F) {
	f.Add([]byte(benchCEF))
	f.Add([]byte(`CEF:0|V\|x|P|1|s|n|3|src=1.2.3.4 msg=a\=b c\\ d=e rt=Nov 21 2026 10:00:00`))
	f.Add([]byte(`CEF:0|V|P|1|s|n|3|`))
	f.Add([]byte(`CEF:|||||||=`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, append([]byte("CEF:"), data...), ingest.FormatText)
	})
}

func FuzzLEEF(f *testing.F) {
	f.Add([]byte("1.0|Microsoft|MSExchange|4.0|15345|src=192.0.2.1\tdst=172.16.0.1\tusrName=joe"))
	f.Add([]byte("2.0|V|P|1.0|e1|0x5E|src=10.0.0.1^usrName=al ice^devTime=1795255200000"))
	f.Add([]byte("2.0|V|P|1.0|e1|x|"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, append([]byte("LEEF:"), data...), ingest.FormatText)
	})
}

func FuzzKV(f *testing.F) {
	f.Add([]byte(benchKV))
	f.Add([]byte(`a="unterminated b=c`))
	f.Add([]byte(`a='x' b="y\"z" c=1 d=-2.5 e= f`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data, ingest.FormatText) })
}

func FuzzAuditd(f *testing.F) {
	f.Add([]byte(benchAuditd))
	f.Add([]byte("type=EXECVE msg=audit(1795255200.5:7): argc=2 a0=\"cat\" a1=2F746D702F612062\x1dARGC=2"))
	f.Add([]byte("type=PROCTITLE msg=audit(1.1:1): proctitle=6C73002D6C61"))
	f.Add([]byte("node=h type=USER_LOGIN msg=audit(1795255201.001:789): pid=1 msg='op=login acct=\"root\" res=failed'"))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data, ingest.FormatText) })
}

func FuzzAccessLog(f *testing.F) {
	f.Add([]byte(benchNginx))
	f.Add([]byte(`198.51.100.23 - frank [21/Nov/2026:10:20:01 -0700] "POST /login HTTP/1.0" 401 17`))
	f.Add([]byte(`vhost:80 198.51.100.23 - - [21/Nov/2026:10:20:01 -0700] "-" 400 - "-" "-"`))
	f.Add([]byte(`2026/11/21 10:20:03 [error] 1234#1234: *5 x, client: 1.2.3.4, request: "GET / HTTP/1.1"`))
	f.Add([]byte(`[Sat Nov 21 10:20:04.123456 2026] [core:error] [pid 2211:tid 1] [client 192.0.2.45:51200] AH00126: x`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data, ingest.FormatText) })
}

func FuzzEventXML(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "lines.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "<Event"); i >= 0 {
			f.Add([]byte(line[i:]))
		}
	}
	f.Add([]byte(`<Event><System><EventID>1</EventID></System><UserData><X xmlns="u"><A>&#x41;&#65;&bogus;</A></X></UserData><!-- c --><?pi?></Event>`))
	f.Add([]byte(`<Event><System></System><EventData><Data>unnamed</Data><Data Name='q'>'</Data></EventData>`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data, ingest.FormatText) })
}
