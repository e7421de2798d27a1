package ospkg

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsers(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) ([]Package, error)
		file  string
		want  []Package
	}{
		{"dpkg", func(b []byte) ([]Package, error) { return ParseDpkgStatus(b, "status", 10) }, "status", []Package{
			{Name: "libssl3", Version: "3.0.11-1~deb12u2", Arch: "amd64", Source: "openssl", Kind: "dpkg", State: "installed"},
			{Name: "libfoo1", Version: "1.0-1+b2", Arch: "i386", Source: "foo", SourceVersion: "1.0-1", Kind: "dpkg", State: "installed"},
			{Name: "removed", Version: "2.0", Kind: "dpkg", State: "config-files"},
		}},
		{"apk", func(b []byte) ([]Package, error) { return ParseAPKInstalled(b, "installed", 10) }, "installed", []Package{
			{Name: "musl", Version: "1.2.4_git20230717-r4", Arch: "x86_64", Kind: "apk"},
			{Name: "libcrypto3", Version: "3.1.4-r5", Arch: "x86_64", Source: "openssl", Kind: "apk"},
		}},
		{"rpm", func(b []byte) ([]Package, error) { return ParseRPMQuery(b, 10) }, "rpm-query", []Package{
			{Name: "bash", Version: "5.1.8-6.el9_1", Arch: "x86_64", Kind: "rpm"},
			{Name: "openssl-libs", Version: "1:3.0.7-24.el9", Arch: "x86_64", Source: "openssl", Kind: "rpm"},
			{Name: "gpg-pubkey", Version: "fd431d51-4ae0493b", Kind: "rpm"},
			{Name: "kernel-core", Version: "5.14.0-362.8.1.el9_3", Arch: "x86_64", Source: "kernel", Kind: "rpm"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(read(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("got (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParserErrors(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) ([]Package, error)
		in    string
		want  string
	}{
		{"dpkg no package", func(b []byte) ([]Package, error) { return ParseDpkgStatus(b, "status", 10) }, "Status: install ok installed\nVersion: 1\n", "status:1: a paragraph without a Package field"},
		{"dpkg bad status", func(b []byte) ([]Package, error) { return ParseDpkgStatus(b, "status", 10) }, "Package: a\nStatus: installed\n", `status:1: package a: Status "installed"`},
		{"dpkg bad line", func(b []byte) ([]Package, error) { return ParseDpkgStatus(b, "status", 10) }, "Package: a\nnot a field\n", `status:2: want "Field: value"`},
		{"dpkg continuation", func(b []byte) ([]Package, error) { return ParseDpkgStatus(b, "status", 10) }, " orphan\n", "status:1: continuation line outside a field"},
		{"dpkg bad source", func(b []byte) ([]Package, error) { return ParseDpkgStatus(b, "status", 10) }, "Package: a\nStatus: install ok installed\nSource: b 1.0\n", `Source "b 1.0"`},
		{"dpkg bound", func(b []byte) ([]Package, error) { return ParseDpkgStatus(b, "status", 1) }, "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok installed\n", "status:5: more than 1 packages"},
		{"dpkg long line", func(b []byte) ([]Package, error) { return ParseDpkgStatus(b, "status", 1) }, "Package: " + strings.Repeat("a", MaxLine) + "\n", "token too long"},
		{"apk no version", func(b []byte) ([]Package, error) { return ParseAPKInstalled(b, "installed", 10) }, "P:a\nA:x86_64\n", "installed:1: a package without P: (name) or V: (version)"},
		{"apk bad line", func(b []byte) ([]Package, error) { return ParseAPKInstalled(b, "installed", 10) }, "P:a\nnonsense\n", `installed:2: want "X:value"`},
		{"apk bound", func(b []byte) ([]Package, error) { return ParseAPKInstalled(b, "installed", 1) }, "P:a\nV:1\n\nP:b\nV:1\n", "installed:5: more than 1 packages"},
		{"rpm fields", func(b []byte) ([]Package, error) { return ParseRPMQuery(b, 10) }, "bash\t5.1\n", "rpm query:1: want 6 tab-separated fields, got 2"},
		{"rpm epoch", func(b []byte) ([]Package, error) { return ParseRPMQuery(b, 10) }, "a\tx\t1\t1\tnoarch\t(none)\n", `epoch "x": not a number`},
		{"rpm no name", func(b []byte) ([]Package, error) { return ParseRPMQuery(b, 10) }, "\t(none)\t1\t1\tnoarch\t(none)\n", "without a name or version"},
		{"rpm bound", func(b []byte) ([]Package, error) { return ParseRPMQuery(b, 1) }, "a\t(none)\t1\t1\tnoarch\t(none)\nb\t(none)\t1\t1\tnoarch\t(none)\n", "rpm query:2: more than 1 packages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestEcosystem(t *testing.T) {
	tests := []struct {
		osRelease, want string
		rpm             bool
	}{
		{"ID=debian\nVERSION_ID=\"12\"\n", "Debian:12", false},
		{"ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.3 LTS (Jammy Jellyfish)\"\n", "Ubuntu:22.04:LTS", false},
		{"ID=ubuntu\nVERSION_ID=\"24.10\"\nVERSION=\"24.10 (Oracular Oriole)\"\n", "Ubuntu:24.10", false},
		{"ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n", "Debian", false},
		{"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n", "Alpine:v3.19", false},
		{"ID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.3\"\n", "Red Hat", true},
		{"ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n", "Rocky Linux:9", true},
		{"ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.9\"\n", "AlmaLinux:8", true},
		{"ID=arch\n", "", false},
	}
	for _, tt := range tests {
		r := ParseOSRelease([]byte(tt.osRelease))
		if got := r.Ecosystem(); got != tt.want {
			t.Errorf("Ecosystem of %q: got %q, want %q", tt.osRelease, got, tt.want)
		}
		if got := r.RPMFamily(); got != tt.rpm {
			t.Errorf("RPMFamily of %q: got %v, want %v", tt.osRelease, got, tt.rpm)
		}
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	f.Add(read(f, "status"))
	f.Add([]byte("Package: a\nStatus: install ok installed\nSource: b (1)\n\n \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseDpkgStatus(data, "status", 100)
		if err == nil && len(pkgs) > 100 {
			t.Errorf("got %d packages, want at most 100", len(pkgs))
		}
		for _, p := range pkgs {
			if p.Name == "" {
				t.Errorf("a package without a name: %+v", p)
			}
		}
	})
}

func FuzzParseAPKInstalled(f *testing.F) {
	f.Add(read(f, "installed"))
	f.Add([]byte("P:a\nV:1\n\n\nP:b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseAPKInstalled(data, "installed", 100)
		if err == nil && len(pkgs) > 100 {
			t.Errorf("got %d packages, want at most 100", len(pkgs))
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Errorf("a package without a name or version: %+v", p)
			}
		}
	})
}

func FuzzParseRPMQuery(f *testing.F) {
	f.Add(read(f, "rpm-query"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseRPMQuery(data, 100)
		if err == nil && len(pkgs) > 100 {
			t.Errorf("got %d packages, want at most 100", len(pkgs))
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Errorf("a package without a name or version: %+v", p)
			}
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.3 LTS\"\n"))
	f.Add([]byte("ID=alpine\nVERSION_ID=3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := ParseOSRelease(data)
		_ = r.Ecosystem()
		_ = r.RPMFamily()
	})
}
