package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/sharedtest"
)

func FuzzParseEPSS(f *testing.F) {
	f.Add([]byte("#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.97,0.999\n"))
	f.Add([]byte("cve,epss,percentile\nCVE-2024-0001,0.1,0.2\n\"CVE-2024-0002\",1,0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := parseEPSS(data, 1000)
		if err != nil {
			return
		}
		for _, s := range ef.scores {
			if s.Score < 0 || s.Score > 1 || s.Percentile < 0 || s.Percentile > 1 {
				t.Fatalf("accepted score %+v", s)
			}
		}
	})
}

func FuzzParseKEV(f *testing.F) {
	if dir := sharedtest.Find("vuln", "kev"); dir != "" {
		if data, err := os.ReadFile(filepath.Join(dir, "known_exploited_vulnerabilities.json")); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"catalogVersion":"1","dateReleased":"2025-01-01T00:00:00Z","count":1,"vulnerabilities":[{"cveID":"CVE-2024-0001","dateAdded":"2025-01-01","dueDate":"2025-01-22","knownRansomwareCampaignUse":"Known"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := parseKEV(data)
		if err == nil && len(c.Vulnerabilities) == 0 {
			t.Fatal("accepted an empty catalog")
		}
	})
}

// FuzzImport imports arbitrary files (records, archives, feeds): an
// import either succeeds or changes nothing.
func FuzzImport(f *testing.F) {
	f.Add([]byte(record("GO-1", "2024-01-01T00:00:00Z", "m", "1.0.0")))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"))
	db, err := Open(context.Background(), f.TempDir(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	db.Limits.MaxFileBytes = 1 << 20
	db.Limits.MaxArchiveBytes = 1 << 20
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		before, err := db.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Import(context.Background(), p); err == nil || errors.Is(err, context.Canceled) {
			return
		}
		after, err := db.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if before.Advisories != after.Advisories || before.KEV != after.KEV || before.EPSS != after.EPSS {
			t.Fatalf("a failed import changed the database: %+v, then %+v", before, after)
		}
	})
}
