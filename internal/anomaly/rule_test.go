package anomaly

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/parse"
)

const firstSeenRule = `title: New process for a user
id: new_proc
level: low
tags: [attack.execution]
logsource: {category: process_creation}
selection:
  event.type: start
anomaly:
  kind: first_seen
  entity: [user.name]
  fields: [process.name]
  warmup: 7d
`

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // "" for a valid rule
	}{
		{name: "first_seen", yaml: firstSeenRule},
		{name: "rare", yaml: "id: r\ntitle: t\nlevel: low\nanomaly: {kind: rare, entity: [host.name], fields: [process.name], below: 3, window: 30d}\n"},
		{name: "spike defaults", yaml: "id: s\ntitle: t\nlevel: low\nanomaly: {kind: spike, entity: [user.name]}\n"},
		{name: "travel defaults", yaml: "id: i\ntitle: t\nlevel: high\nanomaly: {kind: impossible_travel, entity: [user.name]}\n"},
		{name: "selection list and scalars", yaml: "id: x\ntitle: t\nlevel: low\nselection: {event.code: [4624, 4625], flag: true}\nanomaly: {kind: first_seen, fields: [a]}\n"},
		{name: "missing id", yaml: "title: t\nlevel: low\nanomaly: {kind: first_seen, fields: [a]}\n", wantErr: "id: missing"},
		{name: "bad level", yaml: "id: x\ntitle: t\nlevel: severe\nanomaly: {kind: first_seen, fields: [a]}\n", wantErr: "level:"},
		{name: "no kind", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {fields: [a]}\n", wantErr: "kind: missing"},
		{name: "unknown kind", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: weird}\n", wantErr: `unknown kind "weird"`},
		{name: "unknown key", yaml: "id: x\ntitle: t\nlevel: low\ndetection: {}\nanomaly: {kind: first_seen, fields: [a]}\n", wantErr: "detection"},
		{name: "first_seen without fields", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: first_seen}\n", wantErr: "fields: want 1 to 4 fields, got 0"},
		{name: "too many fields", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: first_seen, fields: [a, b, c, d, e]}\n", wantErr: "fields: want 1 to 4 fields, got 5"},
		{name: "bad warmup", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: first_seen, fields: [a], warmup: 7x}\n", wantErr: "warmup:"},
		{name: "warmup at its bound", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: first_seen, fields: [a], warmup: 365d}\n"},
		{name: "warmup past its bound", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: first_seen, fields: [a], warmup: 366d}\n", wantErr: "over the limit"},
		{name: "rare without below", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: rare, fields: [a]}\n", wantErr: "below: want 1"},
		{name: "rare window too short", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: rare, fields: [a], below: 2, window: 5m}\n", wantErr: "outside 1h"},
		{name: "below on first_seen", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: first_seen, fields: [a], below: 2}\n", wantErr: "parameters of rare rules"},
		{name: "spike with fields", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: spike, fields: [a]}\n", wantErr: "no value fields"},
		{name: "spike k out of range", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: spike, k: 101}\n", wantErr: "k: want 0 to 100"},
		{name: "travel without entity", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: impossible_travel}\n", wantErr: "needs the user"},
		{name: "travel speed out of range", yaml: "id: x\ntitle: t\nlevel: low\nanomaly: {kind: impossible_travel, entity: [u], max_speed_kmh: 2000000}\n", wantErr: "max_speed_kmh"},
		{name: "null selection value", yaml: "id: x\ntitle: t\nlevel: low\nselection: {a: null}\nanomaly: {kind: first_seen, fields: [a]}\n", wantErr: "want 1 to 256 values, got 0"},
		{name: "long title", yaml: "id: x\ntitle: " + strings.Repeat("t", 513) + "\nlevel: low\nanomaly: {kind: first_seen, fields: [a]}\n", wantErr: "title: 513 bytes, over the limit of 512"},
		{name: "syntax error", yaml: "id: [x\n", wantErr: "document 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := Parse([]byte(tt.yaml), "test.yml")
			if tt.wantErr == "" {
				if err != nil || len(rules) != 1 {
					t.Fatalf("got %d rules, err %v; want 1 rule", len(rules), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got err %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "test.yml") {
				t.Errorf("got err %q, want it to name the file", err)
			}
		})
	}
}

func TestParseBounds(t *testing.T) {
	t.Run("file size", func(t *testing.T) {
		_, err := Parse(make([]byte, maxRuleFile+1), "big.yml")
		if err == nil || !strings.Contains(err.Error(), "over the limit") {
			t.Fatalf("got err %v, want the size limit", err)
		}
	})
	t.Run("rules per file", func(t *testing.T) {
		var b strings.Builder
		for i := range maxRulesPerFile + 1 {
			b.WriteString(strings.Replace(firstSeenRule, "id: new_proc", "id: r"+strings.Repeat("x", i%3)+string(rune('a'+i%26)), 1))
			b.WriteString("---\n")
		}
		rules, err := Parse([]byte(b.String()), "many.yml")
		if len(rules) != maxRulesPerFile || err == nil || !strings.Contains(err.Error(), "more than 256 rules") {
			t.Fatalf("got %d rules, err %v; want %d and the limit", len(rules), err, maxRulesPerFile)
		}
	})
	t.Run("selection values", func(t *testing.T) {
		vals := strings.Repeat("v, ", maxSelectionVals) + "v"
		_, err := Parse([]byte("id: x\ntitle: t\nlevel: low\nselection: {a: ["+vals+"]}\nanomaly: {kind: first_seen, fields: [a]}\n"), "t.yml")
		if err == nil || !strings.Contains(err.Error(), "want 1 to 256 values, got 257") {
			t.Fatalf("got err %v, want the selection values bound", err)
		}
	})
}

func TestBuiltin(t *testing.T) {
	rules, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 5 {
		t.Fatalf("got %d bundled rules, want at least 5", len(rules))
	}
	kinds := map[string]bool{}
	for _, r := range rules {
		kinds[r.Anomaly.Kind] = true
		if r.Anomaly.Kind != KindImpossibleTravel && r.Warmup() < 7*24*time.Hour {
			t.Errorf("%s: warm-up %s, want at least 7 days for a baseline rule", r.ID, r.Warmup())
		}
	}
	for _, k := range []string{KindFirstSeen, KindSpike, KindImpossibleTravel} {
		if !kinds[k] {
			t.Errorf("no bundled %s rule", k)
		}
	}
	if _, err := New(rules, &fakeRecorder{}, Options{}); err != nil {
		t.Errorf("bundled rules: %v", err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yml", firstSeenRule)
	write("sub/b.yaml", strings.Replace(firstSeenRule, "new_proc", "other", 1))
	write("bad.yml", "id: x\n")
	write("notes.txt", "not a rule")
	rules, err := LoadDir(dir, filepath.Join(dir, "missing"))
	if len(rules) != 2 {
		t.Errorf("got %d rules, want 2", len(rules))
	}
	if err == nil || !strings.Contains(err.Error(), "bad.yml") || strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
		t.Errorf("got err %v, want only bad.yml's", err)
	}
	_, err = New(append(rules, rules[0]), &fakeRecorder{}, Options{})
	if err == nil || !strings.Contains(err.Error(), `rule id "new_proc" already used`) {
		t.Errorf("got err %v, want the duplicate id", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(firstSeenRule))
	f.Add([]byte(acceptanceRules))
	if rs, err := os.ReadFile("builtin/login.yml"); err == nil {
		f.Add(rs)
	}
	f.Add([]byte("id: x\ntitle: t\nlevel: low\nanomaly: {kind: rare, fields: [a], below: 3, window: 1d}\n"))
	f.Add([]byte("anomaly: !!map [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, _ := Parse(data, "fuzz.yml")
		for _, r := range rules {
			if r.ID == "" || r.Title == "" || len(r.Anomaly.Fields) > maxFields || len(r.Anomaly.Entity) > maxFields {
				t.Fatalf("rule past validation: %+v", r)
			}
		}
		if len(rules) > 0 {
			if _, err := New(rules, &fakeRecorder{}, Options{}); err != nil && len(rules) == 1 {
				t.Fatalf("one valid rule refused: %v", err)
			}
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"entities at the bound", func(c *Config) { c.MaxEntities = maxConfigEntities }, ""},
		{"entities past the bound", func(c *Config) { c.MaxEntities = maxConfigEntities + 1 }, "max_entities: want 1 to 10000000, got 10000001"},
		{"no entities", func(c *Config) { c.MaxEntities = 0 }, "max_entities"},
		{"values past the bound", func(c *Config) { c.MaxValues = maxConfigValues + 1 }, "max_values: want 1 to 65536, got 65537"},
		{"flush too often", func(c *Config) { c.FlushInterval = time.Millisecond }, "flush_interval: want 1s to 1h, got 1ms"},
		{"flush too rarely", func(c *Config) { c.FlushInterval = 2 * time.Hour }, "flush_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got err %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestBuiltinSelectsParsedEvents checks that each bundled rule selects the
// events Vigil's parser makes of what it is about, and finds its fields in
// them: a rule whose selection or field names drifted from the parser's
// would never fire.
func TestBuiltinSelectsParsedEvents(t *testing.T) {
	sysmon, err := os.ReadFile(filepath.Join("..", "parse", "testdata", "evtx_sysmon_1.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		line string
		want []string // rules that select the event and find their fields
	}{
		{"sshd accepted", "<38>Nov 21 10:15:04 host sshd[1]: Accepted password for alice from 192.0.2.1 port 22 ssh2",
			[]string{"vigil_anomaly_new_login_country", "vigil_anomaly_impossible_travel"}},
		{"sshd failed", "<38>Nov 21 10:15:04 host sshd[1]: Failed password for alice from 192.0.2.1 port 22 ssh2",
			[]string{"vigil_anomaly_auth_failure_spike"}},
		{"sudo", "<85>Nov 21 10:15:04 host sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls",
			[]string{"vigil_anomaly_new_sudo_user"}},
		{"sysmon process creation", string(sysmon), []string{"vigil_anomaly_new_parent_child"}},
	}
	rules, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(rules, &fakeRecorder{}, Options{Country: func(netip.Addr) (string, bool) { return "FR", true }})
	if err != nil {
		t.Fatal(err)
	}
	p := parse.New(parse.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev event.Event
			p.Parse(&ingest.Raw{Data: []byte(tt.line), Received: monthStart}, &ev)
			var got []string
			for _, rs := range e.current() {
				if !rs.matches(&ev) {
					continue
				}
				if _, ok := e.hashValues(&ev, rs.entity); !ok {
					continue
				}
				if len(rs.fields) > 0 {
					if _, ok := e.hashValues(&ev, rs.fields); !ok {
						continue
					}
				}
				got = append(got, rs.r.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q (event: %v)", got, tt.want, ev.Fields)
			}
		})
	}
}
