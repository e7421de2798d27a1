package detect

import (
	"regexp"
	"testing"

	re2 "github.com/wasilibs/go-re2"
)

// BenchmarkRegexp compares Go's regexp with github.com/wasilibs/go-re2 on
// a Sigma-style expression over a typical command line (the choice behind
// the engine's use of regexp; see docs/detection.md).
func BenchmarkRegexp(b *testing.B) {
	for _, c := range []struct{ name, expr, input string }{
		{"long", `\\[a-zA-Z0-9]{1,32}\.[a-zA-Z0-9]{1,6}\.[ "']{1}`, `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -ExecutionPolicy Bypass -Command "& {Get-Process | Where-Object {$_.CPU -gt 100}}"`},
		{"short", `(?i)\\[a-z]{1,8}\.exe$`, `C:\Windows\System32\cmd.exe`},
	} {
		b.Run(c.name, func(b *testing.B) { benchRegexp(b, c.expr, c.input) })
	}
}

func benchRegexp(b *testing.B, expr, input string) {
	b.Run("stdlib", func(b *testing.B) {
		re := regexp.MustCompile(expr)
		b.ReportAllocs()
		for b.Loop() {
			re.MatchString(input)
		}
	})
	b.Run("go-re2", func(b *testing.B) {
		re := re2.MustCompile(expr)
		b.ReportAllocs()
		for b.Loop() {
			re.MatchString(input)
		}
	})
}
