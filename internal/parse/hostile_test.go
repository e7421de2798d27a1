package parse

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// TestHostileInput feeds oversized and malformed messages and checks that
// each parses in bounded time and memory, keeps its raw text and respects
// the field limit.
func TestHostileInput(t *testing.T) {
	const mb = 1 << 20
	deepObj := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	deepArr := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	deep40 := strings.Repeat(`{"a":`, 40) + `"leaf"` + strings.Repeat("}", 40)
	var many strings.Builder
	many.WriteString("{")
	for i := range 100000 {
		if i > 0 {
			many.WriteByte(',')
		}
		many.WriteString(`"f` + strconv.Itoa(i) + `":` + strconv.Itoa(i))
	}
	many.WriteString("}")
	var manyKV strings.Builder
	for i := range 100000 {
		manyKV.WriteString("k" + strconv.Itoa(i) + "=v ")
	}
	tests := []struct {
		name      string
		data      string
		format    ingest.Format
		wantTags  []string
		wantField string // a field that must be present
	}{
		{name: "1MB text", data: strings.Repeat("a", mb), format: ingest.FormatAuto},
		{name: "1MB syslog", data: "<13>Nov 21 10:00:00 h p: " + strings.Repeat("x ", mb/2), format: ingest.FormatAuto, wantField: "message"},
		{name: "1MB json string", data: `{"m":"` + strings.Repeat("y", mb) + `"}`, format: ingest.FormatJSON, wantField: "m"},
		{name: "1MB cef spaces", data: "CEF:0|V|P|1|s|n|1|msg=" + strings.Repeat("word ", mb/5), format: ingest.FormatAuto, wantField: "cef.extensions.msg"},
		{name: "1MB cef equals", data: "CEF:0|V|P|1|s|n|1|" + strings.Repeat("a=b ", mb/4), format: ingest.FormatAuto, wantTags: []string{event.TagTruncated}},
		{name: "1MB access-like", data: "1.2.3.4 - - [" + strings.Repeat("[", mb), format: ingest.FormatText},
		{name: "1MB sshd", data: "<38>Nov 21 10:15:01 h sshd[1]: Failed password for " + strings.Repeat("from ", mb/5), format: ingest.FormatAuto},
		{name: "1MB quotes", data: strings.Repeat(`a="\"`, mb/5), format: ingest.FormatText},
		{name: "1MB auditd", data: "type=SYSCALL msg=audit(1.1:1): " + strings.Repeat("a=41 ", mb/5), format: ingest.FormatText, wantTags: []string{event.TagTruncated}},
		{name: "NUL bytes", data: "<13>Nov 21 10:00:00 h p: a\x00b\x00", format: ingest.FormatAuto, wantField: "message"},
		{name: "invalid UTF-8", data: "<13>Nov 21 10:00:00 h p: \xff\xfe\xc3", format: ingest.FormatAuto, wantField: "message"},
		{name: "10k deep object", data: deepObj, format: ingest.FormatJSON, wantTags: []string{event.TagParseError}},
		{name: "10k deep array", data: `{"a":` + deepArr + `}`, format: ingest.FormatJSON, wantTags: []string{event.TagParseError}},
		{name: "40 deep object kept as text", data: deep40, format: ingest.FormatJSON, wantField: strings.Repeat("a.", 31) + "a"},
		{name: "100k json fields", data: many.String(), format: ingest.FormatJSON, wantTags: []string{event.TagTruncated}, wantField: "f0"},
		{name: "100k kv pairs", data: manyKV.String(), format: ingest.FormatText, wantTags: []string{event.TagTruncated}, wantField: "k0"},
	}
	p := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			keysBefore := event.NumKeys()
			start := time.Now()
			var ev event.Event
			p.Parse(&ingest.Raw{Data: []byte(tt.data), Format: tt.format, Received: testReceived}, &ev)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v, want well under 10s", d)
			}
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(40*len(tt.data))+8<<20 {
				t.Errorf("allocated %d bytes for a %d-byte input", grew, len(tt.data))
			}
			if n := event.NumKeys() - keysBefore; n > DefaultMaxFields+16 {
				t.Errorf("interned %d new field names, want at most about the field limit", n)
			}
			if ev.Raw != tt.data {
				t.Error("raw text not kept")
			}
			if n := len(ev.Fields); n > DefaultMaxFields+2 {
				t.Errorf("got %d fields, want at most %d", n, DefaultMaxFields+2)
			}
			for _, tag := range tt.wantTags {
				if !ev.HasTag(tag) {
					t.Errorf("got tags %v, want %q among them", ev.Tags, tag)
				}
			}
			if tt.wantField != "" && ev.Str(tt.wantField) == "" {
				t.Errorf("field %s missing", tt.wantField)
			}
			if b := ev.AppendJSON(nil); !bytes.HasPrefix(b, []byte("{")) {
				t.Errorf("bad JSON output %.100s", b)
			}
		})
	}
}

func TestLongNamesAreCut(t *testing.T) {
	long := strings.Repeat("k", 100000)
	p := New(Options{})
	for _, tt := range []struct {
		name   string
		data   string
		format ingest.Format
	}{
		{"json", `{"` + long + `":1}`, ingest.FormatJSON},
		{"kv", long + "=1 a=2", ingest.FormatText},
		{"cef", "CEF:0|V|P|1|s|n|1|" + long + "=x", ingest.FormatText},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ev event.Event
			p.Parse(&ingest.Raw{Data: []byte(tt.data), Format: tt.format, Received: testReceived}, &ev)
			for _, f := range ev.Fields {
				if n := len(f.Key.Name()); n > MaxNameLen+len("cef.extensions.") {
					t.Errorf("field name of %d bytes kept", n)
				}
			}
			if !ev.HasTag(event.TagTruncated) {
				t.Errorf("got tags %v, want truncated", ev.Tags)
			}
		})
	}
}
