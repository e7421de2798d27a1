package scan

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
// /var/lib/dpkg/status: paragraphs of "Field: value" lines separated by
// blank lines, continuation lines starting with a space). Every package
// dpkg-query -W would list is returned (all but those in the
// not-installed state); Source carries the source package (and its
// version when the Source field gives one, for binNMUs).
func ParseDpkgStatus(data []byte, ecosystem, location string) ([]Package, error) {
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
		if len(pkgs) >= dpkgLimit {
			return fmt.Errorf("%s:%d: more than %d packages", location, line, dpkgLimit)
		}
		p := Package{Ecosystem: ecosystem, Name: name, Version: ver, Location: location, Kind: "dpkg", State: st[2]}
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
	sc.Buffer(make([]byte, 64<<10), fileLimit)
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
	switch kv["ID"] {
	case "debian":
		if kv["VERSION_ID"] == "" {
			return "Debian", nil // testing or unstable
		}
		return "Debian:" + kv["VERSION_ID"], nil
	case "ubuntu":
		eco := "Ubuntu:" + kv["VERSION_ID"]
		if strings.Contains(kv["VERSION"], "LTS") {
			eco += ":LTS"
		}
		return eco, nil
	}
	return "", fmt.Errorf("os-release of %s: ID %q is not Debian or Ubuntu", root, kv["ID"])
}
