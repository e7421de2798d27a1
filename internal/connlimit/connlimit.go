// Package connlimit bounds the connections a listener holds, in total and
// per source address, so that one peer opening connections and sitting on
// them cannot take every slot and lock other senders out.
//
// A connection past a bound is closed as soon as it is accepted: the peer
// over its share is refused at once, and nobody else waits for it.
package connlimit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the bounds of one Limiter. A zero or negative field means no
// bound.
type Limits struct {
	// Max bounds the connections held at once, from every source together.
	Max int
	// PerSource bounds the connections held at once from one source: one
	// IPv4 address, or one IPv6 /64 (the smallest block a site is
	// normally given, so an attacker gains nothing by cycling through the
	// addresses of its own network).
	PerSource int
	// Shared lists the addresses whose connections PerSource does not
	// bound (only Max does): trusted reverse proxies and the like, which
	// carry many clients' connections.
	Shared []netip.Prefix
}

// Refusal errors, returned by Acquire and counted by Refused.
var (
	// ErrTotal means the Limiter already holds Limits.Max connections.
	ErrTotal = errors.New("too many connections")
	// ErrPerSource means the source already holds Limits.PerSource
	// connections.
	ErrPerSource = errors.New("too many connections from this source")
)

// Limiter counts held connections. It is safe for concurrent use; the zero
// value is not usable, call New.
type Limiter struct {
	lim Limits

	mu     sync.Mutex
	total  int
	bySrc  map[netip.Addr]int
	total0 atomic.Uint64 // refused for ErrTotal
	src0   atomic.Uint64 // refused for ErrPerSource
}

// New returns a Limiter enforcing lim.
func New(lim Limits) *Limiter {
	return &Limiter{lim: lim, bySrc: make(map[netip.Addr]int)}
}

// Source is the key a peer's connections are counted under: the IPv4
// address (an IPv4-mapped IPv6 address counts as IPv4), or the /64 of an
// IPv6 address. Addresses that are not IP (a Unix socket) share the zero
// Addr.
func Source(addr net.Addr) netip.Addr {
	ip := addrIP(addr)
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// addrIP is addr's IP address, unmapped and without zone.
func addrIP(addr net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if addr != nil {
			if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
				ip = ap.Addr()
			}
		}
	}
	return ip.Unmap().WithZone("")
}

// shared reports whether ip is one of lim.Shared.
func (l *Limiter) shared(ip netip.Addr) bool {
	for _, p := range l.lim.Shared {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Acquire takes a slot for a connection from addr. It returns the function
// that gives the slot back (call it exactly once, when the connection is
// closed), or ErrTotal or ErrPerSource when a bound is reached; the
// refusal is counted.
func (l *Limiter) Acquire(addr net.Addr) (release func(), err error) {
	src := Source(addr)
	bounded := l.lim.PerSource > 0 && !l.shared(addrIP(addr))
	l.mu.Lock()
	switch {
	case l.lim.Max > 0 && l.total >= l.lim.Max:
		l.mu.Unlock()
		l.total0.Add(1)
		return nil, ErrTotal
	case bounded && l.bySrc[src] >= l.lim.PerSource:
		l.mu.Unlock()
		l.src0.Add(1)
		return nil, ErrPerSource
	}
	l.total++
	l.bySrc[src]++
	l.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { l.release(src) }) }, nil
}

func (l *Limiter) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.bySrc[src] - 1; n > 0 {
		l.bySrc[src] = n
	} else {
		delete(l.bySrc, src)
	}
}

// Open returns the number of connections held now.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// OpenFrom returns the number of connections held now from addr's source.
func (l *Limiter) OpenFrom(addr net.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bySrc[Source(addr)]
}

// Refused returns how many connections were refused with err (ErrTotal or
// ErrPerSource) since the Limiter was made.
func (l *Limiter) Refused(err error) uint64 {
	switch {
	case errors.Is(err, ErrTotal):
		return l.total0.Load()
	case errors.Is(err, ErrPerSource):
		return l.src0.Load()
	}
	return 0
}

// Listener is a net.Listener whose Accept returns only connections within
// a Limiter's bounds; the others are closed at once.
type Listener struct {
	net.Listener
	lim *Limiter
	// WriteTimeout, when positive, bounds every write to an accepted
	// connection: a peer that stops reading (a "slow read" client) has
	// its connection fail after WriteTimeout without progress, while a
	// long response that keeps moving is never cut. Set it before the
	// first Accept.
	WriteTimeout time.Duration
	// OnRefuse, when set, is called (from Accept) with each refused
	// connection's remote address and the reason. Set it before the
	// first Accept.
	OnRefuse func(addr net.Addr, reason error)
}

// NewListener returns ln limited by lim.
func NewListener(ln net.Listener, lim *Limiter) *Listener {
	return &Listener{Listener: ln, lim: lim}
}

// Accept waits for a connection within the bounds and returns it. Closing
// the returned connection gives its slot back.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, err := l.lim.Acquire(c.RemoteAddr())
		if err != nil {
			c.Close()
			if l.OnRefuse != nil {
				l.OnRefuse(c.RemoteAddr(), err)
			}
			continue
		}
		return &conn{Conn: c, release: release, wt: l.WriteTimeout}, nil
	}
}

// conn gives its slot back when closed.
type conn struct {
	net.Conn
	release func()
	wt      time.Duration
}

func (c *conn) Write(p []byte) (int, error) {
	if c.wt > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.wt)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// CloseWrite half-closes a TCP connection, which net/http uses so that
// a client still sending a body it will not read gets the response before
// a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
