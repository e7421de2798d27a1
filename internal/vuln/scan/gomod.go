package scan

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/vuln/version"
)

// goEcosystem is the OSV ecosystem of Go modules and of the standard
// library (package "stdlib").
const goEcosystem = "Go"

// MaxGoModRequires bounds the requirements of one go.mod file.
const MaxGoModRequires = 100000

type goModRequire struct {
	path, version string
	line          int
}

type goModReplace struct {
	oldPath, oldVersion string
	newPath, newVersion string
}

// ParseGoMod reads the requirements of a go.mod file (the require
// directives, with the replace directives applied: a module replaced by
// another module version is that version; one replaced by a local folder
// has no version to match and is left out). The go directive is the
// minimum Go version, not the toolchain that builds, so the standard
// library is not inventoried from go.mod (a binary says which one it
// has). location names the file in errors and in the packages.
func ParseGoMod(data []byte, location string) ([]Package, error) {
	var (
		reqs     []goModRequire
		reps     []goModReplace
		block    string // the verb of the ( block we are in, or ""
		lineNo   int
		blockErr = func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", location, lineNo, fmt.Sprintf(format, args...))
		}
	)
	for line := range strings.Lines(string(data)) {
		lineNo++
		toks, err := goModTokens(line)
		if err != nil {
			return nil, blockErr("%v", err)
		}
		if len(toks) == 0 {
			continue
		}
		verb := block
		args := toks
		if block == "" {
			verb, args = toks[0], toks[1:]
			if len(args) == 1 && args[0] == "(" {
				switch verb {
				case "require", "replace", "exclude", "retract", "godebug", "tool", "ignore":
					block = verb
					continue
				}
				return nil, blockErr("unknown block %q", verb)
			}
		} else if len(toks) == 1 && toks[0] == ")" {
			block = ""
			continue
		}
		switch verb {
		case "module":
			if len(args) != 1 {
				return nil, blockErr("module: want one path")
			}
		case "require":
			if len(args) != 2 {
				return nil, blockErr("require: want a module path and a version")
			}
			if err := checkModulePath(args[0]); err != nil {
				return nil, blockErr("require: %v", err)
			}
			if !canonicalVersion(args[1]) {
				return nil, blockErr("require %s: %q is not a module version", args[0], args[1])
			}
			if len(reqs) >= MaxGoModRequires {
				return nil, blockErr("more than %d requirements", MaxGoModRequires)
			}
			reqs = append(reqs, goModRequire{args[0], args[1], lineNo})
		case "replace":
			r, err := parseReplace(args)
			if err != nil {
				return nil, blockErr("replace: %v", err)
			}
			reps = append(reps, r)
		case "go", "toolchain", "exclude", "retract", "godebug", "tool", "ignore":
		default:
			return nil, blockErr("unknown directive %q", verb)
		}
	}
	if block != "" {
		return nil, fmt.Errorf("%s: %s block not closed", location, block)
	}
	var pkgs []Package
	for _, r := range reqs {
		path, ver := r.path, r.version
		replaced := false
		for _, rep := range reps {
			if rep.oldPath == path && (rep.oldVersion == "" || rep.oldVersion == ver) {
				path, ver, replaced = rep.newPath, rep.newVersion, true
				if rep.oldVersion != "" {
					break // a replace naming the version wins over one that does not
				}
			}
		}
		if replaced && ver == "" {
			continue // a local folder
		}
		pkgs = append(pkgs, Package{Ecosystem: goEcosystem, Name: path, Version: ver,
			Location: fmt.Sprintf("%s:%d", location, r.line), Kind: "go.mod"})
	}
	return pkgs, nil
}

// canonicalVersion reports whether v is a module version as go.mod
// writes them: v, major.minor.patch, optional prerelease and build.
func canonicalVersion(v string) bool {
	core, ok := strings.CutPrefix(v, "v")
	if !ok || !version.ValidSemVer(v) {
		return false
	}
	core, _, _ = strings.Cut(core, "+")
	core, _, _ = strings.Cut(core, "-")
	return strings.Count(core, ".") == 2
}

// checkModulePath refuses empty paths, and paths with spaces or control
// characters (go.mod paths are import paths).
func checkModulePath(p string) error {
	if p == "" || len(p) > 1024 {
		return fmt.Errorf("module path %q: want 1 to 1024 characters", p)
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || 0x80 <= r && r < 0xa0 {
			return fmt.Errorf("module path %q: character %U not allowed", p, r)
		}
	}
	return nil
}

func parseReplace(args []string) (goModReplace, error) {
	var r goModReplace
	i := slices.Index(args, "=>")
	switch {
	case i == 1:
		r.oldPath = args[0]
	case i == 2:
		r.oldPath, r.oldVersion = args[0], args[1]
	default:
		return r, errors.New("want OLD [VERSION] => NEW [VERSION]")
	}
	if err := checkModulePath(r.oldPath); err != nil {
		return r, err
	}
	switch rest := args[i+1:]; len(rest) {
	case 1:
		r.newPath = rest[0] // a folder
	case 2:
		r.newPath, r.newVersion = rest[0], rest[1]
		if err := checkModulePath(r.newPath); err != nil {
			return r, err
		}
		if !canonicalVersion(r.newVersion) {
			return r, fmt.Errorf("%q is not a module version", r.newVersion)
		}
	default:
		return r, errors.New("want OLD [VERSION] => NEW [VERSION]")
	}
	return r, nil
}

// goModTokens splits a go.mod line into tokens: words, quoted strings
// (unquoted), the punctuation ( ) =>; a // comment ends the line.
func goModTokens(line string) ([]string, error) {
	var toks []string
	s := line
	for {
		s = strings.TrimLeft(s, " \t\r\n\f\v")
		switch {
		case s == "" || strings.HasPrefix(s, "//"):
			return toks, nil
		case s[0] == '(' || s[0] == ')':
			toks = append(toks, s[:1])
			s = s[1:]
		case strings.HasPrefix(s, "=>"):
			toks = append(toks, "=>")
			s = s[2:]
		case s[0] == '"' || s[0] == '`':
			q := s[0]
			end := 1
			for end < len(s) && s[end] != q {
				if q == '"' && s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return nil, errors.New("unterminated quoted string")
			}
			str, err := strconv.Unquote(s[:end+1])
			if err != nil {
				return nil, fmt.Errorf("quoted string: %w", err)
			}
			toks = append(toks, str)
			s = s[end+1:]
		default:
			end := 0
			for end < len(s) && !strings.ContainsRune(" \t\r\n\f\v()\"`", rune(s[end])) && !strings.HasPrefix(s[end:], "//") && !strings.HasPrefix(s[end:], "=>") {
				end++
			}
			toks = append(toks, s[:end])
			s = s[end:]
		}
	}
}
