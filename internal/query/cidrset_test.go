package query

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
)

func cidrTerms(field string, prefixes ...string) []*Term {
	var out []*Term
	for _, p := range prefixes {
		pp, err := netip.ParsePrefix(p)
		if err != nil {
			panic(err)
		}
		out = append(out, &Term{Field: field, Op: OpCIDR, Value: p, Prefix: pp})
	}
	return out
}

// oneByOne is what an OR of the terms means: some prefix holds the text.
func oneByOne(terms []*Term, text string) bool {
	for _, t := range terms {
		if CompileTerm(t).MatchValue(event.String(text)) {
			return true
		}
	}
	return false
}

func TestCIDRSet(t *testing.T) {
	tests := []struct {
		name     string
		prefixes []string
		ranges   int
		in, out  []string
	}{
		{
			name:     "adjacent merge",
			prefixes: []string{"10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24"},
			ranges:   1,
			in:       []string{"10.0.0.0", "10.0.0.127", "10.0.0.128", "10.0.1.255", "::ffff:10.0.1.7"},
			out:      []string{"10.0.2.0", "9.255.255.255", "10.0.0.1x", ""},
		},
		{
			name:     "gap kept",
			prefixes: []string{"10.1.2.0/31", "10.1.2.4/31"},
			ranges:   2,
			in:       []string{"10.1.2.0", "10.1.2.1", "10.1.2.4", "10.1.2.5"},
			out:      []string{"10.1.2.2", "10.1.2.3", "10.1.2.6"},
		},
		{
			name:     "nested and unmasked",
			prefixes: []string{"10.0.0.0/8", "10.9.9.9/16", "10.200.0.0/24"},
			ranges:   1,
			in:       []string{"10.9.0.1", "10.255.255.255"},
			out:      []string{"11.0.0.0"},
		},
		{
			name:     "whole families",
			prefixes: []string{"0.0.0.0/0", "::/0"},
			ranges:   2,
			in:       []string{"0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::1%eth0"},
			out:      []string{"not an address", "1.2.3"},
		},
		{
			name:     "top of the spaces",
			prefixes: []string{"255.255.255.254/31", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "ffff:ffff:ffff:ffff::/64"},
			ranges:   2,
			in:       []string{"255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff::1"},
			out:      []string{"255.255.255.253", "ffff:ffff:ffff:fffe::1"},
		},
		{
			name:     "v6 across the 64-bit halves",
			prefixes: []string{"2001:db8::/64", "2001:db8:0:1::/64", "2001:db8:0:3::/64"},
			ranges:   2,
			in:       []string{"2001:db8::ffff:ffff:ffff:ffff", "2001:db8:0:1::", "2001:db8:0:3::9"},
			out:      []string{"2001:db8:0:2::", "2001:db8:0:4::"},
		},
		{
			name:     "mapped IPv4",
			prefixes: []string{"198.51.100.0/24", "::ffff:0:0/96"},
			ranges:   2,
			in:       []string{"::ffff:198.51.100.9", "198.51.100.200", "::ffff:1.2.3.4"},
			out:      []string{"1.2.3.4", "::1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			terms := cidrTerms("source.ip", tt.prefixes...)
			s := NewCIDRSet(terms)
			if got := s.Ranges(); got != tt.ranges {
				t.Errorf("Ranges() = %d, want %d", got, tt.ranges)
			}
			for _, a := range tt.in {
				if !s.Contains(a) {
					t.Errorf("Contains(%q) = false, want true", a)
				}
			}
			for _, a := range tt.out {
				if s.Contains(a) {
					t.Errorf("Contains(%q) = true, want false", a)
				}
			}
			for _, a := range append(tt.in, tt.out...) {
				if got, want := s.Contains(a), oneByOne(terms, a); got != want {
					t.Errorf("Contains(%q) = %v, one term at a time: %v", a, got, want)
				}
			}
		})
	}
}

func TestGroupCIDR(t *testing.T) {
	q, err := Parse("source.ip:10.0.0.0/8 OR user.name:root OR destination.ip:10.0.0.0/8 OR source.ip:fe80::/10 OR destination.ip:1.0.0.0/8 OR host.name:10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	groups, rest := GroupCIDR(q.Filter.(*Or).Terms)
	var got []string
	for _, g := range groups {
		var vals []string
		for _, tm := range g {
			vals = append(vals, tm.Value)
		}
		got = append(got, g[0].Field+"="+strings.Join(vals, ","))
	}
	want := "source.ip=10.0.0.0/8,fe80::/10 destination.ip=10.0.0.0/8,1.0.0.0/8"
	if strings.Join(got, " ") != want {
		t.Errorf("groups: got %q, want %q", strings.Join(got, " "), want)
	}
	var restS []string
	for _, e := range rest {
		restS = append(restS, e.String())
	}
	if got, want := strings.Join(restS, " "), "user.name:root host.name:10.0.0.0/8"; got != want {
		t.Errorf("rest: got %q, want %q", got, want)
	}
}

// TestCIDRSetMatcher: the in-memory matcher uses the set for an OR of
// CIDR terms, on ordinary and reserved fields and arrays, and agrees with
// the terms one by one.
func TestCIDRSetMatcher(t *testing.T) {
	ev := &event.Event{Raw: "10.0.0.5"}
	ev.Set("source.ip", event.String("192.0.2.1"))
	ev.Set("source.ip", event.String("10.9.8.7"))
	ev.Set("source.ip", event.Null())
	for _, tt := range []struct {
		q    string
		want bool
	}{
		{"source.ip:10.0.0.0/8 OR source.ip:172.16.0.0/12", true},
		{"source.ip:172.16.0.0/12 OR source.ip:192.0.2.0/24", true},
		{"source.ip:172.16.0.0/12 OR source.ip:192.168.0.0/16", false},
		{"log.original:10.0.0.0/24 OR log.original:fe80::/10", true},
		{"log.original:10.0.1.0/24 OR log.original:fe80::/10", false},
		{"nosuch.field:10.0.0.0/8 OR nosuch.field:::/0", false},
		{"NOT (source.ip:10.0.0.0/8 OR source.ip:192.0.2.0/24)", false},
	} {
		t.Run(tt.q, func(t *testing.T) {
			if got := Matches(mustParseQ(t, tt.q), ev); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func mustParseQ(t *testing.T, s string) *Query {
	t.Helper()
	q, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// FuzzCIDRSet: for any prefixes and any text, the merged set answers what
// the terms answer one at a time.
func FuzzCIDRSet(f *testing.F) {
	for _, s := range []struct{ prefixes, addr string }{
		{"10.0.0.0/8 192.168.0.0/16", "10.1.2.3"},
		{"10.1.2.0/31 10.1.2.4/31", "10.1.2.3"},
		{"0.0.0.0/0 ::/0", "fe80::1%eth0"},
		{"::ffff:0:0/96 198.51.100.0/24", "::ffff:198.51.100.9"},
		{"2001:db8::/64 2001:db8:0:1::/64", "2001:db8:0:1::ffff"},
		{"255.255.255.254/31 ffff::/16", "255.255.255.255"},
		{"1.2.3.4/32 1.2.3.5/32 1.2.3.6/31", "1.2.3.7"},
		{"fe80::/10", "not an address"},
	} {
		f.Add(s.prefixes, s.addr)
	}
	f.Fuzz(func(t *testing.T, prefixes, addr string) {
		var terms []*Term
		for _, p := range strings.Fields(prefixes) {
			pp, err := netip.ParsePrefix(p)
			if err != nil {
				continue
			}
			terms = append(terms, &Term{Field: "f", Op: OpCIDR, Value: p, Prefix: pp})
		}
		s := NewCIDRSet(terms)
		if got, want := s.Contains(addr), oneByOne(terms, addr); got != want {
			t.Errorf("prefixes %q, %q: set says %v, terms say %v", prefixes, addr, got, want)
		}
		// Neighbours of the address probe the range edges.
		if a, err := netip.ParseAddr(addr); err == nil {
			for _, b := range []netip.Addr{a.Prev(), a.Next()} {
				if !b.IsValid() {
					continue
				}
				txt := b.String()
				if got, want := s.Contains(txt), oneByOne(terms, txt); got != want {
					t.Errorf("prefixes %q, %q: set says %v, terms say %v", prefixes, txt, got, want)
				}
			}
		}
	})
}
