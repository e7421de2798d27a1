package logsource

import (
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

// FuzzParseFile feeds user mapping files (untrusted input) to ParseFile and
// Compile, and routes a few events through any table that compiles.
func FuzzParseFile(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("sources:\n  - name: a\n    logsource: {product: x, service: y}\n    match:\n      event_id: [1, 2]\n      where:\n        - {field: f, equals: [A, b]}\n    fields: {Image: image}\n"))
	f.Add([]byte("sources:\n  - name: a\n    disabled: true\n"))
	f.Add([]byte("sources: [{name: z, logsource: {category: c}, match: {where: [{field: q, exists: false}]}}]"))
	evs := []*event.Event{
		winEvent("Security", 4688, "NewProcessName", "x"),
		jsonEvent("f", "a", "q", "1"),
		{},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile("fuzz.yml", data)
		if err != nil {
			return
		}
		tab, err := Compile(Merge(&File{}, file))
		if err != nil {
			return
		}
		for _, ev := range evs {
			got := tab.Route(ev, nil)
			for i, s := range got {
				if s < 0 || s >= tab.Len() || (i > 0 && got[i-1] >= s) {
					t.Fatalf("Route() = %v: not increasing indices below %d", got, tab.Len())
				}
			}
		}
	})
}

func BenchmarkRoute(b *testing.B) {
	tab := Default()
	evs := []*event.Event{
		winEvent("Microsoft-Windows-Sysmon/Operational", 1, "Image", `C:\Windows\System32\cmd.exe`, "CommandLine", "cmd /c whoami"),
		winEvent("Security", 4624, "TargetUserName", "bob"),
		jsonEvent("eventSource", "iam.amazonaws.com", "eventName", "CreateUser"),
	}
	ssh := &event.Event{Logsource: event.Logsource{Product: "linux", Service: "sshd"}}
	ssh.Set("log.syslog.appname", event.String("sshd"))
	evs = append(evs, ssh)
	dst := make([]int, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			dst = tab.Route(ev, dst[:0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
