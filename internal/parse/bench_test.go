package parse

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/sharedtest"
)

const (
	benchSSHD   = `<38>Nov 21 10:15:04 web01 sshd[2234]: Failed password for invalid user admin from 203.0.113.45 port 41022 ssh2`
	bench5424   = `<165>1 2026-11-21T10:18:00.123456+01:00 app01.example.com myapp 4242 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry`
	benchNginx  = `192.0.2.44 - - [21/Nov/2026:10:20:02 +0000] "GET /index.php?id=42&q=test HTTP/1.1" 200 5120 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"`
	benchJSON   = `{"@timestamp":"2026-11-21T10:24:00.5Z","message":"user logged in","user":{"name":"alice","id":1000,"roles":["admin","dev"]},"source":{"ip":"10.1.2.3","port":51234},"http":{"response":{"status_code":200}},"ok":true,"service":"auth-api","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`
	benchCEF    = `CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 dpt=445 suser=jdoe act=blocked msg=Worm detected and stopped rt=1795255200000`
	benchAuditd = `type=SYSCALL msg=audit(1795255200.123:456): arch=c000003e syscall=59 success=yes exit=0 a0=55d1c0 a1=55d1d0 a2=55d1e0 a3=0 items=2 ppid=1200 pid=1300 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="wget" exe="/usr/bin/wget" subj=unconfined key="susp_activity"`
	benchKV     = `time="2026-11-21T10:23:00Z" level=warning msg="disk almost full" host=db01 used_pct=97.5 retries=3`
)

func benchParse(b *testing.B, line string, format ingest.Format) {
	p := New(Options{})
	r := &ingest.Raw{Data: []byte(line), Format: format, Input: "bench", Received: testReceived}
	var ev event.Event
	p.Parse(r, &ev)
	if ev.HasTag(event.TagParseError) {
		b.Fatalf("benchmark input does not parse: %s", line)
	}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	cpu0 := sharedtest.ProcessCPU()
	for b.Loop() {
		p.Parse(r, &ev)
	}
	reportCPU(b, cpu0)
}

func BenchmarkParseSSHD3164(b *testing.B) { benchParse(b, benchSSHD, ingest.FormatAuto) }
func BenchmarkParseRFC5424(b *testing.B)  { benchParse(b, bench5424, ingest.FormatAuto) }
func BenchmarkParseNginx(b *testing.B)    { benchParse(b, benchNginx, ingest.FormatText) }
func BenchmarkParseJSON(b *testing.B)     { benchParse(b, benchJSON, ingest.FormatJSON) }
func BenchmarkParseCEF(b *testing.B)      { benchParse(b, benchCEF, ingest.FormatAuto) }
func BenchmarkParseAuditd(b *testing.B)   { benchParse(b, benchAuditd, ingest.FormatAuto) }
func BenchmarkParseKV(b *testing.B)       { benchParse(b, benchKV, ingest.FormatAuto) }
func BenchmarkParseWindowsEvtx(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "evtx_sysmon_1.json"))
	if err != nil {
		b.Fatal(err)
	}
	benchParse(b, string(data), ingest.FormatJSON)
}

// BenchmarkParseSSHDParallel measures the sshd line with every core, as the
// pipeline's workers share one Parser.
func BenchmarkParseSSHDParallel(b *testing.B) {
	p := New(Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := &ingest.Raw{Data: []byte(benchSSHD), Input: "bench", Received: testReceived}
		var ev event.Event
		for pb.Next() {
			p.Parse(r, &ev)
		}
	})
}

// BenchmarkParseSSHDFreshEvent parses into a new Event each time, as the
// pipeline does (events are handed on to detection and the store).
func BenchmarkParseSSHDFreshEvent(b *testing.B) {
	p := New(Options{})
	r := &ingest.Raw{Data: []byte(benchSSHD), Input: "bench", Received: testReceived}
	b.ReportAllocs()
	cpu0 := sharedtest.ProcessCPU()
	for b.Loop() {
		var ev event.Event
		p.Parse(r, &ev)
	}
	reportCPU(b, cpu0)
}

// reportCPU reports the process CPU time per operation since cpu0.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu := sharedtest.ProcessCPU() - cpu0; cpu > 0 && cpu0 > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
