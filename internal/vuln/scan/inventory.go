// Package scan finds the packages in a directory, a root filesystem or a
// file (go.mod files, Go binaries, the dpkg database, CycloneDX and SPDX
// SBOMs), matches them against the local advisory database, and
// prioritises what it finds: one
// finding per vulnerability and package (aliases merged), with the
// evidence, the fixed version, severity from CVSS vectors, CISA KEV and
// FIRST EPSS, and a decision (Act, Attend, Track).
package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Package is one installed or required package version: the inventory.
type Package struct {
	// Ecosystem is the OSV ecosystem: "Go", "Debian:12", ...
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	// Source and SourceVersion name the distribution source package a
	// binary package was built from: Debian's and Ubuntu's advisories
	// name source packages.
	Source        string `json:"source,omitempty"`
	SourceVersion string `json:"source_version,omitempty"`
	// Location is the file the package was found in: for an SBOM
	// component, the file, '#' and the component's bom-ref or SPDXID.
	Location string `json:"location"`
	// File is an SBOM component's file alone (Location adds the
	// component), empty for other packages.
	File string `json:"-"`
	// Kind is how it was found: go.mod, go-binary, dpkg.
	Kind string `json:"kind"`
	// State is dpkg's package state (installed, config-files, ...);
	// a package whose files are gone (config-files) is listed but not
	// matched.
	State string `json:"state,omitempty"`
	// Skipped says why an SBOM component is not matched (no purl, an
	// ecosystem without a version ordering here): Collect counts it in
	// Inventory.Skipped instead of listing it.
	Skipped string `json:"-"`
}

// Inventory is what a walk found.
type Inventory struct {
	Packages []Package
	// Warnings are files that looked like inventory but could not be
	// read (a malformed go.mod in a test fixture, an unreadable file);
	// the walk goes on past them.
	Warnings []string
	// RootFS is true when the path was a root filesystem (it has a dpkg
	// database).
	RootFS bool
	// Skipped counts the SBOM components that cannot be matched, by
	// reason ("no purl", "PyPI (no version ordering)").
	Skipped map[string]int
}

// add lists the packages, counting the skipped ones.
func (inv *Inventory) add(pkgs []Package) {
	for _, p := range pkgs {
		if p.Skipped == "" {
			inv.Packages = append(inv.Packages, p)
			continue
		}
		if inv.Skipped == nil {
			inv.Skipped = map[string]int{}
		}
		inv.Skipped[p.Skipped]++
	}
}

// MaxFileBytes bounds a go.mod or dpkg status file.
const MaxFileBytes = 64 << 20

// fileLimit is MaxFileBytes; tests lower it.
var fileLimit = MaxFileBytes

// skipDirs are folders a source-tree walk does not enter.
var skipDirs = map[string]bool{".git": true, ".hg": true, ".svn": true, "node_modules": true, "vendor": true}

// rootFSBinDirs are the folders of a root filesystem searched for Go
// binaries (a root filesystem's other files are the OS packages'
// business, and walking all of / would read module caches and source
// trees that are not installed software).
var rootFSBinDirs = []string{"bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin", "usr/libexec", "opt", "app"}

// dpkgStatus is the dpkg database's path inside a root filesystem.
const dpkgStatus = "var/lib/dpkg/status"

// Collect builds the inventory of path: a go.mod file, a Go binary, a
// dpkg status file, a root filesystem (a folder with var/lib/dpkg/status:
// its OS packages and the Go binaries in its bin folders) or a source tree
// (every go.mod and Go binary in it).
func Collect(ctx context.Context, path string) (*Inventory, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("scanning: %w", err)
	}
	if st.IsDir() {
		// A walk does not follow links: start from where a link to
		// a folder points.
		if path, err = filepath.EvalSymlinks(path); err != nil {
			return nil, fmt.Errorf("scanning: %w", err)
		}
	}
	inv := &Inventory{}
	if !st.IsDir() {
		pkgs, ok, err := collectFile(path, true)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("scanning %s: not a go.mod file, Go binary, dpkg status file or SBOM", path)
		}
		inv.add(pkgs)
		return inv, nil
	}
	if _, err := os.Stat(filepath.Join(path, dpkgStatus)); err == nil {
		inv.RootFS = true
		eco, err := osEcosystem(path)
		if err != nil {
			inv.Warnings = append(inv.Warnings, err.Error())
		}
		pkgs, err := readDpkgFile(filepath.Join(path, dpkgStatus), eco)
		if err != nil {
			return nil, err
		}
		inv.Packages = append(inv.Packages, pkgs...)
		for _, d := range rootFSBinDirs {
			dir := filepath.Join(path, d)
			if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
				continue // absent, or a symbolic link (usrmerge: /bin -> usr/bin)
			}
			if err := walk(ctx, dir, inv, false); err != nil {
				return nil, err
			}
		}
		return inv, nil
	}
	if err := walk(ctx, path, inv, true); err != nil {
		return nil, err
	}
	return inv, nil
}

// walk adds the go.mod files (when gomod) and Go binaries under dir.
func walk(ctx context.Context, dir string, inv *Inventory, gomod bool) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return fmt.Errorf("scanning: %w", err)
			}
			inv.Warnings = append(inv.Warnings, err.Error())
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && skipDirs[d.Name()] {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !gomod && d.Name() == "go.mod" {
			return nil
		}
		pkgs, _, err := collectFile(p, false)
		if err != nil {
			inv.Warnings = append(inv.Warnings, err.Error())
			return nil
		}
		inv.add(pkgs)
		return nil
	})
}

// collectFile reads one file if it is inventory. named is true when the
// user named the file (a dpkg status file, and an SBOM by its content
// rather than its name, are only recognised then).
func collectFile(path string, named bool) ([]Package, bool, error) {
	base := filepath.Base(path)
	if isSBOMName(base) {
		data, err := readFile(path)
		if err != nil {
			return nil, true, err
		}
		pkgs, err := ParseSBOM(data, path)
		return pkgs, true, err
	}
	if base == "go.mod" {
		data, err := readFile(path)
		if err != nil {
			return nil, true, err
		}
		pkgs, err := ParseGoMod(data, path)
		return pkgs, true, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("scanning: %w", err)
	}
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	f.Close()
	head = head[:n]
	if isExecutable(head) {
		pkgs, err := readGoBinary(path)
		if errors.Is(err, errNotGo) {
			return nil, false, nil
		}
		return pkgs, err == nil, err
	}
	if trimmed := bytes.TrimLeft(head, " \t\r\n"); named && (len(trimmed) == 0 || trimmed[0] == '{') {
		data, err := readFile(path)
		if err != nil {
			return nil, true, err
		}
		pkgs, err := ParseSBOM(data, path)
		if errors.Is(err, ErrNotSBOM) {
			return nil, false, nil
		}
		return pkgs, true, err
	}
	if named && slices.Contains([]string{"status", "status-old"}, base) {
		pkgs, err := readDpkgFile(path, "")
		return pkgs, true, err
	}
	return nil, false, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scanning: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(fileLimit)+1))
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", path, err)
	}
	if len(data) > fileLimit {
		return nil, fmt.Errorf("scanning %s: more than %d bytes", path, fileLimit)
	}
	return data, nil
}
