// Package ascii folds the case of ASCII letters and leaves every other byte
// as it is. Matching in Vigil compares names, addresses and keywords in
// ASCII case only: a byte that is not an ASCII letter (including the bytes
// of invalid UTF-8, which logs carry) is never changed, so the result has
// the length of the input and folding twice is folding once.
package ascii

// Lower returns s with A-Z folded to a-z. It allocates only when s holds an
// upper-case ASCII letter.
func Lower(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// AppendLower appends s with A-Z folded to a-z to dst and returns the
// extended slice.
func AppendLower(dst []byte, s string) []byte {
	n := len(dst)
	dst = append(dst, s...)
	b := dst[n:]
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return dst
}
