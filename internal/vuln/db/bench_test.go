package db

import (
	"archive/zip"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/sharedtest"
)

// benchSize is the fleet and advisory volume of BenchmarkMatch. The
// default is small enough for a quick run; VIGIL_BENCH_MATCH=full runs the
// issue's figure: 10,000 assets of 1,000 packages against 200,000 OSV
// records.
type benchSize struct {
	records, assets, perAsset, names, versions int
}

func matchSize() benchSize {
	if os.Getenv("VIGIL_BENCH_MATCH") == "full" {
		return benchSize{records: 200_000, assets: 10_000, perAsset: 1_000, names: 50_000, versions: 8}
	}
	return benchSize{records: 20_000, assets: 200, perAsset: 1_000, names: 5_000, versions: 8}
}

// benchPackage names a generated package: Go modules (SemVer) and
// Debian source packages (dpkg versions), one in four Debian.
func benchPackage(i int) (eco, name string) {
	if i%4 == 3 {
		return "Debian:12", "srcpkg" + strconv.Itoa(i)
	}
	return "Go", "example.com/mod" + strconv.Itoa(i)
}

func benchVersion(eco string, v int) string {
	if eco == "Go" {
		return fmt.Sprintf("v1.%d.%d", v/3, v%3)
	}
	return fmt.Sprintf("1.%d.%d-%d+deb12u1", v/3, v%3, v%2+1)
}

// writeBenchArchive writes n generated records, each affecting one
// package between two of its versions, to an all.zip.
func writeBenchArchive(b *testing.B, path string, s benchSize) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range s.records {
		eco, name := benchPackage(rng.IntN(s.names))
		lo := rng.IntN(s.versions)
		hi := lo + 1 + rng.IntN(s.versions)
		intro := strings.TrimPrefix(benchVersion(eco, lo), "v")
		fixed := strings.TrimPrefix(benchVersion(eco, hi), "v")
		typ := "ECOSYSTEM"
		if eco == "Go" {
			typ = "SEMVER"
		}
		id := fmt.Sprintf("BENCH-%07d", i)
		rec := fmt.Sprintf(`{"id":%q,"modified":"2025-01-01T00:00:00Z","aliases":["CVE-2025-%07d"],"summary":"generated","affected":[{"package":{"ecosystem":%q,"name":%q},"ranges":[{"type":%q,"events":[{"introduced":%q},{"fixed":%q}]}]}]}`,
			id, i, eco, name, typ, intro, fixed)
		w, err := zw.Create(id + ".json")
		if err != nil {
			b.Fatal(err)
		}
		w.Write([]byte(rec))
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
}

// rssPeak is the process's peak resident set size in bytes (Linux), or 0.
func rssPeak() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) * 1024
		}
	}
	return 0
}

// BenchmarkMatch matches a generated fleet against generated advisories:
// each asset has perAsset packages, each at one of a few versions (a fleet
// shares versions), matched on all cores. One op is the whole fleet. The
// import of the records is set-up, reported as import-s.
//
//	go test -run '^$' -bench BenchmarkMatch -benchtime 1x ./internal/vuln/db/
//	VIGIL_BENCH_MATCH=full go test -run '^$' -bench BenchmarkMatch -benchtime 1x -timeout 30m ./internal/vuln/db/
func BenchmarkMatch(b *testing.B) {
	s := matchSize()
	ctx := context.Background()
	dir := b.TempDir()
	archive := filepath.Join(dir, "all.zip")
	writeBenchArchive(b, archive, s)
	d, err := Open(ctx, filepath.Join(dir, "db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	st, err := d.Import(ctx, archive)
	if err != nil {
		b.Fatal(err)
	}
	importTime := time.Since(start)
	if st.Records != s.records {
		b.Fatalf("imported %d records, want %d", st.Records, s.records)
	}
	os.Remove(archive)
	// The fleet: per asset, perAsset packages as (name index, version).
	rng := rand.New(rand.NewPCG(3, 4))
	type ref struct{ name, version int32 }
	fleet := make([][]ref, s.assets)
	for a := range fleet {
		fleet[a] = make([]ref, s.perAsset)
		for p := range fleet[a] {
			fleet[a][p] = ref{int32(rng.IntN(s.names)), int32(rng.IntN(s.versions + 2))}
		}
	}
	names := make([][2]string, s.names)
	for i := range names {
		names[i][0], names[i][1] = benchPackage(i)
	}
	versions := make([][]string, 2)
	for i, eco := range []string{"Go", "Debian:12"} {
		for v := range s.versions + 2 {
			versions[i] = append(versions[i], benchVersion(eco, v))
		}
	}
	workers := runtime.GOMAXPROCS(0)
	var hits int64
	cpu0 := sharedtest.ProcessCPU()
	for b.Loop() {
		m := d.Matcher()
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			total int64
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var n int64
				for a := w; a < len(fleet); a += workers {
					for _, r := range fleet[a] {
						nm := names[r.name]
						vi := 0
						if nm[0] != "Go" {
							vi = 1
						}
						h, err := m.Match(ctx, nm[0], nm[1], versions[vi][r.version])
						if err != nil {
							b.Error(err)
							return
						}
						n += int64(len(h))
					}
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		hits = total
	}
	b.ReportMetric(float64(hits), "hits/op")
	b.ReportMetric(importTime.Seconds(), "import-s")
	b.ReportMetric(rssPeak()/(1<<20), "peak-RSS-MiB")
	b.ReportMetric((sharedtest.ProcessCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(s.assets*s.perAsset), "packages/op")
}

// TestBenchGeneratorMatches checks the generated data BenchmarkMatch uses
// at a tiny size: every generated record's range matches at its
// introduced version and not at its fixed one.
func TestBenchGeneratorMatches(t *testing.T) {
	for _, eco := range []string{"Go", "Debian:12"} {
		for v := range 5 {
			lo, hi := benchVersion(eco, v), benchVersion(eco, v+1)
			d := openTemp(t)
			typ := "ECOSYSTEM"
			if eco == "Go" {
				typ = "SEMVER"
			}
			p := writeFile(t, t.TempDir(), "r.json", fmt.Sprintf(`{"id":"B-1","affected":[{"package":{"ecosystem":%q,"name":"p"},"ranges":[{"type":%q,"events":[{"introduced":%q},{"fixed":%q}]}]}]}`,
				eco, typ, strings.TrimPrefix(lo, "v"), strings.TrimPrefix(hi, "v")))
			if _, err := d.Import(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			m := d.Matcher()
			if h, _ := m.Match(context.Background(), eco, "p", lo); len(h) != 1 {
				t.Errorf("%s %s: got %d hits at the introduced version, want 1", eco, lo, len(h))
			}
			if h, _ := m.Match(context.Background(), eco, "p", hi); len(h) != 0 {
				t.Errorf("%s %s: got %d hits at the fixed version, want 0", eco, hi, len(h))
			}
		}
	}
}
