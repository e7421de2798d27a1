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

	"github.com/vigilsec/vigil/internal/connlimit"
	"github.com/vigilsec/vigil/internal/ingest"
)

// handshakeTimeout bounds a TLS handshake.
const handshakeTimeout = 30 * time.Second

// At shutdown the server drains: it reads what its peers already sent
// before it stops. drainQuiet ends a stream connection's drain once the
// connection has delivered nothing for that long: what a peer wrote before
// the shutdown is in the socket buffers, or (on a stream the receive window
// held back) follows each of our reads within a round trip, so a gap this
// long means there is no more; a peer that keeps an idle connection open
// (rsyslog does) would otherwise hold the shutdown to its deadline.
// udpDrainQuiet is the same for UDP, whose received datagrams are all in
// the socket buffer already. acceptDrain is how long the listeners still
// accept, so that connections the kernel completed before the shutdown
// (waiting in its accept queue) are drained rather than reset.
const (
	drainQuiet    = 250 * time.Millisecond
	udpDrainQuiet = 50 * time.Millisecond
	acceptDrain   = 50 * time.Millisecond
)

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

	udp    *net.UDPConn
	tcp    net.Listener
	tlsLn  net.Listener
	tlsRaw net.Listener // the TCP listener under tlsLn

	// drainCtx is used for every Enqueue. It outlives the serving context
	// until the drain deadline so that what was read still reaches the
	// sink.
	drainCtx    context.Context
	cancelDrain context.CancelFunc

	// closing is set once shutdown begins; drainEnd, its deadline, is
	// written before and read only after closing is seen set.
	closing  atomic.Bool
	drainEnd time.Time
	stopOnce sync.Once
	stopping chan struct{} // closed when shutdown begins
	udpWake  atomic.Bool   // set when shutdown interrupts the UDP read

	// limit holds a slot per open stream connection, in total and per
	// source; idleClosed counts connections closed by the idle timeout.
	limit      *connlimit.Limiter
	idleClosed atomic.Uint64
	mu         sync.Mutex
	conns      map[net.Conn]*connState
	wg         sync.WaitGroup
	done       chan struct{}
	started    atomic.Bool

	// released, when tests set it before Start, is sent to (without
	// blocking) each time a stream connection has ended and given its slot
	// back: a test waits for Connections to fall on it, not on a timer.
	released chan struct{}
}

// connState is what shutdown needs to know of a stream connection.
type connState struct {
	// wake is set when shutdown interrupts the connection's read.
	wake atomic.Bool
	// handshaking is set while its TLS handshake runs (under Server.mu):
	// shutdown then gives the handshake until the drain's end instead of
	// interrupting it, since a failed handshake cannot resume, and a TLS
	// 1.3 client may already have sent data behind its Finished message.
	handshaking bool
}

// New validates cfg, loads the TLS certificate if a TLS listener is
// configured, and returns a Server that is not yet listening.
func New(cfg Config, sink ingest.Sink, stats ingest.Stats, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("syslog config: %w", err)
	}
	if cfg.UDP == "" && cfg.TCP == "" && cfg.TLS == "" {
		return nil, errors.New("syslog config: no listen address: set at least one of udp, tcp or tls")
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
	s := &Server{cfg: cfg, sink: sink, stats: stats, log: log, conns: make(map[net.Conn]*connState),
		done: make(chan struct{}), stopping: make(chan struct{}),
		limit: connlimit.New(connlimit.Limits{Max: cfg.MaxConnections, PerSource: cfg.MaxConnectionsPerSource})}
	if cfg.TLS != "" {
		tc, err := loadTLS(cfg)
		if err != nil {
			return nil, err
		}
		s.tlsCfg = tc
	}
	return s, nil
}

func loadTLS(cfg Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("syslog tls: loading certificate %q and key %q: %w", cfg.TLSCert, cfg.TLSKey, err)
	}
	tc := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	if cfg.TLSClientCA != "" {
		pem, err := os.ReadFile(cfg.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("syslog tls: reading client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("syslog tls: client CA file %q: no PEM certificates found", cfg.TLSClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Start binds the configured listeners and serves them in the background
// until Shutdown is called or ctx is cancelled, which shuts down the same
// way with ShutdownTimeout as the deadline. Listen errors are returned
// before anything is served. Call Wait to wait for the shutdown to finish.
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
	if s.cfg.UDP != "" {
		pc, lerr := lc.ListenPacket(ctx, "udp", s.cfg.UDP)
		if lerr != nil {
			return fmt.Errorf("syslog: listening on udp %q: %w", s.cfg.UDP, lerr)
		}
		s.udp = pc.(*net.UDPConn)
		if err := s.udp.SetReadBuffer(s.cfg.UDPReadBuffer); err != nil {
			s.log.Warn("syslog: could not raise udp receive buffer", "size", s.cfg.UDPReadBuffer, "err", err)
		}
	}
	if s.cfg.TCP != "" {
		if s.tcp, err = lc.Listen(ctx, "tcp", s.cfg.TCP); err != nil {
			closeAll()
			return fmt.Errorf("syslog: listening on tcp %q: %w", s.cfg.TCP, err)
		}
	}
	if s.cfg.TLS != "" {
		ln, err := lc.Listen(ctx, "tcp", s.cfg.TLS)
		if err != nil {
			closeAll()
			return fmt.Errorf("syslog: listening on tls %q: %w", s.cfg.TLS, err)
		}
		s.tlsRaw = ln
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
		select {
		case <-ctx.Done():
			s.beginShutdown(time.Now().Add(s.cfg.ShutdownTimeout))
		case <-s.stopping:
		}
		s.wg.Wait()
		s.cancelDrain()
		if s.udp != nil {
			s.udp.Close()
		}
		close(s.done)
	}()
	return nil
}

// Shutdown stops the server gracefully, as http.Server.Shutdown does. The
// listeners stop accepting (after taking the connections already waiting
// in the kernel's accept queue); every open connection is then read until
// its peer closes it, it goes quiet, or ctx's deadline passes
// (ShutdownTimeout from now if ctx has none), and what is read is handed to
// the sink; UDP reads what its socket buffer holds. Shutdown returns once
// every reader has stopped, or with ctx's error if ctx ends first; the
// readers stop by the deadline either way.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() {
		return errors.New("syslog: server not started")
	}
	end, ok := ctx.Deadline()
	if !ok {
		end = time.Now().Add(s.cfg.ShutdownTimeout)
	}
	s.beginShutdown(end)
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("syslog: draining connections: %w", ctx.Err())
	}
}

// Wait blocks until the server has stopped after Shutdown or the
// cancellation of its context: listeners closed and what every connection
// delivered handed to the sink (or the drain deadline passed).
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
	return s.limit.Open()
}

// ConnStats counts what the stream listeners did with connections.
type ConnStats struct {
	// Open is the number of stream connections held now.
	Open int
	// RefusedTotal counts connections closed at once because
	// MaxConnections were open.
	RefusedTotal uint64
	// RefusedPerSource counts connections closed at once because their
	// source held MaxConnectionsPerSource.
	RefusedPerSource uint64
	// IdleClosed counts connections closed after IdleTimeout without data.
	IdleClosed uint64
}

// ConnStats returns the connection counters (TCP and TLS together).
func (s *Server) ConnStats() ConnStats {
	return ConnStats{
		Open:             s.limit.Open(),
		RefusedTotal:     s.limit.Refused(connlimit.ErrTotal),
		RefusedPerSource: s.limit.Refused(connlimit.ErrPerSource),
		IdleClosed:       s.idleClosed.Load(),
	}
}

// beginShutdown starts the drain, to end by end. Only the first call
// counts.
func (s *Server) beginShutdown(end time.Time) {
	s.stopOnce.Do(func() {
		s.drainEnd = end
		s.closing.Store(true)
		close(s.stopping)
		time.AfterFunc(time.Until(end), s.cancelDrain)
		// The accept loops close their listeners when Accept fails, which
		// it does once the accept queue is empty and this deadline passed.
		for _, ln := range []net.Listener{s.tcp, s.tlsRaw} {
			if ln == nil {
				continue
			}
			if d, ok := ln.(interface{ SetDeadline(time.Time) error }); !ok || d.SetDeadline(time.Now().Add(acceptDrain)) != nil {
				ln.Close()
			}
		}
		// Blocked reads wake up, see the shutdown and re-arm their
		// deadlines for the drain; the flag tells them this deadline was
		// not theirs.
		if s.udp != nil {
			s.udpWake.Store(true)
			s.udp.SetReadDeadline(longAgo)
		}
		s.mu.Lock()
		for c, st := range s.conns {
			if st.handshaking {
				c.SetReadDeadline(end)
				continue
			}
			st.wake.Store(true)
			c.SetReadDeadline(longAgo)
		}
		s.mu.Unlock()
	})
}

// drainDeadline is the read deadline during the drain: quiet from now,
// but no later than the drain's end.
func (s *Server) drainDeadline(now time.Time, quiet time.Duration) time.Time {
	return earlier(now.Add(quiet), s.drainEnd)
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (s *Server) serveStream(ln net.Listener, input string) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				// The accept queue is drained (its deadline passed).
				ln.Close()
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("syslog: accept failed", "input", input, "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		release, err := s.limit.Acquire(conn.RemoteAddr())
		if err != nil {
			// Refused at once, before any read or handshake: a peer over
			// its share holds nothing, and other sources keep their slots.
			// Counted first, so that whoever sees the close sees the count.
			reason := "too_many_connections"
			if errors.Is(err, connlimit.ErrPerSource) {
				reason = "too_many_connections_per_source"
			}
			s.stats.Rejected(input, reason, 1)
			s.log.Debug("syslog: connection refused", "input", input, "peer", conn.RemoteAddr().String(), "reason", err)
			conn.Close()
			continue
		}
		// A connection accepted during the drain drains from its first
		// read (it sees closing set).
		st := &connState{}
		_, st.handshaking = conn.(*tls.Conn)
		s.mu.Lock()
		s.conns[conn] = st
		s.mu.Unlock()
		s.wg.Go(func() {
			s.handleConn(conn, input, st)
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
			release()
			if s.released != nil {
				select {
				case s.released <- struct{}{}:
				default:
				}
			}
		})
	}
}

// handleConn reads conn until it ends, the idle timeout passes, or (after
// shutdown began) its drain ends.
func (s *Server) handleConn(conn net.Conn, input string, st *connState) {
	defer conn.Close()
	peer := conn.RemoteAddr().String()
	if tc, ok := conn.(*tls.Conn); ok {
		// A handshake gets less time than an idle connection: a peer that
		// is not speaking TLS should not hold a connection slot for long.
		// During the drain it gets until the drain's end.
		hd := time.Now().Add(min(s.cfg.IdleTimeout, handshakeTimeout))
		s.mu.Lock() // against shutdown's deadline for handshakes
		if s.closing.Load() {
			hd = earlier(hd, s.drainEnd)
		}
		conn.SetDeadline(hd)
		s.mu.Unlock()
		err := tc.Handshake()
		conn.SetWriteDeadline(time.Time{})
		s.mu.Lock()
		st.handshaking = false
		s.mu.Unlock()
		if err != nil {
			s.stats.Rejected(input, "tls_handshake", 1)
			s.log.Debug("syslog: tls handshake failed", "peer", peer, "err", err)
			return
		}
	}
	b := s.newBatcher(input, peer)
	fr := newFramer(conn, s.cfg.MaxMessageSize)
	// Read deadlines serve three ends. A batch waits up to BatchWait for
	// more messages, so that a connection trickling messages still hands
	// them over in batches; the read deadline is then the batch's, and its
	// expiry flushes the batch and reads on. Otherwise the deadline is the
	// idle timeout, counted from the last data received. Once shutdown
	// began, the connection drains instead: it reads on until the peer
	// closes it, sends nothing for drainQuiet, or the drain's end passes.
	lastData := time.Now()
	seenReads := 0
	batchDeadline := false
	draining := false
	drainArmed := false
	fr.beforeRead = func() error {
		if fr.reads != seenReads {
			lastData, seenReads = time.Now(), fr.reads
		}
		if len(b.msgs) > 0 && !time.Now().Before(b.now.Add(s.cfg.BatchWait)) {
			if err := b.flush(s.drainCtx); err != nil {
				return err
			}
		}
		// After the flush, which may have waited for room in the sink.
		now := time.Now()
		draining = s.closing.Load()
		deadline := lastData.Add(s.cfg.IdleTimeout)
		if draining {
			deadline = s.drainDeadline(now, drainQuiet)
		}
		batchDeadline = false
		if len(b.msgs) > 0 {
			if bd := b.now.Add(s.cfg.BatchWait); bd.Before(deadline) {
				deadline, batchDeadline = bd, true
			}
		}
		switch {
		case draining && !drainArmed:
			// The first drain deadline. Under s.mu, so that shutdown's
			// wake-up (flag and deadline, set together under s.mu) comes
			// wholly before it, and is dropped as stale, or wholly after,
			// and is seen: a stale flag would cost another quiet wait.
			s.mu.Lock()
			st.wake.Store(false)
			conn.SetReadDeadline(deadline)
			s.mu.Unlock()
			drainArmed = true
		default:
			conn.SetReadDeadline(deadline)
			if !draining && s.closing.Load() {
				// Shutdown began after we looked, and its wake-up may
				// have come before our deadline replaced it.
				conn.SetReadDeadline(longAgo)
			}
		}
		return nil
	}
	fr.retryRead = func(err error) bool {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if batchDeadline {
			return b.flush(s.drainCtx) == nil
		}
		// Woken by the shutdown: read on, draining. Otherwise the idle
		// timeout passed, or the drain ended.
		return st.wake.Swap(false) || (!draining && s.closing.Load())
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
			// What the peer sent before going quiet, a partial last
			// line included (as at EOF), is in the batch flushed below.
			s.idleClosed.Add(1)
			s.stats.Rejected(input, "idle_timeout", 1)
			s.log.Debug("syslog: closing idle connection", "input", input, "peer", peer, "idle", s.cfg.IdleTimeout)
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
