package version

import "strings"

// semver is a parsed Semantic Versioning 2.0.0 version.
type semver struct {
	major, minor, patch string
	pre                 []string
}

// parseSemVer parses a version with or without the "v" prefix. As Go's
// golang.org/x/mod/semver does, "v1" and "v1.2" stand for v1.0.0 and
// v1.2.0; build metadata is accepted and ignored.
func parseSemVer(v string) (semver, bool) {
	v = strings.TrimPrefix(v, "v")
	var s semver
	if i := strings.IndexByte(v, '+'); i >= 0 {
		if !validIdents(v[i+1:], false) {
			return s, false
		}
		v = v[:i]
	}
	core, pre, hasPre := strings.Cut(v, "-")
	if hasPre {
		if !validIdents(pre, true) {
			return s, false
		}
		s.pre = strings.Split(pre, ".")
	}
	parts := strings.Split(core, ".")
	if len(parts) > 3 || len(parts) < 3 && hasPre {
		return s, false
	}
	for _, p := range parts {
		if !numericIdent(p) {
			return s, false
		}
	}
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	s.major, s.minor, s.patch = parts[0], parts[1], parts[2]
	return s, true
}

// numericIdent reports whether p is a number without leading zeros.
func numericIdent(p string) bool {
	if p == "" || len(p) > 1 && p[0] == '0' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if !isDigit(p[i]) {
			return false
		}
	}
	return true
}

// validIdents checks dot-separated identifiers of [0-9A-Za-z-]; numeric
// prerelease identifiers must not have leading zeros.
func validIdents(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		allDigits := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !isDigit(c) {
				allDigits = false
				if !isAlpha(c) && c != '-' {
					return false
				}
			}
		}
		if pre && allDigits && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// CompareSemVer orders Semantic Versioning 2.0.0 versions, with or without
// Go's "v" prefix; Go pseudo-versions (v0.0.0-20240101000000-abcdef123456)
// are prereleases and order by their timestamp. Invalid versions sort
// before valid ones.
func CompareSemVer(a, b string) int {
	sa, oka := parseSemVer(a)
	sb, okb := parseSemVer(b)
	switch {
	case !oka && !okb:
		return strings.Compare(a, b)
	case !oka:
		return -1
	case !okb:
		return 1
	}
	if c := cmpDigits(sa.major, sb.major); c != 0 {
		return c
	}
	if c := cmpDigits(sa.minor, sb.minor); c != 0 {
		return c
	}
	if c := cmpDigits(sa.patch, sb.patch); c != 0 {
		return c
	}
	return comparePre(sa.pre, sb.pre)
}

// comparePre orders prerelease identifier lists: none is newest; numeric
// identifiers are older than alphanumeric ones; a shorter list that is a
// prefix of a longer one is older.
func comparePre(a, b []string) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		na, nb := numericIdent(a[i]), numericIdent(b[i])
		var c int
		switch {
		case na && nb:
			c = cmpDigits(a[i], b[i])
		case na:
			c = -1
		case nb:
			c = 1
		default:
			c = strings.Compare(a[i], b[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(a), len(b))
}

// ValidSemVer reports whether v is a valid Semantic Versioning version
// (with or without the "v" prefix).
func ValidSemVer(v string) bool {
	_, ok := parseSemVer(v)
	return ok
}
