package agent

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/agentwire"
)

func TestCleanPath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/var/log/syslog", "/var/log/syslog"},
		{"/var/log/a\nb\x7f.log", "/var/log/a?b?.log"},
		{"/var/log/\xff.log", "/var/log/?.log"},
		{"/" + strings.Repeat("é", agentwire.MaxPath), "/" + strings.Repeat("é", (agentwire.MaxPath-1)/2)},
	} {
		got := cleanPath(tt.in)
		if got != tt.want {
			t.Errorf("cleanPath(%.40q): got %.40q (%d bytes), want %.40q", tt.in, got, len(got), tt.want)
		}
		if len(got) > agentwire.MaxPath || !utf8.ValidString(got) {
			t.Errorf("cleanPath(%.40q): %d bytes, valid %v", tt.in, len(got), utf8.ValidString(got))
		}
	}
}

// TestFitBatch: the longest batch the agent reads (batchRecords lines of
// incompressible bytes) is cut until it fits one frame, and what is cut
// off is sent next.
func TestFitBatch(t *testing.T) {
	var recs []agentwire.Record
	x := uint32(7)
	for i := range batchRecords {
		line := make([]byte, 500)
		for j := range line {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			line[j] = byte(x)
		}
		recs = append(recs, agentwire.Record{Seq: uint64(i + 1), Path: "/var/log/x", Line: line})
	}
	b, kept, err := fitBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) == 0 || len(kept) == len(recs) {
		t.Fatalf("got %d records kept of %d, want a cut batch", len(kept), len(recs))
	}
	if err := agentwire.WriteFrame(&bytes.Buffer{}, &agentwire.Frame{Type: agentwire.TypeRecords, Batch: b}); err != nil {
		t.Fatalf("the fitted batch: %v", err)
	}
	got, err := agentwire.DecodeBatch(b)
	if err != nil || len(got) != len(kept) || got[len(got)-1].Seq != kept[len(kept)-1].Seq {
		t.Errorf("decoded: %d records, %v; want %d", len(got), err, len(kept))
	}
}
