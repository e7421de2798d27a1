package syslog

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

// startServer starts a server on loopback with the given config changes.
func startServer(t *testing.T, cfg Config, sink *ingesttest.Sink) (*Server, *ingesttest.Stats, context.CancelFunc) {
	t.Helper()
	stats := ingesttest.NewStats()
	s, err := New(cfg, sink, stats, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.released = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		s.Wait()
	})
	return s, stats, cancel
}

// writeCert writes a self-signed certificate for 127.0.0.1 and returns the
// cert and key file paths and the certificate pool that trusts it.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string, pool *x509.CertPool, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool, pair
}

type msgView struct {
	Data      string
	Input     string
	Format    ingest.Format
	Tags      []string
	Truncated bool
}

func views(msgs []ingest.Raw) []msgView {
	var out []msgView
	for _, m := range msgs {
		out = append(out, msgView{string(m.Data), m.Input, m.Format, m.Tags, m.Truncated})
	}
	return out
}

func sortedViews(msgs []ingest.Raw) []msgView {
	out := views(msgs)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Input != out[j].Input {
			return out[i].Input < out[j].Input
		}
		return out[i].Data < out[j].Data
	})
	return out
}

func TestInputs(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool, clientPair := writeCert(t, dir, "server")
	sink := &ingesttest.Sink{}
	s, stats, _ := startServer(t, Config{
		UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", TLS: "127.0.0.1:0",
		TLSCert: certFile, TLSKey: keyFile, TLSClientCA: certFile,
		Tags: []string{"dc1"},
	}, sink)

	// UDP: one datagram per message, trailing newline stripped.
	uc, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for _, m := range []string{"<13>udp one\n", "<13>udp two"} {
		if _, err := uc.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}

	// TCP: LF framing, then octet counting on another connection.
	tc, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(tc, "<13>tcp lf one\n<13>tcp lf two\r\n")
	tc.Close()
	tc2, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(tc2, "17 <13>tcp octet one17 <13>tcp octet two")
	tc2.Close()

	// TLS with a client certificate.
	tlc, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientPair}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(tlc, "11 <13>tls one11 <13>tls two\n")
	tlc.Close()

	// TLS without a client certificate is refused.
	bad, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool})
	if err == nil {
		fmt.Fprint(bad, "<13>must not arrive\n")
		bad.Read(make([]byte, 1))
		bad.Close()
	}

	sink.WaitCount(t, 8)
	tags := []string{"dc1"}
	want := []msgView{
		{"<13>tcp lf one", InputTCP, ingest.FormatSyslog, tags, false},
		{"<13>tcp lf two", InputTCP, ingest.FormatSyslog, tags, false},
		{"<13>tcp octet one", InputTCP, ingest.FormatSyslog, tags, false},
		{"<13>tcp octet two", InputTCP, ingest.FormatSyslog, tags, false},
		{"<13>tls one", InputTLS, ingest.FormatSyslog, tags, false},
		{"<13>tls two", InputTLS, ingest.FormatSyslog, tags, false},
		{"<13>udp one", InputUDP, ingest.FormatSyslog, tags, false},
		{"<13>udp two", InputUDP, ingest.FormatSyslog, tags, false},
	}
	msgs := sink.Messages()
	if diff := cmp.Diff(want, sortedViews(msgs)); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
	for _, m := range msgs {
		if m.Peer == "" || m.Received.IsZero() {
			t.Errorf("message %q: got peer %q received %v, want both set", m.Data, m.Peer, m.Received)
		}
	}
	gotRecv := stats.ReceivedCount(InputTCP) + stats.ReceivedCount(InputUDP) + stats.ReceivedCount(InputTLS)
	if gotRecv != 8 {
		t.Errorf("got %d received in stats, want 8", gotRecv)
	}
}

func TestDataIsOwned(t *testing.T) {
	// Messages from consecutive batches must not share writable memory.
	sink := &ingesttest.Sink{}
	s, _, _ := startServer(t, Config{TCP: "127.0.0.1:0", BatchSize: 3}, sink)
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		fmt.Fprintf(c, "<13>msg %03d\n", i)
	}
	c.Close()
	sink.WaitCount(t, 100)
	msgs := sink.Messages()
	for _, m := range msgs {
		if cap(m.Data) != len(m.Data) {
			t.Fatalf("message %q: got cap %d, want cap == len %d", m.Data, cap(m.Data), len(m.Data))
		}
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("<13>msg %03d", i); string(m.Data) != want {
			t.Fatalf("message %d: got %q, want %q", i, m.Data, want)
		}
	}
}

func TestHostileStreams(t *testing.T) {
	const max = 1024
	long := strings.Repeat("A", 1<<20)
	tests := []struct {
		name       string
		in         string
		want       []msgView
		wantReason string
		// wantClosed: the server closes the connection by itself.
		wantClosed bool
	}{
		{
			name:       "1 MB line is cut, next line intact",
			in:         long + "\n<13>after\n",
			want:       []msgView{{Data: long[:max], Truncated: true}, {Data: "<13>after"}},
			wantReason: "truncated",
		},
		{
			name:       "huge octet count closes",
			in:         "99999999999 <13>x",
			wantReason: "bad_frame",
			wantClosed: true,
		},
		{
			name:       "count above max keeps what fits and closes",
			in:         "2000 <13>" + long[:1996],
			want:       []msgView{{Data: ("<13>" + long)[:max], Truncated: true}},
			wantReason: "bad_frame",
			wantClosed: true,
		},
		{
			name:       "truncated octet frame at eof",
			in:         "50 <13>short",
			want:       []msgView{{Data: "<13>short", Truncated: true}},
			wantReason: "truncated",
		},
		{
			name: "nul bytes and invalid utf-8",
			in:   "<13>a\x00<13>\xff\xfe b\n",
			want: []msgView{{Data: "<13>a"}, {Data: "<13>\xff\xfe b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &ingesttest.Sink{}
			s, stats, _ := startServer(t, Config{TCP: "127.0.0.1:0", MaxMessageSize: max}, sink)
			c, err := net.Dial("tcp", s.TCPAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go func() {
				io.WriteString(c, tt.in)
				if !tt.wantClosed {
					c.(*net.TCPConn).CloseWrite()
				}
			}()
			// The server closes the connection either way: after EOF or after
			// the bad frame.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil && !(tt.wantClosed && errors.Is(err, syscall.ECONNRESET)) {
				t.Fatalf("got read error %v, want the server to close the connection", err)
			}
			sink.WaitCount(t, len(tt.want))
			got := views(sink.Messages())
			for i := range got {
				got[i].Input, got[i].Format, got[i].Tags = "", 0, nil
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages mismatch (-want +got):\n%.2000s", diff)
			}
			if tt.wantReason != "" {
				stats.WaitRejected(t, InputTCP, tt.wantReason, 1)
			}
		})
	}
}

// waitConnections waits until s holds n stream connections, woken by each
// connection that ends (s must come from startServer).
func waitConnections(t *testing.T, s *Server, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for s.Connections() != n {
		select {
		case <-s.released:
		case <-timeout:
			t.Fatalf("got %d connections, want %d", s.Connections(), n)
		}
	}
}

func TestRandomBytes(t *testing.T) {
	sink := &ingesttest.Sink{Discard: true}
	s, _, _ := startServer(t, Config{TCP: "127.0.0.1:0", MaxMessageSize: 512}, sink)
	r := mrand.New(mrand.NewPCG(7, 7))
	for i := range 20 {
		c, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1+r.IntN(64<<10))
		for j := range buf {
			buf[j] = byte(r.Uint32())
			if i%2 == 0 && j == 0 {
				buf[j] = '7' // start some streams as octet counted
			}
		}
		c.Write(buf)
		c.Close()
	}
	waitConnections(t, s, 0)
}

func TestMaxConnections(t *testing.T) {
	sink := &ingesttest.Sink{}
	s, stats, _ := startServer(t, Config{TCP: "127.0.0.1:0", MaxConnections: 2}, sink)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	// Both are held: the server reads what each sends.
	for i, c := range held {
		fmt.Fprintf(c, "<13>held %d\n", i)
	}
	sink.WaitCount(t, 2)
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("got %d bytes from the third connection, want it closed", n)
	}
	if got := stats.RejectedCount(InputTCP, "too_many_connections"); got != 1 {
		t.Errorf("got too_many_connections %d, want 1", got)
	}
	// The held connections still work.
	fmt.Fprint(held[0], "<13>still here\n")
	sink.WaitCount(t, 3)
}

// pipeListener is a net.Listener of in-memory connections: in a
// testing/synctest bubble the accept loop, the reads and their deadlines
// run on fake time.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial hands the listener one end of a new connection, once it is
// accepted, and returns the other.
func (l *pipeListener) dial() net.Conn {
	srv, peer := net.Pipe()
	l.conns <- srv
	return peer
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func TestSlowloris(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 400 * time.Millisecond
		sink := &ingesttest.Sink{}
		stats := ingesttest.NewStats()
		s, err := New(Config{TCP: "127.0.0.1:0", IdleTimeout: idle, MaxConnections: 64}, sink, stats, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.released = make(chan struct{}, 1)
		s.drainCtx = context.Background() // as Start sets it
		ln := newPipeListener()
		before := runtime.NumGoroutine()
		s.wg.Go(func() { s.serveStream(ln, InputTCP) })
		defer func() {
			ln.Close()
			s.wg.Wait()
		}()
		var conns []net.Conn
		for range 100 {
			c := ln.dial()
			defer c.Close()
			conns = append(conns, c)
		}
		// Each sends a byte every 100 ms, never a newline: held past the
		// idle timeout, but bounded.
		var last time.Time
		for range 5 {
			for _, c := range conns {
				c.Write([]byte("x")) // refused connections fail: they are closed
			}
			last = time.Now()
			time.Sleep(100 * time.Millisecond) // fake time: the attacker's pace
		}
		if got := s.Connections(); got != 64 {
			t.Errorf("got %d open connections after %v of trickling, want 64: held, but at most 64", got, 5*100*time.Millisecond)
		}
		if got, limit := runtime.NumGoroutine()-before, 64+8; got > limit {
			t.Errorf("got %d extra goroutines, want at most %d", got, limit)
		}
		s.mu.Lock()
		open := len(s.conns)
		s.mu.Unlock()
		if open > 64 {
			t.Errorf("got %d tracked connections, want at most 64", open)
		}
		if got := stats.RejectedCount(InputTCP, "too_many_connections"); got != 36 {
			t.Errorf("got too_many_connections %d, want 36", got)
		}
		// Then they go quiet: the idle timeout closes all of them.
		waitConnections(t, s, 0)
		if waited := time.Since(last); waited != idle {
			t.Errorf("closed %v after the last byte, want the idle timeout %v", waited, idle)
		}
		if got := stats.RejectedCount(InputTCP, "idle_timeout"); got != 64 {
			t.Errorf("got idle_timeout %d, want 64", got)
		}
		// What they sent is kept (as a partial last line), not lost.
		for _, m := range sink.WaitCount(t, 64) {
			if string(m.Data) != "xxxxx" {
				t.Fatalf("stored %q, want the trickled xxxxx", m.Data)
			}
		}
	})
}

func TestBackpressure(t *testing.T) {
	gate := make(chan struct{})
	sink := &ingesttest.Sink{Gate: gate}
	s, _, _ := startServer(t, Config{TCP: "127.0.0.1:0"}, sink)
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line := []byte("<13>" + strings.Repeat("p", 200) + "\n")
	var sent int
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, err := c.Write(line); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("got write error %v, want a deadline (the server stopped reading)", err)
			}
			break
		}
		sent++
		if sent > 1<<20 {
			t.Fatal("the server kept reading while the sink was full")
		}
	}
	close(gate)
	c.SetWriteDeadline(time.Time{})
	c.Close()
	// Everything that was written completely arrives.
	sink.WaitCount(t, sent)
}

func TestShutdownFlushes(t *testing.T) {
	sink := &ingesttest.Sink{}
	stats := ingesttest.NewStats()
	s, err := New(Config{TCP: "127.0.0.1:0", UDP: "127.0.0.1:0"}, sink, stats, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "<13>one\n<13>two\n<13>partial")
	sink.WaitCount(t, 2)
	cancel()
	done := make(chan struct{})
	go func() { s.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	got := views(sink.Messages())
	if len(got) != 3 || got[2].Data != "<13>partial" {
		t.Errorf("got %v, want the partial line flushed at shutdown", got)
	}
}

func TestUDPTruncation(t *testing.T) {
	sink := &ingesttest.Sink{}
	s, stats, _ := startServer(t, Config{UDP: "127.0.0.1:0", MaxMessageSize: 100}, sink)
	c, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("u"), 300)
	c.Write(msg)
	sink.WaitCount(t, 1)
	got := sink.Messages()[0]
	if len(got.Data) != 100 || !got.Truncated {
		t.Errorf("got %d bytes truncated=%v, want 100 bytes truncated", len(got.Data), got.Truncated)
	}
	if n := stats.RejectedCount(InputUDP, "truncated"); n != 1 {
		t.Errorf("got truncated count %d, want 1", n)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults with tcp", Config{TCP: ":5514"}, false},
		{"no listeners", Config{}, false}, // a valid section: no syslog input
		{"bad address", Config{TCP: "5514"}, true},
		{"bad port", Config{UDP: ":70000"}, true},
		{"tls without cert", Config{TLS: ":6514"}, true},
		{"tls cert missing", Config{TLS: ":6514", TLSCert: "/nonexistent/cert.pem", TLSKey: "/nonexistent/key.pem"}, true},
		{"smallest size", Config{TCP: ":1", MaxMessageSize: 64}, false},
		{"tiny size", Config{TCP: ":1", MaxMessageSize: 63}, true},
		{"shortest idle", Config{TCP: ":1", IdleTimeout: 100 * time.Millisecond}, false},
		{"short idle", Config{TCP: ":1", IdleTimeout: 99 * time.Millisecond}, true},
		{"defaults", DefaultConfig(), false},
		{"negative size", Config{TCP: ":1", MaxMessageSize: -1}, true},
		{"too large size", Config{TCP: ":1", MaxMessageSize: 1 << 30}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if got := err != nil; got != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
		})
	}
	if _, err := New(Config{}, &ingesttest.Sink{}, nil, nil); err == nil || !strings.Contains(err.Error(), "no listen address") {
		t.Errorf("New without an address: got %v, want a refusal", err)
	}
}

func TestTLSHandshakeTimeout(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _, _ := writeCert(t, dir, "server")
	s, stats, _ := startServer(t, Config{TLS: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile, IdleTimeout: 300 * time.Millisecond}, &ingesttest.Sink{})
	// A plain TCP client that never starts the handshake is dropped.
	c, err := net.Dial("tcp", s.TLSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want the server to close the connection", err)
	}
	stats.WaitRejected(t, InputTLS, "tls_handshake", 1)
	if got := stats.RejectedCount(InputTLS, "tls_handshake"); got != 1 {
		t.Errorf("tls_handshake: got %d, want 1", got)
	}
}

// pipeConn serves one end of an in-memory connection with s's connection
// handler, as the accept loop would (over TLS when s has a TLS listener
// configured), and returns the other end, over TLS with client when it is
// set. In a testing/synctest bubble the connection's reads and deadlines
// run on fake time, so a test can pace a peer exactly.
func pipeConn(t *testing.T, s *Server, input string, client *tls.Config) net.Conn {
	t.Helper()
	srv, peer := net.Pipe()
	s.drainCtx = context.Background() // as Start sets it
	var conn net.Conn = srv
	if s.tlsCfg != nil {
		conn = tls.Server(srv, s.tlsCfg)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.handleConn(conn, input, &connState{handshaking: s.tlsCfg != nil})
	}()
	t.Cleanup(func() {
		peer.Close()
		<-done
	})
	if client != nil {
		return tls.Client(peer, client)
	}
	return peer
}

func TestTrickleIsBatched(t *testing.T) {
	// Messages arriving 1 ms apart are handed over in batches of several
	// (BatchWait 20 ms), not one by one, and none waits longer.
	synctest.Test(t, func(t *testing.T) {
		const batchWait = 20 * time.Millisecond
		sink := &ingesttest.Sink{}
		s, err := New(Config{TCP: "127.0.0.1:0", BatchWait: batchWait}, sink, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := pipeConn(t, s, InputTCP, nil)
		const n = 100
		for i := range n {
			fmt.Fprintf(c, "<13>msg %d\n", i)
			time.Sleep(time.Millisecond) // fake time: the peer's pace
		}
		sink.WaitCount(t, n)
		if calls := sink.Batches(); calls > n/3 {
			t.Errorf("got %d Enqueue calls for %d trickled messages, want batches", calls, n)
		}
		// A lone message is flushed after BatchWait, without more traffic.
		fmt.Fprint(c, "<13>lone\n")
		start := time.Now()
		sink.WaitCount(t, n+1)
		if d := time.Since(start); d != batchWait {
			t.Errorf("lone message took %v, want the batch wait %v", d, batchWait)
		}
	})
}

func TestTLSTrickleSurvivesBatchDeadlines(t *testing.T) {
	// Batch deadlines expire in the middle of TLS reads; the connection
	// must carry on undamaged.
	dir := t.TempDir()
	certFile, keyFile, pool, _ := writeCert(t, dir, "server")
	certTime := time.Now() // the bubble's clock starts in 2000
	synctest.Test(t, func(t *testing.T) {
		const batchWait = 2 * time.Millisecond
		sink := &ingesttest.Sink{}
		s, err := New(Config{TLS: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile, BatchWait: batchWait}, sink, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := pipeConn(t, s, InputTLS, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Time: func() time.Time { return certTime }})
		const n = 60
		for i := range n {
			msg := fmt.Sprintf("<13>tls trickle %d", i)
			// Write each frame in two halves, the batch's deadline passing
			// between them, to put deadlines inside frames too.
			frame := fmt.Sprintf("%d %s", len(msg), msg)
			if _, err := c.Write([]byte(frame[:len(frame)/2])); err != nil {
				t.Fatal(err)
			}
			time.Sleep(batchWait + time.Millisecond) // fake time: the peer's pace
			if _, err := c.Write([]byte(frame[len(frame)/2:])); err != nil {
				t.Fatal(err)
			}
		}
		sink.WaitCount(t, n)
		for i, m := range sink.Messages() {
			if want := fmt.Sprintf("<13>tls trickle %d", i); string(m.Data) != want {
				t.Fatalf("message %d: got %q, want %q", i, m.Data, want)
			}
		}
		// Each message was flushed alone, by a deadline that passed while
		// the next frame was half read.
		if got := sink.Batches(); got != n {
			t.Errorf("got %d batches, want %d: one batch deadline inside every frame", got, n)
		}
	})
}
