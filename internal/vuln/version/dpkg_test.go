package version

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// randomDpkgVersion builds a version dpkg accepts: [epoch:]upstream[-revision]
// with the characters policy allows, leaning on the ones that order
// specially (digits, ~, +, ., letters).
func randomDpkgVersion(rng *rand.Rand) string {
	const upstreamChars = "0123456789.+~ab"
	const revisionChars = "0123456789.+~ab"
	var b strings.Builder
	if rng.IntN(4) == 0 {
		b.WriteString(string(rune('0' + rng.IntN(3))))
		b.WriteByte(':')
	}
	b.WriteByte(byte('0' + rng.IntN(10)))
	for range rng.IntN(6) {
		b.WriteByte(upstreamChars[rng.IntN(len(upstreamChars))])
	}
	if rng.IntN(2) == 0 {
		b.WriteByte('-')
		b.WriteByte(revisionChars[rng.IntN(10)])
		for range rng.IntN(4) {
			b.WriteByte(revisionChars[rng.IntN(len(revisionChars))])
		}
	}
	return b.String()
}

// dpkgCompare asks dpkg itself.
func dpkgCompare(t *testing.T, dpkg, a, b string) (int, bool) {
	t.Helper()
	for _, op := range []struct {
		name string
		want int
	}{{"lt", -1}, {"gt", 1}} {
		err := exec.Command(dpkg, "--compare-versions", a, op.name, b).Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return op.want, true
		case errors.As(err, &ee) && ee.ExitCode() == 1:
		default:
			return 0, false // dpkg refuses the syntax
		}
	}
	return 0, true
}

// TestDpkgMatchesDpkg compares random versions with CompareDpkg and with
// dpkg --compare-versions: the answers must agree. It needs dpkg (CI's
// Debian machine has it).
func TestDpkgMatchesDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dpkg is missing under CI: %v", err)
		}
		t.Skipf("dpkg is missing: %v", err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	checked := 0
	for range 150 {
		a := randomDpkgVersion(rng)
		b := a
		// Half the pairs are near each other, where the rules bite.
		if rng.IntN(2) == 0 {
			b = randomDpkgVersion(rng)
		} else {
			i := rng.IntN(len(b))
			b = b[:i] + string("0~+.a1"[rng.IntN(6)]) + b[i:]
		}
		want, ok := dpkgCompare(t, dpkg, a, b)
		if !ok {
			continue
		}
		checked++
		if got := CompareDpkg(a, b); got != want {
			t.Errorf("CompareDpkg(%q, %q) = %d, dpkg says %d", a, b, got, want)
		}
	}
	if checked < 100 {
		t.Errorf("dpkg accepted only %d of 150 pairs, want at least 100", checked)
	}
	// The conformance file agrees with dpkg too.
	for _, p := range readPairs(t, Dpkg) {
		if want, ok := dpkgCompare(t, dpkg, p.a, p.b); ok && want != p.want {
			t.Errorf("testdata line %d: %s vs %s: the file says %d, dpkg %d", p.line, p.a, p.b, p.want, want)
		}
	}
}
