package version

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// randomRPMVersion builds an [epoch:]version[-release] with the characters
// rpmvercmp treats specially. withRelease says whether it has a release:
// rpm compares releases only when both sides have one (so "1.0" equals
// both "1.0-1" and "1.0-2", which no total order can follow); Vigil sorts
// a missing release first, and the comparison with rpm is on pairs that
// agree on having one.
func randomRPMVersion(rng *rand.Rand, withRelease bool) string {
	const chars = "0123456789.~^+_ab"
	var b strings.Builder
	if rng.IntN(4) == 0 {
		b.WriteString(strconv.Itoa(rng.IntN(3)))
		b.WriteByte(':')
	}
	b.WriteByte(byte('0' + rng.IntN(10)))
	for range rng.IntN(6) {
		b.WriteByte(chars[rng.IntN(len(chars))])
	}
	if withRelease {
		b.WriteByte('-')
		b.WriteByte(byte('0' + rng.IntN(10)))
		for range rng.IntN(4) {
			b.WriteByte(chars[rng.IntN(len(chars))])
		}
	}
	return b.String()
}

// TestRPMMatchesRPM compares random versions with CompareRPM and with rpm
// itself (rpm.vercmp in rpm's Lua, one rpm process for all pairs): the
// answers must agree. It needs rpm (.ci/run installs it).
func TestRPMMatchesRPM(t *testing.T) {
	rpm, err := exec.LookPath("rpm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("rpm is missing under CI: %v", err)
		}
		t.Skipf("rpm is missing: %v", err)
	}
	rng := rand.New(rand.NewPCG(5, 13))
	type pair struct{ a, b string }
	var pairs []pair
	for range 400 {
		rel := rng.IntN(2) == 0
		a := randomRPMVersion(rng, rel)
		b := randomRPMVersion(rng, rel)
		if rng.IntN(2) == 0 {
			// Near each other, where the rules bite; the insertion
			// stays in the version part so the release shape holds.
			i := rng.IntN(strings.IndexAny(a+"-", "-") + 1)
			b = a[:i] + string("0~^.a1"[rng.IntN(6)]) + a[i:]
		}
		pairs = append(pairs, pair{a, b})
	}
	for _, p := range readPairs(t, RPM) {
		if strings.Contains(p.a, "-") == strings.Contains(p.b, "-") {
			pairs = append(pairs, pair{p.a, p.b})
		}
	}
	var lua strings.Builder
	lua.WriteString("%{lua:")
	for _, p := range pairs {
		fmt.Fprintf(&lua, "print(rpm.vercmp([[%s]], [[%s]]) .. \" \")\n", p.a, p.b)
	}
	lua.WriteString("}")
	out, err := exec.Command(rpm, "--eval", lua.String()).Output()
	if err != nil {
		t.Fatalf("rpm --eval: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(pairs) {
		t.Fatalf("rpm printed %d results for %d pairs", len(lines), len(pairs))
	}
	var outcomes [3]int
	for i, p := range pairs {
		want, err := strconv.Atoi(lines[i])
		if err != nil || want < -1 || want > 1 {
			t.Fatalf("rpm printed %q", lines[i])
		}
		outcomes[want+1]++
		if got := CompareRPM(p.a, p.b); got != want {
			t.Errorf("CompareRPM(%q, %q) = %d, rpm says %d", p.a, p.b, got, want)
		}
	}
	if outcomes[0] < 50 || outcomes[1] < 5 || outcomes[2] < 50 {
		t.Errorf("rpm answered older/equal/newer %v times: the pairs do not exercise the comparison", outcomes)
	}
}
