package query

import (
	"github.com/vigilsec/vigil/internal/ascii"
)

// Full-text tokens.
//
// A token is a maximal run of token bytes: ASCII letters and digits, and
// every byte of a non-ASCII UTF-8 character (so words in other scripts stay
// whole). Everything else separates tokens: spaces, punctuation, and in
// particular '_', '.', '-', '/', ':' and '@'. So "sshd[1234]: Failed
// password for invalid_user from 10.0.0.1" has the tokens sshd 1234 failed
// password for invalid user from 10 0 0 1. Tokens are lower case (ASCII
// folding only). This is exactly SQLite FTS5's "ascii" tokenizer, so a store
// may index text with FTS5 tokenize='ascii', or with Tokens directly.
//
// Splitting on '_', '.' and '-' makes parts of identifiers, host names and
// addresses findable (a search for "invalid" finds invalid_user), and a
// bare word that holds separators still matches precisely: its tokens must
// occur consecutively (OpWord), so 10.0.0.1 does not match 10.0.0.10.

// isTokenByte reports whether c belongs to a token.
func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// NextToken returns the byte range [start, end) of the first token of s at
// or after offset i. When there is none, start == end == len(s). Callers
// fold ASCII case themselves (see Tokens).
func NextToken(s string, i int) (start, end int) {
	for i < len(s) && !isTokenByte(s[i]) {
		i++
	}
	start = i
	for i < len(s) && isTokenByte(s[i]) {
		i++
	}
	return start, i
}

// Tokens calls fn with each token of s, in order, in lower case. fn may keep
// tok: it is a substring of s when s's token has no upper-case letter, and a
// new string otherwise.
func Tokens(s string, fn func(tok string)) {
	for i := 0; ; {
		start, end := NextToken(s, i)
		if start == end {
			return
		}
		fn(ascii.Lower(s[start:end]))
		i = end
	}
}

// lower folds one ASCII letter.
func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFoldLower reports whether s equals want, where want is already in
// lower case, folding ASCII case of s.
func equalFoldLower(s, want string) bool {
	if len(s) != len(want) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(s[i]) != want[i] {
			return false
		}
	}
	return true
}

// containsFoldLower reports whether s contains sub (in lower case, not
// empty), folding ASCII case of s.
func containsFoldLower(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	c0 := sub[0]
	var c1 byte // the other case of c0, or c0
	c1 = c0
	if c0 >= 'a' && c0 <= 'z' {
		c1 = c0 - ('a' - 'A')
	}
	for i := 0; i+n <= len(s); i++ {
		if c := s[i]; c != c0 && c != c1 {
			continue
		}
		if equalFoldLower(s[i:i+n], sub) {
			return true
		}
	}
	return false
}
