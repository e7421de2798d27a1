package syslog

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

type gotFrame struct {
	Data      string
	Truncated bool
	EOFCut    bool
}

// splitAll runs the framer over r and returns its frames and final error.
func splitAll(r io.Reader, max int) ([]gotFrame, error) {
	fr := newFramer(r, max)
	var out []gotFrame
	for {
		f, err := fr.next()
		if len(f.data) > 0 {
			out = append(out, gotFrame{string(f.data), f.truncated, f.eofCut})
		}
		if err != nil {
			return out, err
		}
	}
}

func TestFramer(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name    string
		in      string
		max     int
		want    []gotFrame
		wantErr error
	}{
		{"lf", "<13>a\n<13>b\n", 64, []gotFrame{{Data: "<13>a"}, {Data: "<13>b"}}, io.EOF},
		{"crlf and blank lines", "<13>a\r\n\r\n\n<13>b\r\n", 64, []gotFrame{{Data: "<13>a"}, {Data: "<13>b"}}, io.EOF},
		{"nul delimited", "<13>a\x00<13>b\x00", 64, []gotFrame{{Data: "<13>a"}, {Data: "<13>b"}}, io.EOF},
		{"last line without lf", "<13>a\n<13>b", 64, []gotFrame{{Data: "<13>a"}, {Data: "<13>b"}}, io.EOF},
		{"octet counting", "5 <13>a5 <13>b", 64, []gotFrame{{Data: "<13>a"}, {Data: "<13>b"}}, io.EOF},
		{"octet with lf inside count", "6 <13>a\n6 <13>b\n", 64, []gotFrame{{Data: "<13>a"}, {Data: "<13>b"}}, io.EOF},
		{"octet then lf between frames", "5 <13>a\n5 <13>b\n", 64, []gotFrame{{Data: "<13>a"}, {Data: "<13>b"}}, io.EOF},
		{"octet message with newlines", "11 <13>a\nb\nc\nd", 64, []gotFrame{{Data: "<13>a\nb\nc\nd"}}, io.EOF},
		{"mixed per frame", "<13>a\n5 <13>b<13>c\n", 64, []gotFrame{{Data: "<13>a"}, {Data: "<13>b"}, {Data: "<13>c"}}, io.EOF},
		{"lf line starting with digits", "2024-01-01 x\n12 y", 64, []gotFrame{{Data: "2024-01-01 x"}, {Data: "12 y"}}, io.EOF},
		{"truncated octet frame at eof", "10 <13>ab", 64, []gotFrame{{Data: "<13>ab", Truncated: true, EOFCut: true}}, io.EOF},
		{"octet count above max", "100 <13>" + long + "\n5 <13>b", 32, []gotFrame{{Data: ("<13>" + long)[:32], Truncated: true}}, errBadFrame},
		{"huge octet count", "99999999999999999999 <13>x", 32, nil, errBadFrame},
		{"count above int range", "99999999999 <13>x", 32, nil, errBadFrame},
		{"digits without lt are a line", "12 y\n", 64, []gotFrame{{Data: "12 y"}}, io.EOF},
		{"malformed count after octet start", "5 <13>a12x\n", 64, []gotFrame{{Data: "<13>a"}}, errBadFrame},
		{"long lf line cut and rest dropped", long + "\n<13>b\n", 16, []gotFrame{{Data: long[:16], Truncated: true}, {Data: "<13>b"}}, io.EOF},
		{"long lf line at eof", long, 16, []gotFrame{{Data: long[:16], Truncated: true}}, io.EOF},
		{"exactly max", "<13>abcdefghijkl\n", 16, []gotFrame{{Data: "<13>abcdefghijkl"}}, io.EOF},
		{"empty", "", 16, nil, io.EOF},
		{"tiny max with long digits", "1111111111111111111111111 <1\n", 1, []gotFrame{{Data: "1", Truncated: true}}, io.EOF},
	}
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"half":     func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
	}
	for _, tt := range tests {
		for rname, mk := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				got, err := splitAll(mk(tt.in), tt.max)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("frames mismatch (-want +got):\n%s", diff)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("got error %v, want %v", err, tt.wantErr)
				}
			})
		}
	}
}

func TestFramerLargeStream(t *testing.T) {
	// Many messages of random sizes through a small-chunk reader: every
	// message comes out whole and in order.
	r := rand.New(rand.NewPCG(1, 2))
	var in bytes.Buffer
	var want []gotFrame
	for i := range 5000 {
		msg := "<13>" + strings.Repeat(string(rune('a'+i%26)), r.IntN(3000))
		want = append(want, gotFrame{Data: msg})
		if i%2 == 0 {
			in.WriteString(msg + "\n")
		} else {
			in.WriteString(strings.TrimSpace(itoa(len(msg))) + " " + msg)
		}
	}
	got, err := splitAll(iotest.HalfReader(&in), 4096)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("got error %v, want EOF", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames mismatch (-want +got):\n%s", diff[:min(len(diff), 2000)])
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func FuzzFramer(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.log")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(64))
	}
	f.Add([]byte("5 <13>a5 <13>b"), uint16(16))
	f.Add([]byte("<13>a\x00<13>b\n\n12 x"), uint16(8))
	f.Add([]byte("999999999999 x"), uint16(8))
	f.Add([]byte("1111111111111111111111111 <1"), uint16(0))
	f.Fuzz(func(t *testing.T, in []byte, max uint16) {
		m := int(max%2048) + 1
		fr := newFramer(iotest.HalfReader(bytes.NewReader(in)), m)
		total := 0
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatalf("framer produced more frames (%d) than input bytes (%d)", i, len(in))
			}
			f, err := fr.next()
			if len(f.data) > m {
				t.Fatalf("frame of %d bytes exceeds max %d", len(f.data), m)
			}
			total += len(f.data)
			if total > len(in) {
				t.Fatalf("frames hold %d bytes, input only %d", total, len(in))
			}
			if len(fr.buf) > fr.limit {
				t.Fatalf("buffer grew to %d, limit %d", len(fr.buf), fr.limit)
			}
			if err != nil {
				return
			}
		}
	})
}
