package file

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

// run starts a tailer and returns a stop function that waits for it. Call it
// inside a synctest bubble.
func run(t *testing.T, cfg Config, sink ingest.Sink) (stop func()) {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = pollInterval
	}
	if cfg.GlobInterval == 0 {
		cfg.GlobInterval = 50 * time.Millisecond
	}
	tl, err := New(cfg, sink, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// pollInterval is the tailer's poll interval in these tests: fake time,
// since every test that runs a tailer runs it in a testing/synctest bubble.
const pollInterval = 10 * time.Millisecond

// idle waits until the tailer has done all it can and waits for its next
// poll, then checks that it wrote its state file, which it does after its
// first scan.
func idle(t *testing.T, state string) {
	t.Helper()
	synctest.Wait()
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("state file after the first scan: %v", err)
	}
}

// polls lets n poll intervals pass, then waits until the tailer is idle.
func polls(n int) {
	time.Sleep(time.Duration(n) * pollInterval) // fake time, in the bubble
	synctest.Wait()
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func numbered(prefix string, from, to int) (string, []string) {
	var b strings.Builder
	var want []string
	for i := from; i < to; i++ {
		l := fmt.Sprintf("%s line %d", prefix, i)
		b.WriteString(l + "\n")
		want = append(want, l)
	}
	return b.String(), want
}

func TestFollowAndFields(t *testing.T) { synctest.Test(t, testFollowAndFields) }

func testFollowAndFields(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, "old line\n")
	sink := &ingesttest.Sink{}
	run(t, Config{Paths: []Path{{Glob: filepath.Join(dir, "*.log"), Format: ingest.FormatText, Tags: []string{"t2"}}}, StateFile: filepath.Join(dir, "state.json"), Tags: []string{"t1"}}, sink)
	idle(t, filepath.Join(dir, "state.json"))
	// Started at the end: the old line is skipped.
	appendFile(t, log, "first\r\n\nsecond\npart")
	sink.WaitLines(t, 2)
	polls(5) // and the partial line stays unread
	if diff := cmp.Diff([]string{"first", "second"}, sink.Lines()); diff != "" {
		t.Errorf("lines mismatch (-want +got):\n%s", diff)
	}
	appendFile(t, log, "ial\n")
	got := sink.WaitLines(t, 3)
	if got[2] != "partial" {
		t.Errorf("got %q, want the partial line completed", got[2])
	}
	m := sink.Messages()[0]
	if m.Input != Input || m.Format != ingest.FormatText || m.Fields[FieldPath] != log || !slices.Equal(m.Tags, []string{"t1", "t2"}) {
		t.Errorf("got %+v, want input file, text, log.file.path %s, tags", m, log)
	}
	// A new file appearing later is read from its beginning.
	other := filepath.Join(dir, "new.log")
	appendFile(t, other, "from new file\n")
	got = sink.WaitLines(t, 4)
	if got[3] != "from new file" {
		t.Errorf("got %q, want the new file's first line", got[3])
	}
}

func TestRotationByRename(t *testing.T) { synctest.Test(t, testRotationByRename) }

func testRotationByRename(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, "")
	sink := &ingesttest.Sink{}
	run(t, Config{Paths: []Path{{Glob: log}}, StateFile: filepath.Join(dir, "state.json")}, sink)
	idle(t, filepath.Join(dir, "state.json"))
	s1, want := numbered("a", 0, 100)
	appendFile(t, log, s1)
	sink.WaitLines(t, 100)
	// The writer keeps its descriptor across the rename and writes more.
	w, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	s2, want2 := numbered("a", 100, 150)
	w.WriteString(s2)
	w.WriteString("last line without newline")
	w.Close()
	s3, want3 := numbered("b", 0, 50)
	appendFile(t, log, s3)
	want = append(append(append(want, want2...), "last line without newline"), want3...)
	got := sink.WaitLines(t, len(want))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines mismatch (-want +got):\n%s", diff)
	}
}

func TestRotationByTruncate(t *testing.T) { synctest.Test(t, testRotationByTruncate) }

func testRotationByTruncate(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, "")
	sink := &ingesttest.Sink{}
	run(t, Config{Paths: []Path{{Glob: log}}, StateFile: filepath.Join(dir, "state.json")}, sink)
	idle(t, filepath.Join(dir, "state.json"))
	s1, want := numbered("a", 0, 20)
	appendFile(t, log, s1)
	sink.WaitLines(t, 20)
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	polls(1) // the tailer sees the truncation before the new lines
	s2, want2 := numbered("b", 0, 5)
	appendFile(t, log, s2)
	got := sink.WaitLines(t, 25)
	if diff := cmp.Diff(append(want, want2...), got); diff != "" {
		t.Errorf("lines mismatch (-want +got):\n%s", diff)
	}
}

func TestRestartResumes(t *testing.T) { synctest.Test(t, testRestartResumes) }

func testRestartResumes(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state.json")
	s1, want1 := numbered("x", 0, 5000)
	appendFile(t, log, s1)
	cfg := Config{Paths: []Path{{Glob: log}}, StateFile: state, StartAtBeginning: true, BatchLines: 100}

	sink1 := &ingesttest.Sink{}
	stop := run(t, cfg, sink1)
	sink1.WaitLines(t, 5000)
	stop()
	if diff := cmp.Diff(want1, sink1.Lines()); diff != "" {
		t.Fatalf("first run mismatch (-want +got):\n%.2000s", diff)
	}
	var doc stateDoc
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Files) != 1 || doc.Files[0].Offset != int64(len(s1)) {
		t.Fatalf("got state %s (%v), want one file at offset %d", b, err, len(s1))
	}

	// While stopped, more lines arrive; the restart reads exactly those.
	s2, want2 := numbered("y", 0, 10)
	appendFile(t, log, s2)
	sink2 := &ingesttest.Sink{}
	stop = run(t, cfg, sink2)
	sink2.WaitLines(t, 10)
	polls(5) // and nothing more comes
	stop()
	if diff := cmp.Diff(want2, sink2.Lines()); diff != "" {
		t.Errorf("second run mismatch (-want +got):\n%s", diff)
	}
}

func TestRetryUntilDurable(t *testing.T) { synctest.Test(t, testRetryUntilDurable) }

func testRetryUntilDurable(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	s1, want := numbered("r", 0, 10)
	appendFile(t, log, s1)
	sink := &ingesttest.Sink{}
	sink.Next(ingesttest.Full, ingesttest.Full, ingesttest.Full, ingesttest.Fail, ingesttest.Fail)
	run(t, Config{Paths: []Path{{Glob: log}}, StateFile: filepath.Join(dir, "s.json"), StartAtBeginning: true}, sink)
	got := sink.WaitLines(t, 10)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines mismatch (-want +got):\n%s", diff)
	}
	if got := sink.Offers(); got != 6 {
		t.Errorf("offers: got %d, want 6 (3 refused, 2 failed, 1 stored)", got)
	}
}

func TestInodeReuseNotResumed(t *testing.T) { synctest.Test(t, testInodeReuseNotResumed) }

func testInodeReuseNotResumed(t *testing.T) {
	// A saved offset whose fingerprint does not match the file at that
	// inode must not be used.
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state.json")
	appendFile(t, log, "new content line\n")
	fi, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := idOf(fi)
	if !ok {
		t.Skip("no inodes on this platform")
	}
	if err := saveState(state, map[fileID]savedFile{id: {Path: log, Dev: id.Dev, Ino: id.Ino, Offset: 5, FPLen: 10, FP: "00"}}); err != nil {
		t.Fatal(err)
	}
	sink := &ingesttest.Sink{}
	run(t, Config{Paths: []Path{{Glob: log}}, StateFile: state, StartAtBeginning: true}, sink)
	got := sink.WaitLines(t, 1)
	if got[0] != "new content line" {
		t.Errorf("got %q, want the whole first line", got[0])
	}
}

func TestLongLinesAndBinary(t *testing.T) { synctest.Test(t, testLongLinesAndBinary) }

func testLongLinesAndBinary(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	long := strings.Repeat("L", 1<<20)
	appendFile(t, log, long+"\nafter\n\x00\xff\xfe binary\n"+long)
	sink := &ingesttest.Sink{}
	run(t, Config{Paths: []Path{{Glob: log}}, StateFile: filepath.Join(dir, "s.json"), StartAtBeginning: true, MaxLineSize: 1000}, sink)
	got := sink.WaitLines(t, 4)
	want := []string{long[:1000], "after", "\x00\xff\xfe binary", long[:1000]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines mismatch (-want +got):\n%.500s", diff)
	}
	msgs := sink.Messages()
	if !msgs[0].Truncated || msgs[1].Truncated || !msgs[3].Truncated {
		t.Errorf("got truncated flags %v %v %v, want true false true", msgs[0].Truncated, msgs[1].Truncated, msgs[3].Truncated)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"ok", Config{Paths: []Path{{Glob: "/var/log/*.log"}}, StateFile: "s.json"}, false},
		{"no paths", Config{StateFile: "s.json"}, true},
		{"bad glob", Config{Paths: []Path{{Glob: "[x"}}, StateFile: "s.json"}, true},
		{"no state", Config{Paths: []Path{{Glob: "x"}}}, true},
		{"negative", Config{Paths: []Path{{Glob: "x"}}, StateFile: "s", MaxLineSize: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if got := err != nil; got != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzReadBatch(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nc"), uint8(4), true)
	f.Add([]byte(strings.Repeat("x", 100)+"\ny\n"), uint8(7), false)
	f.Add([]byte("\x00\xff\n\n\n"), uint8(1), true)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte, max uint8, final bool) {
		path := filepath.Join(dir, "fuzz.log")
		if err := os.WriteFile(path, in, 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		m := int(max%64) + 1
		tl, err := New(Config{Paths: []Path{{Glob: path}}, StateFile: filepath.Join(dir, "s.json"), MaxLineSize: m, BatchBytes: 16, BatchLines: 3}, &ingesttest.Sink{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		tf := &tailed{path: path, f: fh}
		total := 0
		for i := 0; ; i++ {
			if i > len(in)+2 {
				t.Fatalf("no progress after %d batches on %d bytes", i, len(in))
			}
			msgs, next, disc, err := tl.readBatch(tf, final)
			if err != nil {
				t.Fatal(err)
			}
			if next < tf.offset || next > int64(len(in)) {
				t.Fatalf("got next offset %d from %d, input %d bytes", next, tf.offset, len(in))
			}
			for _, msg := range msgs {
				if len(msg.Data) > m || len(msg.Data) == 0 {
					t.Fatalf("got line of %d bytes, want 1..%d", len(msg.Data), m)
				}
				total += len(msg.Data)
			}
			if next == tf.offset {
				break
			}
			tf.offset, tf.discarding = next, disc
		}
		if total > len(in) {
			t.Fatalf("lines hold %d bytes, input %d", total, len(in))
		}
	})
}

func TestParseFormat(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    ingest.Format
		wantErr bool
	}{{"", ingest.FormatAuto, false}, {"json", ingest.FormatJSON, false}, {"text", ingest.FormatText, false}, {"syslog", ingest.FormatSyslog, false}, {"xml", 0, true}} {
		got, err := ParseFormat(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseFormat(%q): got %v, %v, want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestStartOffsetsPersisted(t *testing.T) { synctest.Test(t, testStartOffsetsPersisted) }

func testStartOffsetsPersisted(t *testing.T) {
	// Started at the end, stopped before any new line, restarted after
	// lines were appended: those lines are read, not skipped.
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state.json")
	appendFile(t, log, "old\n")
	cfg := Config{Paths: []Path{{Glob: log}}, StateFile: state}
	stop := run(t, cfg, &ingesttest.Sink{})
	idle(t, state)
	stop()
	appendFile(t, log, "while down\n")
	sink := &ingesttest.Sink{}
	run(t, cfg, sink)
	if got := sink.WaitLines(t, 1); got[0] != "while down" {
		t.Errorf("got %q, want the line appended while stopped", got)
	}
}

func TestTruncatedWhileDown(t *testing.T) { synctest.Test(t, testTruncatedWhileDown) }

func testTruncatedWhileDown(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state.json")
	s1, _ := numbered("a", 0, 50)
	appendFile(t, log, s1)
	cfg := Config{Paths: []Path{{Glob: log}}, StateFile: state, StartAtBeginning: false}
	stop := run(t, cfg, &ingesttest.Sink{})
	idle(t, state)
	stop()
	// copytruncate while stopped, then new lines.
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, "fresh\n")
	sink := &ingesttest.Sink{}
	run(t, cfg, sink)
	if got := sink.WaitLines(t, 1); got[0] != "fresh" {
		t.Errorf("got %q, want the line written after truncation", got)
	}
}
