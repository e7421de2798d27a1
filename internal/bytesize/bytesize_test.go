package bytesize

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true}, {"512MB", 512 << 20, true}, {"10GiB", 10 << 30, true}, {" 1.5k ", 1536, true},
		{"2 TB", 2 << 40, true}, {"0", 0, true}, {"", 0, false}, {"-1", 0, false}, {"10XB", 0, false},
		{"MB", 0, false}, {"1PB", 0, false}, {"10 mb", 10 << 20, true}, {"1.5GiB", 3 << 29, true}, {"1e3", 0, false}, {"99999999999TB", 0, false},
	} {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	var s Size
	if err := s.UnmarshalText([]byte("4KiB")); err != nil || s != 4096 {
		t.Errorf("UnmarshalText(4KiB) = %d, %v; want 4096", s, err)
	}
	if err := s.UnmarshalText([]byte("lots")); err == nil || !strings.Contains(err.Error(), `"lots"`) {
		t.Errorf("UnmarshalText(lots): got %v, want an error quoting the input", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1024", "512MB", "1.5 GiB", "-1", "1e9", "9999999999999999999T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err == nil && (n < 0 || n > 1<<62) {
			t.Fatalf("Parse(%q) = %d: out of 0..2^62", s, n)
		}
	})
}
