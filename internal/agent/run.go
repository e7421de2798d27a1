package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
)

// Heartbeat bounds: the server closes a connection silent for 30 s
// (agents.IdleTimeout), three of the longest interval.
const (
	DefaultHeartbeat = 5 * time.Second
	MinHeartbeat     = time.Second
	MaxHeartbeat     = 10 * time.Second
	// maxBackoff bounds the wait between two connection attempts.
	maxBackoff = time.Minute
)

// RunOptions are the inputs of Run.
type RunOptions struct {
	Dir       string
	Version   string
	Heartbeat time.Duration
	Log       *slog.Logger
	// OnConnected, if set, is called after each connection is
	// established (tests).
	OnConnected func()
}

// Run keeps the agent connected to its server until ctx ends: one
// mutual-TLS connection at a time, a heartbeat every o.Heartbeat, and on
// any failure a new connection after a backoff of 1 s doubling to a
// minute (reset once a connection held).
func Run(ctx context.Context, o RunOptions) error {
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Heartbeat < MinHeartbeat || o.Heartbeat > MaxHeartbeat {
		return fmt.Errorf("--heartbeat: want %s to %s, got %s", MinHeartbeat, MaxHeartbeat, o.Heartbeat)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	st, err := LoadState(o.Dir)
	if err != nil {
		return err
	}
	tc, err := clientTLS(o.Dir)
	if err != nil {
		return err
	}
	if leaf := tc.Certificates[0].Leaf; leaf != nil && time.Until(leaf.NotAfter) < 7*24*time.Hour {
		o.Log.Warn("the agent certificate expires soon: enroll again to renew it", "expires", leaf.NotAfter)
	}
	started := time.Now()
	backoff := time.Second
	for {
		began := time.Now()
		err := connectOnce(ctx, o, st, tc, started)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > 2*o.Heartbeat {
			backoff = time.Second
		}
		o.Log.Warn("disconnected from the server; reconnecting", "endpoint", st.Endpoint, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// clientTLS is the connection's TLS: the agent's certificate, the agent
// CA alone as roots, the listener's fixed name, TLS 1.3.
func clientTLS(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("loading the agent certificate: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return nil, fmt.Errorf("reading the agent CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s: no PEM certificate", filepath.Join(dir, caFile))
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: agentwire.ServerName, Certificates: []tls.Certificate{cert}}, nil
}

// connectOnce holds one connection until it fails or ctx ends.
func connectOnce(ctx context.Context, o RunOptions, st State, tc *tls.Config, started time.Time) error {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}, Config: tc}
	c, err := d.DialContext(ctx, "tcp", st.Endpoint)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", st.Endpoint, err)
	}
	defer c.Close()
	// The server sends nothing yet; reading finds out at once when it
	// closes the connection or refuses the certificate (TLS 1.3 tells the
	// client after its handshake).
	closed := make(chan error, 1)
	go func() {
		for {
			if _, err := agentwire.ReadFrame(c, agentwire.MaxFrame); err != nil {
				closed <- err
				return
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	send := func() error {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeHeartbeat, Heartbeat: heartbeat(o.Version, started)})
	}
	if err := send(); err != nil {
		return fmt.Errorf("sending a heartbeat: %w", err)
	}
	o.Log.Info("connected", "agent", st.AgentID, "endpoint", st.Endpoint)
	if o.OnConnected != nil {
		o.OnConnected()
	}
	t := time.NewTicker(o.Heartbeat)
	defer t.Stop()
	for {
		select {
		case err := <-closed:
			return fmt.Errorf("connection closed: %w", err)
		case <-t.C:
			if err := send(); err != nil {
				return fmt.Errorf("sending a heartbeat: %w", err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func heartbeat(version string, started time.Time) *agentwire.Heartbeat {
	rss, cpu := usage()
	return &agentwire.Heartbeat{Version: version, OS: runtime.GOOS, Arch: runtime.GOARCH,
		UptimeSeconds: int64(time.Since(started) / time.Second), RSSBytes: rss, CPUSeconds: cpu}
}
