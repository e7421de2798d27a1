package scan

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/vuln/version"
)

// MaxPURLBytes bounds one package URL.
const MaxPURLBytes = 4096

// purl is a parsed package URL (https://github.com/package-url/purl-spec):
// pkg:type/namespace/name@version?qualifiers#subpath.
type packageURL struct {
	typ, namespace, name, version string
	qualifiers                    map[string]string
}

var errPURL = errors.New("invalid package URL")

// parsePURL reads a package URL. Components are percent-decoded; the type
// and qualifier keys are lower-cased, as the specification says.
func parsePURL(s string) (packageURL, error) {
	var p packageURL
	if len(s) > MaxPURLBytes {
		return p, fmt.Errorf("%w: more than %d bytes", errPURL, MaxPURLBytes)
	}
	rest, ok := strings.CutPrefix(s, "pkg:")
	if !ok {
		return p, fmt.Errorf("%w %q: no pkg: scheme", errPURL, s)
	}
	rest, _, _ = strings.Cut(rest, "#") // the subpath names a file inside the package
	rest, query, _ := strings.Cut(rest, "?")
	if query != "" {
		p.qualifiers = map[string]string{}
		for kv := range strings.SplitSeq(query, "&") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return p, fmt.Errorf("%w %q: qualifier %q is not key=value", errPURL, s, kv)
			}
			dv, err := url.PathUnescape(v)
			if err != nil {
				return p, fmt.Errorf("%w %q: qualifier %s: %w", errPURL, s, k, err)
			}
			p.qualifiers[strings.ToLower(k)] = dv
		}
	}
	rest = strings.Trim(rest, "/")
	typ, rest, ok := strings.Cut(rest, "/")
	if !ok || typ == "" {
		return p, fmt.Errorf("%w %q: no type and name", errPURL, s)
	}
	p.typ = strings.ToLower(typ)
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		v, err := url.PathUnescape(rest[i+1:])
		if err != nil {
			return p, fmt.Errorf("%w %q: version: %w", errPURL, s, err)
		}
		p.version, rest = v, rest[:i]
	}
	var segs []string
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "" {
			continue
		}
		d, err := url.PathUnescape(seg)
		if err != nil {
			return p, fmt.Errorf("%w %q: %w", errPURL, s, err)
		}
		segs = append(segs, d)
	}
	if len(segs) == 0 {
		return p, fmt.Errorf("%w %q: no name", errPURL, s)
	}
	p.name = segs[len(segs)-1]
	p.namespace = strings.Join(segs[:len(segs)-1], "/")
	return p, nil
}

// purlEcosystems maps the package URL types of language ecosystems to OSV
// ecosystems.
var purlEcosystems = map[string]string{
	"golang": "Go", "npm": "npm", "pypi": "PyPI", "maven": "Maven", "cargo": "crates.io",
	"gem": "RubyGems", "nuget": "NuGet", "composer": "Packagist", "hex": "Hex", "pub": "Pub",
}

// debianReleases and ubuntuReleases name the releases by codename (the
// purl specification's own examples write distro=jessie).
var (
	debianReleases = map[string]string{"wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14"}
	ubuntuReleases = map[string]string{"trusty": "14.04", "xenial": "16.04", "bionic": "18.04", "focal": "20.04", "jammy": "22.04", "noble": "24.04", "oracular": "24.10", "plucky": "25.04", "questing": "25.10"}
)

// purlPackage turns a package URL into an inventory package. A package
// whose ecosystem the scanner cannot match (no OSV ecosystem, no version
// ordering, a distribution package without its release) comes back with
// Skipped saying why.
func purlPackage(s, fallbackVersion string) Package {
	p, err := parsePURL(s)
	if err != nil {
		return Package{Skipped: "invalid purl"}
	}
	pkg := Package{Name: p.name, Version: p.version}
	if pkg.Version == "" {
		pkg.Version = fallbackVersion
	}
	distro := strings.ToLower(p.qualifiers["distro"])
	switch p.typ {
	case "golang":
		pkg.Name = join(p.namespace, p.name, "/")
		if pkg.Version != "" && !strings.HasPrefix(pkg.Version, "v") {
			pkg.Version = "v" + pkg.Version
		}
	case "npm":
		pkg.Name = join(p.namespace, p.name, "/")
	case "maven":
		pkg.Name = join(p.namespace, p.name, ":")
	case "deb":
		pkg.Ecosystem = debEcosystem(strings.ToLower(p.namespace), distro)
		if e := p.qualifiers["epoch"]; e != "" && !strings.Contains(pkg.Version, ":") {
			pkg.Version = e + ":" + pkg.Version
		}
		// upstream= names the source package (syft writes name or
		// name@version).
		if up := p.qualifiers["upstream"]; up != "" {
			pkg.Source, pkg.SourceVersion, _ = strings.Cut(up, "@")
		}
	case "apk":
		pkg.Ecosystem = apkEcosystem(strings.ToLower(p.namespace), distro)
	case "rpm":
		pkg.Ecosystem = rpmEcosystem(strings.ToLower(p.namespace), distro)
		if e := p.qualifiers["epoch"]; e != "" && !strings.Contains(pkg.Version, ":") {
			pkg.Version = e + ":" + pkg.Version
		}
	}
	if eco, ok := purlEcosystems[p.typ]; ok {
		pkg.Ecosystem = eco
	}
	switch {
	case pkg.Ecosystem == "":
		pkg.Skipped = "pkg:" + p.typ
		if slices.Contains([]string{"deb", "apk", "rpm"}, p.typ) {
			pkg.Skipped += " without a known distro release"
		}
	case pkg.Version == "":
		pkg.Skipped = "no version"
	default:
		if _, ok := version.ForEcosystem(pkg.Ecosystem); !ok {
			base, _, _ := strings.Cut(pkg.Ecosystem, ":")
			pkg.Skipped = base + " (no version ordering)"
		}
	}
	return pkg
}

func join(namespace, name, sep string) string {
	if namespace == "" {
		return name
	}
	return namespace + sep + name
}

// release splits a distro qualifier into its distribution and release:
// "debian-12", "debian-12.4", "ubuntu-22.04", "alpine-3.19.1", "bookworm",
// "3.19.1".
func release(distro string) (id, rel string) {
	if i := strings.LastIndexByte(distro, '-'); i >= 0 {
		return distro[:i], distro[i+1:]
	}
	return "", distro
}

func debEcosystem(namespace, distro string) string {
	id, rel := release(distro)
	if id == "" {
		id = namespace
	}
	switch id {
	case "debian":
		if r, ok := debianReleases[rel]; ok {
			rel = r
		}
		major, _, _ := strings.Cut(rel, ".")
		if !digits(major) {
			return ""
		}
		return "Debian:" + major
	case "ubuntu":
		if r, ok := ubuntuReleases[rel]; ok {
			rel = r
		}
		yy, mm, ok := strings.Cut(rel, ".")
		if !ok || len(yy) != 2 || len(mm) != 2 || !digits(yy) || !digits(mm) {
			return ""
		}
		eco := "Ubuntu:" + rel
		// LTS releases are the April releases of even years.
		if mm == "04" && (yy[1]-'0')%2 == 0 {
			eco += ":LTS"
		}
		return eco
	}
	return ""
}

func apkEcosystem(namespace, distro string) string {
	id, rel := release(distro)
	if id == "" {
		id = namespace
	}
	switch id {
	case "alpine":
		rel = strings.TrimPrefix(rel, "v")
		parts := strings.SplitN(rel, ".", 3)
		if len(parts) < 2 || !digits(parts[0]) || !digits(parts[1]) {
			return ""
		}
		return "Alpine:v" + parts[0] + "." + parts[1]
	case "wolfi":
		return "Wolfi"
	case "chainguard":
		return "Chainguard"
	}
	return ""
}

func rpmEcosystem(namespace, distro string) string {
	_, rel := release(distro)
	major, _, _ := strings.Cut(rel, ".")
	switch namespace {
	case "redhat":
		return "Red Hat"
	case "rocky", "rocky-linux":
		if digits(major) {
			return "Rocky Linux:" + major
		}
	case "almalinux", "alma":
		if digits(major) {
			return "AlmaLinux:" + major
		}
	}
	return ""
}

func digits(s string) bool {
	if s == "" || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
