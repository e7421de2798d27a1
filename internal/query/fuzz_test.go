package query

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/ascii"
)

// FuzzWildcard checks the wildcard matcher against a regular expression
// built from the same pattern, with ASCII case folded on both sides.
func FuzzWildcard(f *testing.F) {
	for _, s := range [][2]string{
		{"ssh*", "sshd"}, {"*\\\\cmd.exe", `C:\Windows\cmd.exe`}, {"a?c", "aéc"}, {`a\*b`, "a*b"},
		{"*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab"}, {"??", "\xff\xfe"}, {"*?*", ""}, {"web-0?", "WEB-01"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 256 || len(s) > 1024 {
			return
		}
		var re strings.Builder
		re.WriteString(`(?s)\A`)
		for _, it := range compilePattern(pattern) {
			switch it.kind {
			case patStar:
				re.WriteString(".*")
			case patOne:
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string([]byte{it.b})))
			}
		}
		re.WriteString(`\z`)
		rx, err := regexp.Compile(re.String())
		if err != nil {
			// A literal byte >= 0x80 on its own is not valid UTF-8 in a
			// regular expression; such patterns are outside this check.
			return
		}
		if !utf8Clean(pattern) || !utf8Clean(s) {
			return
		}
		want := rx.MatchString(ascii.Lower(s))
		if got := MatchWildcard(pattern, s); got != want {
			t.Fatalf("MatchWildcard(%q, %q) = %v, regexp %q says %v", pattern, s, got, re.String(), want)
		}
	})
}

func utf8Clean(s string) bool {
	return strings.ToValidUTF8(s, "\x00") == s && !strings.ContainsRune(s, 0xFFFD)
}

// FuzzWords checks word matching (consecutive tokens) against a direct
// search in the token lists.
func FuzzWords(f *testing.F) {
	f.Add("Failed password for invalid user admin from 10.0.0.1", "10.0.0.1")
	f.Add("a a a b", "a a b")
	f.Add("invalid_user", "invalid-user")
	f.Add("x", "")
	f.Fuzz(func(t *testing.T, text, w string) {
		var toks, want []string
		Tokens(text, func(tok string) { toks = append(toks, tok) })
		Tokens(w, func(tok string) { want = append(want, tok) })
		for _, tok := range toks {
			if tok == "" || tok != ascii.Lower(tok) {
				t.Fatalf("Tokens(%q) gave %q", text, tok)
			}
			for i := 0; i < len(tok); i++ {
				if !isTokenByte(tok[i]) {
					t.Fatalf("Tokens(%q) gave %q with separator byte %q", text, tok, tok[i])
				}
			}
		}
		if len(want) == 0 {
			return
		}
		ref := false
		for i := 0; i+len(want) <= len(toks) && !ref; i++ {
			ref = slices.Equal(toks[i:i+len(want)], want)
		}
		m := CompileTerm(&Term{Op: OpWord, Value: w})
		if got := m.MatchText(text); got != ref {
			t.Fatalf("word %q in %q: got %v, want %v", w, text, got, ref)
		}
		ph := CompileTerm(&Term{Op: OpPhrase, Value: w})
		if got, want := ph.MatchText(text), strings.Contains(ascii.Lower(text), ascii.Lower(w)); got != want {
			t.Fatalf("phrase %q in %q: got %v, want %v", w, text, got, want)
		}
	})
}
