package logsource

import (
	"github.com/vigilsec/vigil/internal/sharedtest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigilsec/vigil/internal/event"
)

func winEvent(channel string, id int64, fields ...string) *event.Event {
	ev := &event.Event{Logsource: event.Logsource{Product: "windows"}}
	ev.Set("EventID", event.Int(id))
	ev.Set("Channel", event.String(channel))
	for i := 0; i+1 < len(fields); i += 2 {
		ev.Set(fields[i], event.String(fields[i+1]))
	}
	return ev
}

func jsonEvent(fields ...string) *event.Event {
	ev := &event.Event{}
	for i := 0; i+1 < len(fields); i += 2 {
		ev.Set(fields[i], event.String(fields[i+1]))
	}
	return ev
}

func routeNames(t *Table, ev *event.Event) []string {
	var names []string
	for _, i := range t.Route(ev, nil) {
		names = append(names, t.Source(i).Name)
	}
	return names
}

func TestRoute(t *testing.T) {
	tab := Default()
	tests := []struct {
		name string
		ev   *event.Event
		want []string
	}{
		{"sysmon process creation", winEvent("Microsoft-Windows-Sysmon/Operational", 1, "Image", `C:\x.exe`),
			[]string{"sysmon-process-creation", "windows-sysmon"}},
		{"sysmon channel case", winEvent("microsoft-windows-sysmon/operational", 1),
			[]string{"sysmon-process-creation", "windows-sysmon"}},
		{"sysmon registry create key", winEvent("Microsoft-Windows-Sysmon/Operational", 12, "EventType", "CreateKey"),
			[]string{"sysmon-registry-event", "sysmon-registry-add", "windows-sysmon"}},
		{"sysmon registry set", winEvent("Microsoft-Windows-Sysmon/Operational", 13),
			[]string{"sysmon-registry-event", "sysmon-registry-set", "windows-sysmon"}},
		{"security 4688", winEvent("Security", 4688, "NewProcessName", `C:\x.exe`),
			[]string{"security-4688-process-creation", "windows-security"}},
		{"security 4624", winEvent("Security", 4624), []string{"windows-security"}},
		{"event id 1 of another channel", winEvent("System", 1), []string{"windows-system"}},
		{"powershell 4104", winEvent("Microsoft-Windows-PowerShell/Operational", 4104),
			[]string{"powershell-ps-script", "windows-powershell"}},
		{"defender 1116", winEvent("Microsoft-Windows-Windows Defender/Operational", 1116),
			[]string{"defender-antivirus", "windows-windefend"}},
		{"cloudtrail", jsonEvent("eventSource", "iam.amazonaws.com", "eventName", "CreateUser"),
			[]string{"aws-cloudtrail"}},
		{"cloudtrail without eventName", jsonEvent("eventSource", "iam.amazonaws.com"), nil},
		{"zeek dns", jsonEvent("_path", "dns", "query", "example.com"), []string{"zeek-dns", "zeek-dns-category"}},
		{"okta", jsonEvent("eventType", "user.session.start", "legacyEventType", "core.user_auth.login_success"),
			[]string{"okta-system"}},
		{"nothing", jsonEvent("foo", "bar"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := routeNames(tab, tt.ev)
			if diff := cmp.Diff(sortedByIndex(tab, tt.want), got); diff != "" {
				t.Errorf("Route() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// sortedByIndex orders names as Route does (by source index).
func sortedByIndex(tab *Table, names []string) []string {
	var out []string
	for i := 0; i < tab.Len(); i++ {
		for _, n := range names {
			if tab.Source(i).Name == n {
				out = append(out, n)
			}
		}
	}
	return out
}

func TestLinuxRoute(t *testing.T) {
	tab := Default()
	ev := &event.Event{Logsource: event.Logsource{Product: "linux", Service: "sshd"}}
	ev.Set("log.syslog.appname", event.String("sshd"))
	got := routeNames(tab, ev)
	want := []string{"linux-auth", "linux-syslog"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Route() mismatch (-want +got):\n%s", diff)
	}
}

func TestField(t *testing.T) {
	tab := Default()
	var i4688 = -1
	for i := 0; i < tab.Len(); i++ {
		if tab.Source(i).Name == "security-4688-process-creation" {
			i4688 = i
		}
	}
	if i4688 < 0 {
		t.Fatal("no security-4688-process-creation source")
	}
	for rule, want := range map[string]string{"Image": "NewProcessName", "ParentImage": "ParentProcessName", "CommandLine": "CommandLine"} {
		if got := tab.Field(i4688, rule); got != want {
			t.Errorf("Field(4688, %q) = %q, want %q", rule, got, want)
		}
	}
}

func TestMerge(t *testing.T) {
	user := []byte(`
sources:
  - name: windows-sysmon
    disabled: true
  - name: sysmon-process-creation
    logsource: {product: windows, category: process_creation}
    match:
      product: windows
      event_id: 1
      where:
        - field: Channel
          equals: My-Sysmon
  - name: my-app
    logsource: {product: myapp, service: api}
    match:
      where:
        - {field: app, equals: [myapp]}
    fields:
      User: user.name
`)
	base, err := ParseFile("default.yml", DefaultYAML())
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseFile("user.yml", user)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Compile(Merge(base, u))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tab.Len(), Default().Len(); got != want {
		t.Errorf("Len() = %d, want %d (one removed, one added)", got, want)
	}
	if got := routeNames(tab, winEvent("Microsoft-Windows-Sysmon/Operational", 1)); got != nil {
		t.Errorf("Route(original sysmon channel) = %v, want none", got)
	}
	if got, want := routeNames(tab, winEvent("My-Sysmon", 1)), []string{"sysmon-process-creation"}; !cmp.Equal(got, want) {
		t.Errorf("Route(My-Sysmon) = %v, want %v", got, want)
	}
	if got, want := routeNames(tab, jsonEvent("app", "MyApp")), []string{"my-app"}; !cmp.Equal(got, want) {
		t.Errorf("Route(myapp) = %v, want %v", got, want)
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct{ name, yml, want string }{
		{"unknown attribute", "sources:\n  - name: a\n    logsource: {product: x}\n    mtach: {}\n", "mtach"},
		{"no name", "sources:\n  - logsource: {product: x}\n", "no name"},
		{"duplicate", "sources:\n  - name: a\n    logsource: {product: x}\n  - name: a\n    logsource: {product: y}\n", "twice"},
		{"empty logsource", "sources:\n  - name: a\n", "empty logsource"},
		{"two ops", "sources:\n  - name: a\n    logsource: {product: x}\n    match:\n      where:\n        - {field: f, equals: a, endswith: b}\n", "exactly one"},
		{"no field", "sources:\n  - name: a\n    logsource: {product: x}\n    match:\n      where:\n        - {equals: a}\n", "no field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile("u.yml", []byte(tt.yml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseFile() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// sharedDir finds /work/shared (a sibling "shared" of the repository root)
// by walking up from the package directory.
func sharedDir(t testing.TB) string { return sharedtest.Dir(t, "sigma") }

// TestCoverageOfWindowsCategories checks that every Windows category listed
// in the Sigma taxonomy file of the shared SigmaHQ checkout is mapped, except
// those that have no event log source (ETW-only categories).
func TestCoverageOfWindowsCategories(t *testing.T) {
	d := sharedDir(t)
	data, err := os.ReadFile(filepath.Join(d, "tests", "thor.yml"))
	if err != nil {
		t.Skipf("thor.yml not readable: %v", err)
	}
	tab := Default()
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		cat, ok := strings.CutPrefix(line, "category: ")
		if !ok || cat == "webserver" || cat == "logfile" || cat == "appliance" {
			continue
		}
		if len(tab.Covering(event.Logsource{Product: "windows", Category: cat})) == 0 {
			t.Errorf("windows category %q is not mapped", cat)
		}
	}
}

func TestLogsources(t *testing.T) {
	ev := winEvent("Security", 4688, "NewProcessName", `C:\x.exe`)
	ev.Logsource.Service = "security"
	got := Default().Logsources(ev, nil)
	want := []event.Logsource{
		{Product: "windows", Service: "security"},
		{Product: "windows", Category: "process_creation"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Logsources() mismatch (-want +got):\n%s", diff)
	}
}
