package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/sharedtest"
	"github.com/vigilsec/vigil/internal/vuln/db"
	"github.com/vigilsec/vigil/internal/vuln/osv"
)

const critical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

func goRecord(id, pkg, fixed, severity string, aliases ...string) string {
	sev := ""
	if severity != "" {
		sev = fmt.Sprintf(`,"severity":[{"type":"CVSS_V3","score":%q}]`, severity)
	}
	al, _ := json.Marshal(aliases)
	return fmt.Sprintf(`{"id":%q,"modified":"2024-01-01T00:00:00Z","summary":"sum %s","aliases":%s%s,"affected":[{"package":{"ecosystem":"Go","name":%q},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":%q}]}]}]}`,
		id, id, al, sev, pkg, fixed)
}

// testDB builds a database of the given files (name → content).
func testDB(t *testing.T, files map[string]string) *db.DB {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	d, err := db.Open(context.Background(), t.TempDir(), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Import(context.Background(), paths...); err != nil {
		t.Fatal(err)
	}
	return d
}

func fixture(t *testing.T) *db.DB {
	return testDB(t, map[string]string{
		"GO-1.json": goRecord("GO-2024-0001", "example.com/a", "1.2.0", "", "CVE-2024-1111", "GHSA-aaaa-aaaa-aaaa"),
		"GHSA.json": goRecord("GHSA-aaaa-aaaa-aaaa", "example.com/a", "1.2.0", critical, "CVE-2024-1111"),
		"GO-2.json": goRecord("GO-2024-0002", "example.com/a", "2.0.0", "", "CVE-2024-2222"),
		"GO-3.json": goRecord("GO-2024-0003", "example.com/b", "1.0.0", "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "CVE-2024-3333"),
		"GO-4.json": goRecord("GO-2024-0004", "example.com/c", "1.0.0", ""),
		"DSA.json":  `{"id":"DSA-5555-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-5555"],"affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}`,
		"kev.json":  `{"catalogVersion":"1","dateReleased":"2025-01-01T00:00:00Z","vulnerabilities":[{"cveID":"CVE-2024-2222","dateAdded":"2025-01-01","dueDate":"2025-01-22","knownRansomwareCampaignUse":"Unknown"}]}`,
		"epss.csv":  "cve,epss,percentile\nCVE-2024-3333,0.62,0.99\nCVE-2024-1111,0.01,0.5\n",
	})
}

func TestScan(t *testing.T) {
	d := fixture(t)
	pkgs := []Package{
		{Ecosystem: "Go", Name: "example.com/a", Version: "v1.1.0", Location: "go.mod:3"},
		{Ecosystem: "Go", Name: "example.com/b", Version: "v0.9.0", Location: "go.mod:4"},
		{Ecosystem: "Go", Name: "example.com/c", Version: "v1.0.0", Location: "go.mod:5"}, // fixed
		{Ecosystem: "Debian:12", Name: "libssl3", Version: "3.0.11-1~deb12u1", Source: "openssl", Location: "status"},
		{Ecosystem: "Debian:12", Name: "openssl-unrelated", Version: "3.0.11-1~deb12u1", Location: "status"},
		{Ecosystem: "Debian:12", Name: "libssl1.1", Version: "1.1.1n-0+deb11u5", Source: "openssl", Location: "status", State: "config-files"},
	}
	got, err := New(d).Scan(context.Background(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID, Package, Fixed, Severity, Decision, Priority, Due, Matched string
		Aliases                                                        []string
		KEV                                                            bool
	}
	var rows []row
	for _, f := range got {
		rows = append(rows, row{f.ID, f.Package, f.FixedVersion, f.Severity, f.Decision, f.Priority, f.KEVDueDate, f.Evidence.MatchedName, f.Aliases, f.KEV})
	}
	want := []row{
		// In KEV: Act, with the due date.
		{"GO-2024-0002", "example.com/a", "2.0.0", "", Act, "P1", "2025-01-22", "example.com/a", []string{"CVE-2024-2222"}, true},
		// GO and GHSA records of one CVE: one finding, the GO id, the
		// GHSA record's CVSS 9.8.
		{"GO-2024-0001", "example.com/a", "1.2.0", "critical", Attend, "P2", "", "example.com/a", []string{"CVE-2024-1111", "GHSA-aaaa-aaaa-aaaa"}, false},
		// EPSS 0.62: Attend though the CVSS score is low.
		{"GO-2024-0003", "example.com/b", "1.0.0", "low", Attend, "P2", "", "example.com/b", []string{"CVE-2024-3333"}, false},
		// Matched by the source package.
		{"DSA-5555-1", "libssl3", "3.0.11-1~deb12u2", "", Track, "P4", "", "openssl", []string{"CVE-2024-5555"}, false},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if got[1].CVSSScore == nil || *got[1].CVSSScore != 9.8 || got[1].CVSSVector != critical {
		t.Errorf("GO-2024-0001: CVSS %v %q, want 9.8 %s", got[1].CVSSScore, got[1].CVSSVector, critical)
	}
	if got[2].EPSS == nil || *got[2].EPSS != 0.62 {
		t.Errorf("GO-2024-0003: EPSS %v, want 0.62", got[2].EPSS)
	}
}

func TestParseFailOn(t *testing.T) {
	low, crit := "low", "critical"
	findings := map[string]Finding{
		"track-low":   {Severity: low, Decision: Track, Priority: "P4"},
		"attend-crit": {Severity: crit, Decision: Attend, Priority: "P2"},
		"act-none":    {Severity: "", Decision: Act, Priority: "P1"},
	}
	tests := []struct {
		level string
		want  []string // the findings that fail
	}{
		{"any", []string{"act-none", "attend-crit", "track-low"}},
		{"none", nil},
		{"high", []string{"attend-crit"}},
		{"LOW", []string{"attend-crit", "track-low"}},
		{"attend", []string{"act-none", "attend-crit"}},
		{"act", []string{"act-none"}},
		{"p2", []string{"act-none", "attend-crit"}},
	}
	for _, tt := range tests {
		gate, err := ParseFailOn(tt.level)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, name := range []string{"act-none", "attend-crit", "track-low"} {
			if gate(findings[name]) {
				got = append(got, name)
			}
		}
		if !cmp.Equal(got, tt.want) {
			t.Errorf("--fail-on %s: got %v, want %v", tt.level, got, tt.want)
		}
	}
	if _, err := ParseFailOn("severe"); err == nil {
		t.Error("--fail-on severe: got no error")
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		vector string
		score  float64
		label  string
	}{
		{critical, 9.8, "critical"},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5, "high"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, "critical"},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, "high"},
	}
	for _, tt := range tests {
		score, vector, label := severityOf([]osv.Severity{{Type: "CVSS_V3", Score: tt.vector}})
		if score != tt.score || vector != tt.vector || label != tt.label {
			t.Errorf("severityOf(%s) = %v, %q; want %v, %q", tt.vector, score, label, tt.score, tt.label)
		}
	}
	if _, _, label := severityOf([]osv.Severity{{Type: "Ubuntu", Score: "medium"}}); label != "medium" {
		t.Errorf("Ubuntu rating: got %q, want medium", label)
	}
	if score, vector, label := severityOf([]osv.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/garbage"}}); vector != "" || label != "" || score != 0 {
		t.Errorf("bad vector: got %v %q %q, want nothing", score, vector, label)
	}
}

func TestFormats(t *testing.T) {
	d := fixture(t)
	findings, err := New(d).Scan(context.Background(), []Package{
		{Ecosystem: "Go", Name: "example.com/a", Version: "v1.1.0", Location: "dir/go.mod:3"},
		{Ecosystem: "Debian:12", Name: "libssl3", Version: "3.0.11-1~deb12u1", Source: "openssl", Location: "var/lib/dpkg/status"},
		{Ecosystem: "Go", Name: "example.com/c", Version: "v0.9.0", Location: "bom.json#ref:12", File: "bom.json", Kind: KindCycloneDX},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := Report{Findings: findings, Tool: "test"}
	t.Run("json", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Write(&buf, "json", r); err != nil {
			t.Fatal(err)
		}
		var out struct {
			Findings []map[string]any `json:"findings"`
		}
		if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"id", "aliases", "package", "version", "ecosystem", "fixed_version", "severity", "kev", "epss", "priority", "decision", "location"} {
			if _, ok := out.Findings[0][key]; !ok {
				t.Errorf("finding has no %q: %v", key, out.Findings[0])
			}
		}
		var empty bytes.Buffer
		Write(&empty, "json", Report{Findings: []Finding{}})
		if got := strings.Join(strings.Fields(empty.String()), ""); got != `{"findings":[]}` {
			t.Errorf("no findings: got %s, want {\"findings\": []}", got)
		}
	})
	t.Run("sarif", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Write(&buf, "sarif", r); err != nil {
			t.Fatal(err)
		}
		var log sarifLog
		if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
			t.Fatal(err)
		}
		run := log.Runs[0]
		if log.Version != "2.1.0" || len(run.Results) != len(findings) || len(run.Tool.Driver.Rules) != len(findings) {
			t.Fatalf("got %+v, want version 2.1.0 and one rule and result per finding", log)
		}
		for _, res := range run.Results {
			if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID || res.Level == "" || len(res.Locations) != 1 {
				t.Errorf("result %+v: rule index, level or location wrong", res)
			}
		}
		loc := run.Results[0].Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI != "dir/go.mod" || loc.Region == nil || loc.Region.StartLine != 3 {
			t.Errorf("first location %+v, want dir/go.mod line 3", loc)
		}
		// An SBOM component: the file without a line, the component
		// in the message.
		found := false
		for _, res := range run.Results {
			if res.RuleID != "GO-2024-0004" {
				continue
			}
			found = true
			loc := res.Locations[0].PhysicalLocation
			if loc.ArtifactLocation.URI != "bom.json" || loc.Region != nil || !strings.HasSuffix(res.Message.Text, "; SBOM component ref:12") {
				t.Errorf("SBOM finding: location %+v, message %q; want bom.json without a line, the component in the message", loc, res.Message.Text)
			}
		}
		if !found {
			t.Error("no result for the SBOM component's GO-2024-0004")
		}
	})
	t.Run("cyclonedx-vex", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Write(&buf, "cyclonedx-vex", r); err != nil {
			t.Fatal(err)
		}
		var bom cdxBOM
		if err := json.Unmarshal(buf.Bytes(), &bom); err != nil {
			t.Fatal(err)
		}
		refs := map[string]bool{}
		for _, c := range bom.Components {
			refs[c.BOMRef] = true
		}
		if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != "1.5" || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") || len(bom.Vulnerabilities) != len(findings) {
			t.Fatalf("got %+v, want a CycloneDX 1.5 document with every finding", bom)
		}
		for _, v := range bom.Vulnerabilities {
			if len(v.Affects) != 1 || !refs[v.Affects[0].Ref] {
				t.Errorf("vulnerability %s affects %v, want a component's bom-ref", v.ID, v.Affects)
			}
		}
		if !refs["pkg:golang/example.com/a@v1.1.0"] || !refs["pkg:deb/debian/libssl3@3.0.11-1~deb12u1"] {
			t.Errorf("components %v, want the Go module and the Debian package purls", refs)
		}
	})
	t.Run("table", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Write(&buf, "table", r); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "GO-2024-0002") || !strings.Contains(buf.String(), "due 2025-01-22") {
			t.Errorf("table:\n%s\nwant GO-2024-0002 due 2025-01-22", buf.String())
		}
	})
}

// TestScanDistroSamples scans root filesystems against the Debian and
// Ubuntu OSV samples of ../shared/vuln: binary packages are matched by
// their source package.
func TestScanDistroSamples(t *testing.T) {
	distro := sharedtest.Dir(t, "vuln", "osv", "distro")
	d, err := db.Open(context.Background(), t.TempDir(), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Import(context.Background(), distro); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, osRelease, status string
		want                    []string // id package fixed
	}{
		{"debian source package", "ID=debian\nVERSION_ID=\"7\"\n",
			"Package: nginx-full\nStatus: install ok installed\nSource: nginx\nVersion: 1.2.1-2.2+wheezy2\n\nPackage: nginx-common\nStatus: install ok installed\nSource: nginx\nVersion: 1.2.1-2.2+wheezy3\n",
			[]string{"DSA-3029-1 nginx-full 1.2.1-2.2+wheezy3"}},
		{"debian fixed", "ID=debian\nVERSION_ID=\"7\"\n",
			"Package: nginx\nStatus: install ok installed\nVersion: 1.2.1-2.2+wheezy3\n", nil},
		{"debian other release", "ID=debian\nVERSION_ID=\"12\"\n",
			"Package: nginx\nStatus: install ok installed\nVersion: 1.2.1-2.2+wheezy2\n", nil},
		{"ubuntu versions list", "ID=ubuntu\nVERSION_ID=\"14.04\"\nVERSION=\"14.04.6 LTS, Trusty Tahr\"\n",
			"Package: linux-image-3.13.0-206-generic\nStatus: install ok installed\nSource: linux-signed (3.13.0-206.257)\nVersion: 3.13.0-206.257\n\nPackage: linux-headers-3.13.0-206\nStatus: install ok installed\nSource: linux\nVersion: 3.13.0-206.257\n",
			nil}, // the sample is for Ubuntu:Pro:14.04:LTS, not this ecosystem
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.MkdirAll(filepath.Join(root, "var", "lib", "dpkg"), 0o755)
			os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte(tt.osRelease), 0o644)
			os.WriteFile(filepath.Join(root, dpkgStatus), []byte(tt.status), 0o644)
			inv, err := Collect(context.Background(), root)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := New(d).Scan(context.Background(), inv.Packages)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.ID+" "+f.Package+" "+f.FixedVersion)
			}
			if !cmp.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// The Ubuntu sample affects every version of the linux source package
	// of Ubuntu Pro 14.04 (introduced 0, no fix yet), rated medium by
	// Ubuntu.
	fs, err := New(d).Scan(context.Background(), []Package{{Ecosystem: "Ubuntu:Pro:14.04:LTS", Name: "linux-headers-3.13.0-206",
		Version: "3.13.0-206.257", Source: "linux", Location: "status", Kind: "dpkg", State: "installed"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].ID != "UBUNTU-CVE-2025-38094" || fs[0].Severity != "medium" || fs[0].Evidence.Range.Range != 0 || fs[0].Evidence.MatchedName != "linux" ||
		!slices.Equal(fs[0].Upstream, []string{"CVE-2025-38094"}) {
		t.Errorf("got %+v, want UBUNTU-CVE-2025-38094 (medium) matched on the linux source package", fs)
	}
}
