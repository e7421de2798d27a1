package termsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "no event has field \"x\"", "no event has field \"x\""},
		{"escape sequence", "x\x1b[2Jy", "x?[2Jy"},
		{"C1 CSI", "x\u009b31my", "x?31my"},
		{"newline and tab", "a\nb\tc\r", "a?b?c?"},
		{"DEL", "a\x7fb", "a?b"},
		{"not UTF-8", "a\xff\xfeb", "a\uFFFD\uFFFDb"},
		{"non-ASCII kept", "żółw ✓", "żółw ✓"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "abc", 10, "abc"},
		{"exactly max", "abcde", 5, "abcde"},
		{"one past max", "abcdef", 5, "abcde…"},
		{"no cut", strings.Repeat("a", 1000), 0, strings.Repeat("a", 1000)},
		{"newlines and tabs are spaces", "a\nb\r\nc\td", 0, "a b  c d"},
		{"escape sequence", "\x1b]0;pwned\x07title", 0, "?]0;pwned?title"},
		{"C1", "a\u0085b", 0, "a?b"},
		{"not UTF-8", "a\xffb", 0, "a\uFFFDb"},
		// "ż" is two bytes: a cut at 2 would split it.
		{"cut inside a character", "aż", 2, "a…"},
		{"cut after a character", "aż", 3, "aż"},
		{"cut inside a four-byte character", "ab😀c", 4, "ab…"},
		{"cut after a replacement", "a\xffbcd", 4, "a\uFFFD…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line(tt.in, tt.max); got != tt.want {
				t.Errorf("Line(%q, %d): got %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

// FuzzLine checks, for any input, that the result of String and Line is
// UTF-8 with no control character, and that Line keeps within its bound.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"", "plain", "x\x1b[2J", "a\u009bb", "\xff\xfe", "żółw", "a\tb\nc", "😀😀😀"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max %= 1 << 16
		for name, got := range map[string]string{"String": String(s), "Line": Line(s, max)} {
			if !utf8.ValidString(got) {
				t.Fatalf("%s(%q): %q is not UTF-8", name, s, got)
			}
			for _, r := range got {
				if control(r) {
					t.Fatalf("%s(%q): %q holds control character %U", name, s, got, r)
				}
			}
		}
		if got := Line(s, max); max > 0 && len(got) > max+len("…") {
			t.Fatalf("Line(%q, %d): %d bytes, want at most %d", s, max, len(got), max+len("…"))
		}
	})
}
