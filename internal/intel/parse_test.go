package intel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// brief is an indicator in a form easy to compare.
type brief struct {
	Kind, Value string
	Conf        uint8
	Desc        string
	Tags        []string
	Source      string
	Until       string
}

func briefs(inds []Indicator) []brief {
	var out []brief
	for _, in := range inds {
		b := brief{Kind: in.Kind.String(), Value: in.Value, Conf: in.Confidence}
		if c := in.Context; c != nil {
			b.Desc, b.Tags, b.Source = c.Description, c.Tags, c.Source
			if !c.ValidUntil.IsZero() {
				b.Until = c.ValidUntil.Format(time.RFC3339)
			}
		}
		out = append(out, b)
	}
	return out
}

// errSummary gives each error as "line: kind" where kind is skip for
// ErrUnsupported and error otherwise.
func errSummary(errs []error) []string {
	var out []string
	for _, err := range errs {
		kind := "error"
		if errors.Is(err, ErrUnsupported) {
			kind = "skip"
		}
		line := 0
		var pe *ParseError
		if errors.As(err, &pe) {
			line = pe.Line
		}
		out = append(out, fmt.Sprintf("%d: %s", line, kind))
	}
	return out
}

func openTestdata(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseList(t *testing.T) {
	inds, errs := ParseList(openTestdata(t, "list.txt"), ParseOptions{Feed: "blocklist"})
	want := []brief{
		{Kind: "ip", Value: "198.51.100.7", Conf: 50},
		{Kind: "ip", Value: "203.0.113.0/24", Conf: 50, Desc: "SBL000123"},
		{Kind: "ip", Value: "2001:db8:dead::/48", Conf: 50},
		{Kind: "ip", Value: "2001:db8::bad", Conf: 50},
		{Kind: "domain", Value: "evil.example", Conf: 50},
		{Kind: "url", Value: "http://bad.example/payload.bin", Conf: 50},
		{Kind: "hash", Value: "44d88612fea8a8f6de64b1b5d3b4c1e6", Conf: 50},
		{Kind: "hash", Value: "3395856ce81f2b7382dee72602f798b642f14140", Conf: 50},
		{Kind: "hash", Value: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", Conf: 50},
		{Kind: "email", Value: "phish@mail.bad.example", Conf: 50},
		{Kind: "domain", Value: "ads.tracker.example", Conf: 50},
	}
	if diff := cmp.Diff(want, briefs(inds)); diff != "" {
		t.Errorf("indicators (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"16: error", "17: error"}, errSummary(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
	}
	for _, in := range inds {
		if in.Context.Feed != "blocklist" {
			t.Errorf("%s: got feed %q, want blocklist", in.Value, in.Context.Feed)
		}
	}
	// Lines without a comment share one context.
	if inds[0].Context != inds[2].Context {
		t.Errorf("got distinct contexts for plain lines, want one shared")
	}
}

func TestParseListForcedKind(t *testing.T) {
	tests := []struct {
		name  string
		kind  Kind
		input string
		want  []string
		errs  []string
	}{
		{"domains", KindDomain, "Evil.Example.\n*.wild.example\n198.51.100.1\nsingle\n", []string{"evil.example", "wild.example"}, []string{"3: error", "4: error"}},
		{"ips", KindIP, "10.0.0.0/8\n::ffff:192.0.2.1\n10.1.2.3/32\nfe80::1%eth0\n", []string{"10.0.0.0/8", "192.0.2.1", "10.1.2.3"}, []string{"4: error"}},
		{"urls", KindURL, "evil.example/x\nHTTPS://A.Example:443\nftp://f.example:21/p#f\n", []string{"http://evil.example/x", "https://a.example/", "ftp://f.example/p"}, nil},
		{"crlf and bom", KindUnknown, "\xef\xbb\xbf192.0.2.1\r\n192.0.2.2\r\n", []string{"192.0.2.1", "192.0.2.2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inds, errs := ParseList(strings.NewReader(tt.input), ParseOptions{Kind: tt.kind})
			var got []string
			for _, in := range inds {
				got = append(got, in.Value)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errs, errSummary(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
			}
		})
	}
}

func TestParseListBounds(t *testing.T) {
	long := strings.Repeat("a", 200) + ".example"
	input := "192.0.2.1\n" + long + "\n192.0.2.2\n192.0.2.3\n192.0.2.4\n"
	t.Run("line length", func(t *testing.T) {
		inds, errs := ParseList(strings.NewReader(input), ParseOptions{MaxLineLen: 100})
		if got, want := len(inds), 4; got != want {
			t.Errorf("got %d indicators, want %d", got, want)
		}
		if diff := cmp.Diff([]string{"2: error"}, errSummary(errs)); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
		if !errors.Is(errs[0], ErrLineTooLong) {
			t.Errorf("got %v, want ErrLineTooLong", errs[0])
		}
	})
	t.Run("indicator count", func(t *testing.T) {
		inds, errs := ParseList(strings.NewReader(input), ParseOptions{MaxIndicators: 2, MaxLineLen: 100})
		if got, want := len(inds), 2; got != want {
			t.Errorf("got %d indicators, want %d", got, want)
		}
		if len(errs) == 0 || !errors.Is(errs[len(errs)-1], ErrTooMany) {
			t.Errorf("got errors %v, want ErrTooMany last", errs)
		}
	})
	t.Run("size", func(t *testing.T) {
		inds, errs := ParseList(strings.NewReader(input), ParseOptions{MaxBytes: 12})
		if got, want := len(inds), 1; got != want {
			t.Errorf("got %d indicators, want %d", got, want)
		}
		if len(errs) != 1 || !errors.Is(errs[0], ErrTooLarge) {
			t.Errorf("got errors %v, want one ErrTooLarge", errs)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, errs := ParseList(strings.NewReader(strings.Repeat("bad\n", 50)), ParseOptions{MaxErrors: 5})
		if got, want := len(errs), 6; got != want {
			t.Fatalf("got %d errors, want %d", got, want)
		}
		var om *OmittedErrors
		if !errors.As(errs[5], &om) || om.Count != 45 {
			t.Errorf("got last error %v, want 45 omitted", errs[5])
		}
		if skipped, failed := CountErrors(errs); skipped != 0 || failed != 50 {
			t.Errorf("got %d skipped, %d failed, want 0, 50", skipped, failed)
		}
	})
}

func TestParseCSV(t *testing.T) {
	t.Run("abuse.ch layout", func(t *testing.T) {
		inds, errs := ParseCSV(openTestdata(t, "feed.csv"), ParseOptions{Feed: "urlhaus", Kind: KindURL,
			CSV: CSVColumns{Value: "url", Description: "threat", Tags: "tags", FirstSeen: "dateadded"}})
		want := []brief{
			{Kind: "url", Value: "http://198.51.100.23/bins/x86", Conf: 50, Desc: "malware_download", Tags: []string{"elf", "mirai"}},
			{Kind: "url", Value: "https://download.bad.example/a/b.exe?x=1", Conf: 50, Desc: "malware_download", Tags: []string{"exe", `"quoted" tag`}},
			{Kind: "url", Value: "http://multi.example/line", Conf: 50, Desc: "malware_download", Tags: []string{"a\nb"}},
		}
		if diff := cmp.Diff(want, briefs(inds)); diff != "" {
			t.Errorf("indicators (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"9: error", "10: error"}, errSummary(errs)); diff != "" {
			t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
		}
		if got, want := inds[0].Context.FirstSeen, time.Date(2026, 11, 20, 8, 1, 2, 0, time.UTC); !got.Equal(want) {
			t.Errorf("got first seen %v, want %v", got, want)
		}
	})
	t.Run("typed columns", func(t *testing.T) {
		inds, errs := ParseCSV(openTestdata(t, "typed.csv"), ParseOptions{
			CSV: CSVColumns{Value: "indicator", Kind: "type", Description: "description", Confidence: "confidence", Delimiter: ";"}})
		want := []brief{
			{Kind: "ip", Value: "198.51.100.99", Conf: 80, Desc: "Scanner"},
			{Kind: "domain", Value: "scanner.example", Conf: 85, Desc: "Scanner host"},
			{Kind: "hash", Value: "d41d8cd98f00b204e9800998ecf8427e", Conf: 10, Desc: "Empty file"},
			{Kind: "email", Value: "x@y.example", Conf: 50, Desc: "Sender"},
		}
		if diff := cmp.Diff(want, briefs(inds)); diff != "" {
			t.Errorf("indicators (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"6: error"}, errSummary(errs)); diff != "" {
			t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
		}
	})
	t.Run("missing column", func(t *testing.T) {
		inds, errs := ParseCSV(strings.NewReader("a,b\n1.2.3.4,x\n"), ParseOptions{CSV: CSVColumns{Value: "ip"}})
		if len(inds) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), `column "ip" not in header`) {
			t.Errorf("got %v, %v, want one missing-column error", inds, errs)
		}
	})
	t.Run("positional", func(t *testing.T) {
		inds, errs := ParseCSV(strings.NewReader("h1,h2\nx,192.0.2.9\n"), ParseOptions{CSV: CSVColumns{Value: "2"}})
		if len(errs) != 0 || len(inds) != 1 || inds[0].Value != "192.0.2.9" {
			t.Errorf("got %v, %v, want 192.0.2.9", briefs(inds), errs)
		}
	})
}

func TestSplitCSV(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{`a,b,c`, []string{"a", "b", "c"}, false},
		{` a , b ,`, []string{"a", "b", ""}, false},
		{`"a,b","c""d"`, []string{"a,b", `c"d`}, false},
		{`x, "quoted, field" ,y`, []string{"x", "quoted, field ", "y"}, false},
		{`a"b,c`, []string{`a"b`, "c"}, false},
		{`"open`, nil, true},
		{``, []string{""}, false},
	}
	for _, tt := range tests {
		got, err := splitCSV(tt.in, ',', nil)
		if (err != nil) != tt.err {
			t.Errorf("splitCSV(%q): got error %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if !tt.err {
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("splitCSV(%q) (-want +got):\n%s", tt.in, diff)
			}
		}
	}
}

func TestParseSTIX(t *testing.T) {
	inds, errs := ParseSTIX(openTestdata(t, "bundle.json"), ParseOptions{Feed: "cert"})
	c2 := "C2 server: Command and control for the example botnet"
	want := []brief{
		{Kind: "ip", Value: "198.51.100.1", Conf: 85, Desc: c2, Tags: []string{"botnet", "malicious-activity"}, Source: "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade"},
		{Kind: "ip", Value: "198.51.100.2", Conf: 85, Desc: c2, Tags: []string{"botnet", "malicious-activity"}, Source: "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade"},
		{Kind: "domain", Value: "login.evil.example", Conf: 50, Desc: "Phishing domain", Source: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", Until: "2099-01-01T00:00:00Z"},
		{Kind: "domain", Value: "evil-cdn.example", Conf: 50, Desc: "Phishing domain", Source: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", Until: "2099-01-01T00:00:00Z"},
		{Kind: "hash", Value: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Conf: 50, Desc: "Dropper", Source: "indicator--1e2cb6d2-22bb-4c4d-94c3-2f8e1b2b5e5c"},
		{Kind: "hash", Value: "098f6bcd4621d373cade4e832627b4f6", Conf: 50, Desc: "Dropper", Source: "indicator--1e2cb6d2-22bb-4c4d-94c3-2f8e1b2b5e5c"},
		{Kind: "url", Value: "http://stage.evil.example/drop?id=7", Conf: 50, Source: "indicator--0b2e1f44-5c9e-4cf8-a5e5-6f7d1f0a8b11"},
		{Kind: "email", Value: "ops@evil.example", Conf: 50, Source: "indicator--0b2e1f44-5c9e-4cf8-a5e5-6f7d1f0a8b11"},
		{Kind: "ip", Value: "10.66.0.0/16", Conf: 50, Source: "indicator--0b2e1f44-5c9e-4cf8-a5e5-6f7d1f0a8b11"},
		{Kind: "ip", Value: "192.0.2.251", Conf: 50, Desc: "Expired", Source: "indicator--77d4b0a2-2222-4f0e-8c1b-5b6a7c8d9e00", Until: "2021-01-01T00:00:00Z"},
	}
	if diff := cmp.Diff(want, briefs(inds)); diff != "" {
		t.Errorf("indicators (-want +got):\n%s", diff)
	}
	// AND pattern and yara are skipped, the broken pattern is an error.
	if diff := cmp.Diff([]string{"86: skip", "97: skip", "108: error"}, errSummary(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
	}
	if got, want := inds[0].Context.FirstSeen, time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("got first seen %v, want %v", got, want)
	}
	if skipped, failed := CountErrors(errs); skipped != 2 || failed != 1 {
		t.Errorf("got %d skipped, %d failed, want 2, 1", skipped, failed)
	}
}

func TestParseSTIXShapes(t *testing.T) {
	one := `{"type":"indicator","id":"indicator--1","pattern":"[ipv4-addr:value = '192.0.2.1']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name, in string
		want     int
		errs     []string
	}{
		{"array", "[" + one + "]", 1, nil},
		{"single object", one, 1, nil},
		{"stix 2.0 without pattern_type", `{"type":"bundle","objects":[{"type":"indicator","id":"indicator--2","pattern":"[domain-name:value = 'a.example']","labels":["x"]}]}`, 1, nil},
		{"truncated", `{"type":"bundle","objects":[` + one + `,{"type":"indi`, 1, []string{"1: error"}},
		{"bad member type", `[{"type":"indicator","pattern":7},` + one + `]`, 1, []string{"1: error"}},
		{"not json", `hello`, 0, []string{"1: error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inds, errs := ParseSTIX(strings.NewReader(tt.in), ParseOptions{})
			if len(inds) != tt.want {
				t.Errorf("got %d indicators, want %d", len(inds), tt.want)
			}
			if diff := cmp.Diff(tt.errs, errSummary(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
			}
		})
	}
}

func TestParseSTIXPattern(t *testing.T) {
	tests := []struct {
		pattern string
		want    []PatternTerm
		err     string // "unsupported", "syntax" or ""
	}{
		{`[ipv4-addr:value = '198.51.100.1']`, []PatternTerm{{KindIP, "198.51.100.1"}}, ""},
		{`[ipv6-addr:value = '2001:db8::1'] OR [ipv4-addr:value ISSUBSET '10.0.0.0/8']`, []PatternTerm{{KindIP, "2001:db8::1"}, {KindIP, "10.0.0.0/8"}}, ""},
		{`[domain-name:value = 'a.example' OR domain-name:value = 'b.example']`, []PatternTerm{{KindDomain, "a.example"}, {KindDomain, "b.example"}}, ""},
		{`([url:value = 'http://x.example/it\'s'] OR ([email-addr:value = 'a@b.example']))`, []PatternTerm{{KindURL, "http://x.example/it's"}, {KindEmail, "a@b.example"}}, ""},
		{`[file:hashes.'SHA-256' = 'aa'] OR [file:hashes.MD5 = 'bb'] OR [file:hashes."SHA-1" = 'cc']`, nil, "syntax"},
		{`[file:hashes.'SHA-256' = 'aa'] OR [file:hashes.MD5 = 'bb'] OR [file:hashes.SHA1 = 'cc']`, []PatternTerm{{KindHash, "aa"}, {KindHash, "bb"}, {KindHash, "cc"}}, ""},
		{`[network-traffic:dst_ref.value = '203.0.113.5']`, []PatternTerm{{KindUnknown, "203.0.113.5"}}, ""},
		{`[email-message:from_ref.value = 'x@y.example']`, []PatternTerm{{KindEmail, "x@y.example"}}, ""},
		{`[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '1.2.3.5']`, nil, "unsupported"},
		{`[ipv4-addr:value = '1.2.3.4'] AND [ipv4-addr:value = '1.2.3.5']`, nil, "unsupported"},
		{`[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.5']`, nil, "unsupported"},
		{`[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS`, nil, "unsupported"},
		{`[ipv4-addr:value != '1.2.3.4']`, nil, "unsupported"},
		{`[ipv4-addr:value NOT = '1.2.3.4']`, nil, "unsupported"},
		{`[domain-name:value LIKE '%.example']`, nil, "unsupported"},
		{`[file:name = 'x.exe']`, nil, "unsupported"},
		{`[file:hashes.'SHA-512' = 'aa']`, nil, "unsupported"},
		{`[domain-name:value ISSUBSET 'a.example']`, nil, "unsupported"},
		{`[file:size = 5]`, nil, "unsupported"},
		{`[process:extensions.'windows-process-ext'.aslr_enabled = true]`, nil, "unsupported"},
		{`[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]`, nil, "unsupported"},
		{`[ipv4-addr:value = '1.2.3.4'`, nil, "syntax"},
		{`ipv4-addr:value = '1.2.3.4'`, nil, "syntax"},
		{`[ipv4-addr:value = '1.2.3.4]`, nil, "syntax"},
		{`[ipv4-addr:value ISSUBSET '10.0.0.1']`, nil, "syntax"},
		{`[]`, nil, "syntax"},
		{``, nil, "syntax"},
		{strings.Repeat("(", 100) + `[ipv4-addr:value = '1.2.3.4']` + strings.Repeat(")", 100), nil, "syntax"},
	}
	for _, tt := range tests {
		got, err := ParseSTIXPattern(tt.pattern)
		gotErr := ""
		switch {
		case errors.Is(err, ErrUnsupported):
			gotErr = "unsupported"
		case err != nil:
			gotErr = "syntax"
		}
		if gotErr != tt.err {
			t.Errorf("ParseSTIXPattern(%q): got error %v, want %s", tt.pattern, err, tt.err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseSTIXPattern(%q) (-want +got):\n%s", tt.pattern, diff)
		}
	}
}

func TestParseMISP(t *testing.T) {
	inds, errs := ParseMISP(openTestdata(t, "misp_event.json"), ParseOptions{Feed: "misp"})
	info := "Phishing campaign against example.org"
	tags := []string{"tlp:green", `misp-galaxy:threat-actor="Example Bear"`}
	src := "misp-event:1412"
	want := []brief{
		{Kind: "ip", Value: "203.0.113.45", Conf: 50, Desc: info + ": C2", Tags: tags, Source: src},
		{Kind: "domain", Value: "mail.phish.example", Conf: 50, Desc: info, Tags: tags, Source: src},
		{Kind: "ip", Value: "198.51.100.77", Conf: 50, Desc: info, Tags: tags, Source: src},
		{Kind: "url", Value: "https://phish.example/login.php", Conf: 50, Desc: info, Tags: append(append([]string(nil), tags...), "tlp:amber"), Source: src},
		{Kind: "hash", Value: "8a6c1e3f0f6a4b7d9e2c5b8a1d4f7e0c3b6a9d2e5f8c1b4a7d0e3f6c9b2a5d8e", Conf: 50, Desc: info, Tags: tags, Source: src},
		{Kind: "email", Value: "billing@phish.example", Conf: 50, Desc: info, Tags: tags, Source: src},
		{Kind: "ip", Value: "2001:db8::66", Conf: 50, Desc: info, Tags: tags, Source: src},
		{Kind: "hash", Value: "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", Conf: 50, Desc: info, Tags: tags, Source: src},
	}
	if diff := cmp.Diff(want, briefs(inds)); diff != "" {
		t.Errorf("indicators (-want +got):\n%s", diff)
	}
	// text and hostname not flagged to_ids are skipped, the bad md5 is an
	// error, the object's filename is not flagged.
	if diff := cmp.Diff([]string{"16: skip", "17: skip", "18: error", "26: skip"}, errSummary(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
	}

	t.Run("all attributes", func(t *testing.T) {
		inds, errs := ParseMISP(openTestdata(t, "misp_event.json"), ParseOptions{MISPAllAttributes: true})
		if got, want := len(inds), 9; got != want {
			t.Errorf("got %d indicators, want %d", got, want)
		}
		if diff := cmp.Diff([]string{"16: skip", "18: error", "26: skip"}, errSummary(errs)); diff != "" {
			t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
		}
	})
	t.Run("response wrapper", func(t *testing.T) {
		inds, errs := ParseMISP(openTestdata(t, "misp_response.json"), ParseOptions{})
		want := []brief{
			{Kind: "domain", Value: "one.example", Conf: 50, Desc: "First", Tags: []string{"campaign:one"}, Source: "misp-event:7"},
			{Kind: "ip", Value: "192.0.2.8", Conf: 50, Desc: "Second", Source: "misp-event:8"},
		}
		if diff := cmp.Diff(want, briefs(inds)); diff != "" {
			t.Errorf("indicators (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"5: error"}, errSummary(errs)); diff != "" {
			t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
		}
	})
	t.Run("list of events", func(t *testing.T) {
		in := `[{"Event":{"id":"1","Attribute":[{"type":"ip-dst","to_ids":true,"value":"192.0.2.1"}]}},{"Event":{"id":"2","Attribute":[{"type":"domain","to_ids":true,"value":"x.example"}]}}]`
		inds, errs := ParseMISP(strings.NewReader(in), ParseOptions{})
		if len(inds) != 2 || len(errs) != 0 {
			t.Errorf("got %v, %v, want 2 indicators", briefs(inds), errs)
		}
	})
}
