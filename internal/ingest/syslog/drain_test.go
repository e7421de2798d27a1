package syslog

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

// TestShutdownDrainsConnections: at shutdown, what peers already sent but
// the server had not read yet (it sat in the socket buffers while the sink
// was full) is still read and handed over, whether the peer then closes
// its connection or keeps it open.
func TestShutdownDrainsConnections(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool, _ := writeCert(t, dir, "server")
	tests := []struct {
		name      string
		dial      func(s *Server) (net.Conn, error)
		keepOpen  bool
		wantCount int
	}{
		{"tcp, peer closes", func(s *Server) (net.Conn, error) { return net.Dial("tcp", s.TCPAddr().String()) }, false, 2001},
		{"tcp, peer stays connected", func(s *Server) (net.Conn, error) { return net.Dial("tcp", s.TCPAddr().String()) }, true, 2001},
		{"tls, peer closes", func(s *Server) (net.Conn, error) {
			return tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool})
		}, false, 2001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &ingesttest.Sink{Gate: make(chan struct{})}
			s, err := New(Config{TCP: "127.0.0.1:0", TLS: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile}, sink, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			c, err := tt.dial(s)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The first message fills the (gated) sink: the connection's
			// reader now waits in Enqueue and reads nothing more.
			fmt.Fprint(c, "<13>first\n")
			sink.WaitFor(t, "the reader to wait for the sink", func() bool { return sink.Waiting() == 1 })
			for i := range tt.wantCount - 1 {
				fmt.Fprintf(c, "<13>buffered %d\n", i)
			}
			if !tt.keepOpen {
				c.Close()
			}
			shut := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				shut <- s.Shutdown(ctx)
			}()
			<-s.stopping     // shutdown began
			close(sink.Gate) // the pipeline makes room again
			select {
			case err := <-shut:
				if err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Shutdown did not return")
			}
			if got := sink.Count(); got != tt.wantCount {
				t.Fatalf("got %d messages, want %d: what the socket buffers held was lost", got, tt.wantCount)
			}
			msgs := sink.Messages()
			if got, want := string(msgs[len(msgs)-1].Data), fmt.Sprintf("<13>buffered %d", tt.wantCount-2); got != want {
				t.Errorf("last message %q, want %q", got, want)
			}
			if tt.keepOpen {
				// The server closed the connection after its drain.
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Read(make([]byte, 1)); err != io.EOF {
					t.Errorf("read after the drain: got %v, want EOF", err)
				}
			}
		})
	}
}

// TestShutdownDrainIsBounded: a peer that never stops sending does not
// hold the shutdown beyond its deadline.
func TestShutdownDrainIsBounded(t *testing.T) {
	sink := &ingesttest.Sink{Discard: true}
	s, err := New(Config{TCP: "127.0.0.1:0"}, sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for {
			if _, err := fmt.Fprint(c, "<13>endless\n"); err != nil {
				return
			}
		}
	}()
	sink.WaitCount(t, 1000)
	const budget = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	s.Shutdown(ctx)
	s.Wait()
	if took := time.Since(start); took > budget+2*time.Second {
		t.Errorf("shutdown took %v with a budget of %v", took, budget)
	}
	c.Close()
	<-writing
}

// TestShutdownDrainsUDPBuffer: datagrams received but not yet read when
// shutdown begins are read and handed over.
func TestShutdownDrainsUDPBuffer(t *testing.T) {
	sink := &ingesttest.Sink{Gate: make(chan struct{})}
	s, err := New(Config{UDP: "127.0.0.1:0", BatchSize: 1}, sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("<13>first"))
	sink.WaitFor(t, "the reader to wait for the sink", func() bool { return sink.Waiting() == 1 })
	// On loopback a datagram is in the receiver's buffer when Write returns.
	const n = 200
	for i := range n {
		if _, err := fmt.Fprintf(c, "<13>queued %d", i); err != nil {
			t.Fatal(err)
		}
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	<-s.stopping // shutdown began
	close(sink.Gate)
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if got := sink.Count(); got != n+1 {
		t.Fatalf("got %d datagrams, want %d", got, n+1)
	}
}
