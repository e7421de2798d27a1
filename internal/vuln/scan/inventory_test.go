package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/vuln/version"
)

func TestParseGoMod(t *testing.T) {
	gomod := `// a comment
module example.com/m

go 1.22
toolchain go1.22.5

require golang.org/x/text v0.3.5 // indirect

require (
	"example.com/quoted" v1.0.0
	example.com/old v1.2.3
	example.com/pinned v1.0.0
	example.com/local v0.1.0 // replaced by a folder
	example.com/pseudo v0.0.0-20240101000000-abcdefabcdef
)

replace example.com/old => example.com/new v1.5.0
replace (
	example.com/pinned v1.0.0 => example.com/pinned v1.0.1
	example.com/local => ../local
)
exclude example.com/old v1.0.0
retract [v1.0.0, v1.0.5]
`
	got, err := ParseGoMod([]byte(gomod), "go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5", Location: "go.mod:7", Kind: "go.mod"},
		{Ecosystem: "Go", Name: "example.com/quoted", Version: "v1.0.0", Location: "go.mod:10", Kind: "go.mod"},
		{Ecosystem: "Go", Name: "example.com/new", Version: "v1.5.0", Location: "go.mod:11", Kind: "go.mod"},
		{Ecosystem: "Go", Name: "example.com/pinned", Version: "v1.0.1", Location: "go.mod:12", Kind: "go.mod"},
		{Ecosystem: "Go", Name: "example.com/pseudo", Version: "v0.0.0-20240101000000-abcdefabcdef", Location: "go.mod:14", Kind: "go.mod"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseGoMod (-want +got):\n%s", diff)
	}
}

func TestParseGoModErrors(t *testing.T) {
	tests := []struct{ name, gomod, want string }{
		{"bad version", "module m\nrequire a 1.0.0\n", `go.mod:2: require a: "1.0.0" is not a module version`},
		{"missing version", "module m\nrequire a\n", "go.mod:2: require: want a module path and a version"},
		{"unclosed", "module m\nrequire (\n a v1.0.0\n", "require block not closed"},
		{"unknown", "module m\nfrobnicate x\n", `go.mod:2: unknown directive "frobnicate"`},
		{"quote", "module m\nrequire \"a v1.0.0\n", "go.mod:2: unterminated quoted string"},
		{"replace", "module m\nreplace a b c\n", "go.mod:2: replace: want OLD"},
		{"empty path", "module m\nrequire \"\" v1.0.0\n", `go.mod:2: require: module path ""`},
		{"short version", "module m\nrequire a v1\n", `go.mod:2: require a: "v1" is not a module version`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGoMod([]byte(tt.gomod), "go.mod")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestGoToolchainVersion(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"go1.22.5", "v1.22.5", true},
		{"go1.22", "v1.22.0", true},
		{"go1.23rc1", "v1.23.0-rc.1", true},
		{"go1.21beta2", "v1.21.0-beta.2", true},
		{"go1.22.5 X:boringcrypto", "v1.22.5", true},
		{"devel go1.23-abcdef", "", false},
		{"go1", "", false},
		{"go1.22rcx", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := GoToolchainVersion(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("GoToolchainVersion(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

const dpkgSample = `Package: libssl3
Status: install ok installed
Priority: optional
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit
 This package is part of the OpenSSL project.
 .
 More text.

Package: libfoo1
Status: install ok installed
Source: foo (1.0-1)
Version: 1.0-1+b2

Package: removed
Status: deinstall ok config-files
Version: 2.0

Package: gone
Status: purge ok not-installed

Package: nginx
Status: install ok installed
Version: 1.2.1-2.2+wheezy2
`

func TestParseDpkgStatus(t *testing.T) {
	got, err := ParseDpkgStatus([]byte(dpkgSample), "Debian:7", "status")
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Ecosystem: "Debian:7", Name: "libssl3", Version: "3.0.11-1~deb12u2", Source: "openssl", Location: "status", Kind: "dpkg", State: "installed"},
		{Ecosystem: "Debian:7", Name: "libfoo1", Version: "1.0-1+b2", Source: "foo", SourceVersion: "1.0-1", Location: "status", Kind: "dpkg", State: "installed"},
		{Ecosystem: "Debian:7", Name: "removed", Version: "2.0", Location: "status", Kind: "dpkg", State: "config-files"},
		{Ecosystem: "Debian:7", Name: "nginx", Version: "1.2.1-2.2+wheezy2", Location: "status", Kind: "dpkg", State: "installed"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseDpkgStatus (-want +got):\n%s", diff)
	}
}

func TestParseDpkgStatusErrors(t *testing.T) {
	tests := []struct{ name, status, want string }{
		{"no package", "Status: install ok installed\nVersion: 1\n", "status:1: a paragraph without a Package field"},
		{"bad status", "Package: a\nStatus: installed\n", `status:1: package a: Status "installed"`},
		{"bad line", "Package: a\nthis is not a field\n", "status:2: want \"Field: value\""},
		{"continuation", " orphan\n", "status:1: continuation line outside a field"},
		{"bad source", "Package: a\nStatus: install ok installed\nSource: b 1.0\n", `Source "b 1.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDpkgStatus([]byte(tt.status), "", "status")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestOSEcosystem(t *testing.T) {
	tests := []struct{ osRelease, want string }{
		{"ID=debian\nVERSION_ID=\"12\"\n", "Debian:12"},
		{"ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.3 LTS (Jammy Jellyfish)\"\n", "Ubuntu:22.04:LTS"},
		{"ID=ubuntu\nVERSION_ID=\"24.10\"\nVERSION=\"24.10 (Oracular Oriole)\"\n", "Ubuntu:24.10"},
		{"ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n", "Debian"},
	}
	for _, tt := range tests {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "etc"), 0o755)
		os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte(tt.osRelease), 0o644)
		got, err := osEcosystem(root)
		if err != nil || got != tt.want {
			t.Errorf("osEcosystem(%q) = %q, %v; want %q", tt.osRelease, got, err, tt.want)
		}
	}
}

// TestCollectRootFS scans a root filesystem: its dpkg database with the
// release from os-release.
func TestCollectRootFS(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(root, "var", "lib", "dpkg"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte("ID=debian\nVERSION_ID=7\n"), 0o644)
	os.WriteFile(filepath.Join(root, dpkgStatus), []byte(dpkgSample), 0o644)
	inv, err := Collect(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.RootFS || len(inv.Packages) != 4 || inv.Packages[0].Ecosystem != "Debian:7" {
		t.Errorf("got %+v, want 4 Debian:7 packages from a root filesystem", inv)
	}
	// The status file named on its own finds the same release.
	inv, err = Collect(t.Context(), filepath.Join(root, dpkgStatus))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 4 || inv.Packages[0].Ecosystem != "Debian:7" {
		t.Errorf("status file: got %+v, want 4 Debian:7 packages", inv.Packages)
	}
}

// FuzzInventory feeds each input to the inventory parsers: go.mod, dpkg
// status, Go release names (from binaries' build information), CycloneDX
// and SPDX SBOMs and package URLs.
func FuzzInventory(f *testing.F) {
	f.Add([]byte("module m\nrequire (\n\t\"a\" v1.0.0 // x\n\tb v0.0.0-20240101000000-abcdefabcdef\n)\nreplace b => c v1.0.0\n"))
	f.Add([]byte("require `raw` v1.0.0\nreplace a v1.0.0 => ./x\n"))
	f.Add([]byte(dpkgSample))
	for _, s := range []string{"go1.22.5", "go1.23rc1", "go1.22.5 X:boringcrypto", "devel go1.23-abc"} {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile("/var/lib/dpkg/status"); err == nil && len(data) < 1<<20 {
		f.Add(data)
	}
	sboms, _ := filepath.Glob(filepath.Join("testdata", "sbom", "*.json"))
	for _, p := range sboms {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?distro=debian-12&upstream=glibc%402.36-9&epoch=1", "pkg:npm/%40s/n@1#x", "pkg:apk/alpine/a@1-r0?distro=alpine-3.19.1", "pkg:rpm/redhat/a@1?epoch=2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if pkgs, err := ParseGoMod(data, "go.mod"); err == nil {
			for _, p := range pkgs {
				if p.Name == "" || p.Version == "" {
					t.Fatalf("go.mod: package without a name or version: %+v", p)
				}
			}
		}
		if pkgs, err := ParseDpkgStatus(data, "Debian:12", "status"); err == nil {
			for _, p := range pkgs {
				if p.Name == "" {
					t.Fatalf("dpkg: package without a name: %+v", p)
				}
			}
		}
		if v, ok := GoToolchainVersion(string(data)); ok && !version.ValidSemVer(v) {
			t.Fatalf("GoToolchainVersion(%q) = %q, not a semantic version", data, v)
		}
		if pkgs, err := ParseSBOM(data, "sbom.json"); err == nil {
			for _, p := range pkgs {
				if !strings.HasPrefix(p.Location, "sbom.json#") {
					t.Fatalf("sbom: location %q", p.Location)
				}
				if p.Skipped != "" {
					continue
				}
				if _, ok := version.ForEcosystem(p.Ecosystem); !ok || p.Name == "" || p.Version == "" {
					t.Fatalf("sbom: a package to match without a known ecosystem, a name or a version: %+v", p)
				}
			}
		}
		if u, err := parsePURL(string(data)); err == nil {
			if u.typ == "" || u.name == "" || u.typ != strings.ToLower(u.typ) {
				t.Fatalf("parsePURL(%q) = %+v: no type or name, or a type not lower-cased", data, u)
			}
			if p := purlPackage(string(data), ""); p.Skipped == "" && (p.Name == "" || p.Version == "") {
				t.Fatalf("purlPackage(%q) = %+v: matched without a name or version", data, p)
			}
		}
	})
}

// TestCollectTree walks a source tree: go.mod files at any depth, not in
// vendor or .git, through a link to the tree; a malformed go.mod is a
// warning and the walk goes on.
func TestCollectTree(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod":              "module a\n\nrequire example.com/x v1.0.0\n",
		"sub/deep/go.mod":     "module b\n\nrequire example.com/y v2.0.0+incompatible\n",
		"vendor/x/go.mod":     "module x\n\nrequire example.com/vendored v1.0.0\n",
		".git/go.mod":         "module g\n\nrequire example.com/git v1.0.0\n",
		"broken/go.mod":       "module c\nrequire (\n",
		"README.md":           "not inventory",
		"sub/deep/notes.json": "{}",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	inv, err := Collect(t.Context(), link)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, p.Name+"@"+p.Version)
	}
	if want := []string{"example.com/x@v1.0.0", "example.com/y@v2.0.0+incompatible"}; !cmp.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(inv.Warnings) != 1 || !strings.Contains(inv.Warnings[0], "require block not closed") {
		t.Errorf("warnings %v, want the broken go.mod", inv.Warnings)
	}
}

func TestInventoryBounds(t *testing.T) {
	t.Run("go.mod requirements", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("module m\nrequire (\n")
		for i := range MaxGoModRequires + 1 {
			fmt.Fprintf(&b, "\texample.com/m%d v1.0.0\n", i)
		}
		b.WriteString(")\n")
		_, err := ParseGoMod([]byte(b.String()), "go.mod")
		if want := fmt.Sprintf("go.mod:%d: more than %d requirements", MaxGoModRequires+3, MaxGoModRequires); err == nil || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
	})
	t.Run("dpkg packages", func(t *testing.T) {
		defer func(n int) { dpkgLimit = n }(dpkgLimit)
		dpkgLimit = 2
		status := strings.Repeat("Package: a\nStatus: install ok installed\nVersion: 1\n\n", 3)
		if _, err := ParseDpkgStatus([]byte(status), "", "status"); err == nil || !strings.Contains(err.Error(), "more than 2 packages") {
			t.Errorf("got %v, want a bound error", err)
		}
		if _, err := ParseDpkgStatus([]byte(strings.Repeat("Package: a\nStatus: install ok installed\nVersion: 1\n\n", 2)), "", "status"); err != nil {
			t.Errorf("at the bound: %v", err)
		}
	})
	t.Run("file size", func(t *testing.T) {
		defer func(n int) { fileLimit = n }(fileLimit)
		fileLimit = 100
		p := filepath.Join(t.TempDir(), "go.mod")
		os.WriteFile(p, []byte("module m\n"+strings.Repeat("// padding\n", 10)), 0o644)
		if _, err := Collect(t.Context(), p); err == nil || !strings.Contains(err.Error(), "more than 100 bytes") {
			t.Errorf("got %v, want a bound error", err)
		}
	})
}

// TestReadGoBinary reads the test binary's own build information: the
// standard library of the toolchain that built it (a test binary lists no
// dependencies; the acceptance test in cmd/vigil builds a program with
// one).
func TestReadGoBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pkgs, ok, err := collectFile(exe, true)
	if err != nil || !ok {
		t.Fatalf("collectFile(test binary) = %v, %v", ok, err)
	}
	wantStd, _ := GoToolchainVersion(runtime.Version())
	var std bool
	for _, p := range pkgs {
		if p.Ecosystem != "Go" || p.Kind != "go-binary" || p.Location != exe {
			t.Errorf("package %+v: want ecosystem Go, kind go-binary, location %s", p, exe)
		}
		std = std || p.Name == "stdlib" && p.Version == wantStd
	}
	if !std {
		t.Errorf("got %+v, want stdlib %s", pkgs, wantStd)
	}
	// A file that is not an executable is not inventory.
	p := filepath.Join(t.TempDir(), "x")
	os.WriteFile(p, []byte("\x7fELF not really"), 0o644)
	if _, ok, _ := collectFile(p, true); ok {
		t.Error("a damaged ELF file counted as a Go binary")
	}
}
