package ascii

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// reference folds with the standard library, byte by byte, so that
// invalid UTF-8 is compared as bytes too.
func reference(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < utf8.RuneSelf {
			b[i] = strings.ToLower(string(c))[0]
		}
	}
	return string(b)
}

func TestLower(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"already lower", "sshd", "sshd"},
		{"upper", "SSHD", "sshd"},
		{"mixed", "Failed Password for ROOT", "failed password for root"},
		{"digits and punctuation", "A-Z@0-9[`{]", "a-z@0-9[`{]"},
		{"non-ASCII letters kept", "ÄÖÜ Straße İ", "ÄÖÜ straße İ"},
		{"invalid UTF-8 kept", "A\xff\xfeB", "a\xff\xfeb"},
		{"Kelvin sign kept", "\u212aB", "\u212ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Lower(tt.in); got != tt.want {
				t.Errorf("Lower(%q): got %q, want %q", tt.in, got, tt.want)
			}
			dst := []byte("prefix:")
			if got, want := string(AppendLower(dst, tt.in)), "prefix:"+tt.want; got != want {
				t.Errorf("AppendLower(%q, %q): got %q, want %q", dst, tt.in, got, want)
			}
		})
	}
}

func TestLowerDoesNotAllocateWhenLower(t *testing.T) {
	s := "already lower case, with digits 0123 and ümlauts"
	if n := testing.AllocsPerRun(100, func() { _ = Lower(s) }); n != 0 {
		t.Errorf("Lower of a lower-case string: got %v allocations, want 0", n)
	}
}

func TestAppendLowerKeepsDst(t *testing.T) {
	buf := make([]byte, 3, 64)
	copy(buf, "ABC")
	out := AppendLower(buf, "DEF")
	if got, want := string(out), "ABCdef"; got != want {
		t.Errorf("AppendLower: got %q, want %q (dst must not be folded)", got, want)
	}
	if &out[0] != &buf[0] {
		t.Errorf("AppendLower: reallocated although dst had room")
	}
}

func FuzzLower(f *testing.F) {
	for _, s := range []string{"", "Sshd", "C:\\Windows\\System32\\CMD.EXE", "A\xff\xfeB", "İstanbul"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := reference(s)
		if got := Lower(s); got != want {
			t.Fatalf("Lower(%q): got %q, want %q", s, got, want)
		}
		if got := string(AppendLower(nil, s)); got != want {
			t.Fatalf("AppendLower(nil, %q): got %q, want %q", s, got, want)
		}
		if got := Lower(want); got != want {
			t.Fatalf("Lower is not idempotent on %q: got %q", want, got)
		}
	})
}

func BenchmarkLower(b *testing.B) {
	s := "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\PowerShell.EXE"
	for b.Loop() {
		_ = Lower(s)
	}
}
