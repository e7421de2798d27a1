package version

import "strings"

// rpmEVR is [epoch:]version[-release].
type rpmEVR struct {
	epoch, version, release string
}

func parseRPM(v string) rpmEVR {
	var r rpmEVR
	if e, rest, ok := strings.Cut(v, ":"); ok && allDigits(e) {
		r.epoch, v = e, rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		r.version, r.release = v[:i], v[i+1:]
	} else {
		r.version = v
	}
	return r
}

// CompareRPM orders RPM [epoch:]version[-release] strings: epochs
// numerically (a missing epoch is 0), then version and release with
// rpmvercmp.
func CompareRPM(a, b string) int {
	ra, rb := parseRPM(a), parseRPM(b)
	if c := cmpDigits(ra.epoch, rb.epoch); c != 0 {
		return c
	}
	if c := Rpmvercmp(ra.version, rb.version); c != 0 {
		return c
	}
	return Rpmvercmp(ra.release, rb.release)
}

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// Rpmvercmp is rpm's rpmio/rpmvercmp.c (rpm 4.15 and later, with the
// caret): the strings are cut into runs of digits and runs of letters,
// other characters only separate them; "~" sorts before everything, even
// the end of the string; "^" sorts after the end of the string but before
// anything else; a numeric run is newer than an alphabetic one; numbers
// compare as numbers and letters byte by byte.
func Rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		ta, tb := i < len(a) && a[i] == '~', j < len(b) && b[j] == '~'
		if ta || tb {
			if !ta {
				return 1
			}
			if !tb {
				return -1
			}
			i++
			j++
			continue
		}
		ca, cb := i < len(a) && a[i] == '^', j < len(b) && b[j] == '^'
		if ca || cb {
			if i >= len(a) {
				return -1
			}
			if j >= len(b) {
				return 1
			}
			if !ca {
				return 1
			}
			if !cb {
				return -1
			}
			i++
			j++
			continue
		}
		if i >= len(a) || j >= len(b) {
			break
		}
		si, sj := i, j
		isNum := isDigit(a[i])
		if isNum {
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
		} else {
			for i < len(a) && isAlpha(a[i]) {
				i++
			}
			for j < len(b) && isAlpha(b[j]) {
				j++
			}
		}
		if sj == j {
			// The segments are of different types: numbers are newer.
			if isNum {
				return 1
			}
			return -1
		}
		var c int
		if isNum {
			c = cmpDigits(a[si:i], b[sj:j])
		} else {
			c = strings.Compare(a[si:i], b[sj:j])
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i >= len(a):
		return -1
	}
	return 1
}
