package agents

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/connlimit"
)

// Timeouts and bounds of the agent listener.
const (
	// HandshakeTimeout bounds the TLS handshake, including the check of
	// the agent against the store.
	HandshakeTimeout = 10 * time.Second
	// IdleTimeout is how long a connection may send nothing before it is
	// closed and the agent shown offline: three of the agent's longest
	// heartbeat interval (agentwire heartbeats every 1 to 10 s).
	IdleTimeout = 30 * time.Second
	// MaxConnections bounds the agent connections held at once.
	MaxConnections = 20_000
	// MaxConnectionsPerSource bounds those from one address (or IPv6
	// /64): many agents may sit behind one NAT.
	MaxConnectionsPerSource = 1024
	// serverCertValidity is the life of the listener's certificate, made
	// at each start.
	serverCertValidity = 365 * 24 * time.Hour
)

// Listener accepts the agents' persistent connections: TLS 1.3, each
// client presenting a certificate of the agent CA whose agent is
// enrolled, not revoked, and not re-enrolled since.
type Listener struct {
	s  *Service
	ln net.Listener
	// ctx ends when the listener closes: it stops the waits of the
	// connections' goroutines.
	ctx    context.Context
	cancel context.CancelFunc

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// TLSConfig returns the listener's TLS configuration.
func (s *Service) TLSConfig() (*tls.Config, error) {
	if s.ca == nil {
		return nil, ErrDisabled
	}
	cert, err := s.ca.ServerCertificate(s.o.Now(), serverCertValidity)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.ca.Pool(),
		// The chain is verified by crypto/tls (the agent CA, client
		// authentication); then the agent must be enrolled with this very
		// certificate and not revoked. Refusing here fails the handshake,
		// so a revoked agent gets a TLS alert, not a connection.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			leaf := cs.PeerCertificates[0]
			ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
			defer cancel()
			return s.authorize(ctx, leaf.Subject.CommonName, serialString(leaf))
		},
	}, nil
}

// Listen serves agent connections on ln (plain TCP; TLS is added here)
// until Close.
func (s *Service) Listen(ln net.Listener) (*Listener, error) {
	cfg, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		s.mu.Lock()
		s.listenPort = port
		s.mu.Unlock()
	}
	lim := connlimit.New(connlimit.Limits{Max: s.maxConns, PerSource: s.maxPerSource})
	l := &Listener{s: s, ln: tls.NewListener(connlimit.NewListener(ln, lim), cfg), conns: map[net.Conn]struct{}{}}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Go(l.accept)
	return l, nil
}

// Addr is the listener's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

func (l *Listener) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient error (out of descriptors): wait a little
			// rather than spin, as net/http's server does.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		l.wg.Go(func() {
			defer func() {
				l.mu.Lock()
				delete(l.conns, c)
				l.mu.Unlock()
				c.Close()
			}()
			l.s.serve(l.ctx, c.(*tls.Conn))
		})
	}
}

// Close stops accepting, closes every agent connection (the agents show
// offline) and waits for their goroutines.
func (l *Listener) Close() error {
	err := l.ln.Close()
	l.cancel()
	l.mu.Lock()
	l.closed = true
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

// serve runs one agent's connection: the handshake (which checks the
// agent), then heartbeats until the agent goes, goes quiet, or is
// revoked.
func (s *Service) serve(ctx context.Context, c *tls.Conn) {
	c.SetDeadline(time.Now().Add(s.handshakeTimeout))
	if err := c.Handshake(); err != nil {
		s.o.Log.Warn("agent connection refused", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	c.SetDeadline(time.Time{})
	leaf := c.ConnectionState().PeerCertificates[0]
	id, serial := leaf.Subject.CommonName, serialString(leaf)
	now := s.o.Now()
	se := &session{conn: c, serial: serial, connected: now, lastSeen: now, bucket: bucket{rate: s.recordRate}}
	// The agent waits for the highest record number stored before it
	// sends records.
	lctx, lcancel := context.WithTimeout(ctx, HandshakeTimeout)
	seq, host, err := s.lastSeq(lctx, id)
	lcancel()
	if err == nil {
		se.seq, se.hostname = seq, host
		err = writeAck(c, seq)
	}
	if err != nil {
		s.o.Log.Warn("agent connection closed", "agent", id, "err", err)
		return
	}
	s.mu.Lock()
	old := s.online[id]
	s.online[id] = se
	s.mu.Unlock()
	if old != nil {
		// One connection per agent: the newer one wins (the agent
		// reconnected before the old one timed out).
		old.conn.Close()
	}
	s.o.Log.Info("agent connected", "agent", id, "remote", c.RemoteAddr().String())
	err = s.readLoop(ctx, c, id, se)
	s.mu.Lock()
	if s.online[id] == se {
		delete(s.online, id)
	}
	last := se.lastSeen
	s.mu.Unlock()
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, werr := s.db.ExecContext(wctx, `UPDATE agents SET last_seen = ? WHERE id = ?`, last.UnixNano(), id); werr != nil {
		s.o.Log.Warn("recording an agent's last contact", "agent", id, "err", werr)
	}
	s.o.Log.Info("agent disconnected", "agent", id, "err", err)
	s.notify()
}

func (s *Service) notify() {
	if s.changed != nil {
		s.changed()
	}
}

func (s *Service) readLoop(ctx context.Context, c net.Conn, id string, se *session) error {
	var inv agentwire.InventoryAssembler
	for {
		c.SetReadDeadline(time.Now().Add(s.idleTimeout))
		f, err := agentwire.ReadFrame(c, agentwire.MaxFrame)
		if err != nil {
			return err
		}
		if f.Type == agentwire.TypeRecords {
			if err := s.records(ctx, c, id, se, f.Batch); err != nil {
				return fmt.Errorf("agent %s: records: %w", id, err)
			}
			s.mu.Lock()
			se.lastSeen = s.o.Now()
			s.mu.Unlock()
			s.notify()
			continue
		}
		if f.Type == agentwire.TypeInventory {
			if err := s.inventoryPart(ctx, c, id, &inv, f.Inventory); err != nil {
				return fmt.Errorf("agent %s: inventory: %w", id, err)
			}
			s.mu.Lock()
			se.lastSeen = s.o.Now()
			s.mu.Unlock()
			continue
		}
		if f.Type != agentwire.TypeHeartbeat {
			continue
		}
		now := s.o.Now()
		s.mu.Lock()
		se.hb = *f.Heartbeat
		se.lastSeen = now
		write := now.Sub(se.written) >= lastSeenEvery
		if write {
			se.written = now
		}
		s.mu.Unlock()
		if write {
			// A failed write is retried at the next heartbeat; the
			// connection, and the agent's status, stay.
			if err := s.recordHeartbeat(id, now, f.Heartbeat); err != nil {
				s.o.Log.Warn("recording an agent's heartbeat", "err", err)
				s.mu.Lock()
				se.written = time.Time{}
				s.mu.Unlock()
			}
		}
		s.notify()
	}
}

// recordHeartbeat writes a connected agent's last contact, version and
// OS: at its first heartbeat, then at most every lastSeenEvery.
func (s *Service) recordHeartbeat(id string, now time.Time, hb *agentwire.Heartbeat) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.db.ExecContext(ctx, `UPDATE agents SET last_seen = ?, version = ?, os = ? WHERE id = ?`, now.UnixNano(), hb.Version, hb.OS, id)
	if err != nil {
		return fmt.Errorf("recording agent %s: %w", id, err)
	}
	return nil
}
