package scan

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-cmp/cmp"
)

func TestParsePURL(t *testing.T) {
	tests := []struct {
		in   string
		want packageURL
		err  string
	}{
		{in: "pkg:golang/golang.org/x/text@v0.3.5", want: packageURL{typ: "golang", namespace: "golang.org/x", name: "text", version: "v0.3.5"}},
		{in: "pkg:npm/%40angular/core@16.0.0", want: packageURL{typ: "npm", namespace: "@angular", name: "core", version: "16.0.0"}},
		{in: "pkg:NPM/lodash@4.17.20#dist/x.js", want: packageURL{typ: "npm", name: "lodash", version: "4.17.20"}},
		{in: "pkg:deb/debian/curl@7.50.3-1?ARCH=i386&distro=jessie", want: packageURL{typ: "deb", namespace: "debian", name: "curl", version: "7.50.3-1", qualifiers: map[string]string{"arch": "i386", "distro": "jessie"}}},
		{in: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?upstream=glibc%402.36-9", want: packageURL{typ: "deb", namespace: "debian", name: "libc6", version: "2.36-9+deb12u4", qualifiers: map[string]string{"upstream": "glibc@2.36-9"}}},
		{in: "pkg://maven//org.apache/commons-lang3@3.12.0/", want: packageURL{typ: "maven", namespace: "org.apache", name: "commons-lang3", version: "3.12.0"}},
		{in: "golang/x@1", err: "no pkg: scheme"},
		{in: "pkg:golang", err: "no type and name"},
		{in: "pkg:golang/@1.0", err: "no name"},
		{in: "pkg:npm/a@1?x", err: `qualifier "x" is not key=value`},
		{in: "pkg:npm/a%zz@1", err: "invalid URL escape"},
		{in: "pkg:npm/a@1%", err: "version"},
		{in: "pkg:npm/" + strings.Repeat("a", MaxPURLBytes), err: "more than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			got, err := parsePURL(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, errPURL) {
					t.Fatalf("got %+v, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(packageURL{})); diff != "" {
				t.Errorf("parsePURL(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	// At the bound: accepted.
	at := "pkg:npm/" + strings.Repeat("a", MaxPURLBytes-len("pkg:npm/"))
	if _, err := parsePURL(at); err != nil {
		t.Errorf("a purl of %d bytes: %v", MaxPURLBytes, err)
	}
}

func TestPURLPackage(t *testing.T) {
	tests := []struct {
		purl string
		want Package
	}{
		{"pkg:golang/golang.org/x/text@0.3.5", Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5"}},
		{"pkg:golang/stdlib@v1.22.1", Package{Ecosystem: "Go", Name: "stdlib", Version: "v1.22.1"}},
		{"pkg:npm/%40scope/name@1.0.0", Package{Ecosystem: "npm", Name: "@scope/name", Version: "1.0.0"}},
		{"pkg:cargo/serde@1.0.0", Package{Ecosystem: "crates.io", Name: "serde", Version: "1.0.0"}},
		{"pkg:nuget/Newtonsoft.Json@13.0.1", Package{Ecosystem: "NuGet", Name: "Newtonsoft.Json", Version: "13.0.1"}},
		{"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", Package{Ecosystem: "Maven", Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", Skipped: "Maven (no version ordering)"}},
		{"pkg:pypi/django@3.2.0", Package{Ecosystem: "PyPI", Name: "django", Version: "3.2.0", Skipped: "PyPI (no version ordering)"}},
		{"pkg:gem/rails@5.2.0", Package{Ecosystem: "RubyGems", Name: "rails", Version: "5.2.0", Skipped: "RubyGems (no version ordering)"}},
		{"pkg:deb/debian/libssl3@3.0.11-1~deb12u1?distro=debian-12.4&upstream=openssl", Package{Ecosystem: "Debian:12", Name: "libssl3", Version: "3.0.11-1~deb12u1", Source: "openssl"}},
		{"pkg:deb/debian/libc6@2.36-9?distro=bookworm&upstream=glibc%402.36-9&epoch=1", Package{Ecosystem: "Debian:12", Name: "libc6", Version: "1:2.36-9", Source: "glibc", SourceVersion: "2.36-9"}},
		{"pkg:deb/ubuntu/bash@5.1-6ubuntu1?distro=ubuntu-22.04", Package{Ecosystem: "Ubuntu:22.04:LTS", Name: "bash", Version: "5.1-6ubuntu1"}},
		{"pkg:deb/ubuntu/bash@5.2?distro=ubuntu-24.10", Package{Ecosystem: "Ubuntu:24.10", Name: "bash", Version: "5.2"}},
		{"pkg:deb/ubuntu/bash@5.2?distro=jammy", Package{Ecosystem: "Ubuntu:22.04:LTS", Name: "bash", Version: "5.2"}},
		{"pkg:deb/debian/bash@5.2", Package{Name: "bash", Version: "5.2", Skipped: "pkg:deb without a known distro release"}},
		{"pkg:deb/debian/bash@5.2?distro=sid", Package{Name: "bash", Version: "5.2", Skipped: "pkg:deb without a known distro release"}},
		{"pkg:apk/alpine/openssl@3.1.4-r1?distro=alpine-3.19.1", Package{Ecosystem: "Alpine:v3.19", Name: "openssl", Version: "3.1.4-r1"}},
		{"pkg:apk/alpine/openssl@3.1.4-r1?distro=3.18", Package{Ecosystem: "Alpine:v3.18", Name: "openssl", Version: "3.1.4-r1"}},
		{"pkg:rpm/redhat/openssl@1.1.1k-5.el8?epoch=1&distro=rhel-8.6", Package{Ecosystem: "Red Hat", Name: "openssl", Version: "1:1.1.1k-5.el8"}},
		{"pkg:rpm/rocky/bash@4.4.20-4.el8?distro=rocky-8.8", Package{Ecosystem: "Rocky Linux:8", Name: "bash", Version: "4.4.20-4.el8"}},
		{"pkg:rpm/fedora/bash@5.2", Package{Name: "bash", Version: "5.2", Skipped: "pkg:rpm without a known distro release"}},
		{"pkg:oci/debian@sha256%3Aabc", Package{Name: "debian", Version: "sha256:abc", Skipped: "pkg:oci"}},
		{"pkg:npm/left-pad", Package{Ecosystem: "npm", Name: "left-pad", Skipped: "no version"}},
		{"not a purl", Package{Skipped: "invalid purl"}},
	}
	for _, tt := range tests {
		t.Run(tt.purl, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, purlPackage(tt.purl, "")); diff != "" {
				t.Errorf("purlPackage(%q) (-want +got):\n%s", tt.purl, diff)
			}
		})
	}
}

// TestParseSBOM reads the hand-written documents in testdata/sbom: every
// component with its ecosystem and location, nested ones included, and
// the ones that cannot be matched with the reason.
func TestParseSBOM(t *testing.T) {
	type row struct{ Ecosystem, Name, Version, Source, Location, Kind, Skipped string }
	const nginxVer = "1.2.1-2.2+wheezy2"
	tests := []struct {
		file string
		want []row
	}{
		{"app-1.4.cdx.json", []row{
			{"Go", "golang.org/x/text", "v0.3.5", "", "#text", KindCycloneDX, ""},
			{"", "debian", "7", "", "#os", KindCycloneDX, "no purl"},
			{"Debian:7", "nginx", nginxVer, "", "#deb-nginx", KindCycloneDX, ""},
			{"PyPI", "requests", "2.19.0", "", "#requests", KindCycloneDX, "PyPI (no version ordering)"},
			{"", "README", "", "", "#readme", KindCycloneDX, "no purl"},
		}},
		{"app-1.5.cdx.json", []row{
			{"Go", "example.com/vulnapp", "v1.0.0", "", "#pkg:golang/example.com/vulnapp@v1.0.0", KindCycloneDX, ""},
			{"Go", "golang.org/x/text", "v0.3.5", "", "#pkg:golang/golang.org/x/text@v0.3.5", KindCycloneDX, ""},
			{"Debian:7", "nginx-common", nginxVer, "nginx", "#libnginx", KindCycloneDX, ""},
			{"Maven", "com.google.guava:guava", "31.0-jre", "", "#guava", KindCycloneDX, "Maven (no version ordering)"},
		}},
		{"app-1.6.cdx.json", []row{
			{"Go", "golang.org/x/text", "v0.3.5", "", "#go-text", KindCycloneDX, ""},
			{"Go", "golang.org/x/text", "v0.39.0", "", "#go-text-fixed", KindCycloneDX, ""},
			{"Debian:7", "nginx", nginxVer, "", "#nginx", KindCycloneDX, ""},
			{"Debian:7", "nginx-extras", nginxVer, "nginx", "#trivy-nginx-extras", KindCycloneDX, ""},
			{"", "nginx", nginxVer, "", "#nginx-nodistro", KindCycloneDX, "pkg:deb without a known distro release"},
			{"RubyGems", "rails", "5.2.0", "", "#rails", KindCycloneDX, "RubyGems (no version ordering)"},
		}},
		{"app.spdx.json", []row{
			{"Go", "golang.org/x/text", "v0.3.5", "", "#SPDXRef-Package-go-text", KindSPDX, ""},
			{"Debian:7", "nginx", nginxVer, "", "#SPDXRef-Package-deb-nginx", KindSPDX, ""},
			{"npm", "lodash", "4.17.20", "", "#SPDXRef-Package-npm-lodash", KindSPDX, ""},
			{"PyPI", "django", "3.2.0", "", "#SPDXRef-Package-pypi-django", KindSPDX, "PyPI (no version ordering)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "sbom", tt.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pkgs, err := ParseSBOM(data, "f")
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, p := range pkgs {
				got = append(got, row{p.Ecosystem, p.Name, p.Version, p.Source, strings.TrimPrefix(p.Location, "f"), p.Kind, p.Skipped})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseSBOM (-want +got):\n%s", diff)
			}
			// Collect finds the file by its name, the same packages
			// less the skipped ones, which it counts.
			inv, err := Collect(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			skipped := 0
			for _, r := range tt.want {
				if r.Skipped != "" {
					skipped++
				}
			}
			n := 0
			for _, c := range inv.Skipped {
				n += c
			}
			if len(inv.Packages) != len(tt.want)-skipped || n != skipped {
				t.Errorf("Collect: %d packages, %d skipped; want %d, %d", len(inv.Packages), n, len(tt.want)-skipped, skipped)
			}
		})
	}
}

// TestCollectSBOM: an SBOM is found by its content when named, and by its
// file name in a walk (where a JSON file of another name is not read).
func TestCollectSBOM(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "sbom", "app.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, name := range []string{"sub/bom.json", "image.cdx.json.txt", "sbom-out.json", "deep/x.spdx.json"} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "broken.cdx.json"), []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":1}]}`), 0o644)
	inv, err := Collect(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	locs := map[string]int{}
	for _, p := range inv.Packages {
		rel, _, _ := strings.Cut(strings.TrimPrefix(p.Location, root+string(filepath.Separator)), "#")
		locs[rel]++
	}
	if want := map[string]int{"sub/bom.json": 3, "deep/x.spdx.json": 3}; !cmp.Equal(locs, want) {
		t.Errorf("walk: packages per file %v, want %v", locs, want)
	}
	if got := inv.Skipped["PyPI (no version ordering)"]; got != 2 {
		t.Errorf("walk: %d PyPI packages skipped, want 2", got)
	}
	if len(inv.Warnings) != 1 || !strings.Contains(inv.Warnings[0], "broken.cdx.json: CycloneDX") {
		t.Errorf("walk: warnings %q, want one for broken.cdx.json", inv.Warnings)
	}
	// Named, by content.
	inv, err = Collect(t.Context(), filepath.Join(root, "sbom-out.json"))
	if err != nil || len(inv.Packages) != 3 {
		t.Errorf("named sbom-out.json: %v, %+v; want 3 packages", err, inv)
	}
	// Past the file size bound: an error, not a partial read.
	defer func(n int) { fileLimit = n }(fileLimit)
	fileLimit = len(data) - 1
	if _, err := Collect(t.Context(), filepath.Join(root, "sub", "bom.json")); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", fileLimit)) {
		t.Errorf("bom.json past the size bound: got %v, want a size error", err)
	}
	fileLimit = len(data)
	if _, err := Collect(t.Context(), filepath.Join(root, "sub", "bom.json")); err != nil {
		t.Errorf("bom.json at the size bound: %v", err)
	}
	// Named, JSON but no SBOM: not inventory.
	other := filepath.Join(root, "package.json")
	os.WriteFile(other, []byte(`{"name":"x"}`), 0o644)
	if _, err := Collect(t.Context(), other); err == nil || !strings.Contains(err.Error(), "not a go.mod file, Go binary, dpkg status file or SBOM") {
		t.Errorf("package.json: got %v, want not inventory", err)
	}
}

func TestParseSBOMErrors(t *testing.T) {
	nested := func(depth int) string {
		s := `{"name":"leaf","purl":"pkg:npm/a@1"}`
		for range depth - 1 {
			s = `{"name":"n","components":[` + s + `]}`
		}
		return `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[` + s + `]}`
	}
	many := func(n int) string {
		cs := make([]string, n)
		for i := range cs {
			cs[i] = `{"name":"c","purl":"pkg:npm/a@1"}`
		}
		return `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[` + strings.Join(cs, ",") + `]}`
	}
	spdxMany := func(n int) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = `{"SPDXID":"SPDXRef-p","name":"p"}`
		}
		return `{"spdxVersion":"SPDX-2.3","packages":[` + strings.Join(ps, ",") + `]}`
	}
	defer func(n int) { sbomComponentLimit = n }(sbomComponentLimit)
	sbomComponentLimit = 100
	tests := []struct{ name, doc, want string }{
		{"not json", "{", "not a CycloneDX or SPDX JSON document"},
		{"no format", `{"name":"x"}`, "no bomFormat or spdxVersion"},
		{"other bomFormat", `{"bomFormat":"SWID"}`, `bomFormat "SWID": want CycloneDX`},
		{"cdx 1.3", `{"bomFormat":"CycloneDX","specVersion":"1.3"}`, `specVersion "1.3": want 1.4, 1.5 or 1.6`},
		{"spdx 2.1", `{"spdxVersion":"SPDX-2.1"}`, `spdxVersion "SPDX-2.1": want SPDX-2.3`},
		{"cdx bad type", `{"bomFormat":"CycloneDX","specVersion":"1.4","components":{}}`, "CycloneDX: json: cannot unmarshal"},
		{"spdx bad type", `{"spdxVersion":"SPDX-2.3","packages":[{"name":1}]}`, "SPDX: json: cannot unmarshal"},
		{"depth at bound", nested(MaxSBOMDepth), ""},
		{"depth past bound", nested(MaxSBOMDepth + 1), fmt.Sprintf("components nested more than %d deep", MaxSBOMDepth)},
		{"json depth at bound", `{"bomFormat":"CycloneDX","specVersion":"1.6","x":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`, ""},
		{"json depth", `{"bomFormat":"CycloneDX","specVersion":"1.6","x":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`, fmt.Sprintf("JSON nested more than %d deep", maxJSONDepth)},
		{"components at bound", many(100), ""},
		{"components past bound", many(101), "more than 100 components"},
		{"nested count past bound", strings.Replace(many(51), `"purl":"pkg:npm/a@1"}`, `"purl":"pkg:npm/a@1","components":[{"name":"child"}]}`, -1), "more than 100 components"},
		{"spdx at bound", spdxMany(100), ""},
		{"spdx past bound", spdxMany(101), "more than 100 packages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSBOM([]byte(tt.doc), "sbom.json")
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "sbom.json: ") {
				t.Errorf("got %v, want an error on sbom.json containing %q", err, tt.want)
			}
		})
	}
}

func TestTrivySource(t *testing.T) {
	prop := func(kv ...string) []cdx.Property {
		var ps []cdx.Property
		for i := 0; i < len(kv); i += 2 {
			ps = append(ps, cdx.Property{Name: "aquasecurity:trivy:" + kv[i], Value: kv[i+1]})
		}
		return ps
	}
	tests := []struct {
		props         []cdx.Property
		name, version string
	}{
		{prop("SrcName", "openssl", "SrcVersion", "3.0.11", "SrcRelease", "1~deb12u2"), "openssl", "3.0.11-1~deb12u2"},
		{prop("SrcName", "glibc", "SrcEpoch", "1", "SrcVersion", "2.36"), "glibc", "1:2.36"},
		{prop("SrcName", "glibc", "SrcEpoch", "0", "SrcVersion", "2.36", "SrcRelease", "9"), "glibc", "2.36-9"},
		{prop("SrcName", "nover"), "nover", ""},
		{prop("PkgType", "debian"), "", ""},
	}
	for _, tt := range tests {
		if name, version := trivySource(tt.props); name != tt.name || version != tt.version {
			t.Errorf("trivySource(%v) = %q, %q; want %q, %q", tt.props, name, version, tt.name, tt.version)
		}
	}
}
