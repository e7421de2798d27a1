package clientip

import (
	"crypto/tls"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: "127.0.0.1", want: "127.0.0.1/32"},
		{in: " 10.1.2.3/8 ", want: "10.0.0.0/8"},
		{in: "::1", want: "::1/128"},
		{in: "fd00::1/8", want: "fd00::/8"},
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "::ffff:192.0.2.1", want: "192.0.2.1/32"},
		{in: "fe80::1%eth0", err: true},
		{in: "fe80::/10%eth0", err: true},
		{in: "10.0.0.0/33", err: true},
		{in: "example.com", err: true},
		{in: "", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePrefix(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("got %v, want an error", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	r, err := New([]string{"127.0.0.1/32", "10.0.0.0/8", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		peer    string
		xff     []string
		proto   []string
		tls     bool
		want    string
		https   bool
		proxied bool
	}{
		{name: "direct, no headers", peer: "192.0.2.7:5000", want: "192.0.2.7"},
		{name: "untrusted peer's headers are ignored", peer: "192.0.2.7:5000", xff: []string{"198.51.100.1"}, proto: []string{"https"}, want: "192.0.2.7"},
		{name: "trusted peer without header", peer: "127.0.0.1:5000", want: "127.0.0.1", proxied: true},
		{name: "trusted peer, one hop", peer: "127.0.0.1:5000", xff: []string{"198.51.100.1"}, want: "198.51.100.1", proxied: true},
		{name: "rightmost untrusted wins over a forged left part", peer: "127.0.0.1:5000", xff: []string{"203.0.113.66, 198.51.100.1"}, want: "198.51.100.1", proxied: true},
		{name: "trusted hops are skipped", peer: "127.0.0.1:5000", xff: []string{"203.0.113.66, 198.51.100.1, 10.0.0.2,10.0.0.3"}, want: "198.51.100.1", proxied: true},
		{name: "several header lines form one list", peer: "127.0.0.1:5000", xff: []string{"203.0.113.66", "198.51.100.1, 10.0.0.2"}, want: "198.51.100.1", proxied: true},
		{name: "all trusted: the leftmost", peer: "127.0.0.1:5000", xff: []string{"10.0.0.9, 10.0.0.2"}, want: "10.0.0.9", proxied: true},
		{name: "garbage ends the walk at the last trusted hop", peer: "127.0.0.1:5000", xff: []string{"198.51.100.1, not-an-ip, 10.0.0.2"}, want: "10.0.0.2", proxied: true},
		{name: "garbage next to the peer", peer: "127.0.0.1:5000", xff: []string{"<script>"}, want: "127.0.0.1", proxied: true},
		{name: "empty elements", peer: "127.0.0.1:5000", xff: []string{" , 198.51.100.1 , ,"}, want: "198.51.100.1", proxied: true},
		{name: "address with port", peer: "127.0.0.1:5000", xff: []string{"198.51.100.1:4711"}, want: "198.51.100.1", proxied: true},
		{name: "bracketed IPv6 with port", peer: "127.0.0.1:5000", xff: []string{"[2001:db8::1]:4711"}, want: "2001:db8::1", proxied: true},
		{name: "bracketed IPv6", peer: "127.0.0.1:5000", xff: []string{"[2001:db8::1]"}, want: "2001:db8::1", proxied: true},
		{name: "zone is dropped", peer: "127.0.0.1:5000", xff: []string{"fe80::1%;touch x"}, want: "fe80::1", proxied: true},
		{name: "4in6 is unmapped", peer: "127.0.0.1:5000", xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1", proxied: true},
		{name: "4in6 peer is trusted", peer: "[::ffff:127.0.0.1]:5000", xff: []string{"198.51.100.1"}, want: "198.51.100.1", proxied: true},
		{name: "IPv6 proxy", peer: "[fd00::5]:443", xff: []string{"2001:db8::9"}, want: "2001:db8::9", proxied: true},
		{name: "forwarded https from a trusted proxy", peer: "127.0.0.1:5000", proto: []string{"HTTPS"}, want: "127.0.0.1", https: true, proxied: true},
		{name: "forwarded proto list: the first", peer: "127.0.0.1:5000", proto: []string{"https, http"}, want: "127.0.0.1", https: true, proxied: true},
		{name: "forwarded http", peer: "127.0.0.1:5000", proto: []string{"http"}, want: "127.0.0.1", proxied: true},
		{name: "real TLS", peer: "192.0.2.7:5000", tls: true, want: "192.0.2.7", https: true},
		{name: "unparseable peer", peer: "@", xff: []string{"198.51.100.1"}, want: "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.proto {
				req.Header.Add("X-Forwarded-Proto", v)
			}
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			c := r.Resolve(req)
			if got := c.Addr.String(); got != tc.want {
				t.Errorf("got client %s, want %s", got, tc.want)
			}
			if c.HTTPS != tc.https {
				t.Errorf("got HTTPS %v, want %v", c.HTTPS, tc.https)
			}
			if c.Proxied != tc.proxied {
				t.Errorf("got Proxied %v, want %v", c.Proxied, tc.proxied)
			}
		})
	}
}

func TestNilResolverTrustsNobody(t *testing.T) {
	var r *Resolver
	req := &http.Request{RemoteAddr: "127.0.0.1:1", Header: http.Header{"X-Forwarded-For": {"198.51.100.1"}, "X-Forwarded-Proto": {"https"}}}
	c := r.Resolve(req)
	if got, want := c.Addr, netip.MustParseAddr("127.0.0.1"); got != want || c.HTTPS || c.Proxied {
		t.Errorf("got %+v, want client %s over http, not proxied", c, want)
	}
}

// TestMaxHops: a chain of trusted addresses longer than MaxHops stops at
// the MaxHops-th entry from the right, however long the header.
func TestMaxHops(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	var hops []string
	hops = append(hops, "198.51.100.1") // leftmost: never reached
	for i := range MaxHops + 10 {
		hops = append(hops, "10.0.0."+itoa(i+1))
	}
	req := &http.Request{RemoteAddr: "10.255.0.1:1", Header: http.Header{"X-Forwarded-For": {strings.Join(hops, ",")}}}
	got := r.Resolve(req).Addr.String()
	// Entries are examined right to left; the MaxHops-th from the right is
	// the last one taken.
	want := hops[len(hops)-MaxHops]
	if got != want {
		t.Errorf("got %s, want %s (the %dth hop from the right)", got, want, MaxHops)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// FuzzResolve feeds hostile X-Forwarded-For and X-Forwarded-Proto values
// from a trusted peer: the result is always a valid address without zone
// or 4in6 mapping, and either the peer, a trusted hop or an address that
// appears in the header.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"198.51.100.1", "203.0.113.66, 198.51.100.1, 10.0.0.2", "[2001:db8::1]:80", "fe80::1%eth0",
		"::ffff:1.2.3.4", ",,,", "unknown", "_hidden", "10.0.0.1, garbage", strings.Repeat("10.0.0.1,", 100)} {
		f.Add(s, "https")
	}
	r, err := New([]string{"127.0.0.0/8", "10.0.0.0/8"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, xff, proto string) {
		req := &http.Request{RemoteAddr: "127.0.0.1:9", Header: http.Header{"X-Forwarded-For": {xff}, "X-Forwarded-Proto": {proto}}}
		c := r.Resolve(req)
		if !c.Addr.IsValid() {
			t.Fatalf("XFF %q: invalid client address", xff)
		}
		if c.Addr.Zone() != "" || c.Addr.Is4In6() {
			t.Fatalf("XFF %q: got %s, want no zone, no 4in6", xff, c.Addr)
		}
		if !c.Proxied {
			t.Fatal("trusted peer not reported as a proxy")
		}
		if !r.Trusted(c.Addr) {
			// An untrusted client address can only come from the header.
			found := false
			for _, e := range strings.Split(xff, ",") {
				if parseHost(strings.TrimSpace(e)) == c.Addr {
					found = true
				}
			}
			if !found {
				t.Fatalf("XFF %q: client %s appears nowhere in it", xff, c.Addr)
			}
		}
		if want := forwardedHTTPS([]string{proto}); c.HTTPS != want {
			t.Fatalf("proto %q: got HTTPS %v, want %v", proto, c.HTTPS, want)
		}
	})
}
