package intel

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzOpts keeps the bounds small so that fuzzing reaches them.
var fuzzOpts = ParseOptions{
	Feed:          "fuzz",
	MaxBytes:      1 << 16,
	MaxLineLen:    256,
	MaxIndicators: 64,
	MaxErrors:     16,
	CSV:           CSVColumns{Value: "value", Kind: "kind", Description: "desc", Tags: "tags", Confidence: "conf", FirstSeen: "first"},
}

func addSeedFiles(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkParsed asserts the invariants every parser keeps, and that an index
// of the indicators finds each of them.
func checkParsed(t *testing.T, input []byte, inds []Indicator, errs []error) {
	t.Helper()
	if len(inds) > fuzzOpts.MaxIndicators {
		t.Fatalf("got %d indicators, bound is %d", len(inds), fuzzOpts.MaxIndicators)
	}
	if len(errs) > fuzzOpts.MaxErrors+2 {
		t.Fatalf("got %d errors, bound is %d", len(errs), fuzzOpts.MaxErrors)
	}
	lines := bytes.Count(input, []byte{'\n'}) + 1
	for _, err := range errs {
		var pe *ParseError
		if errors.As(err, &pe) && (pe.Line < 0 || pe.Line > lines) {
			t.Fatalf("error %v: line out of range 0-%d", err, lines)
		}
		if err.Error() == "" {
			t.Fatal("empty error message")
		}
	}
	for i := range inds {
		in := &inds[i]
		if in.Value == "" || in.Kind == KindUnknown || in.Kind > KindEmail || in.Context == nil || in.Context.Feed != "fuzz" || in.Confidence > 100 {
			t.Fatalf("bad indicator %+v", in)
		}
		k, v, err := Normalize(in.Kind, in.Value)
		if err != nil || k != in.Kind || v != in.Value {
			t.Fatalf("Normalize(%v, %q) = %v, %q, %v: not idempotent", in.Kind, in.Value, k, v, err)
		}
	}
	if len(inds) == 0 {
		return
	}
	x := NewIndex([][]Indicator{inds}, IndexOptions{})
	for i := range inds {
		in := &inds[i]
		probe := in.Value
		if p, err := netip.ParsePrefix(probe); err == nil && in.Kind == KindIP {
			probe = p.Addr().String()
		}
		found := false
		x.MatchValue(in.Kind, probe, func(got *Indicator) { found = found || got.Value == in.Value })
		if !found && !in.Expired(timeNow()) {
			t.Fatalf("index does not find its own indicator %v %q", in.Kind, in.Value)
		}
	}
}

func FuzzParseList(f *testing.F) {
	addSeedFiles(f, "list.txt")
	for _, s := range []string{"", "\n\n", "# c\n1.2.3.4 ; x\n", "0.0.0.0 a.example # c\n", "hxxp://a[.]b/c\n", "\xef\xbb\xbf::1\r\n", strings.Repeat("a", 300) + "\n1.2.3.4"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inds, errs := ParseList(bytes.NewReader(data), fuzzOpts)
		checkParsed(t, data, inds, errs)
	})
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"value,kind,desc,tags,conf,first\n198.51.100.1,ip,scanner,\"a,b\",80,2026-01-01\n",
		"# value,kind\n\"x.example\",domain\n\"multi\nline\",url\n",
		"value\n\"unterminated\n",
		"kind,value\nmd5,d41d8cd98f00b204e9800998ecf8427e\nsha256,zz\n",
		"value,conf\n1.2.3.4,high\n1.2.3.5,NaN\n1.2.3.6,-5\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inds, errs := ParseCSV(bytes.NewReader(data), fuzzOpts)
		checkParsed(t, data, inds, errs)
	})
}

func FuzzParseSTIXPattern(f *testing.F) {
	for _, s := range []string{
		`[ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '198.51.100.2']`,
		`[domain-name:value = 'a.example' OR domain-name:value = 'b.example']`,
		`[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']`,
		`[file:hashes.MD5 = '098f6bcd4621d373cade4e832627b4f6']`,
		`[ipv4-addr:value ISSUBSET '10.0.0.0/8']`,
		`([url:value = 'http://x/it\'s'] OR [email-addr:value = 'a@b.example'])`,
		`[a:b = 'x' AND c:d = 'y'] FOLLOWEDBY [e:f = 'z'] WITHIN 5 SECONDS`,
		`[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]`,
		`[x:y = t'2020-01-01T00:00:00Z']`, `[`, `]`, `'`, `[a:b = '\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		terms, err := ParseSTIXPattern(p)
		if err != nil {
			if terms != nil {
				t.Fatalf("got terms %v with error %v", terms, err)
			}
			return
		}
		if len(terms) == 0 {
			t.Fatal("got no terms and no error")
		}
		for _, tm := range terms {
			if tm.Kind > KindEmail || tm.Kind == KindURL && tm.Value == "\x00" {
				t.Fatalf("bad term %+v", tm)
			}
		}
	})
}

func FuzzParseSTIX(f *testing.F) {
	addSeedFiles(f, "bundle.json")
	for _, s := range []string{
		`[{"type":"indicator","pattern":"[ipv4-addr:value = '192.0.2.1']","valid_until":"2099-01-01T00:00:00Z","confidence":101}]`,
		`{"type":"indicator","id":"indicator--x","pattern":"[url:value = 'http://a.example']","revoked":"true"}`,
		`{"objects":{"type":"indicator"}}`, `[[[[[[]]]]]]`, `{"type":"bundle","objects":[1,"x",null,{}]}`, `"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inds, errs := ParseSTIX(bytes.NewReader(data), fuzzOpts)
		checkParsed(t, data, inds, errs)
	})
}

func FuzzParseMISP(f *testing.F) {
	addSeedFiles(f, "misp_event.json", "misp_response.json")
	for _, s := range []string{
		`{"Event":{"Attribute":[{"type":"domain|ip","to_ids":1,"value":"a.example|192.0.2.1"}],"Tag":[{"name":"x"}]}}`,
		`[{"Event":{"Object":[{"Attribute":[{"type":"sha1","to_ids":"1","value":"da39a3ee5e6b4b0d3255bfef95601890afd80709"}]}]}}]`,
		`{"response":{"Event":{"id":5,"info":null,"Attribute":[{"type":"ip-dst|port","to_ids":true,"value":"::1|80","first_seen":"2026-01-01T00:00:00Z"}]}}}`,
		`{"Event":{"Attribute":{}}}`, `{"Event":[{"Event":{"Event":{}}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inds, errs := ParseMISP(bytes.NewReader(data), fuzzOpts)
		checkParsed(t, data, inds, errs)
	})
}

// FuzzMatchValue feeds hostile event values to every kind of lookup and
// checks that a value indexed in normalized form is found from any input
// that normalizes to it without refanging.
func FuzzMatchValue(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "10.1.2.3", "::ffff:10.0.0.1", "fe80::1%eth0", "a.b.EVIL.example.",
		"HTTP://Bad.Example:80/x#f", "https://[2001:db8::1]:443?q", "SHA1=AA,MD5=44D88612FEA8A8F6DE64B1B5D3B4C1E6,IMPHASH=00",
		"Phish <phish@mail.bad.example>", "", "=", ",,,", strings.Repeat("a.", 200)} {
		f.Add(s)
	}
	base := []Indicator{}
	for _, v := range []string{"198.51.100.7", "10.0.0.0/8", "2001:db8::/32", "evil.example", "http://bad.example/x",
		"44d88612fea8a8f6de64b1b5d3b4c1e6", "phish@mail.bad.example"} {
		k, nv, err := Normalize(KindUnknown, v)
		if err != nil {
			f.Fatal(err)
		}
		base = append(base, Indicator{Value: nv, Kind: k, Context: &Context{Feed: "fuzz"}})
	}
	fixed := NewIndex([][]Indicator{base}, IndexOptions{})
	f.Fuzz(func(t *testing.T, s string) {
		for k := KindIP; k <= KindEmail; k++ {
			fixed.MatchValue(k, s, func(in *Indicator) {
				if in == nil || in.Context == nil {
					t.Fatal("nil indicator")
				}
			})
		}
		for k := KindIP; k <= KindEmail; k++ {
			if strings.ContainsAny(s, "[({") || len(s) > 200 {
				continue // refanged or long values are covered by the parsers
			}
			nk, v, err := Normalize(k, s)
			if err != nil || nk != k {
				continue
			}
			x := NewIndex([][]Indicator{{{Value: v, Kind: k, Context: &Context{Feed: "fuzz"}}}}, IndexOptions{})
			probe := v
			if p, err := netip.ParsePrefix(v); err == nil {
				probe = p.Addr().String()
			}
			found := false
			x.MatchValue(k, probe, func(*Indicator) { found = true })
			if !found {
				t.Fatalf("kind %v: %q normalized to %q, not found by itself", k, s, v)
			}
		}
	})
}
