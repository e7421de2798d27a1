// Package version orders package versions the way each packaging ecosystem
// does: Semantic Versioning as Go modules use it (with the "v" prefix and
// pseudo-versions), Debian's dpkg, RPM's rpmvercmp and Alpine's apk.
//
// Every comparator is a total order over all strings, including ones its
// ecosystem would reject: a version from a log, an agent or an advisory is
// attacker-controlled, and a matcher that sorted with a comparator that is
// not transitive could skip a range. Where the ecosystem's own algorithm
// has no answer for malformed input, malformed versions sort before every
// well-formed one and among themselves byte by byte.
package version

import (
	"strings"
)

// Compare returns -1, 0 or +1 as a is older than, the same as, or newer
// than b.
type Compare func(a, b string) int

// Kind names an ordering.
type Kind string

// The orderings this package implements.
const (
	SemVer Kind = "semver"
	Dpkg   Kind = "dpkg"
	RPM    Kind = "rpm"
	APK    Kind = "apk"
)

// Comparer returns the comparator of an ordering, or nil for an unknown
// kind.
func Comparer(k Kind) Compare {
	switch k {
	case SemVer:
		return CompareSemVer
	case Dpkg:
		return CompareDpkg
	case RPM:
		return CompareRPM
	case APK:
		return CompareAPK
	}
	return nil
}

// ForEcosystem returns the ordering of an OSV ecosystem name ("Go",
// "Debian:12", "Ubuntu:22.04:LTS", "Alpine:v3.19", "Red Hat"), and false
// when this package does not know how that ecosystem orders its versions.
func ForEcosystem(ecosystem string) (Kind, bool) {
	base, _, _ := strings.Cut(ecosystem, ":")
	switch base {
	case "Go", "npm", "crates.io", "Hex", "Pub", "NuGet", "Packagist", "SwiftURL":
		return SemVer, true
	case "Debian", "Ubuntu":
		return Dpkg, true
	case "Alpine", "Wolfi", "Chainguard":
		return APK, true
	case "Red Hat", "Rocky Linux", "AlmaLinux", "openSUSE", "SUSE", "Mageia", "openEuler", "Photon OS", "Azure Linux":
		return RPM, true
	}
	return "", false
}

// cmpInt returns -1, 0 or +1 for a < b, a == b, a > b.
func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpDigits compares two runs of ASCII digits as numbers of any length.
func cmpDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if c := cmpInt(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// Valid reports whether the ordering k can place v: SemVer and apk reject
// malformed versions, dpkg and rpm order any non-empty string.
func Valid(k Kind, v string) bool {
	switch k {
	case SemVer:
		return ValidSemVer(v)
	case APK:
		return ValidAPK(v)
	}
	return v != ""
}
