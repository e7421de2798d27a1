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

	"github.com/vigilsec/vigil/internal/agent/fim"
	"github.com/vigilsec/vigil/internal/agent/inventory"
	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/ingest/file"
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
	// Files are the glob patterns of the log files to ship.
	Files []string
	// BufferSize bounds the disk buffer (0: DefaultBufferSize).
	BufferSize int64
	Log        *slog.Logger
	// OnConnected, if set, is called after each connection is
	// established (tests).
	OnConnected func()
	// OnAck, if set, is called with each acknowledgement from the
	// server, once the buffer released the records (tests).
	OnAck func(seq uint64)
	// InventoryInterval is the time between two collections of the
	// inventory (0: DefaultInventoryInterval).
	InventoryInterval time.Duration
	// Inventory says where the inventory is read (tests; zero: the
	// host's).
	Inventory inventory.Options
	// OnInventory, if set, is called with the digest of each inventory
	// the server acknowledged (tests).
	OnInventory func(digest string)
	// FIM configures file integrity monitoring (off without paths).
	FIM FIMOptions
	// fim, when monitoring, reports its health for the heartbeats.
	fim func() *agentwire.FIMHealth
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
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.BufferSize < MinBufferSize {
		return fmt.Errorf("--buffer-size: want at least %d bytes, got %d", MinBufferSize, o.BufferSize)
	}
	tailCfg := file.Config{StateFile: filepath.Join(o.Dir, offsetsFile), MaxLineSize: agentwire.MaxLine, StartAtBeginning: true}
	for _, g := range o.Files {
		tailCfg.Paths = append(tailCfg.Paths, file.Path{Glob: g})
	}
	if len(o.Files) > 0 {
		if err := tailCfg.Validate(); err != nil {
			return fmt.Errorf("--file: %w", err)
		}
	}
	if o.InventoryInterval == 0 {
		o.InventoryInterval = DefaultInventoryInterval
	}
	if o.InventoryInterval < MinInventoryInterval {
		return fmt.Errorf("--inventory-interval: want at least %s, got %s", MinInventoryInterval, o.InventoryInterval)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	fo := fim.Options{Paths: o.FIM.Paths, Ignore: o.FIM.Ignore, Dir: o.Dir, MaxHashSize: o.FIM.MaxHashSize,
		MaxFiles: o.FIM.MaxFiles, ScanInterval: o.FIM.ScanInterval, HashRate: o.FIM.HashRate,
		Emit: func([]fim.Event) error { return nil }, Log: o.Log.With("component", "fim")}
	if len(o.FIM.Paths) > 0 {
		if err := fo.Validate(); err != nil {
			return err
		}
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
	buf, err := OpenBuffer(filepath.Join(o.Dir, bufferDir), o.BufferSize, 0)
	if err != nil {
		return err
	}
	defer buf.Close()
	sink := &bufferSink{b: buf, notify: make(chan struct{}, 1)}
	if len(o.Files) > 0 {
		t, err := file.New(tailCfg, sink, nil, o.Log.With("component", "tailer"))
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		tctx, stop := context.WithCancel(ctx)
		if err := t.Start(tctx); err != nil {
			stop()
			return fmt.Errorf("tailing files: %w", err)
		}
		defer t.Wait()
		defer stop()
	}
	if len(o.FIM.Paths) > 0 {
		fo.Emit = sink.emitFIM
		m, err := fim.New(fo)
		if err != nil {
			return err
		}
		fctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := m.Run(fctx); err != nil {
				o.Log.Error("file integrity monitoring stopped", "err", err)
			}
		}()
		defer func() { stop(); <-done }()
		o.fim = func() *agentwire.FIMHealth { return fimHealth(m) }
	}
	inv := newInventorySync(o.Dir, o.Log.With("component", "inventory"), o.OnInventory)
	ictx, istop := context.WithCancel(ctx)
	idone := make(chan struct{})
	go func() { defer close(idone); inv.collect(ictx, o.InventoryInterval, o.Inventory) }()
	defer func() { istop(); <-idone }()
	started := time.Now()
	backoff := time.Second
	for {
		began := time.Now()
		err := connectOnce(ctx, o, st, tc, started, sink, inv)
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

// offsetsFile keeps the tailer's offsets in the data directory.
const offsetsFile = "file-offsets.json"

// connectOnce holds one connection until it fails or ctx ends: it waits
// for the server's first acknowledgement (the highest sequence number it
// has stored), then sends the buffered records after it in batches, at
// most window batches ahead of the acknowledgements, and heartbeats.
func connectOnce(ctx context.Context, o RunOptions, st State, tc *tls.Config, started time.Time, sink *bufferSink, inv *inventorySync) error {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}, Config: tc}
	c, err := d.DialContext(ctx, "tcp", st.Endpoint)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", st.Endpoint, err)
	}
	defer c.Close()
	// Reading finds out at once when the server closes the connection or
	// refuses the certificate (TLS 1.3 tells the client after its
	// handshake).
	closed := make(chan error, 1)
	acks := make(chan uint64, window+1)
	invAcks := make(chan *agentwire.InventoryAck, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			f, err := agentwire.ReadFrame(c, agentwire.MaxFrame)
			if err != nil {
				closed <- err
				return
			}
			if f.Type == agentwire.TypeInventoryAck {
				select {
				case invAcks <- f.InventoryAck:
				case <-quit:
					return
				}
				continue
			}
			if f.Type != agentwire.TypeAck {
				continue
			}
			select {
			case acks <- f.Ack.Seq:
			case <-quit:
				return
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	buf := sink.b
	send := func() error {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		hb := heartbeat(o.Version, started)
		bs := buf.Stats()
		hb.BufferBytes, hb.Dropped = bs.Bytes, bs.Dropped
		if o.fim != nil {
			hb.FIM = o.fim()
		}
		if bs.Pending > 0 && !bs.Oldest.IsZero() {
			hb.LagSeconds = max(0, time.Since(bs.Oldest).Seconds())
		}
		return agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeHeartbeat, Heartbeat: hb})
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
	inv.connected()
	ready := false      // the server's first acknowledgement came
	var sent uint64     // the last record sent on this connection
	var flight []uint64 // the last record of each batch not acknowledged
	for {
		if ready && len(flight) < window {
			recs, err := buf.Read(sent, batchRecords, batchBytes)
			if err != nil {
				return fmt.Errorf("reading the buffer: %w", err)
			}
			if len(recs) > 0 {
				b, recs, err := fitBatch(recs)
				if err != nil {
					return err
				}
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeRecords, Batch: b}); err != nil {
					return fmt.Errorf("sending records: %w", err)
				}
				sent = recs[len(recs)-1].Seq
				flight = append(flight, sent)
				continue
			}
		}
		select {
		case err := <-closed:
			return fmt.Errorf("connection closed: %w", err)
		case seq := <-acks:
			if err := buf.Ack(seq); err != nil {
				return err
			}
			if !ready {
				ready, sent = true, seq
				if err := inv.send(c); err != nil {
					return err
				}
			}
			for len(flight) > 0 && flight[0] <= seq {
				flight = flight[1:]
			}
			if o.OnAck != nil {
				o.OnAck(seq)
			}
		case <-sink.notify:
		case a := <-invAcks:
			if err := inv.ack(c, a); err != nil {
				return err
			}
		case <-inv.ready:
			if ready {
				if err := inv.send(c); err != nil {
					return err
				}
			}
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
