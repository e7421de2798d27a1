package parse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// sharedDir finds the shared/ folder beside the repository root by walking
// up from the package directory, or skips the test.
func sharedDir(t testing.TB, sub string) string { return sharedtest.Dir(t, sub) }

// jsonText renders a decoded JSON scalar the way the parser keeps it.
func jsonText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return fmt.Sprint(x), true
	case nil:
		return "", true
	}
	return "", false
}

// TestWindowsRegressionData parses every event of the SigmaHQ regression
// data (evtx_dump JSON) and checks the flat Sigma names against the source.
func TestWindowsRegressionData(t *testing.T) {
	root := sharedDir(t, filepath.Join("sigma", "regression_data"))
	p := New(Options{})
	files, events := 0, 0
	services := map[string]int{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		objs, err := sharedtest.SplitJSON(data)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		files++
		for i, obj := range objs {
			events++
			var ev event.Event
			p.Parse(&ingest.Raw{Data: obj, Format: ingest.FormatJSON, Received: testReceived}, &ev)
			checkEvtxEvent(t, fmt.Sprintf("%s#%d", path, i), obj, &ev)
			services[ev.Logsource.Service]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no regression data files found")
	}
	t.Logf("%d files, %d events, services %v", files, events, services)
}

func checkEvtxEvent(t *testing.T, where string, obj []byte, ev *event.Event) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	var doc struct {
		Event struct {
			System    map[string]any
			EventData map[string]any
			UserData  map[string]map[string]any
		}
	}
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if ev.HasTag(event.TagParseError) {
		t.Errorf("%s: tagged parse_error", where)
	}
	if got, want := ev.Logsource.Product, "windows"; got != want {
		t.Errorf("%s: got product %q, want %q", where, got, want)
	}
	sys := doc.Event.System
	eid, _ := jsonText(sys["EventID"])
	for name, want := range map[string]string{
		"EventID":    eid,
		"event.code": eid,
		"Channel":    sys["Channel"].(string),
		"Computer":   sys["Computer"].(string),
		"host.name":  sys["Computer"].(string),
	} {
		if got := ev.Str(name); got != want {
			t.Errorf("%s: got %s %q, want %q", where, name, got, want)
		}
	}
	if ev.Logsource.Service == "" {
		t.Errorf("%s: no service for channel %q", where, sys["Channel"])
	}
	if ev.Time.Equal(testReceived) {
		t.Errorf("%s: event time not taken from TimeCreated", where)
	}
	check := func(m map[string]any) {
		for k, v := range m {
			if strings.HasPrefix(k, "#") {
				continue
			}
			want, ok := jsonText(v)
			if !ok {
				continue
			}
			val, found := ev.GetName(k)
			if !found {
				t.Errorf("%s: field %s missing", where, k)
				continue
			}
			if val.Str != want {
				t.Errorf("%s: got %s %q, want %q", where, k, val.Str, want)
			}
		}
	}
	check(doc.Event.EventData)
	for _, el := range doc.Event.UserData {
		check(el)
	}
}

// TestWindowsSamples checks our own evtx_dump and Winlogbeat samples against
// a golden file.
func TestWindowsSamples(t *testing.T) {
	p := New(Options{})
	var out bytes.Buffer
	for _, name := range []string{"evtx_security_4688.json", "evtx_sysmon_1.json", "evtx_userdata.json", "winlogbeat_4625.json", "nxlog_4625.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var ev event.Event
		p.Parse(&ingest.Raw{Data: data, Format: ingest.FormatAuto, Received: testReceived}, &ev)
		out.WriteString("> " + name + "\n")
		out.Write(render(t, &ev))
		out.WriteString("\n")
	}
	checkGolden(t, "windows.golden", out.Bytes())
}

func TestWindowsChannels(t *testing.T) {
	tests := []struct {
		channel, service string
	}{
		{"Security", "security"},
		{"System", "system"},
		{"Application", "application"},
		{"Microsoft-Windows-Sysmon/Operational", "sysmon"},
		{"Windows PowerShell", "powershell-classic"},
		{"Microsoft-Windows-PowerShell/Operational", "powershell"},
		{"PowerShellCore/Operational", "powershell"},
		{"Microsoft-Windows-TaskScheduler/Operational", "taskscheduler"},
		{"Microsoft-Windows-Windows Defender/Operational", "windefend"},
		{"Microsoft-Windows-AppLocker/EXE and DLL", "applocker"},
		{"Some-Unknown/Channel", ""},
	}
	p := New(Options{})
	for _, tt := range tests {
		t.Run(tt.channel, func(t *testing.T) {
			doc := fmt.Sprintf(`{"Event":{"System":{"EventID":1,"Channel":%q,"Computer":"h"},"EventData":{"A":"b"}}}`, tt.channel)
			var ev event.Event
			p.Parse(&ingest.Raw{Data: []byte(doc), Received: testReceived}, &ev)
			want := event.Logsource{Product: "windows", Service: tt.service}
			if diff := cmp.Diff(want, ev.Logsource); diff != "" {
				t.Errorf("logsource (-want +got):\n%s", diff)
			}
			if got := ev.Str("A"); got != "b" {
				t.Errorf("got A %q, want %q", got, "b")
			}
		})
	}
}

// TestWindowsXMLMatchesJSON checks that the XML and the evtx_dump JSON form
// of one event give the same fields, logsource and time.
func TestWindowsXMLMatchesJSON(t *testing.T) {
	p := New(Options{})
	parseFile := func(name string) *event.Event {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var ev event.Event
		p.Parse(&ingest.Raw{Data: data, Received: testReceived}, &ev)
		return &ev
	}
	flat := func(ev *event.Event) map[string]string {
		m := map[string]string{}
		for _, f := range ev.Fields {
			if n := f.Key.Name(); n != event.FieldMessage {
				m[n] = f.Value.Str
			}
		}
		return m
	}
	fromJSON := parseFile("evtx_security_4688.json")
	fromXML := parseFile("evtx_security_4688.xml")
	if diff := cmp.Diff(flat(fromJSON), flat(fromXML)); diff != "" {
		t.Errorf("fields differ (-json +xml):\n%s", diff)
	}
	if diff := cmp.Diff(fromJSON.Logsource, fromXML.Logsource); diff != "" {
		t.Errorf("logsource differs (-json +xml):\n%s", diff)
	}
	if !fromJSON.Time.Equal(fromXML.Time) {
		t.Errorf("got XML time %v, want %v", fromXML.Time, fromJSON.Time)
	}
}
