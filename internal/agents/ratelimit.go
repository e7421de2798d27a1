package agents

import (
	"net/netip"
	"sync"
	"time"
)

// Enrollment rate limits: each source (an IPv4 address or an IPv6 /64)
// may try EnrollPerSource enrollments per EnrollWindow; at most
// maxSources sources are tracked in a window, after which new ones wait
// for the next (so the table's memory is bounded whatever the attacker
// sends). A fleet enrolling through one NAT spreads over a few windows.
const (
	EnrollPerSource = 30
	EnrollWindow    = time.Minute
	maxSources      = 10_000
)

// limiter counts requests per source in fixed windows.
type limiter struct {
	mu     sync.Mutex
	now    func() time.Time
	per    int
	window time.Duration
	max    int
	start  time.Time
	counts map[netip.Prefix]int
}

func newLimiter(now func() time.Time, per int, window time.Duration, max int) *limiter {
	return &limiter{now: now, per: per, window: window, max: max, counts: map[netip.Prefix]int{}}
}

// allow counts one request from src and reports whether it is within the
// limit, and if not how long until the next window.
func (l *limiter) allow(src netip.Addr) (bool, time.Duration) {
	key := sourcePrefix(src)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.start) >= l.window || now.Before(l.start) {
		l.start = now
		clear(l.counts)
	}
	wait := l.window - now.Sub(l.start)
	n, ok := l.counts[key]
	if !ok && len(l.counts) >= l.max {
		return false, wait
	}
	if n >= l.per {
		return false, wait
	}
	l.counts[key] = n + 1
	return true, 0
}

// sourcePrefix is an IPv4 address or an IPv6 /64 (auth.SourcePrefix's
// rule: one subscriber usually holds a whole /64).
func sourcePrefix(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, 32)
}
