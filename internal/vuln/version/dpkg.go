package version

import "strings"

// dpkgVersion is [epoch:]upstream_version[-debian_revision].
type dpkgVersion struct {
	epoch, upstream, revision string
}

// parseDpkg splits a version as dpkg does: the epoch is what comes before
// the first colon when that is all digits, the revision what comes after
// the last hyphen. Other malformations (characters policy forbids) are
// compared by the same algorithm rather than refused, as dpkg itself does
// with --compare-versions on a version it warns about.
func parseDpkg(v string) dpkgVersion {
	var d dpkgVersion
	if e, rest, ok := strings.Cut(v, ":"); ok && e != "" && allDigits(e) {
		d.epoch, v = e, rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		d.upstream, d.revision = v[:i], v[i+1:]
	} else {
		d.upstream = v
	}
	return d
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// CompareDpkg orders Debian package versions by the algorithm of Debian
// Policy §5.6.12: epochs numerically, then the upstream version and the
// revision by verrevcmp, in which "~" sorts before everything (even the
// end of the string), then the end, then letters, then other characters,
// and runs of digits compare as numbers. A missing revision equals "0".
func CompareDpkg(a, b string) int {
	da, db := parseDpkg(a), parseDpkg(b)
	if c := cmpDigits(da.epoch, db.epoch); c != 0 {
		return c
	}
	if c := verrevcmp(da.upstream, db.upstream); c != 0 {
		return c
	}
	return verrevcmp(da.revision, db.revision)
}

// dpkgOrder is the weight of a non-digit character in verrevcmp; 0 stands
// for the end of the string (and digits, which end a non-digit run).
func dpkgOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

// verrevcmp is dpkg's lib/dpkg/version.c verrevcmp.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			ac, bc := dpkgOrder(a, i), dpkgOrder(b, j)
			if ac != bc {
				return cmpInt(ac, bc)
			}
			i++
			j++
		}
		si := i
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		sj := j
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if c := cmpDigits(a[si:i], b[sj:j]); c != 0 {
			return c
		}
	}
	return 0
}
