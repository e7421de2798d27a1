package scan

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/vigilsec/vigil/internal/vuln/version"
)

var errNotGo = errors.New("not a Go binary")

// isExecutable reports whether head starts like an ELF, PE or Mach-O
// file.
func isExecutable(head []byte) bool {
	for _, magic := range [][]byte{
		[]byte("\x7fELF"), []byte("MZ"),
		{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf}, {0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
	} {
		if bytes.HasPrefix(head, magic) {
			return true
		}
	}
	return false
}

// readGoBinary reads the build information of a Go binary: its main
// module (when it has a version), its dependencies (replacements applied)
// and the standard library of the Go toolchain that built it, as the
// package "stdlib" the way the Go vulnerability database names it.
func readGoBinary(path string) ([]Package, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		// Most executables are not Go programs; only a Go binary whose
		// build information is damaged is worth a warning.
		if strings.Contains(err.Error(), "not a Go executable") || strings.Contains(err.Error(), "unrecognized file format") {
			return nil, errNotGo
		}
		return nil, fmt.Errorf("reading Go build information of %s: %w", path, err)
	}
	return goBuildInfoPackages(bi, path), nil
}

func goBuildInfoPackages(bi *debug.BuildInfo, path string) []Package {
	var pkgs []Package
	add := func(m *debug.Module) {
		for m.Replace != nil {
			m = m.Replace
		}
		if !version.ValidSemVer(m.Version) || !strings.HasPrefix(m.Version, "v") {
			return // (devel), or a local replacement
		}
		pkgs = append(pkgs, Package{Ecosystem: goEcosystem, Name: m.Path, Version: m.Version, Location: path, Kind: "go-binary"})
	}
	add(&bi.Main)
	for _, d := range bi.Deps {
		if d != nil {
			add(d)
		}
	}
	if v, ok := GoToolchainVersion(bi.GoVersion); ok {
		pkgs = append(pkgs, Package{Ecosystem: goEcosystem, Name: "stdlib", Version: v, Location: path, Kind: "go-binary"})
	}
	return pkgs
}

// GoToolchainVersion converts a Go release name (go1.22.5, go1.22,
// go1.23rc1, "go1.22.5 X:boringcrypto") to the semantic version the Go
// vulnerability database uses for "stdlib" (v1.22.5, v1.22.0,
// v1.23.0-rc.1). Development builds have no such version.
func GoToolchainVersion(goVersion string) (string, bool) {
	v, _, _ := strings.Cut(goVersion, " ")
	v, ok := strings.CutPrefix(v, "go")
	if !ok || v == "" {
		return "", false
	}
	var pre string
	for _, p := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(v, p); i > 0 {
			n := v[i+len(p):]
			if n == "" || strings.Trim(n, "0123456789") != "" {
				return "", false
			}
			v, pre = v[:i], "-"+p+"."+n
			break
		}
	}
	parts := strings.Split(v, ".")
	switch len(parts) {
	case 2:
		parts = append(parts, "0")
	case 3:
	default:
		return "", false
	}
	out := "v" + strings.Join(parts, ".") + pre
	if !version.ValidSemVer(out) {
		return "", false
	}
	return out, true
}
