package intel

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/event"
)

// listIndicators parses list lines as feed name.
func listIndicators(t testing.TB, feed string, lines ...string) []Indicator {
	t.Helper()
	inds, errs := ParseList(strings.NewReader(strings.Join(lines, "\n")), ParseOptions{Feed: feed})
	if len(errs) > 0 {
		t.Fatalf("parsing %q: %v", lines, errs)
	}
	return inds
}

func newEvent(kv ...string) *event.Event {
	ev := &event.Event{}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Set(kv[i], event.String(kv[i+1]))
	}
	return ev
}

// hits renders the hits of ev as "field=value -> feed:indicator".
func hits(x *Index, ev *event.Event) []string {
	var out []string
	x.Match(ev, func(h Hit) {
		out = append(out, fmt.Sprintf("%s=%s -> %s:%s", h.Field, h.Value, h.Indicator.Context.Feed, h.Indicator.Value))
	})
	return out
}

func TestMatch(t *testing.T) {
	feed := listIndicators(t, "f",
		"198.51.100.7", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "172.16.0.0/12",
		"2001:db8:dead::/48", "2001:db8::bad",
		"evil.example", "deep.sub.other.example",
		"http://bad.example/payload.bin", "https://q.example/p?id=1",
		"44d88612fea8a8f6de64b1b5d3b4c1e6",
		"3395856ce81f2b7382dee72602f798b642f14140",
		"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
		"phish@mail.bad.example",
		"198.51.100.7", // listed twice: one hit
	)
	other := listIndicators(t, "g", "198.51.100.7")
	x := NewIndex([][]Indicator{feed, other}, IndexOptions{})
	const sha256 = "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F"
	tests := []struct {
		name string
		ev   *event.Event
		want []string
	}{
		{"ip exact, two feeds", newEvent("source.ip", "198.51.100.7"),
			[]string{"source.ip=198.51.100.7 -> f:198.51.100.7", "source.ip=198.51.100.7 -> g:198.51.100.7"}},
		{"ip miss", newEvent("source.ip", "198.51.100.8", "destination.ip", "not-an-ip"), nil},
		{"nested cidr, innermost first", newEvent("destination.ip", "10.1.2.3"),
			[]string{"destination.ip=10.1.2.3 -> f:10.1.2.0/24", "destination.ip=10.1.2.3 -> f:10.1.0.0/16", "destination.ip=10.1.2.3 -> f:10.0.0.0/8"}},
		{"cidr after inner range", newEvent("client.ip", "10.1.3.0"),
			[]string{"client.ip=10.1.3.0 -> f:10.1.0.0/16", "client.ip=10.1.3.0 -> f:10.0.0.0/8"}},
		{"cidr edges", newEvent("server.ip", "10.255.255.255", "host.ip", "11.0.0.0", "SourceIp", "172.31.255.255", "DestinationIp", "9.255.255.255"),
			[]string{"server.ip=10.255.255.255 -> f:10.0.0.0/8", "SourceIp=172.31.255.255 -> f:172.16.0.0/12"}},
		{"mapped v4", newEvent("IpAddress", "::ffff:198.51.100.7"),
			[]string{"IpAddress=::ffff:198.51.100.7 -> f:198.51.100.7", "IpAddress=::ffff:198.51.100.7 -> g:198.51.100.7"}},
		{"ipv6", newEvent("source.ip", "2001:DB8:DEAD:1::5", "destination.ip", "2001:db8::bad", "client.ip", "2001:db8:deae::1", "host.ip", "fe80::1%eth0"),
			[]string{"source.ip=2001:DB8:DEAD:1::5 -> f:2001:db8:dead::/48", "destination.ip=2001:db8::bad -> f:2001:db8::bad"}},
		{"domain and subdomains", newEvent("dns.question.name", "a.b.EVIL.example.", "url.domain", "evil.example", "destination.domain", "notevil.example", "server.domain", "example"),
			[]string{"dns.question.name=a.b.EVIL.example -> f:evil.example", "url.domain=evil.example -> f:evil.example"}},
		{"parent of indicator does not match", newEvent("QueryName", "other.example", "DestinationHostname", "x.deep.sub.other.example"),
			[]string{"DestinationHostname=x.deep.sub.other.example -> f:deep.sub.other.example"}},
		{"url normalized", newEvent("url.original", "HTTP://BAD.Example:80/payload.bin#frag", "url.full", "https://Q.example:443/p?id=1"),
			[]string{"url.original=HTTP://BAD.Example:80/payload.bin#frag -> f:http://bad.example/payload.bin", "url.full=https://Q.example:443/p?id=1 -> f:https://q.example/p?id=1"}},
		{"url path is case-sensitive, query kept", newEvent("url.original", "http://bad.example/Payload.bin", "url.full", "https://q.example/p?id=2"), nil},
		{"hash case", newEvent("file.hash.sha256", sha256, "process.hash.md5", "44D88612FEA8A8F6DE64B1B5D3B4C1E6"),
			[]string{"file.hash.sha256=" + sha256 + " -> f:275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "process.hash.md5=44D88612FEA8A8F6DE64B1B5D3B4C1E6 -> f:44d88612fea8a8f6de64b1b5d3b4c1e6"}},
		{"windows Hashes", newEvent("Hashes", "SHA1=3395856CE81F2B7382DEE72602F798B642F14140,MD5=00000000000000000000000000000000,SHA256="+sha256+",IMPHASH=44D88612FEA8A8F6DE64B1B5D3B4C1E6"),
			[]string{"Hashes=3395856CE81F2B7382DEE72602F798B642F14140 -> f:3395856ce81f2b7382dee72602f798b642f14140", "Hashes=" + sha256 + " -> f:275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}},
		{"windows Hash", newEvent("Hash", "MD5=44d88612fea8a8f6de64b1b5d3b4c1e6"),
			[]string{"Hash=44d88612fea8a8f6de64b1b5d3b4c1e6 -> f:44d88612fea8a8f6de64b1b5d3b4c1e6"}},
		{"email", newEvent("email.from.address", "Phish@Mail.Bad.Example", "user.email", "other@mail.bad.example", "source.user.email", "Bad <phish@mail.bad.example>"),
			[]string{"email.from.address=Phish@Mail.Bad.Example -> f:phish@mail.bad.example", "source.user.email=Bad <phish@mail.bad.example> -> f:phish@mail.bad.example"}},
		{"unchecked field", newEvent("message", "198.51.100.7 evil.example", "related.ip", "198.51.100.7"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, hits(x, tt.ev)); diff != "" {
				t.Errorf("hits (-want +got):\n%s", diff)
			}
		})
	}
	if got, want := x.Len(), 16; got != want {
		t.Errorf("got Len %d, want %d", got, want)
	}
}

func TestMatchExpiry(t *testing.T) {
	now := time.Now()
	ctx := func(until time.Time) *Context { return &Context{Feed: "f", ValidUntil: until} }
	inds := []Indicator{
		{Value: "192.0.2.1", Kind: KindIP, Context: ctx(now.Add(-time.Hour))},     // expired at build
		{Value: "192.0.2.2", Kind: KindIP, Context: ctx(now.Add(-time.Second))},   // expires between build and match
		{Value: "192.0.2.3", Kind: KindIP, Context: ctx(now.Add(24 * time.Hour))}, // valid
		{Value: "192.0.2.4", Kind: KindIP, Context: ctx(time.Time{})},             // no expiry
	}
	x := NewIndex([][]Indicator{inds}, IndexOptions{Now: now.Add(-time.Minute)})
	if got, want := x.Len(), 3; got != want {
		t.Errorf("got Len %d, want %d", got, want)
	}
	ev := newEvent("source.ip", "192.0.2.1", "source.ip", "192.0.2.2", "source.ip", "192.0.2.3", "source.ip", "192.0.2.4")
	want := []string{"source.ip=192.0.2.3 -> f:192.0.2.3", "source.ip=192.0.2.4 -> f:192.0.2.4"}
	if diff := cmp.Diff(want, hits(x, ev)); diff != "" {
		t.Errorf("hits (-want +got):\n%s", diff)
	}
}

func TestMatchCustomFields(t *testing.T) {
	x := NewIndex([][]Indicator{listIndicators(t, "f", "198.51.100.7")}, IndexOptions{Fields: map[string]Kind{"peer": KindIP}})
	if diff := cmp.Diff([]string{"peer=198.51.100.7 -> f:198.51.100.7"}, hits(x, newEvent("peer", "198.51.100.7", "source.ip", "198.51.100.7"))); diff != "" {
		t.Errorf("hits (-want +got):\n%s", diff)
	}
	var got []string
	x.MatchValue(KindIP, "198.51.100.7", func(in *Indicator) { got = append(got, in.Value) })
	if diff := cmp.Diff([]string{"198.51.100.7"}, got); diff != "" {
		t.Errorf("MatchValue (-want +got):\n%s", diff)
	}
	var nilIndex *Index
	nilIndex.Match(newEvent("peer", "198.51.100.7"), func(Hit) { t.Error("nil index matched") })
}

// TestRangesRandom checks the CIDR forest against a brute-force scan.
func TestRangesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			randAddr := func() netip.Addr {
				// A small space so that ranges nest and touch.
				if v6 {
					var b [16]byte
					b[0], b[1] = 0x20, 0x01
					b[2] = byte(rng.IntN(4))
					b[15] = byte(rng.IntN(256))
					if rng.IntN(8) == 0 {
						b[0] = 0xff
						for i := 1; i < 16; i++ {
							b[i] = 0xff
						}
					}
					return netip.AddrFrom16(b)
				}
				v := uint32(10<<24 | rng.IntN(4)<<16 | rng.IntN(256)<<8 | rng.IntN(256))
				if rng.IntN(8) == 0 {
					v = 0xffffff00 | uint32(rng.IntN(256))
				}
				return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			}
			var inds []Indicator
			var prefixes []netip.Prefix
			ctx := &Context{Feed: "r"}
			for range 300 {
				a := randAddr()
				bits := a.BitLen() - rng.IntN(20)
				if rng.IntN(20) == 0 {
					bits = rng.IntN(3) // huge ranges
				}
				p := netip.PrefixFrom(a, bits).Masked()
				if p.IsSingleIP() {
					continue
				}
				prefixes = append(prefixes, p)
				inds = append(inds, Indicator{Value: p.String(), Kind: KindIP, Context: ctx})
			}
			x := NewIndex([][]Indicator{inds}, IndexOptions{Fields: map[string]Kind{"ip": KindIP}})
			for range 5000 {
				a := randAddr()
				var want []string
				for _, p := range prefixes {
					if p.Contains(a) && !slices.Contains(want, p.String()) {
						want = append(want, p.String())
					}
				}
				var got []string
				x.MatchValue(KindIP, a.String(), func(in *Indicator) { got = append(got, in.Value) })
				slices.Sort(want)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: got %v, want %v", a, got, want)
				}
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		kind      Kind
		in        string
		wantKind  Kind
		want      string
		wantError bool
	}{
		{KindUnknown, " 198.51.100.1 ", KindIP, "198.51.100.1", false},
		{KindUnknown, "10.1.2.3/8", KindIP, "10.0.0.0/8", false},
		{KindUnknown, "::ffff:10.0.0.0/104", KindIP, "10.0.0.0/8", false},
		{KindUnknown, "evil[.]example", KindDomain, "evil.example", false},
		{KindUnknown, "hxxps://evil[.]example/x", KindURL, "https://evil.example/x", false},
		{KindUnknown, "user[@]evil.example", KindEmail, "user@evil.example", false},
		{KindUnknown, "evil.example/path", KindURL, "http://evil.example/path", false},
		{KindUnknown, "1.2.3", KindUnknown, "", true},
		{KindURL, "http://user:Pw@Host.Example:8080/P?q#f", KindURL, "http://user:Pw@host.example:8080/P?q", false},
		{KindURL, "http://[2001:DB8::1]:80/", KindURL, "http://[2001:db8::1]/", false},
		{KindURL, "http://[2001:DB8::1]/", KindURL, "http://[2001:db8::1]/", false},
		{KindURL, "https://a.example?x", KindURL, "https://a.example/?x", false},
		{KindURL, "http:///nohost", KindURL, "", true},
		{KindURL, "1http://x", KindURL, "", true},
		{KindDomain, "a..example", KindDomain, "", true},
		{KindDomain, strings.Repeat("a", 64) + ".example", KindDomain, "", true},
		{KindDomain, "xn--bcher-kva.example", KindDomain, "xn--bcher-kva.example", false},
		{KindHash, "ABC", KindHash, "", true},
		{KindEmail, "mailto:A@B.Example", KindEmail, "a@b.example", false},
		{KindEmail, "@b.example", KindEmail, "", true},
		{KindIP, "192.0.2.1%eth0", KindIP, "", true},
	}
	for _, tt := range tests {
		k, v, err := Normalize(tt.kind, tt.in)
		if (err != nil) != tt.wantError {
			t.Errorf("Normalize(%v, %q): got error %v, want error %v", tt.kind, tt.in, err, tt.wantError)
			continue
		}
		if err == nil && (k != tt.wantKind || v != tt.want) {
			t.Errorf("Normalize(%v, %q): got %v %q, want %v %q", tt.kind, tt.in, k, v, tt.wantKind, tt.want)
		}
	}
}

func TestKindText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Kind
	}{{"ip-dst", KindIP}, {"SHA256", KindHash}, {"hostname", KindDomain}, {"", KindUnknown}, {"email-src", KindEmail}, {"uri", KindURL}} {
		var k Kind
		if err := k.UnmarshalText([]byte(tt.in)); err != nil || k != tt.want {
			t.Errorf("UnmarshalText(%q): got %v, %v, want %v", tt.in, k, err, tt.want)
		}
	}
	var k Kind
	if err := k.UnmarshalText([]byte("bogus")); err == nil {
		t.Error("UnmarshalText(bogus): got nil error, want one")
	}
}

func TestParseIPv4(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "1.2.3.4", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4",
		"1..2.3", "1.2.3.", ".1.2.3", "10.0.0.10", "1.2.3.04", "a.b.c.d", "1.2.3.4 ", "100.200.100.200", "0.0.0.00"} {
		u, ok := parseIPv4(s)
		a, err := netip.ParseAddr(s)
		wantOK := err == nil && a.Is4()
		if ok != wantOK {
			t.Errorf("parseIPv4(%q): got ok %v, want %v", s, ok, wantOK)
			continue
		}
		if ok {
			b := a.As4()
			if want := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]); u != want {
				t.Errorf("parseIPv4(%q): got %#x, want %#x", s, u, want)
			}
		}
	}
}

func timeNow() time.Time { return time.Now() }

// TestIndexHandMadeIndicators feeds indicators not made by a parser: values
// not in normalized form must not break the index.
func TestIndexHandMadeIndicators(t *testing.T) {
	ctx := &Context{Feed: "hand"}
	var inds []Indicator
	for i := range 100 {
		inds = append(inds, Indicator{Value: fmt.Sprintf("::ffff:10.0.%d.1", i), Kind: KindIP, Context: ctx})
	}
	inds = append(inds,
		Indicator{Value: "::ffff:10.9.0.0/112", Kind: KindIP, Context: ctx},
		Indicator{Value: "not an ip", Kind: KindIP, Context: ctx},
		Indicator{Value: "zz", Kind: KindHash},
		Indicator{Value: "x", Kind: Kind(99)},
	)
	x := NewIndex([][]Indicator{inds}, IndexOptions{})
	if got, want := x.Len(), 101; got != want {
		t.Errorf("got Len %d, want %d", got, want)
	}
	want := []string{"source.ip=10.0.42.1 -> hand:::ffff:10.0.42.1", "destination.ip=10.9.1.2 -> hand:::ffff:10.9.0.0/112"}
	if diff := cmp.Diff(want, hits(x, newEvent("source.ip", "10.0.42.1", "destination.ip", "10.9.1.2"))); diff != "" {
		t.Errorf("hits (-want +got):\n%s", diff)
	}
}

func TestDecodeHex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "0123456789abcdefABCDEF/:@`gG\x00\xff"
	for range 20000 {
		n := 1 + rng.IntN(20)
		b := make([]byte, 2*n)
		for i := range b {
			if rng.IntN(40) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = alphabet[rng.IntN(22)]
			}
		}
		s := string(b)
		got := make([]byte, n)
		ok := decodeHex(got, s)
		want, err := hex.DecodeString(s)
		if ok != (err == nil) {
			t.Fatalf("decodeHex(%q): got ok %v, want %v", s, ok, err == nil)
		}
		if ok && !slices.Equal(got, want) {
			t.Fatalf("decodeHex(%q): got %x, want %x", s, got, want)
		}
	}
}
