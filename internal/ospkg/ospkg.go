// Package ospkg reads the databases of installed operating-system
// packages — dpkg's status file, apk's installed file and the output of
// a fixed rpm query — and maps a system's os-release to its OSV
// ecosystem (Debian:12, Ubuntu:22.04:LTS, Alpine:v3.19, Red Hat). It uses
// the standard library only, so that the host agent can link it.
package ospkg

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Package is one installed OS package.
type Package struct {
	Name    string
	Version string
	// Arch is the package's architecture (amd64, x86_64, noarch, ...),
	// empty where the database does not say.
	Arch string
	// Source and SourceVersion name the source package the binary
	// package was built from, where the database says (dpkg's Source,
	// apk's origin, rpm's source RPM); SourceVersion is empty when it
	// is the package's own version.
	Source        string
	SourceVersion string
	// Kind is the database: dpkg, apk or rpm.
	Kind string
	// State is dpkg's package state (installed, config-files, ...).
	State string
}

// MaxLine bounds one line of a package database.
const MaxLine = 1 << 20

// ParseDpkgStatus reads the packages of a dpkg status file (the format of
// /var/lib/dpkg/status: paragraphs of "Field: value" lines separated by
// blank lines, continuation lines starting with a space). Every package
// dpkg-query -W would list is returned (all but those in the
// not-installed state), at most max of them (past it: an error);
// location names the file in errors.
func ParseDpkgStatus(data []byte, location string, max int) ([]Package, error) {
	var (
		pkgs   []Package
		fields = map[string]string{}
		start  int
		last   string
	)
	flush := func(line int) error {
		defer clear(fields)
		if len(fields) == 0 {
			return nil
		}
		name, ver, status := fields["Package"], fields["Version"], fields["Status"]
		if name == "" {
			return fmt.Errorf("%s:%d: a paragraph without a Package field", location, start)
		}
		st := strings.Fields(status)
		if len(st) != 3 {
			return fmt.Errorf("%s:%d: package %s: Status %q: want three words", location, start, name, status)
		}
		if st[2] == "not-installed" {
			return nil
		}
		if len(pkgs) >= max {
			return fmt.Errorf("%s:%d: more than %d packages", location, line, max)
		}
		p := Package{Name: name, Version: ver, Arch: fields["Architecture"], Kind: "dpkg", State: st[2]}
		if src := fields["Source"]; src != "" {
			sname, sver, hasVer := strings.Cut(src, " ")
			p.Source = sname
			if hasVer {
				sver = strings.TrimSpace(sver)
				if !strings.HasPrefix(sver, "(") || !strings.HasSuffix(sver, ")") {
					return fmt.Errorf("%s:%d: package %s: Source %q: want NAME or NAME (VERSION)", location, start, name, src)
				}
				p.SourceVersion = strings.TrimSpace(sver[1 : len(sver)-1])
			}
		}
		pkgs = append(pkgs, p)
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case strings.TrimSpace(text) == "":
			if err := flush(line); err != nil {
				return nil, err
			}
			last = ""
		case text[0] == ' ' || text[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("%s:%d: continuation line outside a field", location, line)
			}
			// Only multi-line fields continue (Description,
			// Conffiles); the ones read here are single-line.
		default:
			k, v, ok := strings.Cut(text, ":")
			if !ok || k == "" || strings.ContainsAny(k, " \t") {
				return nil, fmt.Errorf("%s:%d: want \"Field: value\", got %q", location, line, truncate(text, 60))
			}
			if len(fields) == 0 {
				start = line
			}
			fields[k] = strings.TrimSpace(v)
			last = k
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	if err := flush(line); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// ParseAPKInstalled reads apk's database (/lib/apk/db/installed):
// paragraphs of "X:value" lines, one per package, separated by blank
// lines; P is the name, V the version, A the architecture, o the origin
// (source) package. At most max packages (past it: an error).
func ParseAPKInstalled(data []byte, location string, max int) ([]Package, error) {
	var (
		pkgs  []Package
		cur   Package
		start int
		any   bool
	)
	flush := func(line int) error {
		if !any {
			return nil
		}
		defer func() { cur, any = Package{}, false }()
		if cur.Name == "" || cur.Version == "" {
			return fmt.Errorf("%s:%d: a package without P: (name) or V: (version)", location, start)
		}
		if len(pkgs) >= max {
			return fmt.Errorf("%s:%d: more than %d packages", location, line, max)
		}
		cur.Kind = "apk"
		if cur.Source == cur.Name {
			cur.Source = ""
		}
		pkgs = append(pkgs, cur)
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			if err := flush(line); err != nil {
				return nil, err
			}
			continue
		}
		if len(text) < 2 || text[1] != ':' {
			return nil, fmt.Errorf("%s:%d: want \"X:value\", got %q", location, line, truncate(text, 60))
		}
		if !any {
			start, any = line, true
		}
		v := text[2:]
		switch text[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'o':
			cur.Source = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	if err := flush(line); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// RPMQueryFormat is the --queryformat whose output ParseRPMQuery reads:
// one package a line, tab-separated name, epoch, version, release,
// architecture and source RPM file name.
const RPMQueryFormat = `%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n`

// ParseRPMQuery reads the output of rpm -qa --queryformat RPMQueryFormat.
// The version is [EPOCH:]VERSION-RELEASE (rpm prints "(none)" for no
// epoch); the source package's name is the source RPM's file name less
// "-VERSION-RELEASE.src.rpm", and its version is kept only when it
// differs from the package's own. At most max packages.
func ParseRPMQuery(data []byte, max int) ([]Package, error) {
	var pkgs []Package
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) != 6 {
			return nil, fmt.Errorf("rpm query:%d: want 6 tab-separated fields, got %d", line, len(f))
		}
		name, epoch, ver, rel, arch, srpm := f[0], f[1], f[2], f[3], f[4], f[5]
		if name == "" || ver == "" {
			return nil, fmt.Errorf("rpm query:%d: a package without a name or version", line)
		}
		if len(pkgs) >= max {
			return nil, fmt.Errorf("rpm query:%d: more than %d packages", line, max)
		}
		v := ver
		if rel != "" && rel != "(none)" {
			v += "-" + rel
		}
		if epoch != "" && epoch != "(none)" {
			if _, err := strconv.ParseUint(epoch, 10, 32); err != nil {
				return nil, fmt.Errorf("rpm query:%d: package %s: epoch %q: not a number", line, name, truncate(epoch, 20))
			}
			v = epoch + ":" + v
		}
		if arch == "(none)" {
			arch = ""
		}
		p := Package{Name: name, Version: v, Arch: arch, Kind: "rpm"}
		if s, ok := strings.CutSuffix(srpm, ".src.rpm"); ok {
			// NAME-VERSION-RELEASE: the name may hold hyphens, the
			// version and release may not.
			if i := strings.LastIndexByte(s, '-'); i > 0 {
				if j := strings.LastIndexByte(s[:i], '-'); j > 0 {
					p.Source = s[:j]
					if sv := s[j+1:]; sv != ver+"-"+rel {
						p.SourceVersion = sv
					}
				}
			}
			if p.Source == name {
				p.Source = ""
			}
		}
		pkgs = append(pkgs, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("rpm query: %w", err)
	}
	return pkgs, nil
}

// OSRelease is what os-release says of the system.
type OSRelease struct {
	ID         string
	IDLike     []string
	VersionID  string
	Version    string
	PrettyName string
}

// ParseOSRelease reads an os-release file (KEY=value lines, values
// optionally quoted).
func ParseOSRelease(data []byte) OSRelease {
	kv := map[string]string{}
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		} else {
			v = strings.Trim(v, `'"`)
		}
		kv[k] = v
	}
	return OSRelease{ID: kv["ID"], IDLike: strings.Fields(kv["ID_LIKE"]), VersionID: kv["VERSION_ID"], Version: kv["VERSION"], PrettyName: kv["PRETTY_NAME"]}
}

// Ecosystem is the OSV ecosystem of the system's packages: Debian:12,
// Ubuntu:22.04:LTS, Alpine:v3.19, Red Hat, Rocky Linux:9, AlmaLinux:9;
// empty for a system OSV has no ecosystem for here.
func (r OSRelease) Ecosystem() string {
	major, _, _ := strings.Cut(r.VersionID, ".")
	switch r.ID {
	case "debian":
		if r.VersionID == "" {
			return "Debian" // testing or unstable
		}
		return "Debian:" + r.VersionID
	case "ubuntu":
		eco := "Ubuntu:" + r.VersionID
		if strings.Contains(r.Version, "LTS") {
			eco += ":LTS"
		}
		return eco
	case "alpine":
		// OSV names the release branch: 3.19.1 is Alpine:v3.19.
		parts := strings.SplitN(r.VersionID, ".", 3)
		if len(parts) < 2 {
			return "Alpine"
		}
		return "Alpine:v" + parts[0] + "." + parts[1]
	case "rhel":
		return "Red Hat"
	case "rocky":
		return "Rocky Linux:" + major
	case "almalinux":
		return "AlmaLinux:" + major
	}
	return ""
}

// RPMFamily reports whether rpm is the system's package manager.
func (r OSRelease) RPMFamily() bool {
	for _, id := range append([]string{r.ID}, r.IDLike...) {
		switch id {
		case "rhel", "fedora", "centos", "rocky", "almalinux", "suse", "opensuse", "sles", "ol", "amzn":
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
