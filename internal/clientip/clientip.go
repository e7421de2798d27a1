// Package clientip tells where an HTTP request came from: the client's
// address and whether it reached Vigil over TLS. X-Forwarded-For and
// X-Forwarded-Proto are believed only when the TCP peer is a proxy the
// operator trusts (--trust-proxy); from anyone else they are ignored,
// because any client can send them.
package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// MaxHops bounds how many X-Forwarded-For entries are examined, from the
// right. A chain of more trusted proxies than this is not plausible; past
// it the last address examined is taken as the client.
const MaxHops = 32

// Resolver finds a request's client. The zero value and a nil *Resolver
// trust no proxy: the client is the TCP peer.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that trusts the proxies in cidrs: prefixes
// ("10.0.0.0/8", "fd00::/8") or single addresses ("127.0.0.1").
func New(cidrs []string) (*Resolver, error) {
	r := &Resolver{}
	for _, c := range cidrs {
		p, err := ParsePrefix(c)
		if err != nil {
			return nil, err
		}
		r.trusted = append(r.trusted, p)
	}
	return r, nil
}

// ParsePrefix parses one trusted-proxy entry: a CIDR prefix or a single
// address (a /32 or /128). Zones are refused: they name an interface, not
// a network.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q: zones are not allowed", s)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Trusted reports whether a is a trusted proxy.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is where a request came from.
type Client struct {
	// Addr is the client's address: the TCP peer, or, when the peer is a
	// trusted proxy, the rightmost X-Forwarded-For address that is not a
	// trusted proxy. It has no zone and IPv4 is never 4in6-mapped. It is
	// invalid when the peer's address cannot be parsed.
	Addr netip.Addr
	// HTTPS reports that the request reached Vigil over TLS, or that a
	// trusted proxy says the client used https (X-Forwarded-Proto).
	HTTPS bool
	// Proxied reports that the peer is a trusted proxy.
	Proxied bool
}

// Resolve returns the client of req.
func (r *Resolver) Resolve(req *http.Request) Client {
	peer := parseHost(req.RemoteAddr)
	c := Client{Addr: peer, HTTPS: req.TLS != nil}
	if !r.Trusted(peer) {
		return c
	}
	c.Proxied = true
	c.Addr = r.forwardedFor(peer, req.Header.Values("X-Forwarded-For"))
	if !c.HTTPS {
		c.HTTPS = forwardedHTTPS(req.Header.Values("X-Forwarded-Proto"))
	}
	return c
}

// forwardedFor walks the X-Forwarded-For chain from the right: each entry
// was appended by the hop to its right, so entries are believable only as
// long as that hop is trusted. The first untrusted address is the client.
// An entry that does not parse ends the walk at the last good address (a
// trusted proxy's), so a garbled header never yields an attacker's choice.
func (r *Resolver) forwardedFor(peer netip.Addr, values []string) netip.Addr {
	cur := peer
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var e string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				e, v = v[j+1:], v[:j]
			} else {
				e, v = v, ""
			}
			e = strings.TrimSpace(e)
			if e == "" {
				continue // "a, , b": an empty list element (RFC 9110 5.6.1)
			}
			if hops++; hops > MaxHops {
				return cur
			}
			a := parseHost(e)
			if !a.IsValid() {
				return cur
			}
			if !r.Trusted(a) {
				return a
			}
			cur = a
		}
	}
	return cur
}

// forwardedHTTPS reads X-Forwarded-Proto: the first value is the protocol
// the client used with the outermost proxy.
func forwardedHTTPS(values []string) bool {
	if len(values) == 0 {
		return false
	}
	first, _, _ := strings.Cut(values[0], ",")
	return strings.EqualFold(strings.TrimSpace(first), "https")
}

// parseHost parses "addr", "[addr]", "addr:port" or "[addr]:port" into an
// address without zone, IPv4 unmapped; the zero Addr if it is none of
// these.
func parseHost(s string) netip.Addr {
	if len(s) > 64 {
		return netip.Addr{} // longer than any address with a port
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap()
}
