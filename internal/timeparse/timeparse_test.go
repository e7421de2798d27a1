package timeparse

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"now", now, true},
		{"15m", now.Add(-15 * time.Minute), true},
		{"-2h", now.Add(-2 * time.Hour), true},
		{"now-7d", now.Add(-7 * 24 * time.Hour), true},
		{"1w", now.Add(-7 * 24 * time.Hour), true},
		{"2026-11-01T10:00:00Z", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), true},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), true},
		{"1700000000", time.Unix(1700000000, 0).UTC(), true},
		{"yesterday", time.Time{}, false},
		{"5x", time.Time{}, false},
		{"99999999999999999d", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, now)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"15m", "now-7d", "2026-11-01T10:00:00Z", "1w2d3h", "1700000000"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		Parse(s, now)
	})
}
