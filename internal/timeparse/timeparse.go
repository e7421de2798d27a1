// Package timeparse reads the time bounds users type: RFC 3339 times,
// dates, Unix seconds, and durations relative to now ("15m", "-2h", "7d",
// "now").
package timeparse

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse returns the time s names, relative to now. An empty s returns the
// zero time (an open bound). A bare duration counts back from now: "15m"
// and "-15m" both mean fifteen minutes ago; "d" (days) and "w" (weeks) are
// accepted besides Go's units.
func Parse(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, nil
	case s == "now":
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.UTC); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", s, time.UTC); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.UTC); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && len(s) >= 9 {
		return time.Unix(n, 0).UTC(), nil
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(s, "now"), "-")
	if d, err := Duration(rel); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: want RFC 3339 (2026-01-02T15:04:05Z), a date, Unix seconds, or a duration ago such as 15m, 2h, 7d", s)
}

// Duration parses a Go duration, also accepting d (24h) and w (7d) units,
// such as "7d" or "1w2d".
func Duration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') && rest[j] != '.' {
			j++
		}
		if i == 0 || j == i {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		switch unit {
		case "d", "w":
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			day := 24 * time.Hour
			if unit == "w" {
				day *= 7
			}
			if f > float64(1<<62)/float64(day) {
				return 0, fmt.Errorf("duration %q is too long", s)
			}
			total += time.Duration(f * float64(day))
		default:
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			total += d
		}
	}
	return total, nil
}
