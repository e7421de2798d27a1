package syslog

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

// dialFrom connects to addr from the loopback address local (127.0.0.1
// and 127.0.0.2 are both loopback on Linux), over TLS when cfg is set.
func dialFrom(t *testing.T, local, addr string, cfg *tls.Config) net.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dialing %s from %s: %v", addr, local, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPerSourceCap: one source holding idle connections past its share
// has the extra ones closed at once, and another source still gets its
// messages through, over TCP and over TLS.
func TestPerSourceCap(t *testing.T) {
	certFile, keyFile, pool, _ := writeCert(t, t.TempDir(), "server")
	tests := []struct {
		name  string
		input string
		tls   bool
	}{
		{"tcp", InputTCP, false},
		{"tls", InputTLS, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const perSource, attackers = 4, 10
			cfg := Config{MaxConnections: 100, MaxConnectionsPerSource: perSource}
			var clientTLS *tls.Config
			if tt.tls {
				cfg.TLS, cfg.TLSCert, cfg.TLSKey = "127.0.0.1:0", certFile, keyFile
				clientTLS = &tls.Config{RootCAs: pool}
			} else {
				cfg.TCP = "127.0.0.1:0"
			}
			sink := &ingesttest.Sink{}
			s, stats, _ := startServer(t, cfg, sink)
			addr := s.TCPAddr()
			if tt.tls {
				addr = s.TLSAddr()
			}
			// Plain TCP connections from the attacker, on both listeners:
			// the refusal comes before any handshake.
			var held []net.Conn
			for range attackers {
				held = append(held, dialFrom(t, "127.0.0.1", addr.String(), nil))
			}
			stats.WaitRejected(t, tt.input, "too_many_connections_per_source", attackers-perSource)
			if got := s.ConnStats().RefusedPerSource; got != attackers-perSource {
				t.Errorf("refused per source: got %d, want %d", got, attackers-perSource)
			}
			if got := s.Connections(); got != perSource {
				t.Errorf("open connections: got %d, want %d", got, perSource)
			}
			// The refused ones are closed by the server at once.
			closed := 0
			for _, c := range held {
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				_, err := c.Read(make([]byte, 1))
				if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
					closed++
				}
			}
			if closed != attackers-perSource {
				t.Errorf("connections closed by the server: got %d, want %d", closed, attackers-perSource)
			}
			// Another source is served while the attacker holds its share.
			legit := dialFrom(t, "127.0.0.2", addr.String(), clientTLS)
			fmt.Fprint(legit, "<13>legit sender\n")
			sink.WaitCount(t, 1)
			if got := string(sink.Messages()[0].Data); got != "<13>legit sender" {
				t.Errorf("stored %q, want the legitimate line", got)
			}
			if got, want := stats.RejectedCount(tt.input, "too_many_connections_per_source"), attackers-perSource; got != want {
				t.Errorf("rejected too_many_connections_per_source: got %d, want %d", got, want)
			}
			if got := stats.RejectedCount(tt.input, "too_many_connections"); got != 0 {
				t.Errorf("rejected too_many_connections: got %d, want 0", got)
			}
		})
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestIdleCloseKeepsLines: a connection that goes quiet is closed after
// the idle timeout, and what it sent is stored: its complete lines and its
// partial last line, as at EOF.
func TestIdleCloseKeepsLines(t *testing.T) {
	tests := []struct {
		name string
		sent string
		want []string
	}{
		{"complete lines", "<13>one\n<13>two\n", []string{"<13>one", "<13>two"}},
		{"partial last line", "<13>one\n<13>half a li", []string{"<13>one", "<13>half a li"}},
		{"octet counted, cut", "8 <13>full9 <13>cut", []string{"<13>full", "<13>cut"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const idle = 300 * time.Millisecond
			sink := &ingesttest.Sink{}
			s, stats, _ := startServer(t, Config{TCP: "127.0.0.1:0", IdleTimeout: idle}, sink)
			c := dialFrom(t, "127.0.0.1", s.TCPAddr().String(), nil)
			start := time.Now()
			if _, err := io.WriteString(c, tt.sent); err != nil {
				t.Fatal(err)
			}
			// The server closes the connection: our read sees EOF.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("the idle connection was not closed")
				}
				if !isReset(err) {
					t.Fatalf("read after idle: got %v, want EOF", err)
				}
			}
			if waited := time.Since(start); waited < idle {
				t.Errorf("closed after %v, before the idle timeout %v", waited, idle)
			}
			sink.WaitCount(t, len(tt.want))
			var got []string
			for _, m := range sink.Messages() {
				got = append(got, string(m.Data))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("stored %q, want %q", got, tt.want)
			}
			if got := s.ConnStats().IdleClosed; got != 1 {
				t.Errorf("idle closed: got %d, want 1", got)
			}
			if got := stats.RejectedCount(InputTCP, "idle_timeout"); got != 1 {
				t.Errorf("rejected idle_timeout: got %d, want 1", got)
			}
		})
	}
}

func TestConfigValidatePerSource(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"default", Config{TCP: ":1"}, false},
		{"set", Config{TCP: ":1", MaxConnectionsPerSource: 3}, false},
		{"negative", Config{TCP: ":1", MaxConnectionsPerSource: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
	c := Config{}
	c.setDefaults()
	if c.MaxConnectionsPerSource != DefaultMaxPerSource {
		t.Errorf("default per source: got %d, want %d", c.MaxConnectionsPerSource, DefaultMaxPerSource)
	}
}
