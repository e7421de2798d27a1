package syslog

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

// sampleStream returns n RFC 5424 lines of about 120 bytes, LF framed.
func sampleStream(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "<86>1 2024-05-01T10:00:00.000Z web01 sshd 1234 - - Failed password for invalid user admin%d from 203.0.113.7 port 51234 ssh2\n", i%1000)
	}
	return b.Bytes()
}

type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		r.off = 0
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}

// BenchmarkFramer measures framing alone, without sockets.
func BenchmarkFramer(b *testing.B) {
	data := sampleStream(10000)
	fr := newFramer(&loopReader{data: data}, DefaultMaxMessageSize)
	b.SetBytes(int64(len(data) / 10000))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fr.next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTCP sends messages over 4 real loopback TCP connections into a
// discarding sink and reports messages per second received.
func BenchmarkTCP(b *testing.B) {
	const conns = 4
	sink := &ingesttest.Sink{Discard: true}
	s, err := New(Config{TCP: "127.0.0.1:0"}, sink, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() { cancel(); s.Wait() }()
	const perChunk = 1000
	chunk := sampleStream(perChunk)
	var cs []net.Conn
	for range conns {
		c, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
	}
	b.ReportAllocs()
	start := time.Now()
	sent := 0
	for b.Loop() {
		// Each iteration sends perChunk messages on every connection; the
		// figure of merit is msgs/s below, not ns/op.
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() {
				if _, err := c.Write(chunk); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		sent += conns * perChunk
	}
	for _, c := range cs {
		c.Close()
	}
	sink.WaitFor(b, "every message sent", func() bool { return sink.Count() >= sent })
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "msgs/s")
}
