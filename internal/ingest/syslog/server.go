package syslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// errShutdown ends a connection's reads when the server stops.
var errShutdown = errors.New("syslog server shutting down")

// handshakeTimeout bounds a TLS handshake.
const handshakeTimeout = 30 * time.Second

// longAgo is a deadline in the past, used to interrupt blocked reads.
var longAgo = time.Unix(1, 0)

// Server receives syslog over the configured listeners. Create it with New,
// then run it with Serve (or Start and Wait).
type Server struct {
	cfg    Config
	sink   ingest.Sink
	stats  ingest.Stats
	log    *slog.Logger
	tlsCfg *tls.Config

	udp   *net.UDPConn
	tcp   net.Listener
	tlsLn net.Listener

	// drainCtx is used for every Enqueue. It outlives the serving context
	// by ShutdownTimeout so that buffered messages still reach the sink.
	drainCtx    context.Context
	cancelDrain context.CancelFunc

	closing atomic.Bool
	nconns  atomic.Int64
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	done    chan struct{}
	started atomic.Bool
}

// New validates cfg, loads the TLS certificate if a TLS listener is
// configured, and returns a Server that is not yet listening.
func New(cfg Config, sink ingest.Sink, stats ingest.Stats, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if sink == nil {
		return nil, errors.New("syslog: nil sink")
	}
	if stats == nil {
		stats = nopStats{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Tags = slices.Clip(slices.Clone(cfg.Tags))
	s := &Server{cfg: cfg, sink: sink, stats: stats, log: log, conns: make(map[net.Conn]struct{}), done: make(chan struct{})}
	if cfg.TLSAddr != "" {
		tc, err := loadTLS(cfg)
		if err != nil {
			return nil, err
		}
		s.tlsCfg = tc
	}
	return s, nil
}

func loadTLS(cfg Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("syslog tls: loading certificate %q and key %q: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
	}
	tc := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	if cfg.TLSClientCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("syslog tls: reading client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("syslog tls: client CA file %q: no PEM certificates found", cfg.TLSClientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Start binds the configured listeners and serves them in the background
// until ctx is cancelled. Listen errors are returned before anything is
// served. Call Wait to wait for the shutdown to finish.
func (s *Server) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("syslog: server already started")
	}
	var lc net.ListenConfig
	var err error
	closeAll := func() {
		if s.udp != nil {
			s.udp.Close()
		}
		if s.tcp != nil {
			s.tcp.Close()
		}
	}
	if s.cfg.UDPAddr != "" {
		pc, lerr := lc.ListenPacket(ctx, "udp", s.cfg.UDPAddr)
		if lerr != nil {
			return fmt.Errorf("syslog: listening on udp %q: %w", s.cfg.UDPAddr, lerr)
		}
		s.udp = pc.(*net.UDPConn)
		if err := s.udp.SetReadBuffer(s.cfg.UDPReadBuffer); err != nil {
			s.log.Warn("syslog: could not raise udp receive buffer", "size", s.cfg.UDPReadBuffer, "err", err)
		}
	}
	if s.cfg.TCPAddr != "" {
		if s.tcp, err = lc.Listen(ctx, "tcp", s.cfg.TCPAddr); err != nil {
			closeAll()
			return fmt.Errorf("syslog: listening on tcp %q: %w", s.cfg.TCPAddr, err)
		}
	}
	if s.cfg.TLSAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", s.cfg.TLSAddr)
		if err != nil {
			closeAll()
			return fmt.Errorf("syslog: listening on tls %q: %w", s.cfg.TLSAddr, err)
		}
		s.tlsLn = tls.NewListener(ln, s.tlsCfg)
	}
	s.drainCtx, s.cancelDrain = context.WithCancel(context.WithoutCancel(ctx))

	if s.udp != nil {
		// One reader: read deadlines are per socket, and the batch timer
		// relies on them.
		s.wg.Go(func() { s.serveUDP(s.udp) })
	}
	if s.tcp != nil {
		s.wg.Go(func() { s.serveStream(s.tcp, InputTCP) })
	}
	if s.tlsLn != nil {
		s.wg.Go(func() { s.serveStream(s.tlsLn, InputTLS) })
	}
	go func() {
		<-ctx.Done()
		s.shutdown()
		s.wg.Wait()
		s.cancelDrain()
		if s.udp != nil {
			s.udp.Close()
		}
		close(s.done)
	}()
	return nil
}

// Wait blocks until the server has stopped after its context was
// cancelled: listeners closed and every connection's buffered messages
// handed to the sink (or ShutdownTimeout passed).
func (s *Server) Wait() {
	<-s.done
}

// Serve is Start followed by Wait.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	s.Wait()
	return nil
}

// UDPAddr returns the bound UDP address, or nil.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr returns the bound TCP address, or nil.
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// TLSAddr returns the bound TLS address, or nil.
func (s *Server) TLSAddr() net.Addr {
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// Connections returns the number of open stream connections.
func (s *Server) Connections() int {
	return int(s.nconns.Load())
}

func (s *Server) shutdown() {
	s.closing.Store(true)
	time.AfterFunc(s.cfg.ShutdownTimeout, s.cancelDrain)
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
	if s.udp != nil {
		s.udp.SetReadDeadline(longAgo)
	}
	s.mu.Lock()
	for c := range s.conns {
		c.SetReadDeadline(longAgo)
	}
	s.mu.Unlock()
}

func (s *Server) serveStream(ln net.Listener, input string) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("syslog: accept failed", "input", input, "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if s.nconns.Add(1) > int64(s.cfg.MaxConnections) {
			s.nconns.Add(-1)
			conn.Close()
			s.stats.Rejected(input, "too_many_connections", 1)
			continue
		}
		s.mu.Lock()
		s.conns[conn] = struct{}{}
		if s.closing.Load() {
			conn.SetReadDeadline(longAgo)
		}
		s.mu.Unlock()
		s.wg.Go(func() {
			s.handleConn(conn, input)
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
			s.nconns.Add(-1)
		})
	}
}

// setDeadline sets conn's read deadline unless the server is shutting
// down, in which case it reports errShutdown.
func (s *Server) setDeadline(c interface{ SetReadDeadline(time.Time) error }, t time.Time) error {
	if s.closing.Load() {
		return errShutdown
	}
	c.SetReadDeadline(t)
	if s.closing.Load() {
		// Shutdown may have set its deadline before ours.
		c.SetReadDeadline(longAgo)
	}
	return nil
}

func (s *Server) handleConn(conn net.Conn, input string) {
	defer conn.Close()
	peer := conn.RemoteAddr().String()
	if tc, ok := conn.(*tls.Conn); ok {
		if s.closing.Load() {
			return
		}
		// A handshake gets less time than an idle connection: a peer that
		// is not speaking TLS should not hold a connection slot for long.
		conn.SetDeadline(time.Now().Add(min(s.cfg.IdleTimeout, handshakeTimeout)))
		if s.closing.Load() {
			conn.SetReadDeadline(longAgo)
		}
		err := tc.Handshake()
		conn.SetWriteDeadline(time.Time{})
		if err != nil {
			s.stats.Rejected(input, "tls_handshake", 1)
			s.log.Debug("syslog: tls handshake failed", "peer", peer, "err", err)
			return
		}
	}
	b := s.newBatcher(input, peer)
	fr := newFramer(conn, s.cfg.MaxMessageSize)
	// A batch waits up to BatchWait for more messages, so that a connection
	// trickling messages still hands them over in batches; the read
	// deadline is then the batch's, and its expiry flushes the batch and
	// reads on. Otherwise the deadline is the idle timeout, counted from
	// the last data received.
	lastData := time.Now()
	seenReads := 0
	batchDeadline := false
	fr.beforeRead = func() error {
		now := time.Now()
		if fr.reads != seenReads {
			lastData, seenReads = now, fr.reads
		}
		deadline := lastData.Add(s.cfg.IdleTimeout)
		batchDeadline = false
		if len(b.msgs) > 0 {
			bd := b.now.Add(s.cfg.BatchWait)
			if !bd.After(now) {
				if err := b.flush(s.drainCtx); err != nil {
					return err
				}
			} else if bd.Before(deadline) {
				deadline, batchDeadline = bd, true
			}
		}
		return s.setDeadline(conn, deadline)
	}
	fr.retryRead = func(err error) bool {
		if !batchDeadline || !errors.Is(err, os.ErrDeadlineExceeded) || s.closing.Load() {
			return false
		}
		return b.flush(s.drainCtx) == nil
	}
	for {
		f, err := fr.next()
		if len(f.data) > 0 {
			b.add(f.data, f.truncated)
			if f.truncated {
				s.stats.Rejected(input, "truncated", 1)
			}
			if len(b.msgs) >= s.cfg.BatchSize {
				if b.flush(s.drainCtx) != nil {
					return
				}
			}
		}
		if err == nil {
			continue
		}
		switch {
		case errors.Is(err, errBadFrame):
			s.stats.Rejected(input, "bad_frame", 1)
			s.log.Debug("syslog: closing connection after a bad frame", "input", input, "peer", peer)
		case errors.Is(err, os.ErrDeadlineExceeded) && !s.closing.Load():
			s.stats.Rejected(input, "idle_timeout", 1)
		}
		break
	}
	b.flush(s.drainCtx)
}

// chunk sizes for message data: a connection starts small and doubles while
// it fills its chunks, so idle connections pin little memory and busy ones
// allocate rarely.
const (
	minChunk = 4 << 10
	maxChunk = 64 << 10
)

// batcher collects one reader's messages and hands them to the sink.
type batcher struct {
	s       *Server
	input   string
	peer    string
	msgs    []ingest.Raw
	hint    int
	chunk   []byte
	nextCap int
	now     time.Time
}

func (s *Server) newBatcher(input, peer string) *batcher {
	return &batcher{s: s, input: input, peer: peer, hint: 16, nextCap: minChunk}
}

// add copies data into the batch. Message bytes are carved from a shared
// chunk with capped capacity, so each Data is its own slice that no later
// message can overwrite.
func (b *batcher) add(data []byte, truncated bool) {
	if len(b.chunk)+len(data) > cap(b.chunk) {
		size := max(b.nextCap, len(data))
		b.chunk = make([]byte, 0, size)
		b.nextCap = min(2*b.nextCap, maxChunk)
	}
	off := len(b.chunk)
	b.chunk = append(b.chunk, data...)
	if b.msgs == nil {
		b.msgs = make([]ingest.Raw, 0, b.hint)
		b.now = time.Now()
	}
	b.msgs = append(b.msgs, ingest.Raw{
		Data:      b.chunk[off:len(b.chunk):len(b.chunk)],
		Format:    ingest.FormatSyslog,
		Input:     b.input,
		Received:  b.now,
		Peer:      b.peer,
		Tags:      b.s.cfg.Tags,
		Truncated: truncated,
	})
}

// flush hands the batch to the sink, blocking while the pipeline is full.
func (b *batcher) flush(ctx context.Context) error {
	if len(b.msgs) == 0 {
		return nil
	}
	msgs := b.msgs
	b.msgs = nil
	b.hint = min(max(len(msgs), 16), b.s.cfg.BatchSize)
	b.s.stats.Received(b.input, len(msgs))
	if err := b.s.sink.Enqueue(ctx, msgs); err != nil {
		reason := "closed"
		if !errors.Is(err, ingest.ErrClosed) {
			reason = "shutdown"
		}
		b.s.stats.Rejected(b.input, reason, len(msgs))
		return fmt.Errorf("syslog %s from %s: enqueueing %d messages: %w", b.input, b.peer, len(msgs), err)
	}
	return nil
}

type nopStats struct{}

func (nopStats) Received(string, int)         {}
func (nopStats) Rejected(string, string, int) {}
