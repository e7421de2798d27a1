package version

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var kinds = []Kind{SemVer, Dpkg, RPM, APK}

// pair is one conformance line: a OP b.
type pair struct {
	line int
	a, b string
	want int
}

// readPairs reads testdata/KIND.txt: "a < b", "a == b" or "a > b" lines;
// "#" starts a comment.
func readPairs(t testing.TB, k Kind) []pair {
	t.Helper()
	path := filepath.Join("testdata", string(k)+".txt")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []pair
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			t.Fatalf("%s:%d: want \"a OP b\", got %q", path, n, line)
		}
		p := pair{line: n, a: fs[0], b: fs[2]}
		switch fs[1] {
		case "<":
			p.want = -1
		case "==":
			p.want = 0
		case ">":
			p.want = 1
		default:
			t.Fatalf("%s:%d: unknown operator %q", path, n, fs[1])
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConformance(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			cmp := Comparer(k)
			pairs := readPairs(t, k)
			if len(pairs) < 20 {
				t.Fatalf("got %d cases, want at least 20", len(pairs))
			}
			var all []string
			for _, p := range pairs {
				if got := cmp(p.a, p.b); got != p.want {
					t.Errorf("line %d: Compare(%q, %q) = %d, want %d", p.line, p.a, p.b, got, p.want)
				}
				if got := cmp(p.b, p.a); got != -p.want {
					t.Errorf("line %d: Compare(%q, %q) = %d, want %d", p.line, p.b, p.a, got, -p.want)
				}
				all = append(all, p.a, p.b)
			}
			slices.Sort(all)
			all = slices.Compact(all)
			// Every version of the file against every other: the order
			// the lines state must hold together. Sorted by cmp, each
			// version is at or above every earlier one, and equal
			// versions compare alike with all others (together:
			// a total preorder, so transitive on these versions).
			slices.SortStableFunc(all, func(a, b string) int { return cmp(a, b) })
			for i, a := range all {
				if got := cmp(a, a); got != 0 {
					t.Fatalf("Compare(%q, %q) = %d, want 0", a, a, got)
				}
				for j := i + 1; j < len(all); j++ {
					b := all[j]
					ab, ba := cmp(a, b), cmp(b, a)
					if ab > 0 || ab != -ba {
						t.Fatalf("sorted %q before %q but Compare = %d, reversed %d", a, b, ab, ba)
					}
					if ab == 0 {
						for _, c := range all {
							if cmp(a, c) != cmp(b, c) {
								t.Fatalf("%q == %q but they compare differently with %q", a, b, c)
							}
						}
					}
				}
			}
		})
	}
}

// checkOrder fails when cmp is not antisymmetric, reflexive or transitive
// on a, b, c.
func checkOrder(t testing.TB, cmp Compare, a, b, c string) {
	t.Helper()
	ab, ba := cmp(a, b), cmp(b, a)
	if ab != -ba || ab < -1 || ab > 1 {
		t.Fatalf("Compare(%q, %q) = %d but Compare(%q, %q) = %d", a, b, ab, b, a, ba)
	}
	if got := cmp(a, a); got != 0 {
		t.Fatalf("Compare(%q, %q) = %d, want 0", a, a, got)
	}
	bc, ac := cmp(b, c), cmp(a, c)
	if ab <= 0 && bc <= 0 && ac > 0 || ab >= 0 && bc >= 0 && ac < 0 || ab == 0 && bc == 0 && ac != 0 {
		t.Fatalf("not transitive: Compare(%q, %q) = %d, Compare(%q, %q) = %d, Compare(%q, %q) = %d", a, b, ab, b, c, bc, a, c, ac)
	}
}

func TestForEcosystem(t *testing.T) {
	tests := []struct {
		eco  string
		want Kind
		ok   bool
	}{
		{"Go", SemVer, true},
		{"Debian:12", Dpkg, true},
		{"Ubuntu:22.04:LTS", Dpkg, true},
		{"Ubuntu:Pro:14.04:LTS", Dpkg, true},
		{"Alpine:v3.19", APK, true},
		{"Red Hat", RPM, true},
		{"Red Hat:enterprise_linux:9::appstream", RPM, true},
		{"PyPI", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := ForEcosystem(tt.eco)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ForEcosystem(%q) = %q, %v; want %q, %v", tt.eco, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		v      string
		semver bool
		apk    bool
	}{
		{"v1.2.3", true, false},
		{"1.2.3", true, true},
		{"v0.0.0-20240101000000-abcdef123456", true, false},
		{"1.0_rc1-r2", false, true},
		{"", false, false},
		{"1.0-x", false, false},
	}
	for _, tt := range tests {
		if got := ValidSemVer(tt.v); got != tt.semver {
			t.Errorf("ValidSemVer(%q) = %v, want %v", tt.v, got, tt.semver)
		}
		if got := ValidAPK(tt.v); got != tt.apk {
			t.Errorf("ValidAPK(%q) = %v, want %v", tt.v, got, tt.apk)
		}
	}
}

// FuzzCompare checks every comparator (the first byte of the input picks
// it) for antisymmetry, reflexivity and transitivity on random versions,
// and that none panics.
func FuzzCompare(f *testing.F) {
	for i, k := range kinds {
		for _, p := range readPairs(f, k) {
			f.Add(byte(i), p.a, p.b, p.a)
			f.Add(byte(i), p.b, p.a, p.b+"~1")
		}
	}
	f.Fuzz(func(t *testing.T, which byte, a, b, c string) {
		cmp := Comparer(kinds[int(which)%len(kinds)])
		checkOrder(t, cmp, a, b, c)
		checkOrder(t, cmp, b, c, a)
		checkOrder(t, cmp, c, a, b)
	})
}
