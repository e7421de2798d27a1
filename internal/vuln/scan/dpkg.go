package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigilsec/vigil/internal/ospkg"
)

// MaxDpkgPackages bounds the packages of one dpkg status file.
const MaxDpkgPackages = 1_000_000

// dpkgLimit is MaxDpkgPackages; tests lower it.
var dpkgLimit = MaxDpkgPackages

// readDpkgFile reads a dpkg status file. eco is the OSV ecosystem of the
// system; when empty and the file sits at var/lib/dpkg/status of a root
// filesystem, that system's os-release says.
func readDpkgFile(path, eco string) ([]Package, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	if eco == "" {
		if root, ok := strings.CutSuffix(filepath.ToSlash(path), "/"+dpkgStatus); ok {
			eco, _ = osEcosystem(filepath.FromSlash(root))
		}
	}
	return ParseDpkgStatus(data, eco, path)
}

// ParseDpkgStatus reads the packages of a dpkg status file (the format of
// /var/lib/dpkg/status, read by internal/ospkg, which the host agent
// shares). Every package dpkg-query -W would list is returned (all but
// those in the not-installed state); Source carries the source package
// (and its version when the Source field gives one, for binNMUs).
func ParseDpkgStatus(data []byte, ecosystem, location string) ([]Package, error) {
	ps, err := ospkg.ParseDpkgStatus(data, location, dpkgLimit)
	if err != nil {
		return nil, err
	}
	pkgs := make([]Package, 0, len(ps))
	for _, p := range ps {
		pkgs = append(pkgs, Package{Ecosystem: ecosystem, Name: p.Name, Version: p.Version, Source: p.Source, SourceVersion: p.SourceVersion,
			Location: location, Kind: "dpkg", State: p.State})
	}
	return pkgs, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// osEcosystem maps a root filesystem's os-release to an OSV ecosystem:
// Debian:12, Ubuntu:22.04:LTS, Ubuntu:24.10.
func osEcosystem(root string) (string, error) {
	var data []byte
	var err error
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if data, err = os.ReadFile(filepath.Join(root, p)); err == nil {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("no os-release in %s: OS packages are listed but cannot be matched: %w", root, err)
	}
	rel := ospkg.ParseOSRelease(data)
	if rel.ID == "debian" || rel.ID == "ubuntu" {
		return rel.Ecosystem(), nil
	}
	return "", fmt.Errorf("os-release of %s: ID %q is not Debian or Ubuntu", root, rel.ID)
}
