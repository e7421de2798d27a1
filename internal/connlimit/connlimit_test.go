package connlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

func TestSource(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want string
	}{
		{"ipv4", &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5514}, "192.0.2.7"},
		{"ipv4-mapped", &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7"},
		{"ipv6 keeps its /64", &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), Port: 1}, "2001:db8:1:2::"},
		{"ipv6 zone dropped", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0", Port: 1}, "fe80::"},
		{"udp", &net.UDPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}, "10.1.2.3"},
		{"other kind, parsed", fakeAddr("198.51.100.1:80"), "198.51.100.1"},
		{"unix socket", &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, "invalid IP"},
		{"nil", nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Source(tt.addr).String(); got != tt.want {
				t.Errorf("Source(%v) = %s, want %s", tt.addr, got, tt.want)
			}
		})
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func tcp(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }

func TestAcquireBounds(t *testing.T) {
	tests := []struct {
		name    string
		lim     Limits
		from    []string // sources acquiring in order
		wantErr []error  // per acquire
	}{
		{
			name:    "per source bound hit, other source unaffected",
			lim:     Limits{Max: 10, PerSource: 2},
			from:    []string{"10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"},
			wantErr: []error{nil, nil, ErrPerSource, nil},
		},
		{
			name:    "total bound hit",
			lim:     Limits{Max: 2, PerSource: 2},
			from:    []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"},
			wantErr: []error{nil, nil, ErrTotal},
		},
		{
			name:    "one ipv6 /64 is one source",
			lim:     Limits{PerSource: 1},
			from:    []string{"2001:db8::1", "2001:db8::2", "2001:db8:0:1::1"},
			wantErr: []error{nil, ErrPerSource, nil},
		},
		{
			name:    "a shared address is bound by the total only",
			lim:     Limits{Max: 4, PerSource: 1, Shared: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("2001:db8::5/128")}},
			from:    []string{"10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.1", "10.0.0.1"},
			wantErr: []error{nil, nil, nil, ErrPerSource, nil, ErrTotal},
		},
		{
			name:    "shared ipv6 address, others of its /64 still bound",
			lim:     Limits{PerSource: 1, Shared: []netip.Prefix{netip.MustParsePrefix("2001:db8::5/128")}},
			from:    []string{"2001:db8::5", "2001:db8::5", "2001:db8::6"},
			wantErr: []error{nil, nil, ErrPerSource},
		},
		{
			name:    "no bounds",
			lim:     Limits{},
			from:    []string{"10.0.0.1", "10.0.0.1", "10.0.0.1"},
			wantErr: []error{nil, nil, nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.lim)
			var held int
			for i, src := range tt.from {
				release, err := l.Acquire(tcp(src))
				if !errors.Is(err, tt.wantErr[i]) || (err == nil) != (tt.wantErr[i] == nil) {
					t.Fatalf("acquire %d from %s: got %v, want %v", i, src, err, tt.wantErr[i])
				}
				if err == nil {
					held++
					t.Cleanup(release)
				}
			}
			if got := l.Open(); got != held {
				t.Errorf("Open() = %d, want %d", got, held)
			}
		})
	}
}

func TestReleaseGivesSlotBack(t *testing.T) {
	l := New(Limits{Max: 1, PerSource: 1})
	release, err := l.Acquire(tcp("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(tcp("10.0.0.1")); !errors.Is(err, ErrTotal) {
		t.Fatalf("second acquire: got %v, want ErrTotal", err)
	}
	release()
	release() // a second call must not free a slot it does not hold
	if got := l.Open(); got != 0 {
		t.Fatalf("Open() after release = %d, want 0", got)
	}
	r2, err := l.Acquire(tcp("10.0.0.1"))
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	r2()
	if got, want := l.Refused(ErrTotal), uint64(1); got != want {
		t.Errorf("Refused(ErrTotal) = %d, want %d", got, want)
	}
	if got := len(l.bySrc); got != 0 {
		t.Errorf("sources tracked after every release: got %d, want 0", got)
	}
}

// TestListenerRefusesPerSource dials from two loopback addresses: the
// first source's connections past its bound are closed at once, the
// second source is served.
func TestListenerRefusesPerSource(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := New(Limits{Max: 100, PerSource: 3})
	ln := NewListener(inner, lim)
	refused := make(chan error, 100)
	ln.OnRefuse = func(_ net.Addr, reason error) { refused <- reason }
	defer ln.Close()
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for range 5 {
		dial("127.0.0.1")
	}
	for range 2 {
		if got := <-refused; !errors.Is(got, ErrPerSource) {
			t.Fatalf("refusal reason: got %v, want ErrPerSource", got)
		}
	}
	other := dial("127.0.0.2")
	var fromOther net.Conn
	for c := range accepted {
		if Source(c.RemoteAddr()) == netip.MustParseAddr("127.0.0.2") {
			fromOther = c
			break
		}
	}
	if fromOther == nil {
		t.Fatal("the second source's connection was never accepted")
	}
	other.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(fromOther, buf); err != nil {
		t.Fatalf("reading from the second source: %v", err)
	}
	if got, want := lim.OpenFrom(tcp("127.0.0.1")), 3; got != want {
		t.Errorf("open from the first source: got %d, want %d", got, want)
	}
	if got, want := lim.Refused(ErrPerSource), uint64(2); got != want {
		t.Errorf("refused per source: got %d, want %d", got, want)
	}
	fromOther.Close()
	if got, want := lim.OpenFrom(tcp("127.0.0.2")), 0; got != want {
		t.Errorf("open from the second source after close: got %d, want %d", got, want)
	}
}

// TestWriteTimeout: a peer that does not read makes writes fail after
// WriteTimeout without progress.
func TestWriteTimeout(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, New(Limits{}))
	ln.WriteTimeout = 200 * time.Millisecond
	defer ln.Close()
	client, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close() // never read: the socket buffers fill
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chunk := make([]byte, 1<<20)
	start := time.Now()
	for {
		if _, err = c.Write(chunk); err != nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("writes to a peer that never reads did not time out")
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write error: got %v, want a deadline error", err)
	}
}
