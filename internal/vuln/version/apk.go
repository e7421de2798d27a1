package version

import "strings"

// apk token types in the order apk-tools' version.c gives them: a version
// is digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}, and when
// two versions agree up to where one has a token of a later type than
// the other, the one with the earlier type is the newer.
const (
	apkInitialDigit = iota
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkCommitHash
	apkRevisionNo
	apkEnd
)

// apkSuffixes ranks the suffixes: pre-releases before the release (0),
// post-releases after it.
var apkSuffixes = map[string]int{
	"alpha": -4, "beta": -3, "pre": -2, "rc": -1,
	"cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5,
}

type apkToken struct {
	typ   int
	value string
}

// apkTokens cuts a version into tokens, and reports false for a version
// apk-tools would reject.
func apkTokens(v string) ([]apkToken, bool) {
	var toks []apkToken
	typ := apkInitialDigit
	for {
		var n int
		switch typ {
		case apkInitialDigit, apkDigit, apkSuffixNo, apkRevisionNo:
			for n < len(v) && isDigit(v[n]) {
				n++
			}
		case apkLetter:
			n = 1
		case apkSuffix:
			for n < len(v) && 'a' <= v[n] && v[n] <= 'z' {
				n++
			}
			if _, ok := apkSuffixes[v[:n]]; !ok {
				return nil, false
			}
		case apkCommitHash:
			for n < len(v) && isAlnum(v[n]) {
				n++
			}
		}
		if n == 0 {
			return nil, false
		}
		toks = append(toks, apkToken{typ, v[:n]})
		v = v[n:]
		// What may follow a token of this type, and the separator that
		// says so.
		next := -1
		switch {
		case v == "":
			return append(toks, apkToken{typ: apkEnd}), true
		case v[0] == '.' && typ <= apkDigit:
			next, v = apkDigit, v[1:]
		case 'a' <= v[0] && v[0] <= 'z' && typ <= apkDigit:
			next = apkLetter
		case isDigit(v[0]) && typ == apkSuffix:
			next = apkSuffixNo
		case v[0] == '_' && typ <= apkSuffixNo:
			next, v = apkSuffix, v[1:]
		case v[0] == '~' && typ < apkCommitHash:
			next, v = apkCommitHash, v[1:]
		case strings.HasPrefix(v, "-r") && typ < apkRevisionNo:
			next, v = apkRevisionNo, v[2:]
		}
		if next < 0 {
			return nil, false
		}
		typ = next
	}
}

// ValidAPK reports whether v is a version apk-tools accepts.
func ValidAPK(v string) bool {
	_, ok := apkTokens(v)
	return ok
}

func cmpAPKToken(a, b apkToken) int {
	switch a.typ {
	case apkDigit:
		if a.value[0] == '0' || b.value[0] == '0' {
			// A component with a leading zero compares as a string
			// (1.01 < 1.1), as in Gentoo's rules.
			return strings.Compare(a.value, b.value)
		}
		return cmpDigits(a.value, b.value)
	case apkInitialDigit, apkSuffixNo, apkRevisionNo:
		return cmpDigits(a.value, b.value)
	case apkSuffix:
		return cmpInt(apkSuffixes[a.value], apkSuffixes[b.value])
	}
	return strings.Compare(a.value, b.value)
}

// CompareAPK orders Alpine package versions as apk-tools does: numbers as
// numbers (a component with a leading zero as a string), then a letter,
// then the pre-release suffixes _alpha, _beta, _pre and _rc before the
// release and the post-release suffixes _cvs, _svn, _git, _hg and _p after
// it, then the revision -rN. Versions apk-tools rejects sort before valid
// ones.
func CompareAPK(a, b string) int {
	ta, oka := apkTokens(a)
	tb, okb := apkTokens(b)
	switch {
	case !oka && !okb:
		return strings.Compare(a, b)
	case !oka:
		return -1
	case !okb:
		return 1
	}
	i := 0
	for ; ta[i].typ == tb[i].typ; i++ {
		if ta[i].typ == apkEnd {
			return 0
		}
		if c := cmpAPKToken(ta[i], tb[i]); c != 0 {
			return c
		}
	}
	// Equal up to here: the longer version is newer unless what it goes on
	// with is a pre-release suffix.
	if ta[i].typ == apkSuffix && apkSuffixes[ta[i].value] < 0 {
		return -1
	}
	if tb[i].typ == apkSuffix && apkSuffixes[tb[i].value] < 0 {
		return 1
	}
	return -cmpInt(ta[i].typ, tb[i].typ)
}
