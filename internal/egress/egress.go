// Package egress is Vigil's outbound connection policy: which addresses
// playbook HTTP requests, notification routes, threat-intel feeds and rule
// downloads may connect to. Loopback, private, shared (CGNAT), link-local
// (cloud metadata), unspecified, multicast and reserved addresses, and the
// IPv6 forms that embed or translate to them, are refused unless an admin
// allow-lists them by CIDR.
//
// The check runs when a connection is made, on the address the name
// resolved to (the dialer's Control function), so that DNS rebinding, hex,
// decimal and short address forms, and redirects (each hop dials through
// the same dialer) all meet it. Refusals carry no detail in their message:
// a caller that can choose a destination must not learn what is reachable
// inside the network; the detail is for the server log (see Detail).
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is matched (errors.Is) by every refusal of the policy.
var ErrRefused = errors.New("destination refused by egress policy")

// RefusedError is a refused destination. Its message is ErrRefused's and
// nothing more; Detail says which address and why, for the server log.
type RefusedError struct {
	// Addr is the refused address ("" when the dial address did not parse).
	Addr string
	// Reason names the address class ("loopback", "link-local", ...).
	Reason string
}

func (e *RefusedError) Error() string { return ErrRefused.Error() }

// Is makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Detail is the refused address and its class, for logs only.
func (e *RefusedError) Detail() string { return e.Addr + " is " + e.Reason }

// Detail returns the log detail of err: the refused address and its class
// when err is a refusal, else err's own message.
func Detail(err error) string {
	var re *RefusedError
	if errors.As(err, &re) {
		return re.Detail()
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// class is a refused range.
type class struct {
	prefix netip.Prefix
	reason string
}

// refused lists the ranges refused by default, most specific first where
// they nest. Documentation ranges (192.0.2.0/24, 2001:db8::/32) are not
// listed: they are not internal, and nothing routes them.
var refused = func() []class {
	list := []struct{ cidr, reason string }{
		{"0.0.0.0/8", "unspecified (\"this network\")"},
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"100.64.0.0/10", "shared address space (CGNAT, RFC 6598)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (cloud metadata lives here)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking (RFC 2544)"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved (includes broadcast)"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible"},
		{"64:ff9b::/96", "NAT64"},
		{"64:ff9b:1::/48", "NAT64 (local use)"},
		{"100::/64", "discard-only"},
		{"2001::/32", "Teredo"},
		{"fc00::/7", "unique local (ULA)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	}
	out := make([]class, len(list))
	for i, c := range list {
		out[i] = class{netip.MustParsePrefix(c.cidr), c.reason}
	}
	return out
}()

// sixToFour is 2002::/16, which embeds an IPv4 address in bits 16-47.
var sixToFour = netip.MustParsePrefix("2002::/16")

// Classify says why a is refused by default ("loopback", ...), or "" when a
// is a public address. IPv4-mapped addresses are judged by their IPv4
// address, 6to4 addresses by the IPv4 address they embed.
func Classify(a netip.Addr) string {
	a = a.WithZone("").Unmap()
	if !a.IsValid() {
		return "not an address"
	}
	for _, c := range refused {
		if c.prefix.Contains(a) {
			return c.reason
		}
	}
	if sixToFour.Contains(a) {
		b := a.As16()
		if r := Classify(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})); r != "" {
			return "6to4 of an address that is " + r
		}
	}
	return ""
}

// Policy is the egress policy: the default refusals and the admin's
// allow-list. A nil *Policy is the default policy with nothing allowed.
type Policy struct {
	allow []netip.Prefix
}

// New returns the policy that allows, on top of public addresses, the
// addresses and CIDR prefixes in allow (egress.allow in the configuration).
func New(allow []string) (*Policy, error) {
	p := &Policy{}
	var errs []error
	for _, s := range allow {
		s = strings.TrimSpace(s)
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				errs = append(errs, fmt.Errorf("egress.allow %q: not a CIDR prefix or address", s))
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(pfx.Bits()-96, 0))
		}
		p.allow = append(p.allow, pfx.Masked())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// MustNew is New that panics, for tests and constants.
func MustNew(allow ...string) *Policy {
	p, err := New(allow)
	if err != nil {
		panic(err)
	}
	return p
}

// Check returns nil when a may be connected to, else a *RefusedError.
func (p *Policy) Check(a netip.Addr) error {
	u := a.WithZone("").Unmap()
	if p != nil {
		for _, pfx := range p.allow {
			if pfx.Contains(u) {
				return nil
			}
		}
	}
	if r := Classify(u); r != "" {
		return &RefusedError{Addr: a.String(), Reason: r}
	}
	return nil
}

// CheckHost checks a host name or address as written in a URL or a
// host:port setting, before any connection: an address in any form a
// resolver might accept (dotted, decimal "2130706433", hex "0x7f000001",
// octal, short "127.1", bracketed IPv6) is checked now; a name is
// checked when it is resolved and dialled.
func (p *Policy) CheckHost(host string) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		return p.Check(a)
	}
	if a, ok := ParseLooseIPv4(host); ok {
		return p.Check(a)
	}
	return nil
}

// ParseLooseIPv4 reads the IPv4 forms that inet_aton, and so many
// resolvers and URL parsers, accept: one to four parts separated by dots,
// each decimal, hex (0x) or octal (leading 0), the last filling the
// remaining bytes ("127.1", "2130706433", "0x7f.1", "0177.0.0.1"). A
// trailing dot is accepted.
func ParseLooseIPv4(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		if part == "" {
			return netip.Addr{}, false
		}
		base, digits := 10, part
		switch {
		case len(part) > 1 && (part[:2] == "0x" || part[:2] == "0X"):
			base, digits = 16, part[2:]
			if digits == "" {
				digits = "0" // "0x" alone is 0 to inet_aton
			}
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		n |= vals[i] << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// Control is a net.Dialer Control function: it refuses the connection
// when the address it is about to connect to (after name resolution) is
// not allowed.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Addr: address, Reason: "not an address the policy can check"}
	}
	return p.Check(ap.Addr())
}

// Dialer returns a dialer that applies the policy to every connection.
func (p *Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
}

// ClientOptions configure Client.
type ClientOptions struct {
	// Timeout bounds a whole request, redirects and body included (0: none;
	// then the request's context must bound it).
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed (each hop dials
	// through the policy); 0 follows none and returns the redirect
	// response itself.
	MaxRedirects int
}

// ErrTooManyRedirects is returned when a request is redirected more than
// ClientOptions.MaxRedirects times.
var ErrTooManyRedirects = errors.New("too many redirects")

// Client returns an HTTP client whose every connection, redirects
// included, goes through the policy. It ignores HTTP_PROXY and friends: a
// proxy would be the only address the policy sees.
func (p *Policy) Client(o ClientOptions) *http.Client {
	d := p.Dialer(10 * time.Second)
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c := &http.Client{Transport: tr, Timeout: o.Timeout}
	if o.MaxRedirects <= 0 {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	} else {
		limit := o.MaxRedirects
		c.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
			if len(via) > limit {
				return fmt.Errorf("after %d: %w", limit, ErrTooManyRedirects)
			}
			return nil
		}
	}
	return c
}
