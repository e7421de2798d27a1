package main

import (
	"archive/zip"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/sharedtest"
)

var (
	sharedVulnDBOnce sync.Once
	sharedVulnDB     string
	sharedVulnDBErr  string
	sharedVulnTmp    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedVulnTmp != "" {
		os.RemoveAll(sharedVulnTmp)
	}
	os.Exit(code)
}

// importShared returns the folder of a database holding the Go
// vulnerability database and the KEV catalog from ../shared/vuln,
// imported once per test binary (the tests only read it).
func importShared(t *testing.T) string {
	t.Helper()
	root := sharedtest.Dir(t, "vuln")
	sharedVulnDBOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "vigil-vulndb-")
		if err != nil {
			sharedVulnDBErr = err.Error()
			return
		}
		sharedVulnTmp = tmp
		dbDir := filepath.Join(tmp, "vulndb")
		r := runCLI(t, "vulndb", "import", "--db", dbDir, filepath.Join(root, "osv"), filepath.Join(root, "kev", "known_exploited_vulnerabilities.json"))
		if r.code != 0 {
			sharedVulnDBErr = fmt.Sprintf("vulndb import: exit %d: %s", r.code, r.stderr)
			return
		}
		sharedVulnDB = dbDir
	})
	if sharedVulnDBErr != "" {
		t.Fatal(sharedVulnDBErr)
	}
	return sharedVulnDB
}

// needProgram returns the path of a program the test needs: it skips
// where the program is missing, except under CI, which installs it.
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing under CI: %v", name, err)
		}
		t.Skipf("%s is missing: %v", name, err)
	}
	return p
}

type scanFinding struct {
	ID         string   `json:"id"`
	Aliases    []string `json:"aliases"`
	Package    string   `json:"package"`
	Version    string   `json:"version"`
	Fixed      string   `json:"fixed_version"`
	KEV        bool     `json:"kev"`
	KEVDueDate string   `json:"kev_due_date"`
	Decision   string   `json:"decision"`
	Location   string   `json:"location"`
}

func scanJSON(t *testing.T, dbDir, path string, extra ...string) (int, []scanFinding, string) {
	t.Helper()
	r := runCLI(t, append([]string{"scan", path, "--db", dbDir, "--format", "json"}, extra...)...)
	if r.code == 2 {
		t.Fatalf("scan %s: exit 2: %s", path, r.stderr)
	}
	var out struct {
		Findings []scanFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("scan %s: %v in %q", path, err, r.stdout)
	}
	return r.code, out.Findings, r.stderr
}

// releaseTriple parses the plain release versions of the Go database's
// x/text ranges ("0.3.7", "v0.39.0"), independently of internal/vuln.
func releaseTriple(t *testing.T, v string) [3]int {
	t.Helper()
	var out [3]int
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 {
		t.Fatalf("version %q is not a plain release", v)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("version %q is not a plain release", v)
		}
		out[i] = n
	}
	return out
}

func lessTriple(a, b [3]int) bool { return slices.Compare(a[:], b[:]) < 0 }

// expectedAdvisories reads the Go database's records for module directly
// and returns the ids whose ranges include version, and the version at
// which every advisory of the module is fixed.
func expectedAdvisories(t *testing.T, dir, module, version string) (ids []string, allFixed string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "GO-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no records in %s: %v", dir, err)
	}
	v := releaseTriple(t, version)
	var maxFixed [3]int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			ID        string  `json:"id"`
			Withdrawn *string `json:"withdrawn"`
			Affected  []struct {
				Package struct{ Name string } `json:"package"`
				Ranges  []struct {
					Events []map[string]string `json:"events"`
				} `json:"ranges"`
			} `json:"affected"`
		}
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if rec.Withdrawn != nil {
			continue
		}
		hit := false
		for _, a := range rec.Affected {
			if a.Package.Name != module {
				continue
			}
			for _, r := range a.Ranges {
				// The Go database writes each range as introduced/fixed
				// pairs in order.
				for i := 0; i < len(r.Events); i++ {
					intro, ok := r.Events[i]["introduced"]
					if !ok {
						t.Fatalf("%s: unexpected event %v", rec.ID, r.Events[i])
					}
					lo := [3]int{}
					if intro != "0" {
						lo = releaseTriple(t, intro)
					}
					inside := !lessTriple(v, lo)
					if i+1 < len(r.Events) {
						if fixed, ok := r.Events[i+1]["fixed"]; ok {
							hi := releaseTriple(t, fixed)
							inside = inside && lessTriple(v, hi)
							if lessTriple(maxFixed, hi) {
								maxFixed = hi
							}
							i++
						}
					}
					hit = hit || inside
				}
			}
		}
		if hit {
			ids = append(ids, rec.ID)
		}
	}
	slices.Sort(ids)
	return ids, "v" + strconv.Itoa(maxFixed[0]) + "." + strconv.Itoa(maxFixed[1]) + "." + strconv.Itoa(maxFixed[2])
}

// buildModule writes a module that imports golang.org/x/text at version
// and builds it with the go command (modules from GOPROXY).
func buildModule(t *testing.T, goBin, version string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/vulnapp\n\ngo 1.24\n\nrequire golang.org/x/text " + version + "\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.English) }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goBin, "build", "-o", "app", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build with golang.org/x/text %s: %v\n%s", version, err, out)
	}
	return dir
}

func moduleIDs(fs []scanFinding, module string) []string {
	ids := []string{}
	for _, f := range fs {
		if f.Package == module {
			ids = append(ids, f.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestScanGoAcceptance builds a module that depends on a version of
// golang.org/x/text named vulnerable in the Go vulnerability database, and
// one on the version where every advisory is fixed; vigil scan reports
// exactly the advisories whose ranges include each version (computed here
// from the OSV files), the same from go.mod and from the binary.
func TestScanGoAcceptance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go programs (-short)")
	}
	goBin := needProgram(t, "go")
	goData := sharedtest.Dir(t, "vuln", "osv", "go")
	dbDir := importShared(t)
	const module = "golang.org/x/text"
	want, allFixed := expectedAdvisories(t, goData, module, "v0.3.5")
	if len(want) == 0 {
		t.Fatalf("no advisory of %s includes v0.3.5 in %s: pick another version", module, goData)
	}
	if ids, _ := expectedAdvisories(t, goData, module, allFixed); len(ids) != 0 {
		t.Fatalf("%s %s is still affected by %v", module, allFixed, ids)
	}
	for _, tt := range []struct {
		version string
		want    []string
	}{
		{"v0.3.5", want},
		{allFixed, []string{}},
	} {
		t.Run(tt.version, func(t *testing.T) {
			dir := buildModule(t, goBin, tt.version)
			code, fromMod, _ := scanJSON(t, dbDir, filepath.Join(dir, "go.mod"))
			_, fromBin, _ := scanJSON(t, dbDir, filepath.Join(dir, "app"), "--fail-on", "none")
			if got := moduleIDs(fromMod, module); !slices.Equal(got, tt.want) {
				t.Errorf("go.mod: got %v, want %v", got, tt.want)
			}
			if got := moduleIDs(fromBin, module); !slices.Equal(got, tt.want) {
				t.Errorf("binary: got %v, want %v", got, tt.want)
			}
			if wantCode := min(1, len(tt.want)); code != wantCode {
				t.Errorf("go.mod scan: exit %d, want %d", code, wantCode)
			}
			for _, f := range fromBin {
				if f.Package == module && (f.Version != tt.version || f.Fixed == "" || !strings.HasSuffix(f.Location, "app")) {
					t.Errorf("binary finding %+v: want version %s, a fixed version and the binary's path", f, tt.version)
				}
			}
		})
	}
}

// TestScanKEV scans a go.mod naming a version of github.com/wazuh/wazuh
// affected by GO-2025-3459, whose alias CVE-2025-24016 is in the KEV
// catalog: the finding is Act, with the catalog's due date.
func TestScanKEV(t *testing.T) {
	dbDir := importShared(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module m\n\ngo 1.22\n\nrequire github.com/wazuh/wazuh v4.5.0+incompatible\n"), 0o644)
	_, fs, _ := scanJSON(t, dbDir, dir)
	var found *scanFinding
	for i, f := range fs {
		if slices.Contains(f.Aliases, "CVE-2025-24016") {
			found = &fs[i]
		}
	}
	if found == nil {
		t.Fatalf("no finding with alias CVE-2025-24016 in %+v", fs)
	}
	if !found.KEV || found.Decision != "Act" || found.KEVDueDate != "2025-07-01" || found.ID != "GO-2025-3459" {
		t.Errorf("got %+v, want GO-2025-3459 in KEV, due 2025-07-01, decision Act", *found)
	}
}

// TestScanDpkg scans the machine's own dpkg database end to end: the
// package count equals dpkg-query's. The root scanned holds links to the
// machine's dpkg status and os-release (scanning / itself would also walk
// /opt, which on some CI machines holds gigabytes of tool caches).
func TestScanDpkg(t *testing.T) {
	dpkgQuery := needProgram(t, "dpkg-query")
	out, err := exec.Command(dpkgQuery, "-W").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := len(strings.Split(strings.TrimSpace(string(out)), "\n"))
	root := t.TempDir()
	for _, p := range []string{"var/lib/dpkg/status", "etc/os-release"} {
		target := "/" + p
		if p == "etc/os-release" {
			if _, err := os.Stat(target); err != nil {
				target = "/usr/lib/os-release"
			}
		}
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	dbDir := importShared(t)
	_, _, stderr := scanJSON(t, dbDir, root, "--fail-on", "none")
	if strings.Contains(stderr, "os-release") {
		t.Errorf("the release was not recognised: %s", stderr)
	}
	m := regexp.MustCompile(`\b(\d+) dpkg\b`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no dpkg count in %q", stderr)
	}
	if got, _ := strconv.Atoi(m[1]); got != want {
		t.Errorf("scan / found %d dpkg packages, dpkg-query -W lists %d", got, want)
	}
}

func TestScanUsageAndDataErrors(t *testing.T) {
	dbDir := importShared(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"format", []string{"scan", ".", "--db", dbDir, "--format", "xml"}, 2, "--format"},
		{"fail-on", []string{"scan", ".", "--db", dbDir, "--fail-on", "severe"}, 2, "--fail-on"},
		{"no path", []string{"scan", "--db", dbDir}, 2, "accepts 1 arg"},
		{"no database", []string{"scan", ".", "--db", filepath.Join(t.TempDir(), "none")}, 2, "no advisory database"},
		{"missing path", []string{"scan", filepath.Join(t.TempDir(), "absent"), "--db", dbDir}, 2, "no such file"},
		{"bad import", []string{"vulndb", "import", "--db", t.TempDir(), "/etc/hostname"}, 2, "nothing was imported"},
		{"clean", []string{"scan", t.TempDir(), "--db", dbDir}, 0, "scanned 0 packages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
	r := runCLI(t, "vulndb", "status", "--db", dbDir)
	if r.code != 0 || !strings.Contains(r.stdout, "Go ") || !strings.Contains(r.stdout, "kev") {
		t.Errorf("vulndb status: exit %d, %q; want the Go ecosystem and the KEV source", r.code, r.stdout)
	}
}

// TestVulnDBDataFlag: without --db the database is DATA/vulndb.
func TestVulnDBDataFlag(t *testing.T) {
	data := t.TempDir()
	rec := filepath.Join(t.TempDir(), "GO-1.json")
	os.WriteFile(rec, []byte(`{"id":"GO-2099-0001","modified":"2099-01-01T00:00:00Z","aliases":["CVE-2099-0001"],"affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`), 0o644)
	if r := runCLI(t, "vulndb", "import", "--data", data, rec); r.code != 0 {
		t.Fatalf("import: exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "vulndb", "vulndb.sqlite")); err != nil {
		t.Fatalf("no database under --data: %v", err)
	}
	gomod := filepath.Join(t.TempDir(), "go.mod")
	os.WriteFile(gomod, []byte("module x\n\nrequire example.com/m v0.9.0\n"), 0o644)
	r := runCLI(t, "scan", gomod, "--data", data, "--format", "json")
	if r.code != 1 || !strings.Contains(r.stdout, `"id": "GO-2099-0001"`) || !strings.Contains(r.stdout, `"CVE-2099-0001"`) {
		t.Errorf("scan: exit %d, %s; want exit 1 and GO-2099-0001 with its alias", r.code, r.stdout)
	}
}

// TestVulnDBUpdate refreshes a database from feeds served locally: the
// ecosystems it holds, plus those asked for, plus KEV.
func TestVulnDBUpdate(t *testing.T) {
	var (
		zipBuf bytes.Buffer
		served []string
	)
	zw := zip.NewWriter(&zipBuf)
	w, _ := zw.Create("GO-2099-0002.json")
	w.Write([]byte(`{"id":"GO-2099-0002","modified":"2099-01-02T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`))
	zw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served = append(served, r.URL.Path)
		switch r.URL.Path {
		case "/osv/Go/all.zip":
			w.Write(zipBuf.Bytes())
		case "/kev.json":
			w.Write([]byte(`{"catalogVersion":"1","dateReleased":"2099-01-01T00:00:00Z","vulnerabilities":[{"cveID":"CVE-2099-0001","dateAdded":"2099-01-01","dueDate":"2099-01-22","knownRansomwareCampaignUse":"Unknown"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	flags := []string{"--db", dir, "--osv-url", srv.URL + "/osv", "--kev-url", srv.URL + "/kev.json", "--epss-url", srv.URL + "/epss.csv.gz"}
	if r := runCLI(t, append([]string{"vulndb", "update"}, flags...)...); r.code != 2 || !strings.Contains(r.stderr, "nothing to update") {
		t.Errorf("empty database: exit %d, %q; want 2 and nothing to update", r.code, r.stderr)
	}
	r := runCLI(t, append([]string{"vulndb", "update", "--ecosystem", "Go", "--kev"}, flags...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "imported 1 records") || !strings.Contains(r.stdout, "1 KEV entries") {
		t.Fatalf("update: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// Now the database holds Go and KEV: a plain update fetches both; the
	// failing EPSS feed (asked for) makes the whole update change nothing.
	served = nil
	r = runCLI(t, append([]string{"vulndb", "update", "--epss"}, flags...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "404") {
		t.Errorf("update with a missing feed: exit %d, %q; want 2 naming the 404", r.code, r.stderr)
	}
	if want := []string{"/osv/Go/all.zip", "/kev.json", "/epss.csv.gz"}; !slices.Equal(served, want) {
		t.Errorf("fetched %v, want %v", served, want)
	}
}

// TestScanOldData: an old database is warned about, never refused.
func TestScanOldData(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(t.TempDir(), "GO-1.json")
	os.WriteFile(rec, []byte(`{"id":"GO-2099-0003","modified":"2099-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`), 0o644)
	if r := runCLI(t, "vulndb", "import", "--db", dir, rec); r.code != 0 {
		t.Fatalf("import: exit %d: %s", r.code, r.stderr)
	}
	sdb, err := sql.Open("sqlite", filepath.Join(dir, "vulndb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec(`UPDATE sources SET imported_at = ?`, "2020-01-01T00:00:00.000000000Z"); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	gomod := filepath.Join(t.TempDir(), "go.mod")
	os.WriteFile(gomod, []byte("module x\n\nrequire example.com/m v0.9.0\n"), 0o644)
	r := runCLI(t, "scan", gomod, "--db", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "GO-2099-0003") || !strings.Contains(r.stderr, "warning: the advisory data was last imported") {
		t.Errorf("exit %d, stdout %q, stderr %q; want the finding, exit 1 and an age warning", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "vulndb", "status", "--db", dir); !strings.Contains(r.stdout, "warning: the advisory data was last imported") {
		t.Errorf("status: %q, want an age warning", r.stdout)
	}
}

// TestScanSBOM scans the hand-written CycloneDX 1.4, 1.5 and 1.6 and SPDX
// 2.3 documents of internal/vuln/scan/testdata/sbom: each names
// golang.org/x/text v0.3.5 (the advisories computed from the Go database's
// files, as in TestScanGoAcceptance) and nginx of Debian 7, affected by
// DSA-3029-1 in the Debian sample; every finding is located at the SBOM
// and the component's bom-ref or SPDXID, and the components that cannot
// be matched are counted.
func TestScanSBOM(t *testing.T) {
	dbDir := importShared(t)
	goData := sharedtest.Dir(t, "vuln", "osv", "go")
	text, _ := expectedAdvisories(t, goData, "golang.org/x/text", "v0.3.5")
	if len(text) == 0 {
		t.Fatal("no advisory of golang.org/x/text includes v0.3.5")
	}
	if ids, _ := expectedAdvisories(t, goData, "golang.org/x/text", "v0.39.0"); len(ids) != 0 {
		t.Fatalf("golang.org/x/text v0.39.0 is affected by %v: the 1.6 document's fixed version is not fixed", ids)
	}
	dsa := []string{"DSA-3029-1"}
	tests := []struct {
		file    string
		want    map[string][]string // bom-ref or SPDXID → advisory ids
		skipped string
	}{
		{"app-1.4.cdx.json", map[string][]string{"text": text, "deb-nginx": dsa},
			"skipped 3 SBOM components that cannot be matched: 1 PyPI (no version ordering), 2 no purl"},
		{"app-1.5.cdx.json", map[string][]string{"pkg:golang/golang.org/x/text@v0.3.5": text, "libnginx": dsa},
			"skipped 1 SBOM components that cannot be matched: 1 Maven (no version ordering)"},
		{"app-1.6.cdx.json", map[string][]string{"go-text": text, "nginx": dsa, "trivy-nginx-extras": dsa},
			"skipped 2 SBOM components that cannot be matched: 1 RubyGems (no version ordering), 1 pkg:deb without a known distro release"},
		{"app.spdx.json", map[string][]string{"SPDXRef-Package-go-text": text, "SPDXRef-Package-deb-nginx": dsa},
			"skipped 1 SBOM components that cannot be matched: 1 PyPI (no version ordering)"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("..", "..", "internal", "vuln", "scan", "testdata", "sbom", tt.file)
			code, fs, stderr := scanJSON(t, dbDir, path)
			got := map[string][]string{}
			for _, f := range fs {
				file, ref, ok := strings.Cut(f.Location, "#")
				if !ok || file != path {
					t.Errorf("finding %s: location %q, want %s#REF", f.ID, f.Location, path)
				}
				got[ref] = append(got[ref], f.ID)
			}
			for ref := range got {
				slices.Sort(got[ref])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("advisories by component (-want +got):\n%s", diff)
			}
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(stderr, tt.skipped) {
				t.Errorf("stderr %q, want %q", stderr, tt.skipped)
			}
		})
	}
	// A folder: the SBOMs found by name; a hostile or malformed SBOM
	// named on the command line: exit 2 with what was wrong.
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "..", "internal", "vuln", "scan", "testdata", "sbom", "app.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "dist"), 0o755)
	os.WriteFile(filepath.Join(dir, "dist", "image.spdx.json"), data, 0o644)
	if _, fs, _ := scanJSON(t, dbDir, dir); len(fs) != len(text)+1 {
		t.Errorf("folder with an SBOM: %d findings, want %d", len(fs), len(text)+1)
	}
	// Skip reasons past ten are summed up, not listed (a hostile SBOM
	// can name any number of purl types).
	var comps []string
	for i := range 12 {
		comps = append(comps, fmt.Sprintf(`{"name":"c","purl":"pkg:type%02d/c@1"}`, i))
	}
	many := filepath.Join(t.TempDir(), "many.cdx.json")
	os.WriteFile(many, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[`+strings.Join(comps, ",")+`]}`), 0o644)
	if code, fs, stderr := scanJSON(t, dbDir, many); code != 0 || len(fs) != 0 ||
		!strings.Contains(stderr, "skipped 12 SBOM components that cannot be matched: 1 pkg:type00, ") ||
		!strings.Contains(stderr, "1 pkg:type09, and 2 other reasons\n") || strings.Contains(stderr, "type10") {
		t.Errorf("12 skip reasons: exit %d, stderr %q; want ten listed and 2 other reasons", code, stderr)
	}
	bad := map[string]string{
		"broken.cdx.json": `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":1}]}`,
		"deep.json":       `{"bomFormat":"CycloneDX","specVersion":"1.6","x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`,
		"old.cdx.json":    `{"bomFormat":"CycloneDX","specVersion":"1.2","components":[]}`,
	}
	for name, content := range bad {
		p := filepath.Join(t.TempDir(), name)
		os.WriteFile(p, []byte(content), 0o644)
		r := runCLI(t, "scan", p, "--db", dbDir)
		if r.code != 2 || !strings.Contains(r.stderr, name+": ") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and an error naming the file", name, r.code, r.stderr)
		}
	}
}
