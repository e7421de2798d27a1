package parse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
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

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// testReceived is the receive time of every test message: RFC 3164 years
// are taken from it.
var testReceived = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// parseLine parses one message with FormatAuto and returns the event.
func parseLine(t testing.TB, p *Parser, line string) *event.Event {
	t.Helper()
	var ev event.Event
	p.Parse(&ingest.Raw{Data: []byte(line), Input: "test", Received: testReceived}, &ev)
	return &ev
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

// render writes ev in a stable, readable form for golden files: time,
// logsource, tags, then one line per field with its kind. (The event's own
// JSON encoding belongs to package event and may change independently.)
func render(t *testing.T, ev *event.Event) []byte {
	t.Helper()
	if b := ev.AppendJSON(nil); !json.Valid(b) {
		t.Fatalf("event JSON is invalid: %s", b)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "  time: %s\n", ev.Time.UTC().Format(time.RFC3339Nano))
	if ls := ev.Logsource; ls != (event.Logsource{}) {
		fmt.Fprintf(&out, "  logsource: product=%s category=%s service=%s\n", ls.Product, ls.Category, ls.Service)
	}
	if len(ev.Tags) > 0 {
		fmt.Fprintf(&out, "  tags: %s\n", strings.Join(ev.Tags, ","))
	}
	for _, f := range ev.Fields {
		fmt.Fprintf(&out, "  %s = %s:%q\n", f.Key.Name(), f.Value.Kind, f.Value.Str)
	}
	return out.Bytes()
}

// TestGoldenLines parses every line of testdata/lines.txt and compares the
// events with testdata/lines.golden.
func TestGoldenLines(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "lines.txt"))
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{})
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ev := parseLine(t, p, line)
		out.WriteString("> " + line + "\n")
		out.Write(render(t, ev))
		out.WriteString("\n")
	}
	checkGolden(t, "lines.golden", out.Bytes())
}
