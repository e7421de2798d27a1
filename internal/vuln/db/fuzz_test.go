package db

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/sharedtest"
)

// FuzzImport imports arbitrary files — OSV records, zip archives, KEV
// catalogs, EPSS files, gzip-compressed or not, recognised by content as
// vigil vulndb import does — and checks that an import either succeeds or
// changes nothing, and that what the EPSS and KEV parsers accept is
// within their rules.
func FuzzImport(f *testing.F) {
	f.Add([]byte(record("GO-1", "2024-01-01T00:00:00Z", "m", "1.0.0")))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	epss := "#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.97,0.999\n"
	f.Add([]byte(epss))
	f.Add([]byte("cve,epss,percentile\nCVE-2024-0001,0.1,0.2\n\"CVE-2024-0002\",1,0\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(epss))
	zw.Close()
	f.Add(gz.Bytes())
	f.Add([]byte(`{"catalogVersion":"1","dateReleased":"2025-01-01T00:00:00Z","count":1,"vulnerabilities":[{"cveID":"CVE-2024-0001","dateAdded":"2025-01-01","dueDate":"2025-01-22","knownRansomwareCampaignUse":"Known"}]}`))
	if dir := sharedtest.Find("vuln", "kev"); dir != "" {
		if data, err := os.ReadFile(filepath.Join(dir, "known_exploited_vulnerabilities.json")); err == nil {
			f.Add(data)
		}
	}
	db, err := Open(context.Background(), f.TempDir(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	db.Limits.MaxFileBytes = 4 << 20
	db.Limits.MaxArchiveBytes = 4 << 20
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if ef, err := parseEPSS(data, 1000); err == nil {
			for _, s := range ef.scores {
				if s.Score < 0 || s.Score > 1 || s.Percentile < 0 || s.Percentile > 1 {
					t.Fatalf("EPSS parser accepted score %+v", s)
				}
			}
		}
		if c, _, err := parseKEV(data); err == nil && len(c.Vulnerabilities) == 0 {
			t.Fatal("KEV parser accepted an empty catalog")
		}
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
