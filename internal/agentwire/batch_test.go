package agentwire

import (
	"bytes"
	"compress/flate"
	"strings"
	"testing"
)

func TestBatchRoundTrip(t *testing.T) {
	recs := []Record{
		{Seq: 1, Time: 1, Path: "/var/log/auth.log", Line: []byte("sshd[1]: Failed password for root")},
		{Seq: 7, Time: 2, Path: "/var/log/app.json", Line: []byte{0xff, 0x00, '{'}, Truncated: true},
		{Seq: 8, Time: 3, Path: "/etc/passwd", Line: []byte(`{"action":"modified","path":"/etc/passwd"}`), Kind: KindFIM},
	}
	b, err := EncodeBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteFrame(&buf, &Frame{Type: TypeRecords, Batch: b}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFrame(&buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBatch(f.Batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("got %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if got[i].Seq != recs[i].Seq || got[i].Path != recs[i].Path || !bytes.Equal(got[i].Line, recs[i].Line) || got[i].Truncated != recs[i].Truncated || got[i].Kind != recs[i].Kind {
			t.Errorf("record %d: got %+v, want %+v", i, got[i], recs[i])
		}
	}
}

// TestBatchOneRecordFits: a record of MaxLine incompressible bytes with the
// longest path fits one frame, so the agent can always send its oldest
// record.
func TestBatchOneRecordFits(t *testing.T) {
	line := make([]byte, MaxLine)
	x := uint32(1)
	for i := range line {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		line[i] = byte(x)
	}
	b, err := EncodeBatch([]Record{{Seq: 1, Path: "/" + strings.Repeat("p", MaxPath-1), Line: line}})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&bytes.Buffer{}, &Frame{Type: TypeRecords, Batch: b}); err != nil {
		t.Fatalf("got %v, want the frame to fit", err)
	}
}

func deflate(t testing.TB, raw []byte) *Batch {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(raw)
	w.Close()
	return &Batch{Data: buf.Bytes()}
}

func TestDecodeBatchRefuses(t *testing.T) {
	many := "[" + strings.Repeat(`{"seq":1,"time":0,"path":"","line":""},`, MaxBatchRecords) + `{"seq":1,"time":0,"path":"","line":""}]`
	tests := []struct {
		name string
		b    *Batch
		want string
	}{
		{"not deflate", &Batch{Data: []byte("hello")}, "decompressing"},
		{"bomb past the bound", deflate(t, []byte(`[{"seq":1,"path":"`+strings.Repeat("a", MaxBatchBytes)+`"}]`)), "decompressed"},
		{"empty", deflate(t, []byte(`[]`)), "want 1 to"},
		{"too many", deflate(t, []byte(many)), "want 1 to"},
		{"unknown field", deflate(t, []byte(`[{"seq":1,"x":1}]`)), "unknown field"},
		{"seq zero", deflate(t, []byte(`[{"seq":0}]`)), "sequence 0 after 0"},
		{"seq not increasing", deflate(t, []byte(`[{"seq":5},{"seq":5}]`)), "sequence 5 after 5"},
		{"line too long", deflate(t, []byte(`[{"seq":1,"line":"`+strings.Repeat("QUFB", MaxLine/3+1)+`"}]`)), "line longer"},
		{"path too long", deflate(t, []byte(`[{"seq":1,"path":"`+strings.Repeat("a", MaxPath+1)+`"}]`)), "path: longer"},
		{"path control", deflate(t, []byte(`[{"seq":1,"path":"a\nb"}]`)), "control"},
		{"two values", deflate(t, []byte(`[{"seq":1}] []`)), "more than one"},
		{"unknown kind", deflate(t, []byte(`[{"seq":1,"kind":"inventory"}]`)), `unknown kind "inventory"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBatch(tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDecodeFrameRecordsAndAck(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"type":"records"}`, "without a batch"},
		{`{"type":"records","batch":{"data":""}}`, "without a batch"},
		{`{"type":"ack"}`, "without an ack"},
		{`{"type":"ack","ack":{"seq":-1}}`, "decoding frame"},
		{`{"type":"heartbeat","heartbeat":{"dropped":-1}}`, "negative"},
		{`{"type":"heartbeat","heartbeat":{"fim":{"overflows":-1}}}`, "negative fim"},
	} {
		if _, err := DecodeFrame([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
	f, err := DecodeFrame([]byte(`{"type":"ack","ack":{"seq":42}}`))
	if err != nil || f.Ack.Seq != 42 {
		t.Errorf("got %+v, %v; want ack 42", f, err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	good, _ := EncodeBatch([]Record{{Seq: 3, Time: 1, Path: "/var/log/syslog", Line: []byte("<13>Dec  7 16:00:00 web-1 sshd[1]: hello")}})
	f.Add(good.Data)
	f.Add(deflate(f, []byte(`[{"seq":1},{"seq":2,"truncated":true}]`)).Data)
	f.Add(deflate(f, []byte(`[{"seq":1,"path":"/etc/x","line":"e30=","kind":"fim"}]`)).Data)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := DecodeBatch(&Batch{Data: data})
		if err != nil {
			return
		}
		var last uint64
		for _, r := range recs {
			if r.Seq <= last || len(r.Line) > MaxLine || len(r.Path) > MaxPath || r.Kind != "" && r.Kind != KindFIM {
				t.Fatalf("accepted a record out of bounds: %+v", r)
			}
			last = r.Seq
		}
		if _, err := EncodeBatch(recs); err != nil {
			t.Fatalf("re-encoding an accepted batch: %v", err)
		}
	})
}
