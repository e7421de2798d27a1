package findings

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/vuln/db"
	"github.com/vigilsec/vigil/internal/vuln/scan"
)

// BenchmarkReconcile reconciles one asset of 5,000 Go modules, 1,000 of
// them affected by an advisory each, against a database of those 1,000
// advisories: one op is a reconcile that finds every finding still
// present (the steady state of a periodic reconcile), after a first one
// that created them.
func BenchmarkReconcile(b *testing.B) {
	const modules, affected = 5000, 1000
	src, dir := b.TempDir(), filepath.Join(b.TempDir(), "vulndb")
	for i := range affected {
		rec := fmt.Sprintf(`{"id":"GO-2099-%04d","modified":"2099-01-01T00:00:00Z","aliases":["CVE-2099-%04d"],
			"affected":[{"package":{"ecosystem":"Go","name":"example.com/m%d"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"2.0.0"}]}]}]}`, i, i, i)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("GO-2099-%04d.json", i)), []byte(rec), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	d, err := db.Open(context.Background(), dir, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.Import(context.Background(), src); err != nil {
		b.Fatal(err)
	}
	d.Close()
	s, err := Open(Options{DB: metatest.Open(b), VulnDB: dir})
	if err != nil {
		b.Fatal(err)
	}
	pkgs := make([]scan.Package, modules)
	for i := range pkgs {
		pkgs[i] = goPkg(fmt.Sprintf("example.com/m%d", i), "v1.0.0")
	}
	inv := AssetInventory{Asset: Asset{Kind: KindScan, Name: "bench"}, Packages: pkgs}
	start := time.Now()
	r, err := s.Reconcile(context.Background(), inv)
	if err != nil || r.New != affected {
		b.Fatalf("first reconcile: %+v, %v, want %d new", r, err, affected)
	}
	first := time.Since(start)
	for b.Loop() {
		r, err := s.Reconcile(context.Background(), inv)
		if err != nil || r.Unchanged != affected {
			b.Fatalf("reconcile: %+v, %v, want %d unchanged", r, err, affected)
		}
	}
	b.ReportMetric(first.Seconds(), "first-s")
}
