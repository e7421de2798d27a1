package sigma

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func lit(s string) Part { return Part{Kind: PartLiteral, Text: s} }

var (
	star     = Part{Kind: PartStar}
	question = Part{Kind: PartQuestion}
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		in   string
		want []Part
	}{
		{``, nil},
		{`abc`, []Part{lit("abc")}},
		{`*`, []Part{star}},
		{`a*b?c`, []Part{lit("a"), star, lit("b"), question, lit("c")}},
		{`a***b`, []Part{lit("a"), star, lit("b")}},
		{`a*?*b`, []Part{lit("a"), star, question, star, lit("b")}},
		{`\*`, []Part{lit("*")}},
		{`\?`, []Part{lit("?")}},
		{`C:\Windows`, []Part{lit(`C:\Windows`)}},
		{`C:\\Windows`, []Part{lit(`C:\Windows`)}},
		{`C:\\*`, []Part{lit(`C:\`), star}},
		{`C:\\\*`, []Part{lit(`C:\*`)}},
		{`\\\\share`, []Part{lit(`\\share`)}},
		{`\\\share`, []Part{lit(`\\share`)}},
		{`end\`, []Part{lit(`end\`)}},
		{`%name%`, []Part{lit(`%name%`)}},
		{`ünï*cödé`, []Part{lit("ünï"), star, lit("cödé")}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := ParsePattern(tt.in).Parts
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParsePattern(%q) parts differ (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParsePatternPlaceholders(t *testing.T) {
	ph := func(s string) Part { return Part{Kind: PartPlaceholder, Text: s} }
	tests := []struct {
		in   string
		want []Part
	}{
		{`%Admins%`, []Part{ph("Admins")}},
		{`x%A%y%B%`, []Part{lit("x"), ph("A"), lit("y"), ph("B")}},
		{`\%plain%name%`, []Part{lit("%plain"), ph("name")}},
		{`100%`, []Part{lit("100%")}},
		{`%%`, []Part{lit("%%")}},
		{`%a b%`, []Part{lit("%a b%")}},
		{`*%DC-NAME%*`, []Part{star, ph("DC-NAME"), star}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := parsePattern(tt.in, true).Parts
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parsePattern(%q, true) parts differ (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestPatternStringRoundTrip checks that String renders a pattern that
// parses back to the same parts.
func TestPatternStringRoundTrip(t *testing.T) {
	for _, in := range []string{`a*b?c`, `\*lit\?`, `C:\\*`, `C:\\\*`, `\\\\x`, `end\`, `a\b`, `x\\`, `\`, `\\*\\?`} {
		p := ParsePattern(in)
		s := p.String()
		if diff := cmp.Diff(p, ParsePattern(s)); diff != "" {
			t.Errorf("ParsePattern(%q).String() = %q does not parse back (-want +got):\n%s", in, s, diff)
		}
	}
}

// TestBase64Offsets checks the defining property of base64offset: whatever
// surrounds the value, the base64 encoding of the whole contains the form
// for the value's offset.
func TestBase64Offsets(t *testing.T) {
	values := []string{"/bin/bash", "IEX", "ping", "ab", "abcd", "http://evil.example/", "\x00c\x00m\x00d"}
	for _, v := range values {
		forms := Base64Offsets(v)
		if len(v) >= 3 && len(forms) != 3 {
			t.Errorf("Base64Offsets(%q) = %q, want 3 forms", v, forms)
		}
		for pre := 0; pre < 6; pre++ {
			for post := 0; post < 4; post++ {
				data := strings.Repeat("P", pre) + v + strings.Repeat("S", post)
				enc := base64.StdEncoding.EncodeToString([]byte(data))
				found := false
				for _, f := range forms {
					if strings.Contains(enc, f) {
						found = true
					}
				}
				if !found {
					t.Errorf("value %q with prefix %d suffix %d: encoding %q contains none of %q", v, pre, post, enc, forms)
				}
			}
		}
	}
	// Known forms (computed by hand from the algorithm for "/bin/bash").
	got := Base64Offsets("/bin/bash")
	want := []string{"L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Base64Offsets(/bin/bash) differs (-want +got):\n%s", diff)
	}
}

func TestWindash(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"-a", []string{"-a", "/a", "–a", "—a", "―a"}},
		{" /c ", []string{" -c ", " /c ", " –c ", " —c ", " ―c "}},
		{"a-b", []string{"a-b"}}, // inside a word: not a flag
		{"x -", []string{"x -"}}, // not followed by a word character
		{"–x", []string{"-x", "/x", "–x", "—x", "―x"}},
		{"C:/x", []string{"C:/x", "C:-x", "C:–x", "C:—x", "C:―x"}}, // matches \B[-/]\b as pySigma does
	}
	for _, tt := range tests {
		out, err := windash(nil, ParsePattern(tt.in))
		if err != nil {
			t.Fatalf("windash(%q): %v", tt.in, err)
		}
		var got []string
		for _, p := range out {
			got = append(got, p.Literal())
		}
		if diff := cmp.Diff(sortedCopy(tt.want), sortedCopy(got)); diff != "" {
			t.Errorf("windash(%q) differs (-want +got):\n%s", tt.in, diff)
		}
	}
	// Too many flags is an error, not an explosion.
	if _, err := windash(nil, ParsePattern(strings.Repeat(" -a", 8))); err == nil {
		t.Errorf("windash with 8 flags: got no error, want one")
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestEncodings(t *testing.T) {
	tests := []struct {
		transforms []string
		in         string
		want       []string
	}{
		{[]string{"utf16le"}, "cmd", []string{"c\x00m\x00d\x00"}},
		{[]string{"utf16be"}, "cmd", []string{"\x00c\x00m\x00d"}},
		{[]string{"utf16"}, "cmd", []string{"\xff\xfec\x00m\x00d\x00"}},
		{[]string{"utf16le", "base64"}, "cmd", []string{"YwBtAGQA"}},
		{[]string{"base64"}, "cmd", []string{"Y21k"}},
		{[]string{"utf16le"}, "é€", []string{"\xe9\x00\xac\x20"}},
	}
	for _, tt := range tests {
		pats, err := applyTransforms([]Pattern{ParsePattern(tt.in)}, tt.transforms)
		if err != nil {
			t.Fatalf("%v(%q): %v", tt.transforms, tt.in, err)
		}
		var got []string
		for _, p := range pats {
			got = append(got, p.Literal())
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%v(%q) differs (-want +got):\n%s", tt.transforms, tt.in, diff)
		}
	}
}

func TestParseTimespan(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"30s", "30s", false},
		{"5m", "5m0s", false},
		{"1h", "1h0m0s", false},
		{"2d", "48h0m0s", false},
		{"1w", "168h0m0s", false},
		{"90m", "1h30m0s", false},
		{"", "", true},
		{"m", "", true},
		{"5", "", true},
		{"0m", "", true},
		{"-5m", "", true},
		{"5 m", "", true},
		{"5x", "", true},
		{"99999999999999999999d", "", true},
		{"9999999999999d", "", true},
	}
	for _, tt := range tests {
		d, err := ParseTimespan(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseTimespan(%q) = %s, want an error", tt.in, d)
			}
			continue
		}
		if err != nil || d.String() != tt.want {
			t.Errorf("ParseTimespan(%q) = %s, %v, want %s", tt.in, d, err, tt.want)
		}
	}
}
