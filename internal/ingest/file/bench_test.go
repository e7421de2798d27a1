package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

// BenchmarkReadBatch measures reading and splitting a batch of lines from
// a file (the tailer's hot path, without the sink).
func BenchmarkReadBatch(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "bench.log")
	var sb strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&sb, "May  1 10:00:00 web01 sshd[%d]: Failed password for invalid user admin from 203.0.113.7 port 51234 ssh2\n", i)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	tl, err := New(Config{Paths: []Path{{Glob: path}}, StateFile: filepath.Join(dir, "s.json")}, &ingesttest.Sink{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	tf := &tailed{path: path, f: fh}
	b.ReportAllocs()
	lines := 0
	for b.Loop() {
		msgs, next, _, err := tl.readBatch(tf, false)
		if err != nil {
			b.Fatal(err)
		}
		lines += len(msgs)
		tf.offset = next
		if len(msgs) == 0 {
			tf.offset = 0
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
