package sharedtest

import (
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPackageDocs checks that every package under internal/ and cmd/ starts
// with a doc comment, as CONVENTIONS.md asks: "// Package x ..." for a
// library, any doc comment for a command. Adding a package without one
// fails here rather than in review.
func TestPackageDocs(t *testing.T) {
	root := repoRoot(t)
	var problems []string
	packages := 0
	for _, top := range []string{"internal", "cmd"} {
		p, n, err := packageDocProblems(filepath.Join(root, top))
		if err != nil {
			t.Fatal(err)
		}
		problems = append(problems, p...)
		packages += n
	}
	if packages < 2 {
		t.Fatalf("checked %d packages under internal/ and cmd/, want them all", packages)
	}
	t.Logf("checked %d packages", packages)
	for _, p := range problems {
		rel, _, _ := strings.Cut(p, ":")
		if r, err := filepath.Rel(root, rel); err == nil {
			p = r + p[len(rel):]
		}
		t.Error(p)
	}
}

func TestPackageDocProblems(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"documented", map[string]string{"a/a.go": "// Package a does a.\npackage a\n"}, nil},
		{"doc in one file of several", map[string]string{
			"a/a.go": "package a\n", "a/doc.go": "// Package a does a.\npackage a\n",
		}, nil},
		{"missing", map[string]string{"a/a.go": "package a\n"}, []string{"a: package a has no doc comment"}},
		{"detached comment is no doc", map[string]string{"a/a.go": "// Package a does a.\n\npackage a\n"}, []string{"a: package a has no doc comment"}},
		{"wrong start", map[string]string{"a/a.go": "// A does a.\npackage a\n"}, []string{`a/a.go: doc comment starts "// A does a.", want "// Package a ..."`}},
		{"other package's name", map[string]string{"a/a.go": "// Package b does a.\npackage a\n"}, []string{`a/a.go: doc comment starts "// Package b does a.", want "// Package a ..."`}},
		{"two docs", map[string]string{
			"a/a.go": "// Package a does a.\npackage a\n", "a/b.go": "// Package a does b.\npackage a\n",
		}, []string{"a: package a has doc comments in 2 files (a.go, b.go), want one"}},
		{"command", map[string]string{"vigil/main.go": "// Vigil is a security-operations platform.\npackage main\n"}, nil},
		{"command without doc", map[string]string{"vigil/main.go": "package main\n"}, []string{"vigil: package main has no doc comment"}},
		{"generator ignored", map[string]string{
			"a/a.go": "// Package a does a.\npackage a\n", "a/gen.go": "//go:build ignore\n\n// Gen writes a's table.\npackage main\n",
		}, nil},
		{"platform file counts", map[string]string{
			"a/a_unix.go": "//go:build unix\n\npackage a\n", "a/a_other.go": "//go:build !unix\n\n// Package a does a.\npackage a\n",
		}, nil},
		{"test files and testdata ignored", map[string]string{
			"a/a.go": "// Package a does a.\npackage a\n", "a/a_test.go": "package a\n",
			"a/testdata/x.go": "package x\n", "onlytests/x_test.go": "package onlytests\n",
		}, nil},
		{"nested", map[string]string{
			"a/a.go": "// Package a does a.\npackage a\n", "a/b/b.go": "package b\n",
		}, []string{"a/b: package b has no doc comment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, src := range tt.files {
				path := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, _, err := packageDocProblems(dir)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range got {
				got[i] = filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// packageDocProblems walks the directories under root and describes each
// package (its non-test .go files) without a proper doc comment. It also
// returns how many packages it checked.
func packageDocProblems(root string) (problems []string, packages int, err error) {
	err = filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if dir != root {
			if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
		}
		p, isPkg, err := dirDocProblems(dir)
		problems = append(problems, p...)
		if isPkg {
			packages++
		}
		return err
	})
	return problems, packages, err
}

// dirDocProblems checks the package in dir, if there is one.
func dirDocProblems(dir string) (problems []string, isPkg bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, false, err
	}
	fset := token.NewFileSet()
	var pkg string
	var documented []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return nil, false, fmt.Errorf("parsing %s: %w", path, err)
		}
		if generator(f) {
			continue
		}
		pkg = f.Name.Name
		if f.Doc == nil {
			continue
		}
		documented = append(documented, name)
		text := f.Doc.List[0].Text
		if pkg != "main" && !strings.HasPrefix(text, "// Package "+pkg+" ") {
			first, _, _ := strings.Cut(text, "\n")
			problems = append(problems, fmt.Sprintf("%s: doc comment starts %q, want %q", path, first, "// Package "+pkg+" ..."))
		}
	}
	switch {
	case pkg == "":
		// No package here, or tests only.
	case len(documented) == 0:
		problems = append(problems, fmt.Sprintf("%s: package %s has no doc comment", dir, pkg))
	case len(documented) > 1:
		slices.Sort(documented)
		problems = append(problems, fmt.Sprintf("%s: package %s has doc comments in %d files (%s), want one", dir, pkg, len(documented), strings.Join(documented, ", ")))
	}
	return problems, pkg != "", nil
}

// generator reports whether f is built by no configuration, such as a
// "//go:build ignore" program that go generate runs: it is not part of the
// package.
func generator(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() >= f.Package {
			break
		}
		for _, c := range g.List {
			if !constraint.IsGoBuild(c.Text) {
				continue
			}
			expr, err := constraint.Parse(c.Text)
			if err != nil {
				return false
			}
			// Built under no set of tags, ignore being false in every one.
			return !expr.Eval(func(tag string) bool { return tag != "ignore" }) &&
				!expr.Eval(func(string) bool { return false })
		}
	}
	return false
}

// repoRoot returns the directory holding go.mod above the working
// directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
