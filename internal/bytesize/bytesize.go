// Package bytesize reads sizes in bytes as operators write them in
// configuration: "512MB", "10GiB", "1024".
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is a size in bytes that reads "512MB", "10GiB", "1024" and so on
// (encoding.TextUnmarshaler, so the configuration loader decodes it).
type Size int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Size) UnmarshalText(text []byte) error {
	n, err := Parse(string(text))
	if err != nil {
		return err
	}
	*b = Size(n)
	return nil
}

// units maps a unit, upper case, to its multiplier.
var units = map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
	"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}

// Parse parses a size with an optional unit: B, KB/KiB, MB/MiB, GB/GiB,
// TB/TiB (decimal and binary units both count in powers of 1024, as
// operators expect of disk budgets).
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult := units[unit]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size unit in %q", s)
	}
	if f*mult > 1<<62 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(f * mult), nil
}
