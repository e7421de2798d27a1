package db

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/sharedtest"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func record(id, modified, pkg, fixed string, aliases ...string) string {
	al := ""
	if len(aliases) > 0 {
		al = `,"aliases":["` + strings.Join(aliases, `","`) + `"]`
	}
	return fmt.Sprintf(`{"id":%q,"modified":%q%s,"affected":[{"package":{"ecosystem":"Go","name":%q},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":%q}]}]}]}`,
		id, modified, al, pkg, fixed)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type zipEntry struct {
	name string
	data []byte
}

func writeZip(t *testing.T, path string, entries ...zipEntry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func count(t *testing.T, db *DB) *Status {
	t.Helper()
	s, err := db.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImportAndLookup(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	dir := t.TempDir()
	writeFile(t, dir, "GO-1.json", record("GO-1", "2024-01-01T00:00:00Z", "example.com/a", "1.2.0", "CVE-2024-0001", "GHSA-aaaa-bbbb-cccc"))
	writeFile(t, dir, "README.md", "not data")
	zp := writeZip(t, filepath.Join(dir, "all.zip"),
		zipEntry{"GO-2.json", []byte(record("GO-2", "2024-01-01T00:00:00Z", "example.com/a", "1.5.0"))},
		zipEntry{"sub/", nil},
		zipEntry{"notes.txt", []byte("x")})
	st, err := db.Import(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 2 || st.Files != 2 || st.Skipped != 3 || st.Ecosystems["Go"] != 2 {
		t.Errorf("got %+v, want 2 records from 2 files, 3 skipped", st)
	}
	entries, err := db.Lookup(ctx, "Go", "example.com/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Advisory != "GO-1" || entries[1].Advisory != "GO-2" {
		t.Fatalf("got %+v, want GO-1 and GO-2", entries)
	}
	hits, err := db.Matcher().Match(ctx, "Go", "example.com/a", "v1.3.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Advisory != "GO-2" || hits[0].Match.Fixed != "1.5.0" {
		t.Errorf("Match v1.3.0: got %+v, want GO-2 fixed in 1.5.0", hits)
	}
	aliases, _, err := db.Related(ctx, "GO-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(aliases, ","); got != "CVE-2024-0001,GHSA-aaaa-bbbb-cccc" {
		t.Errorf("Related(GO-1) = %s, want its two aliases", got)
	}
	// Re-importing the archive alone replaces its record.
	st, err = db.Import(ctx, zp)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 1 || st.Replaced != 1 {
		t.Errorf("re-import: got %+v, want 1 replaced record", st)
	}
	if s := count(t, db); s.Advisories != 2 || len(s.Ecosystems) != 1 || s.Ecosystems[0].Advisories != 2 {
		t.Errorf("status: got %+v, want 2 Go advisories", s)
	}
}

func TestImportIncremental(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	dir := t.TempDir()
	steps := []struct {
		name, json   string
		records, old int
		withdrawn    int
		wantFixed    string // of the stored GO-1, "" when it is gone
	}{
		{"first", record("GO-1", "2024-01-02T00:00:00Z", "m", "1.0.0"), 1, 0, 0, "1.0.0"},
		{"newer replaces", record("GO-1", "2024-01-03T00:00:00Z", "m", "1.1.0"), 1, 0, 0, "1.1.0"},
		{"older is skipped", record("GO-1", "2024-01-01T00:00:00Z", "m", "0.9.0"), 0, 1, 0, "1.1.0"},
		{"same time replaces", record("GO-1", "2024-01-03T00:00:00Z", "m", "1.2.0"), 1, 0, 0, "1.2.0"},
		{"withdrawn removes", `{"id":"GO-1","modified":"2024-02-01T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z"}`, 0, 0, 1, ""},
	}
	for i, s := range steps {
		p := writeFile(t, dir, fmt.Sprintf("%d.json", i), s.json)
		st, err := db.Import(ctx, p)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if st.Records != s.records || st.Older != s.old || st.Withdrawn != s.withdrawn {
			t.Errorf("%s: got %+v, want %d records, %d older, %d withdrawn", s.name, st, s.records, s.old, s.withdrawn)
		}
		r, err := db.Advisory(ctx, "GO-1")
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if r != nil {
			got = r.Affected[0].Ranges[0].Events[1].Fixed
		}
		if got != s.wantFixed {
			t.Errorf("%s: stored fixed %q, want %q", s.name, got, s.wantFixed)
		}
		entries, _ := db.Lookup(ctx, "Go", "m")
		if want := min(1, len(s.wantFixed)); len(entries) != want {
			t.Errorf("%s: %d affected rows, want %d", s.name, len(entries), want)
		}
	}
}

// TestImportIsAllOrNothing imports good data together with a bad file: the
// import fails, naming the file, and the database is unchanged.
func TestImportIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.json", record("GO-1", "2024-01-01T00:00:00Z", "m", "1.0.0"))
	kev := writeFile(t, dir, "kev.json", `{"catalogVersion":"1","dateReleased":"2025-01-01T00:00:00Z","count":1,"vulnerabilities":[{"cveID":"CVE-2024-0001","dateAdded":"2025-01-01","dueDate":"2025-01-22","knownRansomwareCampaignUse":"Known"}]}`)
	bads := map[string]string{
		"bad.json":   `{"id":"GO-2","affected":[{"package":{"ecosystem":"Go","name":"m"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1"}]}]}]}`,
		"trunc.json": `{"id":"GO-2","affected":[`,
		"kev2.json":  `{"catalogVersion":"2","dateReleased":"2025-01-01T00:00:00Z","vulnerabilities":[{"cveID":"CVE-1","dateAdded":"2025-01-01","dueDate":"2025-01-22"}]}`,
		"epss.csv":   "cve,epss,percentile\nCVE-2024-0001,0.5,0.9\nCVE-2024-0002,1.5,0.9\n",
		"other.json": `[1,2]`,
	}
	for name, content := range bads {
		t.Run(name, func(t *testing.T) {
			db := openTemp(t)
			bad := writeFile(t, t.TempDir(), name, content)
			_, err := db.Import(ctx, good, kev, bad)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("got error %v, want one naming %s", err, name)
			}
			if s := count(t, db); s.Advisories != 0 || s.KEV != 0 || s.EPSS != 0 || len(s.Sources) != 0 {
				t.Errorf("after a failed import: got %+v, want an empty database", s)
			}
		})
	}
}

func TestArchiveBounds(t *testing.T) {
	ctx := context.Background()
	rec := []byte(record("GO-1", "2024-01-01T00:00:00Z", "m", "1.0.0"))
	bomb := bytes.Repeat([]byte(" "), 4<<20) // 4 MiB of spaces: deflates to a few KiB
	tests := []struct {
		name    string
		entries []zipEntry
		limits  func(*Limits)
		want    error
	}{
		{"dot-dot", []zipEntry{{"../../etc/GO-1.json", rec}}, nil, ErrUnsafeName},
		{"nested dot-dot", []zipEntry{{"a/../../GO-1.json", rec}}, nil, ErrUnsafeName},
		{"absolute", []zipEntry{{"/tmp/GO-1.json", rec}}, nil, ErrUnsafeName},
		{"backslash", []zipEntry{{`..\GO-1.json`, rec}}, nil, ErrUnsafeName},
		{"drive", []zipEntry{{`C:\GO-1.json`, rec}}, nil, ErrUnsafeName},
		{"entry size", []zipEntry{{"GO-1.json", append(append([]byte{}, rec[:len(rec)-1]...), append(bomb, '}')...)}}, func(l *Limits) { l.MaxEntryBytes = 1 << 20 }, ErrLimit},
		{"total size", []zipEntry{{"a.json", rec}, {"b.json", rec}, {"c.json", rec}}, func(l *Limits) { l.MaxArchiveBytes = int64(2*len(rec) + 10) }, ErrLimit},
		{"entry count", []zipEntry{{"a.json", rec}, {"b.json", rec}, {"c.json", rec}}, func(l *Limits) { l.MaxArchiveEntries = 2 }, ErrLimit},
		{"entry count at the bound", []zipEntry{{"a.json", rec}, {"b.json", rec}}, func(l *Limits) { l.MaxArchiveEntries = 2 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTemp(t)
			if tt.limits != nil {
				tt.limits(&db.Limits)
			}
			p := writeZip(t, filepath.Join(t.TempDir(), "all.zip"), tt.entries...)
			_, err := db.Import(ctx, p)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if s := count(t, db); s.Advisories != 0 {
				t.Errorf("got %d advisories after a refused archive, want 0", s.Advisories)
			}
		})
	}
}

// TestArchiveLyingHeader is a zip bomb whose header declares a small size:
// the bytes are counted as they inflate.
func TestArchiveLyingHeader(t *testing.T) {
	db := openTemp(t)
	db.Limits.MaxEntryBytes = 1 << 20
	big := append([]byte(`{"id":"GO-1","details":"`), bytes.Repeat([]byte("a"), 8<<20)...)
	big = append(big, `"}`...)
	var deflated bytes.Buffer
	{
		zw := zip.NewWriter(&deflated)
		w, _ := zw.Create("x")
		w.Write(big)
		zw.Close()
	}
	// Take the deflated stream back out and write it raw under a header
	// that claims 100 bytes.
	zr, err := zip.NewReader(bytes.NewReader(deflated.Bytes()), int64(deflated.Len()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zr.File[0].OpenRaw()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "GO-1.json", Method: zip.Deflate, CRC32: zr.File[0].CRC32,
		CompressedSize64: zr.File[0].CompressedSize64, UncompressedSize64: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(mustRead(t, raw)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	p := filepath.Join(t.TempDir(), "all.zip")
	os.WriteFile(p, buf.Bytes(), 0o644)
	if _, err := db.Import(context.Background(), p); err == nil {
		t.Fatal("a zip bomb with a lying header was imported")
	}
	if s := count(t, db); s.Advisories != 0 {
		t.Errorf("got %d advisories, want 0", s.Advisories)
	}
}

func mustRead(t *testing.T, r interface{ Read([]byte) (int, error) }) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestKEVAndEPSS(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	dir := t.TempDir()
	kev := writeFile(t, dir, "kev.json", `{"catalogVersion":"2025.01.01","dateReleased":"2025-01-01T10:00:00.5Z","count":2,"vulnerabilities":[
		{"cveID":"CVE-2024-0001","vendorProject":"V","product":"P","vulnerabilityName":"N","dateAdded":"2025-01-01","dueDate":"2025-01-22","knownRansomwareCampaignUse":"Known"},
		{"cveID":"CVE-2024-0002","dateAdded":"2025-01-01","dueDate":"2025-01-22","knownRansomwareCampaignUse":"Unknown"}]}`)
	csv := "#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.97,0.999\nCVE-2024-0003,0.0004,0.1\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(csv))
	zw.Close()
	epss := writeFile(t, dir, "epss_scores-current.csv.gz", gz.String())
	st, err := db.Import(ctx, kev, epss)
	if err != nil {
		t.Fatal(err)
	}
	if st.KEV != 2 || st.EPSS != 2 {
		t.Errorf("got %+v, want 2 KEV entries and 2 scores", st)
	}
	k, err := db.KEV(ctx, "CVE-2024-0001")
	if err != nil || k == nil || k.DueDate != "2025-01-22" || k.Ransomware != "Known" {
		t.Errorf("KEV(CVE-2024-0001) = %+v, %v; want due 2025-01-22, Known", k, err)
	}
	if k, _ := db.KEV(ctx, "CVE-2024-0003"); k != nil {
		t.Errorf("KEV(CVE-2024-0003) = %+v, want none", k)
	}
	e, err := db.EPSS(ctx, "CVE-2024-0001")
	if err != nil || e == nil || e.Score != 0.97 || e.Percentile != 0.999 {
		t.Errorf("EPSS(CVE-2024-0001) = %+v, %v; want 0.97, 0.999", e, err)
	}
	s := count(t, db)
	var epssTime time.Time
	for _, src := range s.Sources {
		if src.Name == "epss" {
			epssTime = src.DataTime
		}
	}
	if want := time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC); !epssTime.Equal(want) {
		t.Errorf("epss data time %v, want %v", epssTime, want)
	}
	// A plain CSV without the model line replaces the scores.
	plain := writeFile(t, dir, "epss.csv", "cve,epss,percentile\nCVE-2024-0009,0.1,0.2\n")
	if _, err := db.Import(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if e, _ := db.EPSS(ctx, "CVE-2024-0001"); e != nil {
		t.Errorf("old score kept after a new file: %+v", e)
	}
	last, err := db.LastImport(ctx)
	if err != nil || !last.Equal(count(t, db).DataTime()) || last.IsZero() {
		t.Errorf("LastImport = %v, %v; want the status's %v", last, err, count(t, db).DataTime())
	}
	if last, err := openTemp(t).LastImport(ctx); err != nil || !last.IsZero() {
		t.Errorf("empty database: LastImport = %v, %v; want zero", last, err)
	}
}

func TestEPSSErrors(t *testing.T) {
	tests := []struct{ name, csv, want string }{
		{"header", "cve,score,pct\nCVE-2024-0001,0.1,0.1\n", "header"},
		{"fields", "cve,epss,percentile\nCVE-2024-0001,0.1\n", "wrong number of fields"},
		{"cve", "cve,epss,percentile\nCVE-24-1,0.1,0.1\n", `line 2: "CVE-24-1" is not a CVE id`},
		{"range", "#model_version:v1,score_date:2025-01-01T00:00:00+0000\ncve,epss,percentile\nCVE-2024-0001,0.1,0.1\nCVE-2024-0002,NaN,0.1\n", "line 4"},
		{"empty", "cve,epss,percentile\n", "no scores"},
		{"date", "#model_version:v1,score_date:soon\ncve,epss,percentile\nCVE-2024-0001,0.1,0.1\n", "score_date"},
		{"rows", "cve,epss,percentile\nCVE-2024-0001,0.1,0.1\nCVE-2024-0002,0.1,0.1\nCVE-2024-0003,0.1,0.1\n", "more than 2 rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseEPSS([]byte(tt.csv), 2)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestReadOnlyMissing(t *testing.T) {
	_, err := Open(context.Background(), t.TempDir(), Options{ReadOnly: true})
	if !errors.Is(err, ErrNoDatabase) {
		t.Errorf("got %v, want ErrNoDatabase", err)
	}
}

// TestSharedData imports the Go vulnerability database, the distribution
// samples and the KEV catalog from ../shared/vuln.
func TestSharedData(t *testing.T) {
	ctx := context.Background()
	root := sharedtest.Dir(t, "vuln")
	db := openTemp(t)
	// The whole Go database is imported by cmd/vigil's tests; here the
	// distribution samples, the KEV catalog, and Go records for x/text
	// and a withdrawn one.
	st, err := db.Import(ctx, filepath.Join(root, "osv", "distro"), filepath.Join(root, "kev", "known_exploited_vulnerabilities.json"),
		filepath.Join(root, "osv", "go", "GO-2021-0113.json"), filepath.Join(root, "osv", "go", "GO-2022-1059.json"), filepath.Join(root, "osv", "go", "GO-2022-0617.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 16 || st.KEV < 1000 || st.Withdrawn != 1 {
		t.Errorf("got %+v, want 14 distribution and 2 Go records, 1 withdrawn and the KEV catalog", st)
	}
	// DSA-3029-1: nginx in Debian 7 fixed in 1.2.1-2.2+wheezy3.
	m := db.Matcher()
	for _, tt := range []struct {
		eco, name, version string
		want               string
	}{
		{"Debian:7", "nginx", "1.2.1-2.2+wheezy2", "DSA-3029-1"},
		{"Debian:7", "nginx", "1.2.1-2.2+wheezy3", ""},
		{"Debian:7", "nginx", "1.2.1-2.2+deb7u1", "DSA-3029-1"},
		{"Ubuntu:Pro:14.04:LTS", "linux", "3.13.0-206.257", "UBUNTU-CVE-2025-38094"},
		{"Ubuntu:14.04:LTS", "linux", "3.13.0-206.257", ""},   // another ecosystem
		{"Go", "golang.org/x/text", "v0.3.7", "GO-2021-0113"}, // fixed there, but GO-2022-1059 is later
	} {
		hits, err := m.Match(ctx, tt.eco, tt.name, tt.version)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, h := range hits {
			found = found || h.Advisory == tt.want
		}
		switch {
		case tt.name == "golang.org/x/text":
			if found {
				t.Errorf("%s %s: GO-2021-0113 matched at its fixed version", tt.name, tt.version)
			}
		case tt.want == "" && len(hits) > 0:
			t.Errorf("%s %s %s: got %+v, want none", tt.eco, tt.name, tt.version, hits)
		case tt.want != "" && !found:
			t.Errorf("%s %s %s: got %+v, want %s", tt.eco, tt.name, tt.version, hits, tt.want)
		}
	}
}

func TestImportURL(t *testing.T) {
	ctx := context.Background()
	zp := writeZip(t, filepath.Join(t.TempDir(), "all.zip"), zipEntry{"GO-1.json", []byte(record("GO-1", "2024-01-01T00:00:00Z", "m", "1.0.0"))})
	archive, err := os.ReadFile(zp)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/Go/all.zip":
			w.Write(archive)
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), 2048))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tests := []struct {
		path    string
		records int
		want    string
	}{
		{"/Go/all.zip", 1, ""},
		{"/missing", 0, "404 Not Found"},
		{"/big", 0, "more than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			db := openTemp(t)
			db.Limits.MaxDownloadBytes = 1024
			st, err := db.Import(ctx, srv.URL+tt.path)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want error %q", err, tt.want)
			}
			if st.Records != tt.records {
				t.Errorf("got %d records, want %d", st.Records, tt.records)
			}
		})
	}
}

func TestFileBound(t *testing.T) {
	db := openTemp(t)
	db.Limits.MaxFileBytes = 64
	dir := t.TempDir()
	small := writeFile(t, dir, "small.json", `{"id":"GO-1"}`)
	big := writeFile(t, dir, "big.json", `{"id":"GO-2","details":"`+strings.Repeat("x", 100)+`"}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("cve,epss,percentile\n" + strings.Repeat("CVE-2024-0001,0.1,0.1\n", 10)))
	zw.Close()
	bigGz := writeFile(t, dir, "epss.csv.gz", gz.String())
	if _, err := db.Import(context.Background(), small); err != nil {
		t.Fatalf("under the bound: %v", err)
	}
	for _, p := range []string{big, bigGz} {
		if _, err := db.Import(context.Background(), p); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "more than 64 bytes") {
			t.Errorf("%s: got %v, want ErrLimit", filepath.Base(p), err)
		}
	}
}

func TestUpdateURLs(t *testing.T) {
	s := &Status{
		Ecosystems: []EcosystemStatus{{Ecosystem: "Debian:12"}, {Ecosystem: "Debian:13"}, {Ecosystem: "Go"}},
		Sources:    []SourceStatus{{Name: "kev"}, {Name: "osv:Ubuntu:22.04:LTS"}},
	}
	f := Feeds{OSV: "https://osv.example/", KEV: "https://kev.example/kev.json", EPSS: "https://epss.example/e.csv.gz"}
	got := s.UpdateURLs(f, []string{"Red Hat"}, false, false)
	want := []string{
		"https://osv.example/Debian/all.zip",
		"https://osv.example/Go/all.zip",
		"https://osv.example/Red%20Hat/all.zip",
		"https://osv.example/Ubuntu/all.zip",
		"https://kev.example/kev.json",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := (&Status{}).UpdateURLs(f, nil, false, true); len(got) != 1 || got[0] != f.EPSS {
		t.Errorf("empty database with epss: got %v, want the EPSS feed", got)
	}
}
