package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		refused bool
	}{
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"172.32.0.1", false},
		{"192.168.1.1", true},
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		{"100.128.0.1", false},
		{"169.254.169.254", true}, // cloud metadata
		{"0.0.0.0", true},
		{"224.0.0.1", true},
		{"255.255.255.255", true},
		{"8.8.8.8", false},
		{"203.0.113.5", false},
		{"::1", true},
		{"::", true},
		{"::ffff:127.0.0.1", true},       // IPv4-mapped loopback
		{"::ffff:169.254.169.254", true}, // IPv4-mapped metadata
		{"::ffff:8.8.8.8", false},
		{"::127.0.0.1", true},           // IPv4-compatible
		{"64:ff9b::7f00:1", true},       // NAT64 of 127.0.0.1
		{"64:ff9b:1::a9fe:a9fe", true},  // local-use NAT64
		{"2002:7f00:1::1", true},        // 6to4 of 127.0.0.1
		{"2002:a9fe:a9fe::1", true},     // 6to4 of 169.254.169.254
		{"2002:808:808::1", false},      // 6to4 of 8.8.8.8
		{"2001:0:4136:e378::1", true},   // Teredo
		{"fd00:ec2::254", true},         // ULA (AWS metadata over IPv6)
		{"fc00::1", true},               // ULA
		{"fe80::1", true},               // link-local
		{"fe80::1%eth0", true},          // with a zone
		{"fec0::1", true},               // site-local
		{"ff02::1", true},               // multicast
		{"2606:4700:4700::1111", false}, // public
		{"2001:db8::1", false},          // documentation: not internal
	} {
		t.Run(tc.addr, func(t *testing.T) {
			got := Classify(netip.MustParseAddr(tc.addr))
			if (got != "") != tc.refused {
				t.Errorf("Classify(%s) = %q, want refused %v", tc.addr, got, tc.refused)
			}
		})
	}
}

func TestCheckAllowList(t *testing.T) {
	p := MustNew("127.0.0.2/32", "10.20.0.0/16", "::ffff:192.168.7.7", "fd00::/8")
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.2", true},
		{"127.0.0.1", false},
		{"10.20.9.9", true},
		{"10.21.0.1", false},
		{"192.168.7.7", true},       // allowed through its mapped spelling
		{"::ffff:10.20.1.1", true},  // mapped form of an allowed address
		{"::ffff:127.0.0.1", false}, // mapped form of a refused one
		{"fd12::1", true},
		{"fe80::1", false},
		{"8.8.8.8", true},
	} {
		err := p.Check(netip.MustParseAddr(tc.addr))
		if (err == nil) != tc.ok {
			t.Errorf("Check(%s) = %v, want allowed %v", tc.addr, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("Check(%s) = %v, want an error matching ErrRefused", tc.addr, err)
		}
	}
	var nilPolicy *Policy
	if err := nilPolicy.Check(netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrRefused) {
		t.Errorf("nil policy Check(127.0.0.1) = %v, want refused", err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, s := range []string{"", "10.0.0.0/33", "example.com", "fe80::1%eth0", "1.2.3.4/8x"} {
		if _, err := New([]string{s}); err == nil {
			t.Errorf("New(%q) = nil error, want one", s)
		}
	}
}

func TestRefusedErrorHidesDetail(t *testing.T) {
	err := MustNew().Check(netip.MustParseAddr("169.254.169.254"))
	if got, want := err.Error(), "destination refused by egress policy"; got != want {
		t.Errorf("message %q, want %q (no address, no class)", got, want)
	}
	if got := Detail(err); !strings.Contains(got, "169.254.169.254") || !strings.Contains(got, "link-local") {
		t.Errorf("Detail %q, want the address and its class", got)
	}
}

func TestParseLooseIPv4(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" means not an address
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0X7F000001", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"169.254.43518", "169.254.169.254"},
		{"0xa9fea9fe", "169.254.169.254"},
		{"0", "0.0.0.0"},
		{"0x", "0.0.0.0"},
		{"127.0.0.1.", "127.0.0.1"},
		{"4294967295", "255.255.255.255"},
		{"4294967296", ""},
		{"256.0.0.1", ""},
		{"127.0.0.256", ""},
		{"1.2.3.4.5", ""},
		{"08.0.0.1", ""}, // not octal
		{"1..2", ""},
		{"example.com", ""},
		{"", ""},
		{".", ""},
		{"0x1g", ""},
		{"-1", ""},
		{"+1", ""},
	} {
		a, ok := ParseLooseIPv4(tc.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("ParseLooseIPv4(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckHost(t *testing.T) {
	p := MustNew()
	for _, tc := range []struct {
		host    string
		refused bool
	}{
		{"127.0.0.1", true},
		{"2130706433", true},
		{"0x7f000001", true},
		{"127.1", true},
		{"[::1]", true},
		{"::1", true},
		{"[::ffff:7f00:1]", true},
		{"[fe80::1%eth0]", true},
		{"169.254.169.254", true},
		{"8.8.8.8", false},
		{"example.com", false}, // a name: checked when dialled
		{"localhost", false},   // likewise
	} {
		err := p.CheckHost(tc.host)
		if (err != nil) != tc.refused {
			t.Errorf("CheckHost(%q) = %v, want refused %v", tc.host, err, tc.refused)
		}
	}
}

func TestControl(t *testing.T) {
	p := MustNew("127.0.0.2/32")
	for _, tc := range []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "127.0.0.1:80", false},
		{"tcp4", "127.0.0.2:80", true},
		{"tcp6", "[::1]:443", false},
		{"tcp6", "[fe80::1%eth0]:443", false},
		{"udp4", "10.0.0.1:514", false},
		{"tcp4", "93.184.215.14:443", true},
		{"tcp", "not an address", false},
	} {
		err := p.Control(tc.network, tc.address, nil)
		if (err == nil) != tc.ok {
			t.Errorf("Control(%s, %s) = %v, want allowed %v", tc.network, tc.address, err, tc.ok)
		}
	}
}

// receiver is a loopback HTTP server that counts the requests it gets.
type receiver struct {
	*httptest.Server
	hits atomic.Int32
}

func newReceiver(t *testing.T, ip string, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	r.Server = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		if h != nil {
			h(w, req)
		}
	})}}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

func get(t *testing.T, c *http.Client, url string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestClientRefusesInternalTargets(t *testing.T) {
	v4 := newReceiver(t, "127.0.0.1", nil)
	port := v4.Listener.Addr().(*net.TCPAddr).Port
	c := MustNew().Client(ClientOptions{Timeout: 10 * time.Second, MaxRedirects: 5})
	urls := []string{
		v4.URL,
		"http://localhost:" + itoa(port) + "/", // a name resolving to loopback
		"http://2130706433:" + itoa(port) + "/",
		"http://0x7f000001:" + itoa(port) + "/",
		"http://127.1:" + itoa(port) + "/",
	}
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		l.Close()
		v6 := newReceiver(t, "::1", nil)
		urls = append(urls, v6.URL)
		t.Cleanup(func() {
			if n := v6.hits.Load(); n != 0 {
				t.Errorf("the [::1] receiver got %d requests, want 0", n)
			}
		})
	}
	for _, u := range urls {
		_, err := get(t, c, u)
		if err == nil {
			t.Errorf("GET %s succeeded, want it refused", u)
			continue
		}
		// Names that no resolver reads as an address fail to resolve
		// instead: refused or failed, they never connect.
		if !errors.Is(err, ErrRefused) && !isDNSError(err) {
			t.Errorf("GET %s: %v, want the egress refusal (or a failed lookup)", u, err)
		}
	}
	if n := v4.hits.Load(); n != 0 {
		t.Errorf("the loopback receiver got %d requests, want 0", n)
	}
}

func isDNSError(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestClientRechecksRedirects(t *testing.T) {
	inner := newReceiver(t, "127.0.0.1", nil)
	outer := newReceiver(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/secret", http.StatusFound)
	})
	p := MustNew("127.0.0.2/32") // the outer receiver only
	follow := p.Client(ClientOptions{Timeout: 10 * time.Second, MaxRedirects: 5})
	if _, err := get(t, follow, outer.URL); !errors.Is(err, ErrRefused) {
		t.Errorf("redirect to loopback: got %v, want the egress refusal", err)
	}
	noFollow := p.Client(ClientOptions{Timeout: 10 * time.Second})
	code, err := get(t, noFollow, outer.URL)
	if err != nil || code != http.StatusFound {
		t.Errorf("without redirects: got %d, %v, want the 302 itself", code, err)
	}
	if n := inner.hits.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
	if n := outer.hits.Load(); n != 2 {
		t.Errorf("the allowed receiver got %d requests, want 2", n)
	}
}

func TestClientRedirectLimit(t *testing.T) {
	var loop *receiver
	loop = newReceiver(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL+"/again", http.StatusFound)
	})
	c := MustNew("127.0.0.1/32").Client(ClientOptions{Timeout: 10 * time.Second, MaxRedirects: 3})
	if _, err := get(t, c, loop.URL); !errors.Is(err, ErrTooManyRedirects) {
		t.Errorf("redirect loop: got %v, want ErrTooManyRedirects", err)
	}
	if n := loop.hits.Load(); n != 4 {
		t.Errorf("requests %d, want 4 (the first and three redirects)", n)
	}
}

func TestClientBoundsResponseHeaders(t *testing.T) {
	for _, tc := range []struct {
		size int
		ok   bool
	}{
		{60 << 10, true},
		{70 << 10, false}, // past MaxResponseHeaderBytes (64 KiB)
	} {
		srv := newReceiver(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Big", strings.Repeat("a", tc.size))
		})
		c := MustNew("127.0.0.1/32").Client(ClientOptions{Timeout: 10 * time.Second})
		_, err := get(t, c, srv.URL)
		if (err == nil) != tc.ok {
			t.Errorf("a %d KiB header: got %v, want ok %v", tc.size>>10, err, tc.ok)
		}
	}
}

func TestClientIgnoresProxyEnvironment(t *testing.T) {
	proxy := newReceiver(t, "127.0.0.1", nil)
	target := newReceiver(t, "127.0.0.2", nil)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	c := MustNew("127.0.0.2/32").Client(ClientOptions{Timeout: 10 * time.Second})
	if code, err := get(t, c, target.URL); err != nil || code != 200 {
		t.Fatalf("GET the allowed target: %d, %v", code, err)
	}
	if proxy.hits.Load() != 0 || target.hits.Load() != 1 {
		t.Errorf("proxy hits %d, target hits %d: want 0 and 1", proxy.hits.Load(), target.hits.Load())
	}
}

func FuzzParseLooseIPv4(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "1.2.3.4.5", "0x", "08", "4294967296", "1..2", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ParseLooseIPv4(s)
		if !ok {
			return
		}
		if !a.Is4() {
			t.Fatalf("ParseLooseIPv4(%q) = %s, not IPv4", s, a)
		}
		// The dotted form is one of the loose forms, and reads back the same.
		b, ok := ParseLooseIPv4(a.String())
		if !ok || b != a {
			t.Fatalf("ParseLooseIPv4(%q) = %s, which reads back as %s, %v", s, a, b, ok)
		}
		// An address the strict parser reads means the same to both.
		if strict, err := netip.ParseAddr(s); err == nil && strict.Is4() && strict != a {
			t.Fatalf("ParseLooseIPv4(%q) = %s, netip says %s", s, a, strict)
		}
	})
}

func FuzzCheckHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "[::1]", "[fe80::1%eth0]", "0x7f000001", "example.com", "[::ffff:7f00:1]", "2002:7f00:1::1"} {
		f.Add(s)
	}
	p := MustNew("10.0.0.0/8")
	f.Fuzz(func(t *testing.T, s string) {
		err := p.CheckHost(s)
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("CheckHost(%q) = %v, not a refusal", s, err)
		}
		// Whatever netip reads as loopback is refused.
		if a, perr := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); perr == nil && a.Unmap().IsLoopback() && err == nil {
			t.Fatalf("CheckHost(%q) allowed a loopback address", s)
		}
	})
}
